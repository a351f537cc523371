"""Changelog ends on the real broker: what the processor's table recovery relies on.

Faust rebuilds a table by reading its changelog partition up to the end offset the broker
reports (ListOffsets LATEST, the high watermark) and then declares recovery done. Apache Kafka
reports the offset after the last record, also when the last records were written in one
batch (the local broker used before, Tansu, reported the last batch's base offset + 1, and the
processor had to probe past it). These tests pin that behaviour with batched writes, read the
partition to check the end is the true one, and check an empty partition reports 0.
"""

from __future__ import annotations

import uuid

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from tests.support.waiting import wait_for
from tests.test_emitter_kafka import read_to_end


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
    """The partition's end offset; a topic created a moment ago may have no leader yet (the
    broker answers an error until its metadata has it), so ask until it answers."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "recovery-test"})

    def ask() -> tuple[int] | None:
        try:
            _low, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
        except KafkaException:
            return None
        return (int(high),)

    try:
        answer = wait_for(ask, f"the end offset of {topic}", timeout_s=30)
        assert isinstance(answer, tuple)
        return int(answer[0])
    finally:
        consumer.close()


def test_kafka_reports_the_offset_after_the_last_record_of_a_batch(kafka_broker: str) -> None:
    topic = _topic(kafka_broker)
    _produce_batch(kafka_broker, topic, 5)  # offsets 0..4
    _produce_batch(kafka_broker, topic, 3)  # offsets 5..7, one batch
    assert _reported_end(kafka_broker, topic) == 8  # not 6: the last batch's base offset + 1
    records = read_to_end(kafka_broker, topic)
    assert [m.offset() for m in records] == list(range(8))
    assert records[-1].value() == b"v2", "the last record written is the last before the end"


def test_an_empty_partition_reports_zero(kafka_broker: str) -> None:
    assert _reported_end(kafka_broker, _topic(kafka_broker)) == 0
