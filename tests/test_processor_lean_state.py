"""Bounded processor state without Kafka: finished runs leave the runs store after a grace
window and late events of them still land in the graph without regressing it; the compact
run-state encoding; the identity pass's short cut."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lineage_pipeline.events import LineageEvent, Run
from lineage_pipeline.graph_model import TERMINAL_STATES, GraphMutations
from stream_processor import table_stores
from stream_processor.identity import DatasetIdentity, MemoryAliasStore
from stream_processor.state import (
    StoredRun,
    decode_state,
    decode_summary,
    departed_summary,
    encode_state,
)
from stream_processor.stitch import stitch
from stream_processor.stitch.runs import SEEN_EVENTS_KEPT
from stream_processor.table_stores import (
    RUN_VALUE_FORMAT,
    FaustRunStore,
    FaustVersionStore,
    decode_version,
    encode_version,
    version_key,
)
from tests.test_processor_core import CODEC, Harness, event, graph_records

HOUR_S = 3600.0


def _dataset(name: str, *, version: str | None = None, stats: bool = False,
             lineage_from: str | None = None) -> dict[str, Any]:
    columns = [{"name": f"c{i}", "type": "BIGINT"} for i in range(4)]
    facets: dict[str, Any] = {"schema": columns}
    if stats:
        facets["statistics"] = {"rowCount": 10, "columns": [
            {"name": c["name"], "nullCount": 0, "distinctCount": 3} for c in columns]}
    if lineage_from:
        facets["columnLineage"] = [{"field": "c0", "inputFields": [
            {"namespace": "pg", "name": lineage_from, "field": "c0",
             "transformations": [{"type": "DIRECT"}]}]}]
    ds: dict[str, Any] = {"namespace": "pg", "name": name, "facets": facets}
    if version:
        ds["version"] = version
    return ds


def _ev(run: str, etype: str, t: int, eid: str, facets: dict[str, Any] | None = None,
        **body: Any) -> LineageEvent:
    ev = event(run, etype, t, eid, **body)
    return ev.model_copy(update={"run": Run.model_validate({"runId": run,
                                                            "facets": facets or {}})})


def _run_events(run: str) -> dict[str, bytes]:
    """START, RUNNING, COMPLETE of ``run`` (t 10, 20, 30) and three late events."""
    params = {"facets": {"parameters": {"lr": "0.1"}}}
    done = {"facets": {"parameters": {"lr": "0.1"}, "metrics": {"acc": 0.9}}}
    ins = [_dataset("raw"), _dataset("ref", version="r7")]
    outs = [_dataset("out", lineage_from="raw")]
    stats_outs = [_dataset("out", stats=True, lineage_from="raw")]
    evs = {
        "start": _ev(run, "START", 10, "e-start", inputs=ins, outputs=outs, **params),
        "running": _ev(run, "RUNNING", 20, "e-running", inputs=ins, **params),
        "complete": _ev(run, "COMPLETE", 30, "e-complete", inputs=ins, outputs=outs, **done),
        # late: a duplicate COMPLETE, a late RUNNING, a COMPLETE with more facets
        "dup_complete": _ev(run, "COMPLETE", 30, "e-complete", inputs=ins, outputs=outs,
                            **done),
        "late_running": _ev(run, "RUNNING", 25, "e-late-running", inputs=ins, **params),
        "late_complete": _ev(run, "COMPLETE", 31, "e-late-complete", inputs=ins,
                             outputs=stats_outs),
    }
    return {k: CODEC.encode(v) for k, v in evs.items()}


class Graph:
    """The graph_sink's merge rules (graph_sink.statements) over graph records: observedAt
    min, updatedAt max, a terminal Run.state never replaced by a non-terminal one, other
    props last write wins, None never written."""

    def __init__(self) -> None:
        self.nodes: dict[tuple[str, str], dict[str, Any]] = {}
        self.relationships: dict[tuple[str, str, str], dict[str, Any]] = {}

    @staticmethod
    def _fold(into: dict[str, Any], props: dict[str, Any]) -> None:
        for key, value in props.items():
            if value is None:
                continue
            old = into.get(key)
            if key == "observedAt" and old is not None:
                value = min(old, value)
            elif key == "updatedAt" and old is not None:
                value = max(old, value)
            elif key == "state" and old in TERMINAL_STATES and value not in TERMINAL_STATES:
                value = old
            into[key] = value

    def write(self, records: list[GraphMutations]) -> None:
        for m in records:
            for n in m.nodes:
                self._fold(self.nodes.setdefault((n.label.value, n.uid), {}), n.props)
            for e in m.relationships:
                self._fold(self.relationships.setdefault((e.type.value, e.from_uid, e.to_uid), {}),
                           e.props)


def _through(order: list[str], late: str | None, evict: bool) -> tuple[Graph, Harness]:
    """Feed ``order`` then ``late`` (after the grace window and a sweep when ``evict``)."""
    h = Harness(finished_grace_s=HOUR_S)
    h.versions.record("pg:raw", "v1", 1)
    msgs = _run_events("r1")
    graph = Graph()
    for name in order:
        graph.write(graph_records(h.batch(msgs[name])))
    h.versions.record("pg:raw", "v2", 100)  # a newer version: a late event must not pick it
    if evict:
        h.clock.now += HOUR_S + 120
        h.batch(CODEC.encode(event("other", "START", 1)))  # any message triggers the sweep
        stored = h.runs.get("r1")
        assert stored is not None and stored.departed
        assert stored.state == departed_summary(stored.state)
    if late is not None:
        graph.write(graph_records(h.batch(msgs[late])))
    return graph, h


@pytest.mark.parametrize("late", ["dup_complete", "late_running", "late_complete"])
def test_a_late_event_of_a_departed_run_lands_without_regressing_the_graph(late: str) -> None:
    before, _ = _through(["start", "running", "complete"], None, evict=False)
    whole, _ = _through(["start", "running", "complete"], late, evict=False)
    after, h = _through(["start", "running", "complete"], late, evict=True)
    run_before, run_after = before.nodes[("Run", "r1")], after.nodes[("Run", "r1")]
    for key in ("state", "startTime", "endTime", "observedAt", "updatedAt"):
        assert run_after[key] == whole.nodes[("Run", "r1")][key], key
    assert run_after["parameters"] == run_before["parameters"]  # never overwritten partially
    assert run_after["metrics"] == run_before["metrics"]
    # no relationship the whole run would not have
    assert set(after.relationships) <= set(whole.relationships)
    assert set(before.relationships) <= set(after.relationships)
    for relationship, props in before.relationships.items():
        assert props.get("observedAt") == after.relationships[relationship].get("observedAt")
    assert ("DatasetVersion", "pg:raw@v2") not in after.nodes
    stored = h.runs.get("r1")
    assert stored is not None and stored.departed and len(encode_state(stored.state)) < 400


@settings(max_examples=40, deadline=None)
@given(order=st.permutations(["start", "running", "complete"]),
       late=st.lists(st.sampled_from(["dup_complete", "late_running", "late_complete",
                                      "start", "running"]), max_size=3))
def test_late_events_in_any_order_keep_the_run_state_and_times(order: list[str],
                                                               late: list[str]) -> None:
    h = Harness(finished_grace_s=HOUR_S)
    msgs = _run_events("r1")
    graph = Graph()
    for name in order:
        graph.write(graph_records(h.batch(msgs[name])))
    expected = dict(graph.nodes[("Run", "r1")])
    h.clock.now += HOUR_S + 120
    h.batch(CODEC.encode(event("other", "START", 1)))
    for name in late:
        graph.write(graph_records(h.batch(msgs[name])))
    got = graph.nodes[("Run", "r1")]
    for key in ("state", "startTime", "parameters", "observedAt"):
        assert got[key] == expected[key], key
    assert got["endTime"] == (31 if "late_complete" in late else 30)
    assert got["updatedAt"] == (31 if "late_complete" in late else 30)


def test_finished_runs_leave_the_state_and_open_runs_stay() -> None:
    h = Harness(finished_grace_s=HOUR_S, departed_memory_s=24 * HOUR_S)
    for i in range(50):
        h.batch(CODEC.encode(event(f"done{i}", "START", 1)),
                CODEC.encode(event(f"done{i}", "COMPLETE", 2)))
    h.batch(CODEC.encode(event("open", "START", 1)))
    full = sum(len(encode_state(s.state)) for s in h.runs.data.values())
    h.clock.now += HOUR_S - 1
    h.batch(CODEC.encode(event("tick1", "START", 1)))
    assert not any(s.departed for s in h.runs.data.values())  # within the grace window
    h.clock.now += 120
    h.batch(CODEC.encode(event("tick2", "START", 1)))
    assert all(s.departed for k, s in h.runs.data.items() if k.startswith("done"))
    assert sum(len(encode_state(s.state)) for s in h.runs.data.values()) < full
    h.clock.now += 24 * HOUR_S + 120
    h.batch(CODEC.encode(event("tick3", "START", 1)))
    assert sorted(h.runs.data) == ["open", "tick1", "tick2", "tick3"]


def test_a_grace_window_of_zero_keeps_every_run() -> None:
    h = Harness(finished_grace_s=0)
    h.batch(CODEC.encode(event("r", "START", 1)), CODEC.encode(event("r", "COMPLETE", 2)))
    h.clock.now += 1e9
    h.batch(CODEC.encode(event("tick", "START", 1)))
    stored = h.runs.get("r")
    assert stored is not None and not stored.departed


# -- compact encoding -------------------------------------------------------------------
def _events_state() -> Any:
    msgs = _run_events("r1")
    return stitch([CODEC.decode(msgs[k]) for k in ("start", "running", "late_complete")])


def test_the_compact_encoding_round_trips_and_is_small() -> None:
    state = _events_state()
    text = encode_state(state)
    assert decode_state(text) == state
    assert len(text) < len(state.to_json_bytes()) / 4
    assert state.seen and decode_summary(text) == departed_summary(state)
    assert decode_summary(encode_state(state, preset=False), preset=False) == \
        departed_summary(state)


def test_columns_a_facet_cannot_rebuild_are_kept() -> None:
    state = _events_state()
    ds = state.outputs["pg:out"]
    ds.columns["extra"] = ds.columns["c0"]  # a column only an earlier schema named
    assert decode_state(encode_state(state)) == state


class _Recovered:
    """Faust's memory store: the partition each key was recovered from."""

    _key_partition = {"text": 0}


class _Table(dict[Any, Any]):
    """A dict standing in for a Faust Table (one partition)."""

    data = _Recovered()

    def partition_for_key(self, key: str) -> int:
        return 0


def test_the_faust_run_store_reads_every_older_value_format() -> None:
    state = _events_state()
    table = _Table()
    store = FaustRunStore(table)
    table["text"] = {"state": state.to_json_bytes().decode(), "touched_ms": 5, "terminal": True}
    table["dict"] = {"state": state.to_json(), "touched_ms": 5, "terminal": True}
    # the previous format, as Faust's raw serializer hands back its JSON from the changelog
    table["z"] = json.dumps({"z": base64.b64encode(encode_state(state, False)).decode(),
                             "touched_ms": 5, "terminal": True, "p": 0}).encode()
    # format 2: the binary value, the state deflated without the preset dictionary
    table["two"] = bytes((2,)) + table_stores._HEADER.pack(5, 0, 1) + encode_state(state, False)
    store.put("new", StoredRun(state, 5))
    assert isinstance(table["new"], bytes) and table["new"][0] == RUN_VALUE_FORMAT
    assert len(table["new"]) < len(table["z"]) * 0.8  # no base64, no JSON wrapper
    for key in ("text", "dict", "z", "two", "new"):
        assert store.get(key) == StoredRun(state, 5)
    assert len(table["new"]) < len(table["two"]), "the preset dictionary pays"
    del table["two"]
    assert FaustRunStore(table).get("new") == StoredRun(state, 5)  # decoded, not cached
    del table["z"]
    store.retire("new", StoredRun(departed_summary(state), 5, departed=True))
    assert store.get("new") == StoredRun(departed_summary(state), 5, departed=True)
    # "dict" has no "p" and was not recovered: its partition is unknown, it stays; "new" is a
    # departed summary, listed by id without being decoded
    assert len(list(store.finished_runs_idle_since(5, 0))) == 1  # "text"

    def no_decoding(raw: Any) -> StoredRun:
        raise AssertionError("a departed summary was decoded to be listed")

    store._load = no_decoding  # type: ignore[method-assign]
    assert list(store.departed_runs_idle_since(5, 0)) == ["new"]
    assert list(store.departed_runs_idle_since(4, 0)) == []  # touched after the cutoff
    assert list(store.finished_runs_idle_since(5, 1)) == []  # another partition's
    assert list(store.departed_runs_idle_since(5, 1)) == []
    store.retire("new", None)
    assert store.get("new") is None


# -- identity short cut -----------------------------------------------------------------
def test_the_identity_pass_returns_an_event_untouched_when_no_alias_can_apply() -> None:
    ev = CODEC.decode(_run_events("r1")["start"])
    learned = MemoryAliasStore()
    ident = DatasetIdentity(learned=learned)
    assert ident.apply(ev) is ev
    learned.put("pg:raw", ("hive", "db.raw"))  # a learned alias applies again
    assert ident.apply(ev).inputs[0].name == "db.raw"
    assert DatasetIdentity({"pg:raw": "hive:db.raw"}).apply(ev).inputs[0].name == "db.raw"


# -- dedupe inside the run's state -------------------------------------------------------
@settings(max_examples=25, deadline=None)
@given(order=st.permutations(range(SEEN_EVENTS_KEPT + 8)))
def test_a_run_remembers_its_latest_events_whatever_their_order(order: list[int]) -> None:
    events = [_ev("r1", "RUNNING", 100 + i, f"e{i}") for i in order]
    state = stitch(events + events[:3])  # with duplicates
    assert state == stitch(sorted(events, key=lambda e: e.eventTime))
    assert len(state.seen) == SEEN_EVENTS_KEPT
    newest, oldest = SEEN_EVENTS_KEPT + 7, 7
    assert state.has_seen(100 + newest, f"e{newest}")
    assert not state.has_seen(100 + oldest, f"e{oldest}")  # older than the kept ones
    assert not state.has_seen(100 + newest, "another id")


def test_a_resent_event_is_counted_while_its_run_is_remembered_even_departed() -> None:
    from prometheus_client import REGISTRY

    def duplicates() -> float:
        return REGISTRY.get_sample_value("lineage_processor_duplicates_total") or 0.0

    h = Harness(finished_grace_s=HOUR_S, departed_memory_s=24 * HOUR_S)
    msgs = _run_events("r1")
    h.batch(msgs["start"])
    h.batch(msgs["complete"])
    before = duplicates()
    h.batch(msgs["start"])  # the START sent again, after the COMPLETE
    assert duplicates() == before + 1
    h.clock.now += HOUR_S + 120
    h.batch(CODEC.encode(event("other", "START", 1)))  # the sweep: r1 departs
    stored = h.runs.get("r1")
    assert stored is not None and stored.departed and len(stored.state.seen) == 2
    graph = Graph()
    graph.write(graph_records(h.batch(msgs["dup_complete"])))
    assert duplicates() == before + 2
    assert graph.nodes[("Run", "r1")]["state"] == "COMPLETE"  # merged again, published
    h.batch(msgs["late_running"])  # a new event of the departed run: not a duplicate
    assert duplicates() == before + 2
    h.clock.now += 25 * HOUR_S + 120  # the grace window and the summary's memory
    h.batch(CODEC.encode(event("tick", "START", 1)))  # forgotten with its run
    assert h.runs.get("r1") is None


def test_the_faust_version_store_writes_packed_values_and_reads_older_entries() -> None:
    table = _Table()
    store = FaustVersionStore(table)
    run = "run:" + str(uuid.UUID(int=7, version=4))
    # older entries, as recovered from a changelog: the uid (JSON) as key, JSON values
    table[json.dumps("ds").encode()] = b'{"version":"v1","t":5}'
    table[json.dumps("other").encode()] = ["v9", 3]
    assert store.latest("ds") == "v1" and store.latest("other") == "v9"
    store.record("ds", run, 6)
    assert table[version_key("ds")] == encode_version(run, 6)
    assert len(table[version_key("ds")]) == 25 and len(version_key("ds")) == 16
    assert store.latest("ds") == run
    store.record("ds", "v0", 4)  # older: ignored
    assert store.latest("ds") == run and store.latest("missing") is None
    store.record("ds", "s3://bucket/v2", 7)  # any other version: as text
    assert store.latest("ds") == "s3://bucket/v2"
    for version in (run.upper(), "run:not-a-uuid", "run:" + "x" * 36, ""):
        assert decode_version(encode_version(version, -1)) == {"version": version, "t": -1}
    with pytest.raises(ValueError, match="no known format"):
        decode_version(b"\x07garbage")
