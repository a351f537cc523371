"""The emitter client against the real Kafka broker: delivery, keys, integrity, size cap,
and emitter failures that never reach the caller.

Also holds the small helpers the Kafka tests share: topic creation, and reading a topic back
with a manually assigned consumer (no consumer-group join), either until a number of records
arrived or up to the end offsets the broker reports (:func:`read_to_end`).
"""

from __future__ import annotations

import io
import json
import threading
import time
import uuid
from pathlib import Path
from typing import Any, cast

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic
from prometheus_client import REGISTRY

from emitters.client import LineageClient
from emitters.transports.base import Envelope, Transport
from emitters.transports.console import ConsoleTransport
from lineage_pipeline.codec import EventCodec, check_integrity
from lineage_pipeline.events import (
    ColumnLineageField,
    Dataset,
    DatasetFacets,
    EventType,
    InputField,
    Job,
    LineageEvent,
    Run,
    RunFacets,
    Transformation,
)
from lineage_pipeline.settings import TopicSettings

# -- shared helpers ---------------------------------------------------------------------------


def create_topic(bootstrap: str, topic: str) -> None:
    """Create ``topic`` with one partition (unless it exists already, e.g. auto-created)."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(topic, 1, 1)]).values():
        try:
            future.result(timeout=30)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise


def read_messages(bootstrap: str, topic: str, expected: int, timeout_s: float = 30.0,
                  settle_s: float = 0.0) -> list[Message]:
    """Read every partition of ``topic`` from the beginning until ``expected`` messages arrived
    (then keep reading ``settle_s`` seconds more, to catch duplicates) or the timeout."""
    consumer = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": f"test-{uuid.uuid4().hex}",
        "enable.auto.commit": False,
    })
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in sorted(partitions)])
    messages: list[Message] = []
    deadline = time.monotonic() + timeout_s
    settle_until: float | None = None
    try:
        while time.monotonic() < deadline:
            if settle_until is not None and time.monotonic() >= settle_until:
                break
            msg = consumer.poll(0.2)
            if msg is None or msg.error():
                continue
            messages.append(msg)
            if len(messages) >= expected and settle_until is None:
                settle_until = time.monotonic() + settle_s
    finally:
        consumer.close()
    return messages


def read_to_end(bootstrap: str, topic: str, timeout_s: float = 30.0) -> list[Message]:
    """Read every record of ``topic`` up to the end offsets the broker reports now.

    Kafka's end offset (the high watermark) is the offset after the last acknowledged
    record, so once a producer's flush returned this is every record it sent: nothing to
    wait for beyond it. Fails after ``timeout_s`` seconds.
    """
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"test-{uuid.uuid4().hex}",
                         "enable.auto.commit": False})
    messages: list[Message] = []
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                for p in sorted(partitions)}
        todo = {p for p, end in ends.items() if end > 0}
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in sorted(todo)])
        deadline = time.monotonic() + timeout_s
        while todo:
            assert time.monotonic() < deadline, \
                f"read {len(messages)} records of {topic} in {timeout_s} s; ends {ends}"
            msg = consumer.poll(0.2)
            if msg is None or msg.error():
                continue
            partition, offset = int(msg.partition() or 0), int(msg.offset() or 0)
            if offset < ends[partition]:
                messages.append(msg)
            if offset + 1 >= ends[partition]:
                todo.discard(partition)
    finally:
        consumer.close()
    return messages


def read_events(bootstrap: str, topic: str, expected: int, timeout_s: float = 30.0,
                settle_s: float = 0.0) -> list[LineageEvent]:
    """Read and decode ``expected`` lineage events from ``topic``, checking integrity."""
    codec = EventCodec()
    events = []
    for msg in read_messages(bootstrap, topic, expected, timeout_s, settle_s):
        value = msg.value()
        assert value is not None
        headers = cast("list[tuple[str, bytes | None]] | None", msg.headers())
        assert check_integrity(value, headers), "the emitter sends the CRC-32 header"
        event = codec.decode(value)
        assert msg.key() == event.partition_key()
        events.append(event)
    return events


def kafka_client(bootstrap: str, topic: str, tmp_path: Path, **more: Any) -> LineageClient:
    """A client with the kafka transport, its spool under ``tmp_path``."""
    return LineageClient.from_config(
        bootstrap_servers=bootstrap, topic=topic, spool_dir=str(tmp_path / "spool"),
        kafka_producer={"probe_interval_s": 0.2}, **more,
    )


def sample_event(job: str = "unit.job", **kw: object) -> LineageEvent:
    return LineageEvent(
        eventType=EventType.START,
        eventTime=int(time.time() * 1000),
        producer="https://example.com/test",
        run=Run(runId=str(uuid.uuid4()), facets=RunFacets(parameters={"k": "v"})),
        job=Job(namespace="tests", name=job),
        **kw,  # type: ignore[arg-type]
    )


def counter(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


# -- tests ------------------------------------------------------------------------------------


def test_events_reach_the_broker_keyed_and_decodable(
    kafka_broker: str, topic_names: TopicSettings, tmp_path: Path
) -> None:
    create_topic(kafka_broker, topic_names.events)
    sent = [sample_event(f"job{i}") for i in range(5)]
    with kafka_client(kafka_broker, topic_names.events, tmp_path) as client:
        for event in sent:
            client.emit(event)
        assert client.flush(20.0) == 0
    received = read_events(kafka_broker, topic_names.events, len(sent))
    assert received == sent
    assert not (tmp_path / "spool").exists() or not any((tmp_path / "spool").iterdir())


def test_a_burst_keeps_each_runs_order(
    kafka_broker: str, topic_names: TopicSettings, tmp_path: Path
) -> None:
    """Thousands of events at once, in batches of 50 (60 requests, one in flight at a time):
    each key's events arrive in the order they were emitted, each once."""
    topic = f"{topic_names.events}.burst"
    create_topic(kafka_broker, topic)
    sent = [sample_event(f"job{i % 3}") for i in range(3000)]
    with LineageClient.from_config(
        bootstrap_servers=kafka_broker, topic=topic, spool_dir=str(tmp_path / "spool"),
        queue_size=len(sent), kafka_producer={"properties": {"batch.num.messages": 50}},
    ) as client:
        for event in sent:
            client.emit(event)
        assert client.flush(60.0) == 0
    received = read_events(kafka_broker, topic, len(sent), timeout_s=60.0)
    assert len(received) == len(sent)
    for job in ("job0", "job1", "job2"):
        assert ([e.eventId for e in received if e.job.name == job]
                == [e.eventId for e in sent if e.job.name == job])


def test_oversize_facets_are_truncated_flagged_and_accepted(
    kafka_broker: str, topic_names: TopicSettings, tmp_path: Path
) -> None:
    create_topic(kafka_broker, topic_names.events)
    lineage = [
        ColumnLineageField(field=f"out_{i}", inputFields=[
            InputField(namespace="file", name="/in.csv", field=f"col_{i}_{'x' * 40}",
                       transformations=[Transformation(type="DIRECT", subtype="IDENTITY")])
        ])
        for i in range(3000)
    ]
    big = sample_event(outputs=[Dataset(namespace="file", name="/out.csv", facets=DatasetFacets(
        columnLineage=lineage, extra={"notes": json.dumps({"text": "y" * 20_000})}))])
    assert len(EventCodec().encode(big)) > 64 * 1024
    with kafka_client(kafka_broker, topic_names.events, tmp_path,
                      max_event_bytes=64 * 1024) as client:
        client.emit(big)
        assert client.flush(20.0) == 0
    [msg] = read_messages(kafka_broker, topic_names.events, 1)
    value = msg.value()
    assert value is not None and len(value) <= 64 * 1024
    event = EventCodec().decode(value)
    assert event.eventId == big.eventId
    assert event.truncated == ["outputs[0].extra.notes", "outputs[0].columnLineage"]
    assert event.outputs[0].facets.columnLineage is None
    assert event.run.facets.parameters == {"k": "v"}, "smaller facets survive"


class _StalledTransport(Transport):
    """A destination that stalls until released (a hung network filesystem, say)."""

    kind = "stalled"

    def __init__(self) -> None:
        self.release = threading.Event()
        self.sent: list[str] = []

    def send(self, envelope: Envelope) -> None:
        self.release.wait(10)
        self.sent.append(envelope.event.eventId)


def test_emit_never_blocks_and_drops_are_counted_when_the_queue_is_full() -> None:
    transport = _StalledTransport()
    client = LineageClient(transport, queue_size=10, drop_log_interval_s=3600)
    before = counter("lineage_emitter_dropped_total", reason="queue_full")
    started = time.perf_counter()
    for _ in range(1000):
        client.emit(sample_event())
    elapsed = time.perf_counter() - started
    assert elapsed < 0.5, f"1000 emits against a stalled transport took {elapsed:.3f} s"
    dropped = counter("lineage_emitter_dropped_total", reason="queue_full") - before
    assert dropped >= 1000 - 11
    transport.release.set()
    assert client.flush(10.0) == 0
    assert len(transport.sent) == 1000 - dropped
    client.close()


def test_transport_failures_never_raise_into_the_caller() -> None:
    broken = io.StringIO()
    broken.close()  # writing raises ValueError -> TransportError inside the sender
    client = LineageClient(ConsoleTransport(broken))
    before = counter("lineage_emitter_events_total", outcome="failed")
    client.emit(sample_event())
    client.emit("not an event")  # type: ignore[arg-type]
    assert client.flush(5.0) == 0
    assert counter("lineage_emitter_events_total", outcome="failed") - before == 2
    client.close()
    client.emit(sample_event())  # after close: dropped, not raised
    assert client.flush(1.0) == 0
