"""From a stitched run to graph mutations: nodes, relationships and their properties.

:func:`event_to_mutations` is the contract other parts code against. It is pure: the same
``(event, run_state)`` always gives the same nodes and relationships (only ``published_at``
reads the
clock, unless ``now_ms`` is given). The properties are exactly those of the project brief's
"Graph properties" section and :mod:`lineage_pipeline.graph_model`:

- ``Job`` (namespace, name, jobType, integration, processingType, sql);
- ``Run`` (the stitched :class:`~stream_processor.stitch.RunState`: state, startTime, endTime,
  code version, parameters/metrics/environment/extra facets as JSON text, error, parent/root);
- the parent run (and the root run when it differs), each with its ``Job`` and ``RUN_OF``;
- per input / output: ``Dataset``, ``DatasetVersion`` (digest, rows, bytes, schema JSON,
  ``producedByRunId`` for outputs), ``Field`` per column any event named (schema or
  statistics; the union, so a partial facet never hides a column) with its statistics;
- ``RUN_OF``, ``CHILD_OF`` (child -> parent), ``CONSUMED_BY``, ``GENERATED``, ``VERSION_OF``,
  ``HAS_FIELD``, ``DERIVED_FROM`` output version -> input version for every output x input pair
  (``runId``), and ``DERIVED_FROM`` output field -> input field from columnLineage facets
  (``runId``, ``transformation``, ``subtype``, ``masking``; several transformations of one
  pair give the sorted, comma-joined types/subtypes, e.g. ``"DIRECT,INDIRECT"``, and
  ``masking`` true if any masks).

``kind`` ("table" is the event model's default) is set on Dataset/DatasetVersion only by the
producing run or an explicit non-default kind, so a consumer never overwrites it.

Versions: an input without an explicit version takes the version pinned when the processor
resolved it (the latest version it had seen generated for that dataset), else
``"unversioned"``. An output without one is ``"run:<runId>"``, published once the run is
terminal (before that the version does not exist yet, and publishing it early would leave a
ghost version when a later event names the real one). Likewise a columnLineage source the run
does not list as an input waits for the terminal event, then takes its pinned version.

``observedAt`` / ``updatedAt`` (epoch ms) on every node and relationship are the earliest / latest
eventTime of the run that showed the element. Both only move outwards as events merge in, so
the graph's min / max of them is the same whatever order, batching or replay (a restarted
processor may publish a run's state first without its earliest events) brought the records.
Props that are ``None`` are left out of nodes other runs share (Job, Dataset, DatasetVersion,
Field), so a sparse event never erases what another run wrote; the Run node carries its
whole stitched state, ``None`` included. Uids are bounded (:mod:`lineage_pipeline.graph_model`)
and every string property goes through :func:`~lineage_pipeline.graph_model.graph_value`, so
a name of any length or content gives a record the graph can store; ``name`` keeps it whole.
"""

from __future__ import annotations

import json
import time
from typing import Any

from lineage_pipeline.events import LineageEvent
from lineage_pipeline.graph_model import (
    GraphMutations,
    NodeLabel,
    NodeUpsert,
    PropValue,
    RelType,
    dataset_uid,
    field_uid,
    graph_text,
    job_uid,
    run_uid,
    version_uid,
)
from lineage_pipeline.pii import current_policy
from stream_processor.builder import MutationBuilder, times
from stream_processor.stitch import DatasetState, RunState, merge_event

#: Version of an input that names none and whose producer the processor has not seen.
UNVERSIONED = "unversioned"
#: Run state published for a run with no terminal event after ``processor.stale_after_s``.
STALE = "STALE"


def _json_text(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def input_version(ds: DatasetState) -> str:
    """The version of input ``ds``: explicit, else pinned at resolution, else ``unversioned``."""
    return ds.explicit_version or ds.resolvedVersion or UNVERSIONED


def output_version(ds: DatasetState, state: RunState) -> str | None:
    """The version of output ``ds``: explicit, else ``run:<runId>`` once the run is terminal,
    else ``None`` (not published yet)."""
    if ds.explicit_version:
        return ds.explicit_version
    return f"run:{state.runId}" if state.is_terminal else None


def _both(a: DatasetState, b: DatasetState) -> dict[str, PropValue]:
    """The times of an element that needs both datasets (known once both were seen)."""
    return times(max(a.firstSeen, b.firstSeen), max(a.last_seen, b.last_seen))


def _compact(props: dict[str, PropValue]) -> dict[str, PropValue]:
    return {k: v for k, v in props.items() if v is not None}


def _job_props(state: RunState) -> dict[str, PropValue]:
    jt = state.job_type
    sql = state.sql
    return _compact(
        {
            "namespace": state.job_namespace,
            "name": state.job_name,
            "jobType": jt.jobType if jt else None,
            "integration": jt.integration if jt else None,
            "processingType": jt.processingType if jt else None,
            "sql": sql.query if sql else None,
            **times(state.firstSeen, state.lastSeen),
        }
    )


def run_props(state: RunState) -> dict[str, PropValue]:
    """The ``Run`` node properties of a stitched run (JSON text for dict-valued facets)."""
    code = state.code_version
    nominal = state.nominal_time
    env = state.environment
    err = state.error
    parent = state.parent_run
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
        "gitSha": code.gitSha if code else None,
        "gitDirty": code.dirty if code else None,
        "repository": code.repository if code else None,
        "branch": code.branch if code else None,
        "entryPoint": code.entryPoint if code else None,
        "parameters": _json_text(state.parameter_values()),
        "metrics": _json_text(state.metric_values()),
        "environment": _json_text(env.model_dump(mode="json")) if env else None,
        "errorMessage": err.message if err else None,
        "stackTrace": err.stackTrace if err else None,
        "parentRunId": parent.runId if parent else None,
        "rootRunId": root_id,
        "extraFacets": _json_text(state.extra_values()),
        **times(state.firstSeen, state.lastSeen),
    }


def _add_foreign_run(
    b: MutationBuilder, run_id: str, job_ns: str, job_name: str, seen: dict[str, PropValue]
) -> tuple[NodeLabel, str]:
    """A run known only as a parent/root: its node (no state) with its job and RUN_OF."""
    run_key = (NodeLabel.RUN, run_uid(run_id))
    job_key = (NodeLabel.JOB, job_uid(job_ns, job_name))
    b.node(*run_key, {"runId": run_id, "jobUid": job_key[1], **seen})
    b.node(*job_key, {"namespace": job_ns, "name": job_name, **seen})
    b.relationship(RelType.RUN_OF, run_key, job_key, seen)
    return run_key


def _add_version(
    b: MutationBuilder, ds: DatasetState, version: str, produced_by: str | None
) -> tuple[NodeLabel, str]:
    """Dataset, DatasetVersion, VERSION_OF and one Field (+HAS_FIELD) per known column."""
    seen = times(ds.firstSeen, ds.last_seen)
    d_uid = dataset_uid(ds.namespace, ds.name)
    v_uid = version_uid(ds.namespace, ds.name, version)
    ds_key = (NodeLabel.DATASET, d_uid)
    v_key = (NodeLabel.DATASET_VERSION, v_uid)
    # "table" is the event model's default kind: a consumer that says nothing must not
    # overwrite the kind its producer gave, so only producers and explicit kinds set it.
    kind = ds.kind_value if (produced_by is not None or ds.kind is not None) else None
    b.node(*ds_key, _compact({"namespace": ds.namespace, "name": ds.name, "kind": kind,
                              **seen}))
    digest = ds.content_digest
    stats = ds.statistics
    schema = ds.schema_fields
    b.node(
        *v_key,
        _compact(
            {
                "namespace": ds.namespace,
                "name": ds.name,
                "datasetUid": d_uid,
                "version": version,
                "kind": kind,
                "digestAlgorithm": digest.algorithm if digest else None,
                "digest": digest.hex if digest else None,
                "rowCount": stats.rowCount if stats else None,
                "bytes": stats.bytes if stats else None,
                "schema": _json_text([{"name": f.name, "type": f.type} for f in schema])
                if schema is not None
                else None,
                "producedByRunId": produced_by,
                **seen,
            }
        ),
    )
    b.relationship(RelType.VERSION_OF, v_key, ds_key, seen)
    columns: dict[str, dict[str, PropValue]] = {}
    for col_name, col_type in ds.column_types().items():
        columns.setdefault(col_name, {})["type"] = col_type
    for field in ds.schema_fields or ():  # PII classification (lineage_pipeline.pii)
        tags = current_policy().classify(field.name, field.tags)
        if tags:
            columns.setdefault(field.name, {})["tags"] = tags
    for col_name, col in ds.column_stats().items():
        columns.setdefault(col_name, {}).update(
            {"nullCount": col.nullCount, "distinctCount": col.distinctCount,
             "min": col.min, "max": col.max, "mean": col.mean}
        )
    for col_name in sorted(columns):
        _add_field(b, v_key, d_uid, col_name, seen, columns[col_name])
    return v_key


def _add_field(
    b: MutationBuilder,
    v_key: tuple[NodeLabel, str],
    d_uid: str,
    column: str,
    seen: dict[str, PropValue],
    extra: dict[str, PropValue] | None = None,
) -> tuple[NodeLabel, str]:
    f_key = (NodeLabel.FIELD, field_uid(v_key[1], column))
    props: dict[str, PropValue] = {"name": column, "versionUid": v_key[1], "datasetUid": d_uid,
                                   **seen}
    props.update(extra or {})
    b.node(*f_key, _compact(props))
    b.relationship(RelType.HAS_FIELD, v_key, f_key, seen)
    return f_key


def _column_lineage(
    b: MutationBuilder,
    state: RunState,
    out: DatasetState,
    out_key: tuple[NodeLabel, str],
) -> None:
    out_duid = dataset_uid(out.namespace, out.name)
    for out_column, inp in out.lineage_pairs():
        in_duid = dataset_uid(inp.namespace, inp.name)
        in_state = state.inputs.get(in_duid)
        if in_state is None and not state.is_terminal:
            continue  # a source the run has not listed (yet): wait for its version
        out_seen = times(out.firstSeen, out.last_seen)
        out_field = _add_field(b, out_key, out_duid, out_column, out_seen)
        seen = out_seen if in_state is None else _both(out, in_state)
        if in_state is not None:
            version = input_version(in_state)
        else:
            version = state.lineageSources.get(in_duid) or UNVERSIONED
        in_vkey = (NodeLabel.DATASET_VERSION, version_uid(inp.namespace, inp.name, version))
        if in_state is None:
            # A column source the run never listed as an input: give it its nodes.
            b.node(NodeLabel.DATASET, in_duid,
                   {"namespace": inp.namespace, "name": inp.name, **seen})
            b.node(*in_vkey, {"namespace": inp.namespace, "name": inp.name,
                              "datasetUid": in_duid, "version": version,
                              **seen})
            b.relationship(RelType.VERSION_OF, in_vkey, (NodeLabel.DATASET, in_duid), seen)
        in_field = _add_field(b, in_vkey, in_duid, inp.field, seen)
        kinds = sorted({t.type for t in inp.transformations})
        subtypes = sorted({t.subtype for t in inp.transformations if t.subtype})
        b.relationship(
            RelType.DERIVED_FROM,
            out_field,
            in_field,
            {
                "runId": state.runId,
                "transformation": ",".join(kinds) if kinds else None,
                "subtype": ",".join(subtypes) if subtypes else None,
                "masking": any(t.masking for t in inp.transformations),
                **seen,
            },
        )


def state_to_mutations(
    state: RunState, *, source_event_id: str, event_time: int, now_ms: int | None = None
) -> GraphMutations:
    """Return the mutations that make the graph hold stitched run ``state``.

    ``source_event_id``/``event_time`` name the event that led to this publication (epoch
    ms); ``now_ms`` is ``published_at`` (default: the clock).
    """
    b = MutationBuilder()
    seen = times(state.firstSeen, state.lastSeen)
    run_key = (NodeLabel.RUN, run_uid(state.runId))
    job_key = (NodeLabel.JOB, job_uid(state.job_namespace, state.job_name))
    b.node(*job_key, _job_props(state))
    b.node(*run_key, run_props(state))
    b.relationship(RelType.RUN_OF, run_key, job_key, seen)

    parent = state.parent_run
    if parent is not None:
        parent_key = _add_foreign_run(b, parent.runId, parent.job.namespace, parent.job.name, seen)
        b.relationship(RelType.CHILD_OF, run_key, parent_key, seen)
        root = parent.root
        if root is not None and root.runId != parent.runId:
            _add_foreign_run(b, root.runId, root.job.namespace, root.job.name, seen)

    input_keys: list[tuple[DatasetState, tuple[NodeLabel, str]]] = []
    for uid in sorted(state.inputs):
        ds = state.inputs[uid]
        v_key = _add_version(b, ds, input_version(ds), None)
        b.relationship(RelType.CONSUMED_BY, v_key, run_key, times(ds.firstSeen, ds.last_seen))
        input_keys.append((ds, v_key))

    for uid in sorted(state.outputs):
        ds = state.outputs[uid]
        version = output_version(ds, state)
        if version is None:
            continue
        v_key = _add_version(b, ds, version, state.runId)
        b.relationship(RelType.GENERATED, run_key, v_key, times(ds.firstSeen, ds.last_seen))
        for in_ds, in_key in input_keys:
            if in_key[1] != v_key[1]:
                b.relationship(RelType.DERIVED_FROM, v_key, in_key,
                       {"runId": state.runId, **_both(ds, in_ds)})
        _column_lineage(b, state, ds, v_key)

    return GraphMutations(
        source_event_id=source_event_id,
        event_time=event_time,
        published_at=now_ms if now_ms is not None else int(time.time() * 1000),
        nodes=list(b.nodes.values()),
        relationships=list(b.relationships.values()),
    )


def event_to_mutations(
    event: LineageEvent, run_state: RunState | None = None, *, now_ms: int | None = None
) -> GraphMutations:
    """Return the graph mutations for ``event`` given its run's stitched state.

    ``run_state`` is the state *after* ``event`` was merged (what the processor publishes, so
    the graph always holds the merged run); ``None`` stitches ``event`` alone. The record's
    ``source_event_id``/``event_time`` are the event's. Raises :class:`ValueError` when
    ``run_state`` belongs to another run.
    """
    state = run_state if run_state is not None else merge_event(None, event)
    if state.runId != event.run.runId:
        raise ValueError(f"run state {state.runId} does not belong to event {event.eventId}")
    return state_to_mutations(
        state, source_event_id=event.eventId, event_time=event.eventTime, now_ms=now_ms
    )


def stale_mutations(state: RunState, *, now_ms: int | None = None) -> GraphMutations:
    """Return the mutation that marks open run ``state`` as ``STALE`` (only its state changes;
    a later event of the run republishes its real state). Raises :class:`ValueError` for a
    terminal run: a finished run is never stale."""
    if state.is_terminal:
        raise ValueError(f"run {state.runId} is {state.state}; terminal runs are never stale")
    return GraphMutations(
        source_event_id=f"stale:{state.runId}",
        event_time=state.lastSeen,
        published_at=now_ms if now_ms is not None else int(time.time() * 1000),
        nodes=[NodeUpsert(NodeLabel.RUN, run_uid(state.runId),
                          {"runId": graph_text(state.runId), "state": STALE,
                           **times(state.firstSeen, state.lastSeen)})],
    )
