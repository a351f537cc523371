"""Changelog ends on the real broker (stream_processor.recovery).

The processor's table recovery probes each changelog partition past the end the broker
reports (written for a broker whose ListOffsets(LATEST) answer could stop at the base offset
of the last record batch). Apache Kafka reports the offset after the last record, so the
probe must agree with it exactly: it may read, but never move an end, and never invent one
for an empty partition.
"""

from __future__ import annotations

import uuid

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from stream_processor.recovery import true_end_offsets


def _topic(bootstrap: str) -> str:
    name = f"recovery.{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(name, 1)])[name].result(timeout=30)
    return name


def _produce_batch(bootstrap: str, topic: str, n: int) -> None:
    """Send ``n`` records that librdkafka puts in one batch (one flush, long linger)."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 200})
    for i in range(n):
        producer.produce(topic, key=b"k%d" % i, value=b"v%d" % i, partition=0)
    assert producer.flush(30) == 0


def _reported_end(bootstrap: str, topic: str) -> int:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "recovery-test"})
    try:
        _low, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
        return int(high)
    finally:
        consumer.close()


def test_kafka_reports_the_true_end_and_the_probe_agrees(kafka_broker: str) -> None:
    topic = _topic(kafka_broker)
    _produce_batch(kafka_broker, topic, 5)  # offsets 0..4
    _produce_batch(kafka_broker, topic, 3)  # offsets 5..7, one batch
    reported = _reported_end(kafka_broker, topic)
    assert reported == 8  # the offset after the last record, not after a batch's first one
    config = {"bootstrap.servers": kafka_broker}
    assert true_end_offsets(config, {(topic, 0): reported}) == {(topic, 0): 8}
    # an understated end (the last batch's base offset + 1) is still corrected
    assert true_end_offsets(config, {(topic, 0): 6}) == {(topic, 0): 8}


def test_an_empty_partition_is_not_read_and_stays_at_zero(kafka_broker: str) -> None:
    topic = _topic(kafka_broker)
    assert true_end_offsets({"bootstrap.servers": kafka_broker}, {(topic, 0): 0}) == {
        (topic, 0): 0}
