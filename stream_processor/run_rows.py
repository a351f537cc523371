"""The run's own rows of a graph record: the ``Run`` and ``Job`` node properties of a
stitched run (:mod:`stream_processor.mapping` builds the rest of the record)."""

from __future__ import annotations

import json
from typing import Any

from lineage_pipeline.graph_model import FACET_PREFIX, PropValue, graph_text, graph_value, job_uid
from lineage_pipeline.graph_record import RunRow
from stream_processor.dataset_facets import run_dataset_facets
from stream_processor.quality import quality_assertions
from stream_processor.stitch import RunState

#: Run properties carried by :class:`~lineage_pipeline.graph_record.RunRow` fields, not props.
_ROW_KEYS = frozenset({"runId", "jobUid", "state", "parentRunId"})


def json_text(value: Any) -> str:
    """Compact JSON with sorted keys (the text the graph stores for dict-valued facets)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def job_props(state: RunState) -> dict[str, PropValue]:
    """The ``Job`` node properties of a stitched run: its typed job facets (``jobType``,
    ``integration``, ``processingType``, ``sql``) and every other job facet
    (``documentation``, ``ownership``, ``sourceCodeLocation``, ``tags``, custom ones) as
    ``facet_<name>``, its JSON text: one property per facet, so a run that sends fewer
    facets does not erase the others."""
    jt, sql = state.job_type, state.sql
    props: dict[str, PropValue] = {
        "jobType": jt.jobType if jt else None,
        "integration": jt.integration if jt else None,
        "processingType": jt.processingType if jt else None,
        "sql": sql.query if sql else None,
    }
    for name, reg in state.jobExtra.items():
        if isinstance(reg.v, str):
            props[FACET_PREFIX + name] = reg.v
    return {k: graph_value(v) for k, v in props.items() if v is not None}


def run_props(state: RunState) -> dict[str, PropValue]:
    """The ``Run`` node properties of a stitched run (JSON text for dict-valued facets;
    ``None`` where unknown)."""
    code, nominal, env, err, parent = (state.code_version, state.nominal_time,
                                       state.environment, state.error, state.parent_run)
    root_id: str | None = None
    if parent is not None:
        root_id = parent.root.runId if parent.root is not None else parent.runId
    return {
        "runId": state.runId,
        "jobUid": job_uid(state.job_namespace, state.job_name),
        "state": state.state,
        "startTime": state.startTime,
        "endTime": state.endTime,
        "producer": str(state.producer.v) if state.producer is not None else None,
        "nominalStartTime": nominal.nominalStartTime if nominal else None,
        "nominalEndTime": nominal.nominalEndTime if nominal else None,
        "gitSha": code.gitSha if code else None,
        "gitDirty": code.dirty if code else None,
        "repository": code.repository if code else None,
        "branch": code.branch if code else None,
        "entryPoint": code.entryPoint if code else None,
        "parameters": json_text(state.parameter_values()),
        "metrics": json_text(state.metric_values()),
        "environment": json_text(env.model_dump(mode="json")) if env else None,
        "errorMessage": err.message if err else None,
        "stackTrace": err.stackTrace if err else None,
        "programmingLanguage": err.programmingLanguage if err else None,
        "parentRunId": parent.runId if parent else None,
        "rootRunId": root_id,
        "extraFacets": json_text(state.extra_values()),
        "qualityAssertions": quality_assertions(state),
        "datasetFacets": run_dataset_facets(state),
    }


def run_row(state: RunState) -> RunRow:
    """The record row of stitched run ``state`` (``first``/``last``: its first and last
    eventTime)."""
    props = run_props(state)
    parent = props.get("parentRunId")
    return {"runId": graph_text(state.runId), "jobNamespace": graph_text(state.job_namespace),
            "jobName": graph_text(state.job_name),
            "parentRunId": graph_text(parent) if isinstance(parent, str) else None,
            "state": state.state, "first": state.firstSeen, "last": state.lastSeen,
            "props": {k: graph_value(v) for k, v in props.items()
                      if v is not None and k not in _ROW_KEYS}}


def stub_run(run_id: str, namespace: str, name: str, first: int,
             last: int | None = None) -> RunRow:
    """The row of a run known only by id and job (a parent or root run, or a run marked
    ``STALE``)."""
    return {"runId": graph_text(run_id), "jobNamespace": graph_text(namespace),
            "jobName": graph_text(name), "parentRunId": None, "state": None,
            "first": first, "last": last, "props": {}}
