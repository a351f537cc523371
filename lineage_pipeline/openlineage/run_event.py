"""Run events: :class:`~lineage_pipeline.events.LineageEvent` <-> OpenLineage RunEvent.

The run and job facets are converted here, the datasets in
:mod:`lineage_pipeline.openlineage.datasets`; the mapping table is in the package docstring
(:mod:`lineage_pipeline.openlineage`).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from openlineage.client import event_v2
from openlineage.client.generated import (
    error_message_run,
    execution_parameters_run,
    job_type_job,
    nominal_time_run,
    parent_run,
    processing_engine_run,
    source_code_location_job,
    sql_job,
)
from openlineage.client.generated.base import RunFacet
from openlineage.client.serde import Serde
from pydantic import ValidationError

from lineage_pipeline import __version__
from lineage_pipeline.errors import EventError
from lineage_pipeline.events import (
    CodeVersion,
    Environment,
    ErrorFacet,
    EventType,
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
    SqlFacet,
)
from lineage_pipeline.openlineage.datasets import (
    add_dataset_extras,
    dataset_facets,
    dataset_from,
    input_facets,
    output_facets,
)
from lineage_pipeline.openlineage.facets import (
    PREFIX,
    CodeVersionRunFacet,
    EnvironmentRunFacet,
    EventRunFacet,
    MetricsRunFacet,
)
from lineage_pipeline.openlineage.values import (
    iso_to_ms,
    json_text,
    merge_extras,
    ms_to_iso,
    or_default,
)

#: UUIDv5 namespace of the event ids derived from third-party events' canonical JSON.
_ID_NAMESPACE = uuid.UUID("6f1d4c1e-4f5b-5d7e-9a51-6c1a1f0e0b11")


# -- to OpenLineage --------------------------------------------------------------------------
def _parent_facet(parent: ParentRun, p: str) -> parent_run.ParentRunFacet:
    root = None
    if parent.root is not None:
        root = parent_run.Root(
            run=parent_run.RootRun(runId=parent.root.runId),
            job=parent_run.RootJob(namespace=parent.root.job.namespace,
                                   name=parent.root.job.name),
        )
    return parent_run.ParentRunFacet(
        run=parent_run.Run(runId=parent.runId),
        job=parent_run.Job(namespace=parent.job.namespace, name=parent.job.name),
        root=root,
        producer=p,
    )


def _run_facets(event: LineageEvent) -> dict[str, RunFacet]:
    p = event.producer
    rf = event.run.facets
    facets: dict[str, RunFacet] = {
        PREFIX + "event": EventRunFacet(eventId=event.eventId, truncated=list(event.truncated),
                                        producer=p),
    }
    if event.run.parent is not None:
        facets["parent"] = _parent_facet(event.run.parent, p)
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
    cv = rf.codeVersion
    if cv is not None:  # the standard job facet carries all but the dirty flag (and "")
        kept = ({k: v for k, v in cv.model_dump().items() if k == "dirty" or v == ""}
                if _located(cv) else cv.model_dump())
        facets[PREFIX + "codeVersion"] = CodeVersionRunFacet(**kept, producer=p)
    if rf.parameters:
        facets["executionParameters"] = execution_parameters_run.ExecutionParametersRunFacet(
            parameters=[execution_parameters_run.ExecutionParameter(key=k, value=v)
                        for k, v in rf.parameters.items()], producer=p)
    if rf.metrics:
        facets[PREFIX + "metrics"] = MetricsRunFacet(metrics=dict(rf.metrics), producer=p)
    if rf.environment is not None:
        facets[PREFIX + "environment"] = EnvironmentRunFacet(
            **rf.environment.model_dump(), producer=p
        )
        if rf.environment.pythonVersion:
            facets["processing_engine"] = processing_engine_run.ProcessingEngineRunFacet(
                version=rf.environment.pythonVersion, name="python",
                openlineageAdapterVersion=__version__, producer=p)
    return facets


def _located(cv: CodeVersion) -> bool:
    """Whether ``cv`` goes as the standard ``sourceCodeLocation`` job facet (it names a
    repository or a commit)."""
    return bool(cv.repository or cv.gitSha)


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
    cv = event.run.facets.codeVersion
    if cv is not None and _located(cv) and "sourceCodeLocation" not in jf.extra:
        facets["sourceCodeLocation"] = source_code_location_job.SourceCodeLocationJobFacet(
            type="git", url=cv.repository or "", repoUrl=cv.repository, path=cv.entryPoint,
            version=cv.gitSha, branch=cv.branch, producer=p)
    return facets


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
                                      facets=dataset_facets(d, p),
                                      inputFacets=input_facets(d, p))
                for d in event.inputs
            ],
            outputs=[
                event_v2.OutputDataset(namespace=d.namespace, name=d.name,
                                       facets=dataset_facets(d, p),
                                       outputFacets=output_facets(d, p))
                for d in event.outputs
            ],
        )
    except (ValueError, TypeError) as exc:
        raise EventError(
            f"event {event.eventId} does not fit the OpenLineage model: {exc}"
        ) from exc


def to_openlineage_dict(event: LineageEvent) -> dict[str, Any]:
    """Return ``event`` as an OpenLineage RunEvent JSON object (dict), extras included.

    Raises :class:`EventError` like :func:`to_openlineage_event`.
    """
    out: dict[str, Any] = Serde.to_dict(to_openlineage_event(event))
    merge_extras(out["run"].setdefault("facets", {}), event.run.facets.extra, False)
    merge_extras(out["job"].setdefault("facets", {}), event.job.facets.extra, False)
    for key, datasets in (("inputs", event.inputs), ("outputs", event.outputs)):
        side = "inputFacets" if key == "inputs" else "outputFacets"
        for ds, jd in zip(datasets, out.get(key, []), strict=True):
            add_dataset_extras(jd, ds, side)
    return out


def to_openlineage_json(event: LineageEvent) -> str:
    """Return ``event`` as OpenLineage RunEvent JSON text (key order kept).

    Raises :class:`EventError` like :func:`to_openlineage_event`.
    """
    return json.dumps(to_openlineage_dict(event))


# -- from OpenLineage ------------------------------------------------------------------------
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
            programmingLanguage=or_default(em.get("programmingLanguage"), "unknown"),
        )
    if (cv := facets.pop(PREFIX + "codeVersion", None)) is not None:
        rf.codeVersion = CodeVersion.model_validate(_strip(cv))
    if (pa := facets.pop(PREFIX + "parameters", None)) is not None:  # older SDK versions
        rf.parameters = {str(k): str(v) for k, v in (pa.get("parameters") or {}).items()}
    if (ep := facets.pop("executionParameters", None)) is not None:
        rf.parameters.update({str(p["key"]): str(p.get("value") if p.get("value") is not None
                                                 else "") for p in ep.get("parameters") or []})
    if (me := facets.pop(PREFIX + "metrics", None)) is not None:
        rf.metrics = {str(k): float(v) for k, v in (me.get("metrics") or {}).items()}
    if (en := facets.pop(PREFIX + "environment", None)) is not None:
        rf.environment = Environment.model_validate(_strip(en))
        facets.pop("processing_engine", None)  # derived from it; a third party's is kept
    rf.extra = {name: json_text(value) for name, value in facets.items()}
    return Run(runId=run["runId"], parent=parent, facets=rf), event_id, truncated


def _job_from(job: dict[str, Any]) -> Job:
    facets: dict[str, Any] = dict(job.get("facets") or {})
    jf = JobFacets()
    if (jt := facets.pop("jobType", None)) is not None:
        jf.jobType = JobType(
            processingType=or_default(jt.get("processingType"), "BATCH"),
            integration=or_default(jt.get("integration"), "UNKNOWN"),
            jobType=jt.get("jobType"),
        )
    if (sq := facets.pop("sql", None)) is not None:
        jf.sql = SqlFacet(query=sq.get("query", ""), dialect=sq.get("dialect"))
    jf.extra = {name: json_text(value) for name, value in facets.items()}
    return Job(namespace=job["namespace"], name=job["name"], facets=jf)


def _code_location(run: Run, job: Job) -> None:
    """Fill the run's code version from the standard ``sourceCodeLocation`` job facet
    (``version`` -> gitSha, ``repoUrl`` or ``url`` -> repository, ``branch``, ``path`` ->
    entryPoint). The facet stays among the job's facets unless this project's own
    ``lineagePipeline_codeVersion`` run facet came with it (then it was made from that code
    version: nothing is lost by dropping it)."""
    text = job.facets.extra.get("sourceCodeLocation")
    if text is None:
        return
    loc = json.loads(text)
    if not isinstance(loc, dict):
        return
    ours = run.facets.codeVersion
    found = {k: v if isinstance(v, str) and v else None for k, v in (
        ("gitSha", loc.get("version")), ("repository", loc.get("repoUrl") or loc.get("url")),
        ("branch", loc.get("branch")), ("entryPoint", loc.get("path")))}
    base = ours.model_dump() if ours is not None else {}
    merged = {k: v if v is not None else found.get(k) for k, v in base.items()} or found
    run.facets.codeVersion = CodeVersion.model_validate(merged)
    if ours is not None:
        del job.facets.extra["sourceCodeLocation"]


def from_openlineage_dict(data: dict[str, Any]) -> LineageEvent:
    """Return the :class:`LineageEvent` of an OpenLineage RunEvent JSON object.

    The event id is the ``lineagePipeline_event`` facet's, else a UUIDv5 of the event's
    canonical JSON (so a redelivered event keeps its id). Raises :class:`EventError` when
    required fields (run.runId, job namespace/name, eventTime) are missing or malformed.
    """
    try:
        run, event_id, truncated = _run_from(data["run"])
        job = _job_from(data["job"])
        _code_location(run, job)
        if event_id is None:
            canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
            event_id = str(uuid.uuid5(_ID_NAMESPACE, canonical))
        return LineageEvent(
            eventId=event_id,
            eventType=EventType(data.get("eventType") or "OTHER"),
            eventTime=iso_to_ms(data["eventTime"]),
            producer=or_default(data.get("producer"), "unknown"),
            run=run,
            job=job,
            inputs=[dataset_from(d, "inputFacets") for d in data.get("inputs") or []],
            outputs=[dataset_from(d, "outputFacets") for d in data.get("outputs") or []],
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
