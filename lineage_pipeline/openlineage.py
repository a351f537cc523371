"""Conversion between :class:`LineageEvent` and OpenLineage RunEvent JSON.

Built with openlineage-python's model (``openlineage.client.event_v2`` and the generated
facet classes), so names and shapes are the spec's (https://openlineage.io/spec/2-0-2/):

=================================  ===============================================
LineageEvent                       OpenLineage RunEvent
=================================  ===============================================
eventTime (epoch ms)               eventTime (ISO 8601, UTC, milliseconds)
run.parent                         run.facets.parent (with root)
run.facets.nominalTime (ms)        run.facets.nominalTime (ISO 8601)
run.facets.error                   run.facets.errorMessage
job.facets.jobType / sql           job.facets.jobType / sql
dataset.facets.schema              facets.schema (field ``tags`` -> facets.tags, per field)
dataset.facets.columnLineage       facets.columnLineage (fields; ``dataset`` part kept)
dataset.facets.symlinks            facets.symlinks
dataset.facets.dataSource          facets.dataSource
dataset.version                    facets.version (datasetVersion)
dataset.facets.statistics          inputFacets.dataQualityMetrics /
                                   outputFacets.outputStatistics (standard view) and
                                   facets.lineagePipeline_statistics (exact, with means)
=================================  ===============================================

What OpenLineage has no facet for travels in custom facets named with the prefix
``lineagePipeline_`` (each with ``_producer`` and ``_schemaURL``): run facets ``_event``
(eventId, truncated), ``_codeVersion``, ``_parameters``, ``_metrics``, ``_environment``;
dataset facets ``_contentDigest``, ``_dataset`` (kind), ``_statistics``.

The ``extra`` maps (facet name -> JSON text) become facets of that name; input/output
facets are kept in a dataset's ``extra`` as ``inputFacets.<name>`` / ``outputFacets.<name>``.
``to -> from`` returns the typed part unchanged (extras compare as JSON values). Reading a
third-party event: unknown facets go to ``extra``; the event id is the ``_event`` facet's,
else a UUIDv5 of the event's canonical JSON (so a redelivered event keeps its id).
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import attr
from openlineage.client import event_v2
from openlineage.client.generated import (
    column_lineage_dataset,
    data_quality_metrics_input_dataset,
    dataset_version_dataset,
    datasource_dataset,
    error_message_run,
    job_type_job,
    nominal_time_run,
    output_statistics_output_dataset,
    parent_run,
    schema_dataset,
    sql_job,
    symlinks_dataset,
    tags_dataset,
)
from openlineage.client.generated.base import DatasetFacet, RunFacet
from openlineage.client.serde import Serde
from pydantic import ValidationError

from lineage_pipeline.errors import EventError
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
)

PREFIX = "lineagePipeline_"
SCHEMA_BASE = (
    "https://github.com/lineage-pipeline/lineage-pipeline/blob/main/schemas/"
    "openlineage-facets.json#/$defs/"
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ID_NAMESPACE = uuid.UUID("6f1d4c1e-4f5b-5d7e-9a51-6c1a1f0e0b11")


# -- custom facets ---------------------------------------------------------------------------
@attr.define
class EventRunFacet(RunFacet):
    """``lineagePipeline_event``: this project's event id and the facets the size cap cut."""

    eventId: str = attr.field(default="")
    truncated: list[str] = attr.field(factory=list)

    @staticmethod
    def _get_schema() -> str:
        return SCHEMA_BASE + "EventRunFacet"


@attr.define
class CodeVersionRunFacet(RunFacet):
    """``lineagePipeline_codeVersion``: git sha, dirty flag, repository, branch, entry point."""

    gitSha: str | None = attr.field(default=None)
    dirty: bool | None = attr.field(default=None)
    repository: str | None = attr.field(default=None)
    branch: str | None = attr.field(default=None)
    entryPoint: str | None = attr.field(default=None)

    @staticmethod
    def _get_schema() -> str:
        return SCHEMA_BASE + "CodeVersionRunFacet"


@attr.define
class ParametersRunFacet(RunFacet):
    """``lineagePipeline_parameters``: the run's parameters (name -> text)."""

    parameters: dict[str, str] = attr.field(factory=dict)

    @staticmethod
    def _get_schema() -> str:
        return SCHEMA_BASE + "ParametersRunFacet"


@attr.define
class MetricsRunFacet(RunFacet):
    """``lineagePipeline_metrics``: the run's metrics (name -> number)."""

    metrics: dict[str, float] = attr.field(factory=dict)

    @staticmethod
    def _get_schema() -> str:
        return SCHEMA_BASE + "MetricsRunFacet"


@attr.define
class EnvironmentRunFacet(RunFacet):
    """``lineagePipeline_environment``: Python and package versions, host, user, platform."""

    pythonVersion: str | None = attr.field(default=None)
    packages: dict[str, str] = attr.field(factory=dict)
    host: str | None = attr.field(default=None)
    user: str | None = attr.field(default=None)
    platform: str | None = attr.field(default=None)

    @staticmethod
    def _get_schema() -> str:
        return SCHEMA_BASE + "EnvironmentRunFacet"


@attr.define
class ContentDigestDatasetFacet(DatasetFacet):
    """``lineagePipeline_contentDigest``: digest algorithm and lower-case hex."""

    algorithm: str = attr.field(default="sha256")
    hex: str = attr.field(default="")

    @staticmethod
    def _get_schema() -> str:
        return SCHEMA_BASE + "ContentDigestDatasetFacet"


@attr.define
class DatasetKindDatasetFacet(DatasetFacet):
    """``lineagePipeline_dataset``: the dataset's kind (table, file, model, features, ...)."""

    kind: str = attr.field(default="table")

    @staticmethod
    def _get_schema() -> str:
        return SCHEMA_BASE + "DatasetKindDatasetFacet"


@attr.define
class StatisticsDatasetFacet(DatasetFacet):
    """``lineagePipeline_statistics``: row count, bytes and per-column statistics."""

    rowCount: int | None = attr.field(default=None)
    bytes: int | None = attr.field(default=None)
    columns: list[dict[str, Any]] = attr.field(factory=list)

    @staticmethod
    def _get_schema() -> str:
        return SCHEMA_BASE + "StatisticsDatasetFacet"


# -- time ------------------------------------------------------------------------------------
def ms_to_iso(ms: int) -> str:
    """Return epoch milliseconds as ISO 8601 UTC text with milliseconds (``...Z``)."""
    dt = _EPOCH + timedelta(milliseconds=ms)
    return dt.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def iso_to_ms(text: str) -> int:
    """Return ISO 8601 text as epoch milliseconds (naive times are UTC; sub-ms floored).

    Raises ``ValueError`` for text that is no ISO 8601 date-time.
    """
    dt = datetime.fromisoformat(text.replace("z", "Z"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return (dt - _EPOCH) // timedelta(milliseconds=1)


# -- to OpenLineage --------------------------------------------------------------------------
def _run_facets(event: LineageEvent) -> dict[str, RunFacet]:
    p = event.producer
    rf = event.run.facets
    facets: dict[str, RunFacet] = {
        PREFIX + "event": EventRunFacet(eventId=event.eventId, truncated=list(event.truncated),
                                        producer=p),
    }
    parent = event.run.parent
    if parent is not None:
        root = None
        if parent.root is not None:
            root = parent_run.Root(
                run=parent_run.RootRun(runId=parent.root.runId),
                job=parent_run.RootJob(namespace=parent.root.job.namespace,
                                       name=parent.root.job.name),
            )
        facets["parent"] = parent_run.ParentRunFacet(
            run=parent_run.Run(runId=parent.runId),
            job=parent_run.Job(namespace=parent.job.namespace, name=parent.job.name),
            root=root,
            producer=p,
        )
    if rf.nominalTime is not None:
        end = rf.nominalTime.nominalEndTime
        facets["nominalTime"] = nominal_time_run.NominalTimeRunFacet(
            nominalStartTime=ms_to_iso(rf.nominalTime.nominalStartTime),
            nominalEndTime=ms_to_iso(end) if end is not None else None,
            producer=p,
        )
    if rf.error is not None:
        facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
            message=rf.error.message,
            programmingLanguage=rf.error.programmingLanguage,
            stackTrace=rf.error.stackTrace,
            producer=p,
        )
    if rf.codeVersion is not None:
        facets[PREFIX + "codeVersion"] = CodeVersionRunFacet(
            **rf.codeVersion.model_dump(), producer=p
        )
    if rf.parameters:
        facets[PREFIX + "parameters"] = ParametersRunFacet(parameters=dict(rf.parameters),
                                                           producer=p)
    if rf.metrics:
        facets[PREFIX + "metrics"] = MetricsRunFacet(metrics=dict(rf.metrics), producer=p)
    if rf.environment is not None:
        facets[PREFIX + "environment"] = EnvironmentRunFacet(
            **rf.environment.model_dump(), producer=p
        )
    return facets


def _job_facets(event: LineageEvent) -> dict[str, Any]:
    p = event.producer
    jf = event.job.facets
    facets: dict[str, Any] = {}
    if jf.jobType is not None:
        facets["jobType"] = job_type_job.JobTypeJobFacet(
            processingType=jf.jobType.processingType,
            integration=jf.jobType.integration,
            jobType=jf.jobType.jobType,
            producer=p,
        )
    if jf.sql is not None:
        facets["sql"] = sql_job.SQLJobFacet(query=jf.sql.query, dialect=jf.sql.dialect, producer=p)
    return facets


def _dataset_facets(ds: Dataset, producer: str) -> dict[str, DatasetFacet]:
    p = producer
    f = ds.facets
    facets: dict[str, DatasetFacet] = {
        PREFIX + "dataset": DatasetKindDatasetFacet(kind=ds.kind, producer=p),
    }
    if ds.version is not None:
        facets["version"] = dataset_version_dataset.DatasetVersionDatasetFacet(
            datasetVersion=ds.version, producer=p
        )
    if f.schema_ is not None:
        facets["schema"] = schema_dataset.SchemaDatasetFacet(
            fields=[
                schema_dataset.SchemaDatasetFacetFields(
                    name=s.name, type=s.type, description=s.description, fields=None
                )
                for s in f.schema_
            ],
            producer=p,
        )
        tags = [
            tags_dataset.TagsDatasetFacetFields(key=tag, value="true", field=s.name)
            for s in f.schema_
            for tag in s.tags
        ]
        if tags:
            facets["tags"] = tags_dataset.TagsDatasetFacet(tags=tags, producer=p)
    if f.columnLineage is not None:
        facets["columnLineage"] = column_lineage_dataset.ColumnLineageDatasetFacet(
            fields={
                c.field: column_lineage_dataset.Fields(
                    inputFields=[
                        column_lineage_dataset.InputField(
                            namespace=i.namespace,
                            name=i.name,
                            field=i.field,
                            transformations=[
                                column_lineage_dataset.Transformation(
                                    type=t.type, subtype=t.subtype, description=t.description,
                                    masking=t.masking,
                                )
                                for t in i.transformations
                            ],
                        )
                        for i in c.inputFields
                    ]
                )
                for c in f.columnLineage
            },
            producer=p,
        )
    if f.symlinks is not None:
        facets["symlinks"] = symlinks_dataset.SymlinksDatasetFacet(
            identifiers=[
                symlinks_dataset.Identifier(namespace=s.namespace, name=s.name, type=s.type)
                for s in f.symlinks
            ],
            producer=p,
        )
    if f.dataSource is not None:
        facets["dataSource"] = datasource_dataset.DatasourceDatasetFacet(
            name=f.dataSource.name, uri=f.dataSource.uri, producer=p
        )
    if f.contentDigest is not None:
        facets[PREFIX + "contentDigest"] = ContentDigestDatasetFacet(
            algorithm=f.contentDigest.algorithm, hex=f.contentDigest.hex, producer=p
        )
    if f.statistics is not None:
        facets[PREFIX + "statistics"] = StatisticsDatasetFacet(
            rowCount=f.statistics.rowCount,
            bytes=f.statistics.bytes,
            columns=[c.model_dump(exclude_none=True) for c in f.statistics.columns],
            producer=p,
        )
    return facets


def _input_facets(ds: Dataset, producer: str) -> dict[str, Any]:
    stats = ds.facets.statistics
    if stats is None:
        return {}
    metrics = {
        c.name: data_quality_metrics_input_dataset.ColumnMetrics(
            nullCount=c.nullCount, distinctCount=c.distinctCount, min=c.min, max=c.max
        )
        for c in stats.columns
    }
    dq = data_quality_metrics_input_dataset.DataQualityMetricsInputDatasetFacet(
        columnMetrics=metrics, rowCount=stats.rowCount, bytes=stats.bytes, producer=producer
    )
    return {"dataQualityMetrics": dq}


def _output_facets(ds: Dataset, producer: str) -> dict[str, Any]:
    stats = ds.facets.statistics
    if stats is None or (stats.rowCount is None and stats.bytes is None):
        return {}
    return {
        "outputStatistics": output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
            rowCount=stats.rowCount, size=stats.bytes, producer=producer
        )
    }


def to_openlineage_event(event: LineageEvent) -> event_v2.RunEvent:
    """Return the openlineage-python ``RunEvent`` of ``event`` (typed part; without the
    ``extra`` maps, see :func:`to_openlineage_dict`). Raises :class:`EventError` when a
    value breaks the OpenLineage model (e.g. a run id that is no UUID)."""
    p = event.producer
    try:
        return event_v2.RunEvent(
            eventType=event_v2.RunState(event.eventType.value),
            eventTime=ms_to_iso(event.eventTime),
            producer=p,
            run=event_v2.Run(runId=event.run.runId, facets=_run_facets(event)),
            job=event_v2.Job(namespace=event.job.namespace, name=event.job.name,
                             facets=_job_facets(event)),
            inputs=[
                event_v2.InputDataset(namespace=d.namespace, name=d.name,
                                      facets=_dataset_facets(d, p),
                                      inputFacets=_input_facets(d, p))
                for d in event.inputs
            ],
            outputs=[
                event_v2.OutputDataset(namespace=d.namespace, name=d.name,
                                       facets=_dataset_facets(d, p),
                                       outputFacets=_output_facets(d, p))
                for d in event.outputs
            ],
        )
    except (ValueError, TypeError) as exc:
        raise EventError(
            f"event {event.eventId} does not fit the OpenLineage model: {exc}"
        ) from exc


def _json_value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _merge_extras(target: dict[str, Any], extra: dict[str, str], skip_prefixes: bool) -> None:
    for name, text in extra.items():
        if skip_prefixes and (name.startswith(("inputFacets.", "outputFacets.")) or
                              name == "columnLineage.dataset"):
            continue
        target.setdefault(name, _json_value(text))


def to_openlineage_dict(event: LineageEvent) -> dict[str, Any]:
    """Return ``event`` as an OpenLineage RunEvent JSON object (dict), extras included."""
    out: dict[str, Any] = Serde.to_dict(to_openlineage_event(event))
    _merge_extras(out["run"].setdefault("facets", {}), event.run.facets.extra, False)
    _merge_extras(out["job"].setdefault("facets", {}), event.job.facets.extra, False)
    for key, datasets in (("inputs", event.inputs), ("outputs", event.outputs)):
        side = "inputFacets" if key == "inputs" else "outputFacets"
        for ds, jd in zip(datasets, out.get(key, []), strict=True):
            extra = ds.facets.extra
            _merge_extras(jd.setdefault("facets", {}), extra, True)
            for name, text in extra.items():
                if name.startswith(side + "."):
                    jd.setdefault(side, {}).setdefault(name[len(side) + 1 :], _json_value(text))
            if "tags" in extra and "tags" in jd["facets"]:
                more = _json_value(extra["tags"])
                if isinstance(more, dict) and isinstance(more.get("tags"), list):
                    jd["facets"]["tags"]["tags"].extend(more["tags"])
            if "columnLineage.dataset" in extra and "columnLineage" in jd["facets"]:
                jd["facets"]["columnLineage"]["dataset"] = _json_value(
                    extra["columnLineage.dataset"]
                )
    return out


def to_openlineage_json(event: LineageEvent) -> str:
    """Return ``event`` as OpenLineage RunEvent JSON text (key order kept)."""
    return json.dumps(to_openlineage_dict(event))


# -- from OpenLineage ------------------------------------------------------------------------
def _or(value: Any, default: Any) -> Any:
    return default if value is None else value


def _text(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), default=str)


def _parent(facet: dict[str, Any]) -> ParentRun:
    root = facet.get("root")
    return ParentRun(
        runId=facet["run"]["runId"],
        job=JobRef(namespace=facet["job"]["namespace"], name=facet["job"]["name"]),
        root=RootRun(
            runId=root["run"]["runId"],
            job=JobRef(namespace=root["job"]["namespace"], name=root["job"]["name"]),
        )
        if root
        else None,
    )


def _strip(facet: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in facet.items() if not k.startswith("_")}


def _run_from(run: dict[str, Any]) -> tuple[Run, str | None, list[str]]:
    facets: dict[str, Any] = dict(run.get("facets") or {})
    rf = RunFacets()
    parent = _parent(facets.pop("parent")) if facets.get("parent") else None
    event_id: str | None = None
    truncated: list[str] = []
    if (ev := facets.pop(PREFIX + "event", None)) is not None:
        event_id = ev.get("eventId") or None
        truncated = list(ev.get("truncated") or [])
    if (nt := facets.pop("nominalTime", None)) is not None:
        end = nt.get("nominalEndTime")
        rf.nominalTime = NominalTime(
            nominalStartTime=iso_to_ms(nt["nominalStartTime"]),
            nominalEndTime=iso_to_ms(end) if end else None,
        )
    if (em := facets.pop("errorMessage", None)) is not None:
        rf.error = ErrorFacet(
            message=em.get("message", ""),
            stackTrace=em.get("stackTrace"),
            programmingLanguage=_or(em.get("programmingLanguage"), "unknown"),
        )
    if (cv := facets.pop(PREFIX + "codeVersion", None)) is not None:
        rf.codeVersion = CodeVersion.model_validate(_strip(cv))
    if (pa := facets.pop(PREFIX + "parameters", None)) is not None:
        rf.parameters = {str(k): str(v) for k, v in (pa.get("parameters") or {}).items()}
    if (me := facets.pop(PREFIX + "metrics", None)) is not None:
        rf.metrics = {str(k): float(v) for k, v in (me.get("metrics") or {}).items()}
    if (en := facets.pop(PREFIX + "environment", None)) is not None:
        rf.environment = Environment.model_validate(_strip(en))
    rf.extra = {name: _text(value) for name, value in facets.items()}
    return Run(runId=run["runId"], parent=parent, facets=rf), event_id, truncated


def _job_from(job: dict[str, Any]) -> Job:
    facets: dict[str, Any] = dict(job.get("facets") or {})
    jf = JobFacets()
    if (jt := facets.pop("jobType", None)) is not None:
        jf.jobType = JobType(
            processingType=_or(jt.get("processingType"), "BATCH"),
            integration=_or(jt.get("integration"), "UNKNOWN"),
            jobType=jt.get("jobType"),
        )
    if (sq := facets.pop("sql", None)) is not None:
        jf.sql = SqlFacet(query=sq.get("query", ""), dialect=sq.get("dialect"))
    jf.extra = {name: _text(value) for name, value in facets.items()}
    return Job(namespace=job["namespace"], name=job["name"], facets=jf)


def _transformations(spec: dict[str, Any]) -> list[Transformation]:
    given = spec.get("transformations")
    if given:
        return [
            Transformation(type=_or(t.get("type"), "DIRECT"), subtype=t.get("subtype"),
                           description=t.get("description"), masking=bool(t.get("masking")))
            for t in given
        ]
    legacy = spec.get("transformationType")
    if legacy:  # columnLineage 1.0: IDENTITY or MASKED on the output field
        return [
            Transformation(
                type="DIRECT",
                subtype="IDENTITY" if legacy == "IDENTITY" else "TRANSFORMATION",
                description=spec.get("transformationDescription"),
                masking=legacy == "MASKED",
            )
        ]
    return []


def _column_lineage(facet: dict[str, Any]) -> list[ColumnLineageField]:
    fields = []
    for out_field, spec in (facet.get("fields") or {}).items():
        spec = spec or {}
        inputs = []
        for i in spec.get("inputFields") or []:
            transformations = _transformations(i) or _transformations(spec)
            inputs.append(InputField(namespace=i["namespace"], name=i["name"], field=i["field"],
                                     transformations=transformations))
        fields.append(ColumnLineageField(field=out_field, inputFields=inputs))
    return fields


def _statistics(
    custom: dict[str, Any] | None, side: dict[str, Any]
) -> Statistics | None:
    if custom is not None:
        return Statistics(
            rowCount=custom.get("rowCount"),
            bytes=custom.get("bytes"),
            columns=[ColumnStats.model_validate(c) for c in custom.get("columns") or []],
        )
    dq = side.get("dataQualityMetrics")
    st = side.get("inputStatistics") or side.get("outputStatistics")
    if dq is None and st is None:
        return None
    stats = Statistics()
    if st is not None:
        stats.rowCount = st.get("rowCount")
        stats.bytes = st.get("size")
    if dq is not None:
        stats.rowCount = dq.get("rowCount", stats.rowCount)
        stats.bytes = dq.get("bytes", stats.bytes)
        stats.columns = [
            ColumnStats(name=name, nullCount=m.get("nullCount"),
                        distinctCount=m.get("distinctCount"), min=m.get("min"), max=m.get("max"))
            for name, m in (dq.get("columnMetrics") or {}).items()
        ]
    return stats


def _dataset_from(d: dict[str, Any], side_name: str) -> Dataset:
    facets: dict[str, Any] = dict(d.get("facets") or {})
    side: dict[str, Any] = dict(d.get(side_name) or {})
    df = DatasetFacets()
    extra: dict[str, str] = {}
    kind_facet = facets.pop(PREFIX + "dataset", None)
    kind = _or((kind_facet or {}).get("kind"), "file" if d["namespace"] == "file" else "table")
    version = (facets.pop("version", None) or {}).get("datasetVersion")
    if (sc := facets.pop("schema", None)) is not None:
        df.schema_ = [
            SchemaField(name=f["name"], type=f.get("type"), description=f.get("description"))
            for f in sc.get("fields") or []
        ]
    if df.schema_ and isinstance(facets.get("tags"), dict):
        by_name = {f.name: f for f in df.schema_}
        others = []
        for tag in facets["tags"].get("tags") or []:
            target = by_name.get(str(tag.get("field"))) if isinstance(tag, dict) else None
            if target is not None and tag.get("key") and tag.get("value", "true") == "true":
                target.tags.append(tag["key"])
            else:
                others.append(tag)
        if others:
            facets["tags"] = {**facets["tags"], "tags": others}
        else:
            facets.pop("tags")
    if (cl := facets.pop("columnLineage", None)) is not None:
        df.columnLineage = _column_lineage(cl)
        if cl.get("dataset"):
            extra["columnLineage.dataset"] = _text(cl["dataset"])
    if (sy := facets.pop("symlinks", None)) is not None:
        df.symlinks = [
            Symlink(namespace=i["namespace"], name=i["name"], type=_or(i.get("type"), "TABLE"))
            for i in sy.get("identifiers") or []
        ]
    if (ds := facets.pop("dataSource", None)) is not None:
        df.dataSource = DataSource(name=_or(ds.get("name"), _or(ds.get("uri"), "")),
                                   uri=ds.get("uri"))
    if (cd := facets.pop(PREFIX + "contentDigest", None)) is not None:
        df.contentDigest = ContentDigest(algorithm=cd["algorithm"], hex=cd["hex"])
    df.statistics = _statistics(facets.pop(PREFIX + "statistics", None), side)
    for known in ("dataQualityMetrics", "inputStatistics", "outputStatistics"):
        side.pop(known, None)
    extra.update({name: _text(value) for name, value in facets.items()})
    extra.update({f"{side_name}.{name}": _text(value) for name, value in side.items()})
    df.extra = extra
    return Dataset(namespace=d["namespace"], name=d["name"], kind=kind, version=version,
                   facets=df)


def from_openlineage_dict(data: dict[str, Any]) -> LineageEvent:
    """Return the :class:`LineageEvent` of an OpenLineage RunEvent JSON object.

    Raises :class:`EventError` when required fields (run.runId, job namespace/name,
    eventTime) are missing or malformed.
    """
    try:
        run, event_id, truncated = _run_from(data["run"])
        if event_id is None:
            canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
            event_id = str(uuid.uuid5(_ID_NAMESPACE, canonical))
        return LineageEvent(
            eventId=event_id,
            eventType=EventType(data.get("eventType") or "OTHER"),
            eventTime=iso_to_ms(data["eventTime"]),
            producer=_or(data.get("producer"), "unknown"),
            run=run,
            job=_job_from(data["job"]),
            inputs=[_dataset_from(d, "inputFacets") for d in data.get("inputs") or []],
            outputs=[_dataset_from(d, "outputFacets") for d in data.get("outputs") or []],
            truncated=truncated,
        )
    except (KeyError, TypeError, ValueError, AttributeError, ValidationError) as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise EventError(f"not a valid OpenLineage RunEvent: {type(exc).__name__}: {detail}") \
            from exc


def from_openlineage_json(text: str | bytes) -> LineageEvent:
    """Return the :class:`LineageEvent` of OpenLineage RunEvent JSON text.

    Raises :class:`EventError` for invalid JSON or an invalid event.
    """
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise EventError(f"OpenLineage event is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise EventError("OpenLineage event JSON must be an object")
    return from_openlineage_dict(data)
