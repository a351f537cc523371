"""The real processor (``python -m stream_processor``, Faust) against the Kafka broker.

One processor process serves the module (two starts in all: the restart test starts a second
one). Events go in with confluent-kafka; ``lineage.graph`` and ``lineage.dlq`` are read back
with manual-assign consumers (no consumer-group join), and the metrics endpoint is scraped.
"""

from __future__ import annotations

import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from lineage_app.localstack.processes import (
    ManagedProcess,
    free_port,
    port_open,
    start_python_service,
    tail,
)
from lineage_pipeline.codec import EventCodec
from lineage_pipeline.events import LineageEvent
from lineage_pipeline.graph_model import GraphMutations
from lineage_pipeline.graph_record import GraphRecordCodec
from lineage_pipeline.openlineage import to_openlineage_json
from lineage_pipeline.settings import TopicSettings
from stream_processor.dlq import DlqInfo, parse_dlq_headers

CODEC = EventCodec()
GRAPH = GraphRecordCodec()
READY_TIMEOUT_S = 90.0
RECORD_TIMEOUT_S = 30.0


def event(run: str, etype: str, t: int, **body: Any) -> LineageEvent:
    base: dict[str, Any] = {"eventType": etype, "eventTime": t, "producer": "tests/e2e",
                            "run": {"runId": run}, "job": {"namespace": "e2e", "name": "job"}}
    base.update(body)
    return LineageEvent.model_validate(base)


class Topic:
    """A manual-assign reader of partition 0 of one topic, from the beginning."""

    def __init__(self, broker: str, name: str) -> None:
        self.consumer = Consumer({"bootstrap.servers": broker, "group.id": f"reader-{name}",
                                  "enable.auto.commit": False})
        self.consumer.assign([TopicPartition(name, 0, OFFSET_BEGINNING)])

    def read_until(self, done: Callable[[list[Any]], bool], timeout_s: float) -> list[Any]:
        """Poll messages until ``done(messages so far)``; fail after ``timeout_s`` seconds."""
        seen: list[Any] = []
        deadline = time.monotonic() + timeout_s
        while not done(seen):
            if time.monotonic() > deadline:
                pytest.fail(f"timed out after {timeout_s} s; read {len(seen)} records")
            msg = self.consumer.poll(0.2)
            if msg is not None and msg.error() is None:
                seen.append(msg)
        return seen


class ProcessorUnderTest:
    """``python -m stream_processor`` configured through LINEAGE_* variables."""

    def __init__(self, broker: str, topics: TopicSettings, data_dir: Path) -> None:
        self.broker = broker
        self.topics = topics
        self.data_dir = data_dir
        self.metrics_port = free_port()
        empty_config = data_dir / "lineage.yaml"
        empty_config.write_text("{}\n")
        self.env = {
            "LINEAGE_CONFIG": str(empty_config),
            "LINEAGE_DATA_DIR": str(data_dir),
            "LINEAGE_KAFKA__BOOTSTRAP_SERVERS": broker,
            # the broker's minimum: a stopped processor's partitions move on within seconds
            "LINEAGE_KAFKA__EXTRA": '{"session.timeout.ms": "6000"}',
            "LINEAGE_TOPICS__EVENTS": topics.events,
            "LINEAGE_TOPICS__OPENLINEAGE": topics.openlineage,
            "LINEAGE_TOPICS__GRAPH": topics.graph,
            "LINEAGE_TOPICS__DLQ": topics.dlq,
            "LINEAGE_TOPICS__PARTITIONS": "1",
            "LINEAGE_PROCESSOR__APP_ID": f"processor-test-{uuid.uuid4().hex[:8]}",
            "LINEAGE_PROCESSOR__METRICS_PORT": str(self.metrics_port),
            "LINEAGE_PROCESSOR__BATCH_TIMEOUT_S": "0.02",
        }
        self.producer = Producer({"bootstrap.servers": broker, "linger.ms": 1})
        self.graph = Topic(broker, topics.graph)
        self.dlq = Topic(broker, topics.dlq)
        self.proc: ManagedProcess | None = None
        self.offsets: dict[bytes, int] = {}

    def start(self) -> None:
        self.metrics_port = free_port()
        self.env["LINEAGE_PROCESSOR__METRICS_PORT"] = str(self.metrics_port)
        self.proc = start_python_service(
            "processor", "stream_processor", [], self.data_dir,
            ready=lambda: port_open(self.metrics_port), port=self.metrics_port, env=self.env,
            timeout_s=60,
        )
        self.wait_until_consuming()

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop(timeout_s=20)
            self.proc = None

    def publish(self, *values: bytes, topic: str | None = None) -> None:
        def delivered(err: Any, msg: Any) -> None:
            assert err is None, err
            self.offsets[msg.value()] = msg.offset()

        for value in values:
            self.producer.produce(topic or self.topics.events, key=b"e2e/job", value=value,
                                  on_delivery=delivered)
        assert self.producer.flush(10) == 0

    def wait_until_consuming(self) -> None:
        """Publish probe events until one comes out on the graph topic: the metrics port
        opens before the consumer has joined its group and been assigned its partitions."""
        probe_run = f"probe-{uuid.uuid4().hex[:8]}"
        deadline = time.monotonic() + READY_TIMEOUT_S
        next_probe = 0.0
        while True:
            assert self.proc is not None and self.proc.alive(), tail(self.proc.log_path) if \
                self.proc else "not started"
            if time.monotonic() > deadline:
                pytest.fail(f"processor not consuming after {READY_TIMEOUT_S} s:\n"
                            f"{tail(self.proc.log_path, 40)}")
            if time.monotonic() >= next_probe:
                self.publish(CODEC.encode(event(probe_run, "START", 1)))
                next_probe = time.monotonic() + 2.0
            msg = self.graph.consumer.poll(0.2)
            if msg is not None and msg.error() is None and msg.key() == probe_run.encode():
                return

    def graph_records_until(self, event_id: str) -> list[tuple[bytes, GraphMutations]]:
        """``(key, upserts)`` of the graph records read from here up to the one published
        after the event ``event_id`` (the last of them)."""
        found = self.graph.read_until(
            lambda msgs: any(decode(m).source_event_id == event_id for m in msgs),
            RECORD_TIMEOUT_S)
        out = [(m.key(), decode(m)) for m in found]
        while out[-1][1].source_event_id != event_id:
            out.pop()
        return out

    def graph_record_of(self, event_id: str) -> GraphMutations:
        """The graph record published after the event ``event_id``."""
        return self.graph_records_until(event_id)[-1][1]

    def metrics(self) -> str:
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as resp:
            text: str = resp.read().decode()
        return text


def decode(msg: Any) -> GraphMutations:
    return GRAPH.decode(msg.value())


def metric_value(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


def run_node(m: GraphMutations, run: str) -> dict[str, Any]:
    return next(n.props for n in m.nodes if n.label.value == "Run" and n.uid == run)


@pytest.fixture(scope="module")
def processor(kafka_broker: str, tmp_path_factory: pytest.TempPathFactory
              ) -> Iterator[ProcessorUnderTest]:
    suffix = uuid.uuid4().hex[:8]
    topics = TopicSettings(events=f"lineage.events.{suffix}", graph=f"lineage.graph.{suffix}",
                           openlineage=f"openlineage.events.{suffix}",
                           dlq=f"lineage.dlq.{suffix}", partitions=1)
    admin = AdminClient({"bootstrap.servers": kafka_broker})
    names = (topics.events, topics.openlineage, topics.graph, topics.dlq)
    for future in admin.create_topics([NewTopic(t, 1, 1) for t in names]).values():
        future.result(timeout=30)
    proc = ProcessorUnderTest(kafka_broker, topics, tmp_path_factory.mktemp("processor"))
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


def test_bad_input_is_dead_lettered_and_later_good_events_reach_the_graph(
    processor: ProcessorUnderTest,
) -> None:
    run = f"run-{uuid.uuid4().hex[:8]}"
    start = event(run, "START", 1_000,
                  inputs=[{"namespace": "file", "name": "file:///tmp/e2e/raw.csv/",
                           "version": "sha-1"}])
    complete = event(run, "COMPLETE", 3_000,
                     outputs=[{"namespace": "file", "name": "/tmp/e2e/clean.csv",
                               "version": "sha-2"}])
    late_running = event(run, "RUNNING", 2_000)
    good = CODEC.encode(start)
    bad = {
        "bad_magic": b"\x42" + uuid.uuid4().bytes * 4,
        "truncated": good[: len(good) // 2],
        "unknown_fingerprint": b"\xc3\x01" + b"\xff" * 8 + good[10:],
    }
    processor.publish(*bad.values())
    processor.publish(good, CODEC.encode(complete), CODEC.encode(complete),
                      CODEC.encode(late_running))

    dead = processor.dlq.read_until(lambda msgs: len(msgs) >= 3, RECORD_TIMEOUT_S)
    infos: list[DlqInfo] = [parse_dlq_headers(m.headers()) for m in dead]
    assert [i.reason for i in infos] == list(bad)
    assert [m.value() for m in dead] == list(bad.values())  # original bytes kept
    for info, value in zip(infos, bad.values(), strict=True):
        assert (info.source_topic, info.source_partition) == (processor.topics.events, 0)
        assert info.source_offset == processor.offsets[value]
        assert info.dlq_time_ms > 0

    # the last event processed for the run carries the stitched state: still COMPLETE; the
    # run's records together hold its versions (each published once), linked through the run
    records = [m for key, m in processor.graph_records_until(late_running.eventId)
               if key == run.encode()]
    props = run_node(records[-1], run)
    assert (props["state"], props["startTime"], props["endTime"]) == ("COMPLETE", 1_000, 3_000)
    uids = {n.uid for m in records for n in m.nodes}
    assert {"file:/tmp/e2e/raw.csv@sha-1", "file:/tmp/e2e/clean.csv@sha-2"} <= uids
    assert {("CONSUMED_BY", "file:/tmp/e2e/raw.csv@sha-1", run),
            ("GENERATED", run, "file:/tmp/e2e/clean.csv@sha-2")} <= {
        (e.type.value, e.from_uid, e.to_uid) for m in records for e in m.relationships}

    metrics = processor.metrics()
    for reason in bad:
        assert f'lineage_processor_dlq_total{{reason="{reason}"}} 1.0' in metrics
    assert "lineage_processor_duplicates_total 1.0" in metrics


def test_openlineage_json_reaches_the_graph_and_invalid_json_the_dlq(
    processor: ProcessorUnderTest,
) -> None:
    run = str(uuid.uuid4())  # OpenLineage run ids are UUIDs
    complete = event(run, "COMPLETE", 7_000,
                     outputs=[{"namespace": "s3a://Bucket", "name": "/models/m1/",
                               "version": "m-1", "kind": "model"}])
    invalid = b'{"eventType": "COMPLETE", "run": '
    processor.publish(invalid, to_openlineage_json(complete).encode(),
                      topic=processor.topics.openlineage)

    final = processor.graph_record_of(complete.eventId)
    assert run_node(final, run)["state"] == "COMPLETE"
    assert ("DatasetVersion", "s3://bucket:models/m1@m-1") in {
        (n.label.value, n.uid) for n in final.nodes}
    dead = processor.dlq.read_until(lambda msgs: any(m.value() == invalid for m in msgs),
                                    RECORD_TIMEOUT_S)
    info = parse_dlq_headers(next(m for m in dead if m.value() == invalid).headers())
    assert (info.reason, info.source_topic) == ("invalid_json", processor.topics.openlineage)
    assert info.source_offset == processor.offsets[invalid]


def test_run_state_and_dedupe_survive_a_restart(processor: ProcessorUnderTest) -> None:
    run = f"run-{uuid.uuid4().hex[:8]}"
    complete = event(run, "COMPLETE", 5_000)
    processor.publish(CODEC.encode(event(run, "START", 4_000)), CODEC.encode(complete))
    assert run_node(processor.graph_record_of(complete.eventId), run)["state"] == "COMPLETE"

    processor.stop()
    processor.start()  # same app id: tables recover from their changelog topics

    late_start = event(run, "START", 4_500)
    processor.publish(CODEC.encode(complete), CODEC.encode(late_start))
    props = run_node(processor.graph_record_of(late_start.eventId), run)
    assert (props["state"], props["endTime"]) == ("COMPLETE", 5_000)
    # the resent COMPLETE is a duplicate for the restarted process: the run state it recovered
    # remembers its events
    assert metric_value(processor.metrics(), "lineage_processor_duplicates_total") >= 1.0
