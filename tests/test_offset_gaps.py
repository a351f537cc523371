"""Skipped input offsets are found and read again from the real broker
(:mod:`stream_processor.gaps`): the processor handles them before the event after them."""

from __future__ import annotations

import uuid

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from lineage_pipeline.settings import KafkaSettings
from stream_processor.dlq import SourceMessage
from stream_processor.gaps import GapReader, OffsetGaps


def _topic_with(bootstrap: str, count: int) -> str:
    topic = f"gaps-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(topic, 1, 1)]).values():
        future.result(30)
    producer = Producer({"bootstrap.servers": bootstrap})
    for i in range(count):
        producer.produce(topic, key=f"k{i}".encode(), value=f"v{i}".encode(),
                         headers=[("n", str(i).encode())])
    assert producer.flush(30) == 0
    return topic


def _commit(bootstrap: str, group: str, topic: str, offset: int) -> None:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                         "enable.auto.commit": False})
    consumer.commit(offsets=[TopicPartition(topic, 0, offset)], asynchronous=False)
    consumer.close()


def _at(topic: str, offset: int) -> SourceMessage:
    return SourceMessage(topic=topic, partition=0, offset=offset, key=None, value=b"",
                         timestamp_ms=None, headers=())


def test_skipped_offsets_are_read_from_the_committed_offset_on(kafka_broker: str) -> None:
    topic, group = _topic_with(kafka_broker, 10), f"g-{uuid.uuid4().hex[:8]}"
    _commit(kafka_broker, group, topic, 3)
    reader = GapReader(KafkaSettings(bootstrap_servers=kafka_broker), group)
    try:
        gaps = OffsetGaps(reader.read, reader.start_of)
        gaps.reset(reader.starts([(topic, 0)]))
        missed = gaps.before(_at(topic, 6))  # 3, 4 and 5 never reached the agent
        assert [(m.offset, m.key, m.value, m.headers) for m in missed] == [
            (i, f"k{i}".encode(), f"v{i}".encode(), (("n", str(i).encode()),))
            for i in (3, 4, 5)]
        assert all(m.timestamp_ms for m in missed)
        assert gaps.in_order(_at(topic, 7))  # in order: nothing missing, no I/O
        assert not gaps.in_order(_at(topic, 9))  # past the expectation: before() reads
        assert gaps.before(_at(topic, 2)) == []  # a re-delivery after a seek back
        assert [m.offset for m in gaps.before(_at(topic, 5))] == [3, 4]
        assert [m.offset for m in gaps.before(_at(topic, 10))] == [6, 7, 8, 9]
        assert not OffsetGaps(reader.read, reader.start_of).in_order(_at(topic, 3))  # unknown
    finally:
        reader.close()


def test_a_group_without_commits_starts_at_the_partition_start(kafka_broker: str) -> None:
    topic, group = _topic_with(kafka_broker, 4), f"g-{uuid.uuid4().hex[:8]}"
    reader = GapReader(KafkaSettings(bootstrap_servers=kafka_broker), group)
    try:
        assert reader.starts([(topic, 0)]) == {(topic, 0): 0}
        gaps = OffsetGaps(reader.read, reader.start_of)  # no reset: read at the first event
        assert [m.offset for m in gaps.before(_at(topic, 2))] == [0, 1]
        assert gaps.before(_at(topic, 3)) == []
        # the group never joined and never committed
        probe = Consumer({"bootstrap.servers": kafka_broker, "group.id": group})
        assert probe.committed([TopicPartition(topic, 0)], timeout=10)[0].offset < 0
        probe.close()
    finally:
        reader.close()
