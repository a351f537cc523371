"""Merging events into a run's state: :func:`merge_event` (one event) and :func:`stitch`.

The rules are in :mod:`stream_processor.stitch`; each step below merges one part of the
event (run state, run facets, job facets, datasets) into the part of :class:`RunState` that
holds it.
"""

from __future__ import annotations

from collections.abc import Callable

from lineage_pipeline.events import TERMINAL_EVENT_TYPES, Dataset, EventType, LineageEvent
from lineage_pipeline.graph_model import dataset_uid
from stream_processor.normalize import normalize_dataset
from stream_processor.stitch.datasets import DatasetState
from stream_processor.stitch.registers import Reg, lww, merge_map
from stream_processor.stitch.runs import RunState

#: A lookup of the latest version generated for a dataset uid (``None`` when unknown).
VersionResolver = Callable[[str], str | None]

#: Tie-break rank among non-terminal event types at the same eventTime.
_NON_TERMINAL_RANK = {"START": 0, "OTHER": 1, "RUNNING": 2}
_TERMINAL_NAMES = frozenset(t.value for t in TERMINAL_EVENT_TYPES)


def _merge_datasets(
    target: dict[str, DatasetState], datasets: list[Dataset], t: int, event_id: str
) -> None:
    for ds in datasets:
        ns, name = normalize_dataset(ds.namespace, ds.name)
        key = dataset_uid(ns, name)
        current = target.get(key)
        if current is None:
            current = DatasetState(namespace=ns, name=name, firstSeen=t)
            target[key] = current
        current.merge(ds, t, event_id)


def _state_key(reg: Reg) -> tuple[int, int, str]:
    return (reg.t, _NON_TERMINAL_RANK.get(str(reg.v), 1), reg.id)


def _with_run(state: RunState | None, event: LineageEvent) -> RunState:
    """A new state for the run's first event, else a clone of ``state`` with the event's
    job (last writer wins) and time (``firstSeen`` / ``lastSeen``) merged."""
    t, eid = event.eventTime, event.eventId
    job = Reg(t=t, id=eid, v=[event.job.namespace, event.job.name])
    if state is None:
        return RunState(runId=event.run.runId, job=job, firstSeen=t, lastSeen=t)
    if state.runId != event.run.runId:
        raise ValueError(f"event {eid} is of run {event.run.runId}, not {state.runId}")
    new = state.clone()
    new.job = lww(new.job, job)
    new.firstSeen = min(new.firstSeen, t)
    new.lastSeen = max(new.lastSeen, t)
    return new


def _merge_event_type(new: RunState, event: LineageEvent) -> None:
    """Terminal types go to ``terminal`` (latest wins), others to ``current`` (latest wins,
    ties by START < OTHER < RUNNING); a START sets ``startTime`` (the earliest)."""
    t, etype = event.eventTime, event.eventType.value
    reg = Reg(t=t, id=event.eventId, v=etype)
    if etype in _TERMINAL_NAMES:
        new.terminal = lww(new.terminal, reg)
    elif new.current is None or _state_key(reg) > _state_key(new.current):
        new.current = reg
    if etype == EventType.START.value:
        new.startTime = t if new.startTime is None else min(new.startTime, t)


def _merge_run(new: RunState, event: LineageEvent) -> None:
    """Producer, parent run, run facets, parameters, metrics and extra run facets."""
    t, eid = event.eventTime, event.eventId
    new.producer = lww(new.producer, Reg(t=t, id=eid, v=event.producer))
    if event.run.parent is not None:
        new.parent = lww(new.parent, Reg(t=t, id=eid, v=event.run.parent.model_dump(mode="json")))
    rf = event.run.facets
    for name in ("nominalTime", "codeVersion", "environment", "error"):
        value = getattr(rf, name)
        if value is not None:
            merge_map(new.runFacets, name, Reg(t=t, id=eid, v=value.model_dump(mode="json")))
    for key, text in rf.parameters.items():
        merge_map(new.parameters, key, Reg(t=t, id=eid, v=text))
    for key, number in rf.metrics.items():
        merge_map(new.metrics, key, Reg(t=t, id=eid, v=float(number)))
    for key, text in rf.extra.items():
        merge_map(new.runExtra, key, Reg(t=t, id=eid, v=text))


def _merge_job_facets(new: RunState, event: LineageEvent) -> None:
    """The ``jobType`` and ``sql`` job facets and the extra job facets."""
    t, eid = event.eventTime, event.eventId
    jf = event.job.facets
    if jf.jobType is not None:
        merge_map(new.jobFacets, "jobType", Reg(t=t, id=eid, v=jf.jobType.model_dump(mode="json")))
    if jf.sql is not None:
        merge_map(new.jobFacets, "sql", Reg(t=t, id=eid, v=jf.sql.model_dump(mode="json")))
    for key, text in jf.extra.items():
        merge_map(new.jobExtra, key, Reg(t=t, id=eid, v=text))


def _pin_versions(new: RunState, resolve: VersionResolver) -> None:
    """Pin a resolved version on every input and column-lineage source that has none yet.

    Pinned whether or not an explicit version is known yet (an explicit one wins in the
    mapping), so the pinned value does not depend on the order the events arrive in.
    """
    for ds in new.inputs.values():
        if ds.resolvedVersion is None:
            ds.resolvedVersion = resolve(ds.uid)
    for out in new.outputs.values():
        for _, source in out.lineage_pairs():
            uid = dataset_uid(source.namespace, source.name)
            if new.lineageSources.get(uid) is None:
                new.lineageSources[uid] = resolve(uid)


def merge_event(
    state: RunState | None, event: LineageEvent, resolve: VersionResolver | None = None
) -> RunState:
    """Return ``state`` with ``event`` merged in (a new object; ``state`` is not changed).

    ``state`` is ``None`` for the run's first event. ``resolve`` (dataset uid -> latest
    generated version or ``None``) pins a version on inputs that have none yet; without it
    such inputs stay unresolved (the mapping then says ``unversioned``). Raises
    :class:`ValueError` when ``event`` belongs to another run.
    """
    new = _with_run(state, event)
    _merge_event_type(new, event)
    _merge_run(new, event)
    _merge_job_facets(new, event)
    _merge_datasets(new.inputs, event.inputs, event.eventTime, event.eventId)
    _merge_datasets(new.outputs, event.outputs, event.eventTime, event.eventId)
    if event.truncated:
        new.truncated = sorted(set(new.truncated) | set(event.truncated))
    if resolve is not None:
        _pin_versions(new, resolve)
    return new


def stitch(events: list[LineageEvent], resolve: VersionResolver | None = None) -> RunState:
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
