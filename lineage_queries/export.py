"""``lineage export --openlineage``: what the graph holds of runs, as OpenLineage RunEvents.

One event per run, its latest state (catalog queries ``export.cypher``), converted by
:func:`lineage_pipeline.openlineage.to_openlineage_dict`, so the facet mapping is the one
ingestion reads (:mod:`lineage_pipeline.openlineage`). Ingesting an exported event gives
the same graph. Compared with the events that built the graph, an exported event is
normalised as follows (the round-trip test, ``tests/test_export_openlineage.py``, checks
exactly this):

- one event per run: ``eventType`` is the run's state (``STALE``, which only this
  project knows, is ``OTHER``), ``eventTime`` its end time, else its latest event; the
  event id is derived from the run id and that time (a re-export carries the same id);
- dataset names are canonical (:mod:`lineage_pipeline.naming`); an output's version is
  left out when it was the implicit ``run:<runId>``, an input's when ``unversioned``;
- schema fields carry name, type, description and tags (the PII policy's tags included), in
  schema order; a struct or array field's sub-fields are columns of their own in the graph,
  named by path (``customer.address.city``), and nested again here under the field whose
  path prefixes theirs (``ordinal_position`` is not kept; a top-level field whose own name
  is such a path comes back nested too);
- statistics keep row count, bytes and per column null count, distinct count, min, max and
  mean, in the standard views and the exact custom facet; a third party's input and output
  statistics facets come back whole;
- input and output dataset facets (``inputFacets``, ``outputFacets``) and
  ``dataQualityAssertions`` are the run's own (the run's ``datasetFacets``); every other
  dataset facet is the dataset's latest;
- column lineage: each output column's input columns with transformation type, subtype,
  masking and description (several transformations of one pair come back as one, their
  types, subtypes and descriptions joined), from the lineage the run declared;
- the ``sql`` job facet keeps its query (not its dialect), ``jobType`` loses its emission
  pattern, ``executionParameters`` keep key and value; every other run, job and dataset facet
  comes back as it was stored (JSON values), third-party and custom facets included.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from lineage_pipeline.errors import NotFoundError, QueryError
from lineage_pipeline.events import (
    CodeVersion,
    ColumnLineageField,
    ColumnStats,
    ContentDigest,
    Dataset,
    DatasetFacets,
    DataSource,
    Environment,
    ErrorFacet,
    EventType,
    InputField,
    Job,
    JobFacets,
    JobRef,
    JobType,
    LineageEvent,
    NominalTime,
    ParentRun,
    RootRun,
    Run,
    RunFacets,
    SchemaField,
    SqlFacet,
    Statistics,
    Symlink,
    Transformation,
    run_scoped_facet,
)
from lineage_pipeline.graph_model import FACET_PREFIX as FACET
from lineage_pipeline.graph_model import bounded_uid, column_uid, dataset_uid

if TYPE_CHECKING:
    from lineage_queries.api import LineageGraph

#: The UUIDv5 namespace of exported event ids.
EXPORT_NAMESPACE = uuid.UUID("3b0e6f4a-2d5c-5e8f-9a7b-1c2d3e4f5a6b")
_EVENT_TYPES = {t.value for t in EventType}
_UNVERSIONED = "unversioned"


def _json(text: Any, default: Any) -> Any:
    if not isinstance(text, str):
        return default
    try:
        return json.loads(text)
    except ValueError:
        return default


def _facets(props: dict[str, Any], skip: tuple[str, ...] = ()) -> dict[str, str]:
    """The ``facet_<name>`` properties of a node, as an ``extra`` map (name -> JSON text)."""
    return {k[len(FACET):]: str(v) for k, v in sorted(props.items())
            if k.startswith(FACET) and k[len(FACET):] not in skip and isinstance(v, str)}


def _run_facets(run: dict[str, Any]) -> RunFacets:
    env = _json(run.get("environment"), None)
    code = {"gitSha": run.get("gitSha"), "dirty": run.get("gitDirty"),
            "repository": run.get("repository"), "branch": run.get("branch"),
            "entryPoint": run.get("entryPoint")}
    return RunFacets(
        nominalTime=NominalTime(nominalStartTime=run["nominalStartTime"],
                                nominalEndTime=run.get("nominalEndTime"))
        if run.get("nominalStartTime") is not None else None,
        codeVersion=CodeVersion(**code) if any(v is not None for v in code.values()) else None,
        parameters={str(k): str(v) for k, v in _json(run.get("parameters"), {}).items()},
        metrics={str(k): float(v) for k, v in _json(run.get("metrics"), {}).items()},
        environment=Environment.model_validate(env) if isinstance(env, dict) else None,
        error=ErrorFacet(message=run["errorMessage"], stackTrace=run.get("stackTrace"),
                         programmingLanguage=run.get("programmingLanguage") or "python")
        if run.get("errorMessage") is not None else None,
        extra={str(k): str(v) for k, v in _json(run.get("extraFacets"), {}).items()},
    )


def _parent(row: dict[str, Any]) -> ParentRun | None:
    if row["parent"] is None or not row["parent_job"]:
        return None
    root = None
    if row["root"] is not None and row["root_job"]:
        root = RootRun(runId=row["root"], job=JobRef(**row["root_job"]))
    return ParentRun(runId=row["parent"], job=JobRef(**row["parent_job"]), root=root)


def _job(job: dict[str, Any]) -> Job:
    typed = job.get("jobType") or job.get("integration") or job.get("processingType")
    return Job(namespace=str(job["namespace"]), name=str(job["name"]), facets=JobFacets(
        jobType=JobType(processingType=job.get("processingType") or "BATCH",
                        integration=job.get("integration") or "PYTHON",
                        jobType=job.get("jobType")) if typed else None,
        sql=SqlFacet(query=job["sql"]) if job.get("sql") is not None else None,
        extra=_facets(job)))


def _schema(columns: list[dict[str, Any]]) -> list[SchemaField] | None:
    found = sorted((c for c in columns if c.get("name") is not None),
                   key=lambda c: (c.get("position") is None, c.get("position") or 0, c["name"]))
    return [SchemaField(name=c["name"], type=c.get("type"), description=c.get("description"),
                        tags=list(c.get("tags") or [])) for c in found] or None


def _statistics(version: dict[str, Any]) -> Statistics | None:
    stats = _json(version.get("columnStats"), {})
    columns = [ColumnStats(name=name, **values) for name, values in sorted(stats.items())
               if isinstance(values, dict)]
    if version.get("rowCount") is None and version.get("bytes") is None and not columns:
        return None
    return Statistics(rowCount=version.get("rowCount"), bytes=version.get("bytes"),
                      columns=columns)


def _lineage(graph: LineageGraph, row: dict[str, Any]) -> list[ColumnLineageField] | None:
    if row["lineage"] is None:
        return None
    duid = dataset_uid(str(row["dataset"]["namespace"]), str(row["dataset"]["name"]))
    fields = [column_uid(duid, str(c["name"])) for c in row["columns"] if c.get("name")]
    by_out: dict[str, list[InputField]] = {}
    for p in sorted(graph.query("export_lineage_pairs", fields=fields, lineage=row["lineage"]),
                    key=lambda p: (p["outField"], p["namespace"], p["name"], p["inField"])):
        by_out.setdefault(p["outField"], []).append(InputField(
            namespace=p["namespace"], name=p["name"], field=p["inField"],
            transformations=[Transformation(type=p["transformation"] or "DIRECT",
                                            subtype=p["subtype"],
                                            description=p.get("description"),
                                            masking=bool(p["masking"]))]))
    return [ColumnLineageField(field=f, inputFields=i) for f, i in by_out.items()] or None


def _extra(ds: dict[str, Any], seen: dict[str, Any] | None) -> dict[str, str]:
    """The ``extra`` facets of a run's dataset: the node's, and what the run saw of it
    (``seen``: its entry in the run's ``datasetFacets``). A run written before runs kept
    their own (no ``datasetFacets``: ``seen`` is ``None``) shows the node's latest input and
    output facets instead."""
    extra = _facets(ds, skip=("symlinks", "dataSource"))
    if seen is None:
        return extra
    out = {k: v for k, v in extra.items() if not run_scoped_facet(k)}
    out.update({str(k): str(v) for k, v in seen.items()})
    return dict(sorted(out.items()))


def _dataset(graph: LineageGraph, row: dict[str, Any], run_id: str,
             seen: dict[str, Any] | None) -> Dataset:
    version, ds = row["version"], row["dataset"]
    name = str(version.get("version"))
    implicit = name == _UNVERSIONED if row["role"] == "input" else name == f"run:{run_id}"
    links = _json(ds.get(FACET + "symlinks"), {}).get("identifiers")
    source = _json(ds.get(FACET + "dataSource"), None)
    digest = (ContentDigest(algorithm=version["digestAlgorithm"], hex=version["digest"])
              if version.get("digest") is not None and version.get("digestAlgorithm")
              else None)
    return Dataset(
        namespace=str(ds["namespace"]), name=str(ds["name"]),
        kind=str(ds.get("kind") or version.get("kind") or "table"),
        version=None if implicit else name,
        facets=DatasetFacets(
            schema=_schema(row["columns"]), statistics=_statistics(version),
            contentDigest=digest,
            columnLineage=_lineage(graph, row) if row["role"] == "output" else None,
            symlinks=[Symlink.model_validate(s) for s in links] if links else None,
            dataSource=DataSource.model_validate(source) if isinstance(source, dict) else None,
            extra=_extra(ds, seen)))


def _seen(run: dict[str, Any], role: str, row: dict[str, Any]) -> dict[str, Any] | None:
    """The run's ``datasetFacets`` entry for the dataset of ``row`` (``{}`` when the run
    kept none for it; ``None`` when the run predates ``datasetFacets``)."""
    if run.get("datasetFacets") is None:
        return None
    by_role = _json(run.get("datasetFacets"), {}).get(role) or {}
    return dict(by_role.get(str(row["dataset"].get("uid")), {}))


def run_event(graph: LineageGraph, run_id: str) -> LineageEvent:
    """The :class:`LineageEvent` of run ``run_id`` as the graph holds it (see the module
    docstring). Raises :class:`QueryError` when the graph has no such run, or only knows
    it by id (a parent or root run whose own events never arrived)."""
    rows = graph.query("export_run", run_id=bounded_uid(run_id))
    if not rows:
        raise NotFoundError(f"no run with id {run_id!r} in the graph")
    row = rows[0]
    run, job = row["run"], row["job"]
    if not job or run.get("state") is None:
        raise QueryError(f"run {run_id!r} is known only by id (its events never arrived)")
    state = str(run["state"])
    when = run.get("endTime") or run.get("updatedAt") or run.get("observedAt") or 0
    datasets = sorted(graph.query("export_run_datasets", run_id=bounded_uid(run_id)),
                      key=lambda r: (r["dataset"]["namespace"], r["dataset"]["name"]))
    run_id = str(run.get("runId") or run_id)
    return LineageEvent(
        eventId=str(uuid.uuid5(EXPORT_NAMESPACE, f"{run_id}@{when}")),
        eventType=EventType(state if state in _EVENT_TYPES else EventType.OTHER.value),
        eventTime=int(when), producer=str(run.get("producer") or "lineage-pipeline export"),
        run=Run(runId=run_id, parent=_parent(row), facets=_run_facets(run)),
        job=_job(job),
        inputs=[_dataset(graph, r, run_id, _seen(run, "inputs", r)) for r in datasets
                if r["role"] == "input"],
        outputs=[_dataset(graph, r, run_id, _seen(run, "outputs", r)) for r in datasets
                 if r["role"] == "output"])


def export_runs(graph: LineageGraph, *, run: str | None = None, job: str | None = None,
                since: int | None = None) -> Iterator[LineageEvent]:
    """The events of one run, of every run of ``job`` (``namespace:name``, oldest first) or
    of every run whose latest event is at or after ``since`` (epoch ms); exactly one of the
    three. Raises :class:`QueryError` for an unknown run or job, or a bad selection."""
    if sum(x is not None for x in (run, job, since)) != 1:
        raise QueryError("export one RUN, one --job JOB or --since TIME (exactly one)")
    if run is not None:
        uids = [run]
    elif job is not None:
        if not graph.has_job(job):
            raise NotFoundError(f"no job {job!r} in the graph (a job is 'namespace:name')")
        uids = [r["uid"] for r in graph.query("export_job_runs", job=bounded_uid(job))]
    else:
        uids = [r["uid"] for r in graph.query("export_runs_since", since=since)]
    for uid in uids:
        try:
            yield run_event(graph, uid)
        except QueryError:
            if run is not None:
                raise  # the one run asked for; a bare parent among many is skipped
