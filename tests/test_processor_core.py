"""EventProcessor without Kafka: decode, DLQ, dedupe, stitching, version resolution, STALE."""

from __future__ import annotations

import os
from typing import Any

import pytest
from prometheus_client import REGISTRY

from lineage_pipeline.codec import EventCodec
from lineage_pipeline.events import LineageEvent
from lineage_pipeline.graph_model import GraphMutations
from lineage_pipeline.graph_record import GraphRecordCodec
from lineage_pipeline.openlineage import to_openlineage_json
from stream_processor.dlq import OutRecord, SourceMessage, parse_dlq_headers
from stream_processor.processor import EventProcessor
from stream_processor.state import MemoryRunStore, MemoryVersionStore

CODEC = EventCodec()
GRAPH = GraphRecordCodec()


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class Harness:
    """A processor over in-memory stores, fed message by message like the Faust agent does."""

    def __init__(self, **options: Any) -> None:
        self.clock = Clock()
        self.runs = MemoryRunStore()
        self.versions = MemoryVersionStore()
        self.offset = 0
        self.proc = self.make(**options)

    def make(self, **options: Any) -> EventProcessor:
        return EventProcessor(graph_topic="graph", dlq_topic="dlq", runs=self.runs,
                              openlineage_topic="openlineage",
                              versions=self.versions,
                              clock=self.clock, **options)

    def batch(self, *values: bytes, topic: str = "events") -> list[OutRecord]:
        for value in values:
            self.proc.handle(SourceMessage(topic, 0, self.offset, b"key", value))
            self.offset += 1
        return self.proc.drain()


def event(run: str, etype: str, t: int, event_id: str | None = None, **body: Any) -> LineageEvent:
    base: dict[str, Any] = {"eventType": etype, "eventTime": t, "producer": "tests",
                            "run": {"runId": run}, "job": {"namespace": "ml", "name": "job"}}
    if event_id:
        base["eventId"] = event_id
    base.update(body)
    return LineageEvent.model_validate(base)


def graph_records(records: list[OutRecord]) -> list[GraphMutations]:
    return [GRAPH.decode(r.value) for r in records
            if r.topic == "graph"]


def run_state(m: GraphMutations, run: str) -> Any:
    return next(n.props for n in m.nodes if n.label.value == "Run" and n.uid == run)["state"]


def dlq_count(reason: str) -> float:
    return REGISTRY.get_sample_value("lineage_processor_dlq_total", {"reason": reason}) or 0.0


def test_undecodable_messages_go_to_the_dlq_with_reason_and_original_bytes() -> None:
    h = Harness()
    good = CODEC.encode(event("r1", "START", 1))
    unknown = b"\xc3\x01" + b"\x01\x02\x03\x04\x05\x06\x07\x08" + good[10:]
    bad = {
        "bad_magic": b"\x42" + os.urandom(40),
        "truncated": good[: len(good) // 2],
        "unknown_fingerprint": unknown,
        "empty": b"",
    }
    before = {reason: dlq_count(reason) for reason in bad}
    records = h.batch(*bad.values(), good)

    dlq = [r for r in records if r.topic == "dlq"]
    assert [parse_dlq_headers(r.headers).reason for r in dlq] == list(bad)
    assert [r.value for r in dlq] == list(bad.values())
    info = parse_dlq_headers(dlq[1].headers)
    assert (info.source_topic, info.source_partition, info.source_offset) == ("events", 0, 1)
    assert info.dlq_time_ms == 1_000_000_000
    assert all(dlq_count(reason) == before[reason] + 1 for reason in bad)
    assert len(graph_records(records)) == 1  # the good event after them still comes out


def test_a_handler_error_is_dead_lettered_and_leaves_no_state_behind() -> None:
    h = Harness(max_record_bytes=10)  # every graph record is "too large"
    value = CODEC.encode(event("r1", "START", 1, event_id="e1"))
    records = h.batch(value)
    (dlq,) = records
    info = parse_dlq_headers(dlq.headers)
    assert info.reason == "handler_error"
    assert "over the 10-byte cap" in info.detail
    assert dlq.value == value
    assert h.runs.get("r1") is None

    h.proc = h.make()  # fixed; the operator replays the DLQ record
    replayed = graph_records(h.batch(dlq.value))
    assert [m.source_event_id for m in replayed] == ["e1"]


def test_duplicates_change_no_state_and_a_batch_publishes_each_run_once() -> None:
    h = Harness()
    start = CODEC.encode(event("r1", "START", 1, event_id="s"))
    complete = CODEC.encode(event("r1", "COMPLETE", 3, event_id="c"))
    late_running = CODEC.encode(event("r1", "RUNNING", 2, event_id="r"))
    dups_before = REGISTRY.get_sample_value("lineage_processor_duplicates_total") or 0.0

    first = graph_records(h.batch(start, complete, complete, late_running))
    assert len(first) == 1
    assert run_state(first[0], "r1") == "COMPLETE"
    assert first[0].source_event_id == "r"

    # remembered by the run (its latest events): no state changes, but the run is published again (a
    # crash may have kept the state and lost the publication); what this process already
    # published with the same content is left out ...
    again = graph_records(h.batch(complete, start))
    assert len(again) == 1
    assert run_state(again[0], "r1") == "COMPLETE"
    run_node = [n for n in first[0].nodes if n.uid == "r1"]
    assert [n for n in again[0].nodes if n.uid == "r1"] == run_node
    assert REGISTRY.get_sample_value("lineage_processor_duplicates_total") == dups_before + 3
    # ... and a restarted processor (nothing published yet) publishes the whole run again
    h.proc = h.make()
    restarted = graph_records(h.batch(complete))
    assert restarted[0].nodes == first[0].nodes
    assert restarted[0].relationships == first[0].relationships


def test_inputs_without_version_resolve_to_the_latest_generated_version() -> None:
    h = Harness()
    out = {"namespace": "file", "name": "/d/features.parquet"}
    h.batch(CODEC.encode(event("producer-1", "COMPLETE", 10, outputs=[{**out, "version": "v1"}])),
            CODEC.encode(event("producer-2", "COMPLETE", 20, outputs=[out])))
    consumer = graph_records(h.batch(CODEC.encode(event(
        "consumer", "START", 30, inputs=[{"namespace": "file", "name": "file:///d/features.parquet/"}]
    ))))[0]
    consumed = {(e.type.value, e.from_uid) for e in consumer.relationships
                if e.to_uid == "consumer"}
    assert ("CONSUMED_BY", "file:/d/features.parquet@run:producer-2") in consumed

    unknown = graph_records(h.batch(CODEC.encode(event(
        "consumer-2", "START", 30, inputs=[{"namespace": "file", "name": "/d/other.csv"}]
    ))))[0]
    assert any(e.from_uid == "file:/d/other.csv@unversioned" for e in unknown.relationships)


def test_open_runs_idle_too_long_are_published_stale_once() -> None:
    h = Harness(stale_after_s=60)
    h.batch(CODEC.encode(event("open", "START", 1)), CODEC.encode(event("done", "START", 1)),
            CODEC.encode(event("done", "COMPLETE", 2)))
    assert h.proc.stale_records() == []
    h.clock.now += 61
    stale = graph_records(h.proc.stale_records())
    assert [(m.nodes[0].uid, m.nodes[0].props["state"]) for m in stale] == [("open", "STALE")]
    assert h.proc.stale_records() == []  # once

    # news from the run: its real state again, and it can go stale again later
    revived = graph_records(h.batch(CODEC.encode(event("open", "RUNNING", 5))))
    assert run_state(revived[0], "open") == "RUNNING"
    h.clock.now += 61
    assert len(h.proc.stale_records()) == 1


@pytest.mark.parametrize("etype", ["COMPLETE", "FAIL", "ABORT"])
def test_terminal_runs_are_never_stale(etype: str) -> None:
    h = Harness(stale_after_s=1)
    h.batch(CODEC.encode(event("r", etype, 1)))
    h.clock.now += 100
    assert h.proc.stale_records() == []


def test_openlineage_json_is_stitched_with_avro_events_of_the_same_run() -> None:
    h = Harness()
    run = "0b7c7a2e-3f6e-4b59-9a43-5c1d2f0e8a11"  # OpenLineage run ids are UUIDs
    start = event(run, "START", 1, event_id="ol-start",
                  inputs=[{"namespace": "file", "name": "file:///data/in.csv/", "version": "v1"}])
    started = graph_records(h.batch(to_openlineage_json(start).encode(), topic="openlineage"))
    done = graph_records(h.batch(CODEC.encode(event(run, "COMPLETE", 2))))[0]
    assert run_state(done, run) == "COMPLETE"
    assert ("CONSUMED_BY", "file:/data/in.csv@v1", run) in {
        (e.type.value, e.from_uid, e.to_uid) for e in started[0].relationships}
    assert REGISTRY.get_sample_value(
        "lineage_processor_events_in_total", {"source": "openlineage", "event_type": "START"}
    ) is not None


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"{not json", "invalid_json"),
        (b"\xff\xfe", "invalid_json"),
        (b"[1, 2]", "invalid_json"),
        (b'{"eventType": "START", "job": {"namespace": "n", "name": "j"}}', "invalid_openlineage"),
        (b"", "empty"),
    ],
)
def test_bad_openlineage_json_goes_to_the_dlq(value: bytes, reason: str) -> None:
    (record,) = Harness().batch(value, topic="openlineage")
    assert (record.topic, record.value) == ("dlq", value)
    info = parse_dlq_headers(record.headers)
    assert (info.reason, info.source_topic) == (reason, "openlineage")
