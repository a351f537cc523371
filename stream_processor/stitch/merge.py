"""Merging events into a run's state: :func:`merge_event` (one event) and :func:`stitch`.

The rules are in :mod:`stream_processor.stitch`; each step below merges one part of the
event (run state, run facets, job facets, datasets) into the part of :class:`RunState` that
holds it.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from functools import lru_cache
from typing import Any

from lineage_pipeline.events import TERMINAL_EVENT_TYPES, EventType, LineageEvent
from lineage_pipeline.graph_model import dataset_uid
from lineage_pipeline.naming import normalize_dataset
from stream_processor.stitch.datasets import DatasetState, lineage_key_parts
from stream_processor.stitch.registers import Reg, lww, merge_map
from stream_processor.stitch.runs import RunState

#: A lookup of the latest version generated for a dataset uid (``None`` when unknown).
VersionResolver = Callable[[str], str | None]
#: An event in its wire shape: the Avro record of ``schemas/lineage_event.v1.avsc`` as the
#: decoder returns it (:meth:`LineageEvent.to_record` gives the same shape from a model).
EventRecord = dict[str, Any]

#: Tie-break rank among non-terminal event types at the same eventTime.
_NON_TERMINAL_RANK = {"START": 0, "OTHER": 1, "RUNNING": 2}
_TERMINAL_NAMES = frozenset(t.value for t in TERMINAL_EVENT_TYPES)


def as_record(event: LineageEvent | EventRecord) -> EventRecord:
    """``event`` in its wire shape (a model is dumped once; a record is returned as is)."""
    if isinstance(event, LineageEvent):
        return event.model_dump(by_alias=True, mode="json")
    return event


def event_type(record: EventRecord) -> str:
    """The ``eventType`` of an event record as text."""
    value = record["eventType"]
    return str(value.value) if isinstance(value, Enum) else str(value)


@lru_cache(maxsize=1 << 16)
def _canonical(namespace: str, name: str) -> tuple[str, str, str]:
    """``(namespace, name, uid)`` of a dataset's canonical spelling (pure, so cached: the
    same names come back in every run of a job)."""
    ns, nm = normalize_dataset(namespace, name)
    return ns, nm, dataset_uid(ns, nm)


def _merge_datasets(
    target: dict[str, DatasetState], datasets: list[dict[str, Any]], t: int, event_id: str
) -> None:
    for ds in datasets:
        ns, name, key = _canonical(ds["namespace"], ds["name"])
        current = target.get(key)
        if current is None:
            current = DatasetState(namespace=ns, name=name, firstSeen=t)
            target[key] = current
        current.merge(ds, t, event_id)


def _state_key(reg: Reg) -> tuple[int, int, str]:
    return (reg.t, _NON_TERMINAL_RANK.get(str(reg.v), 1), reg.id)


def _with_run(state: RunState | None, event: EventRecord) -> RunState:
    """A new state for the run's first event, else a clone of ``state`` with the event's
    job (last writer wins) and time (``firstSeen`` / ``lastSeen``) merged."""
    t, eid, run_id = event["eventTime"], event["eventId"], event["run"]["runId"]
    job = Reg(t, eid, [event["job"]["namespace"], event["job"]["name"]])
    if state is None:
        return RunState(runId=run_id, job=job, firstSeen=t, lastSeen=t)
    if state.runId != run_id:
        raise ValueError(f"event {eid} is of run {run_id}, not {state.runId}")
    new = state.clone()
    new.job = lww(new.job, job)
    new.firstSeen = min(new.firstSeen, t)
    new.lastSeen = max(new.lastSeen, t)
    return new


def _merge_event_type(new: RunState, event: EventRecord) -> None:
    """Terminal types go to ``terminal`` (latest wins), others to ``current`` (latest wins,
    ties by START < OTHER < RUNNING); a START sets ``startTime`` and a RUNNING
    ``runningSince`` (the earliest of each)."""
    t, etype = event["eventTime"], event_type(event)
    reg = Reg(t, event["eventId"], etype)
    if etype in _TERMINAL_NAMES:
        new.terminal = lww(new.terminal, reg)
    elif new.current is None or _state_key(reg) > _state_key(new.current):
        new.current = reg
    if etype == EventType.START.value:
        new.startTime = t if new.startTime is None else min(new.startTime, t)
    elif etype == EventType.RUNNING.value:
        new.runningSince = t if new.runningSince is None else min(new.runningSince, t)


def _merge_run(new: RunState, event: EventRecord) -> None:
    """Producer, parent run, run facets, parameters, metrics and extra run facets."""
    t, eid, run = event["eventTime"], event["eventId"], event["run"]
    new.producer = lww(new.producer, Reg(t, eid, event["producer"]))
    if run.get("parent") is not None:
        new.parent = lww(new.parent, Reg(t, eid, run["parent"]))
    rf = run.get("facets") or {}
    for name in ("nominalTime", "codeVersion", "environment", "error"):
        value = rf.get(name)
        if value is not None:
            merge_map(new.runFacets, name, Reg(t, eid, value))
    for key, text in (rf.get("parameters") or {}).items():
        merge_map(new.parameters, key, Reg(t, eid, text))
    for key, number in (rf.get("metrics") or {}).items():
        merge_map(new.metrics, key, Reg(t, eid, float(number)))
    for key, text in (rf.get("extra") or {}).items():
        merge_map(new.runExtra, key, Reg(t, eid, text))


def _merge_job_facets(new: RunState, event: EventRecord) -> None:
    """The ``jobType`` and ``sql`` job facets and the extra job facets."""
    t, eid = event["eventTime"], event["eventId"]
    jf = event["job"].get("facets") or {}
    for name in ("jobType", "sql"):
        if jf.get(name) is not None:
            merge_map(new.jobFacets, name, Reg(t, eid, jf[name]))
    for key, text in (jf.get("extra") or {}).items():
        merge_map(new.jobExtra, key, Reg(t, eid, text))


def _pin_versions(new: RunState, resolve: VersionResolver) -> None:
    """Pin a resolved version on every input and column-lineage source that has none yet.

    Pinned whether or not an explicit version is known yet (an explicit one wins in the
    mapping), so the pinned value does not depend on the order the events arrive in.
    """
    for ds in new.inputs.values():
        if ds.resolvedVersion is None:
            ds.resolvedVersion = resolve(ds.uid)
    sources = new.lineageSources
    for out in new.outputs.values():
        for key in out.lineage:
            uid = lineage_key_parts(key)[4]
            if sources.get(uid) is None:
                sources[uid] = resolve(uid)


def merge_event(
    state: RunState | None, event: LineageEvent | EventRecord,
    resolve: VersionResolver | None = None,
) -> RunState:
    """Return ``state`` with ``event`` merged in (a new object; ``state`` is not changed).

    ``event`` is a model or its wire record (:data:`EventRecord`: what the Avro decoder
    returns, merged without building models). ``state`` is ``None`` for the run's first
    event. ``resolve`` (dataset uid -> latest generated version or ``None``) pins a version
    on inputs that have none yet; without it such inputs stay unresolved (the mapping then
    says ``unversioned``). Raises :class:`ValueError` when ``event`` belongs to another run.
    """
    record = as_record(event)
    new = _with_run(state, record)
    _merge_event_type(new, record)
    _merge_run(new, record)
    _merge_job_facets(new, record)
    t, eid = record["eventTime"], record["eventId"]
    new.note_seen(t, eid)
    _merge_datasets(new.inputs, record.get("inputs") or [], t, eid)
    _merge_datasets(new.outputs, record.get("outputs") or [], t, eid)
    if record.get("truncated"):
        new.truncated = sorted(set(new.truncated) | set(record["truncated"]))
    if resolve is not None:
        _pin_versions(new, resolve)
    return new


def stitch(events: list[LineageEvent] | list[EventRecord],
           resolve: VersionResolver | None = None) -> RunState:
    """Return the state of one run built from ``events`` (any order, duplicates allowed).

    Raises :class:`ValueError` when ``events`` is empty or spans several runs.
    """
    if not events:
        raise ValueError("stitch() needs at least one event")
    state: RunState | None = None
    for event in events:
        state = merge_event(state, event, resolve)
    assert state is not None
    return state
