"""The parts of the Prometheus monitoring that need no pipeline stack: the consumer-lag probe
(:class:`stream_processor.lag.GroupLag`) against the real Kafka broker, and the DLQ reasons
that the processor and the sink export from the start. The stack itself is evaluated by
:mod:`tests.test_prometheus_stack`.
"""

from __future__ import annotations

import re
import uuid

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from lineage_pipeline import metrics
from lineage_pipeline.settings import KafkaSettings
from stream_processor.lag import GroupLag
from tests.prometheus_support import ROOT


def test_group_lag_is_end_offset_minus_committed_offset(kafka_broker: str) -> None:
    topic, group = f"lag.{uuid.uuid4().hex[:8]}", f"lag-group-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": kafka_broker})
    admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])[topic].result(
        timeout=30)
    producer = Producer({"bootstrap.servers": kafka_broker, "linger.ms": 100})
    for i in range(5):  # one batch: the end offset is still the offset after its last record
        producer.produce(topic, value=str(i).encode())
    assert producer.flush(10) == 0
    probe = GroupLag(KafkaSettings(bootstrap_servers=kafka_broker), group,
                     [topic, f"{topic}.absent"])
    try:
        assert probe.measure() == {topic: 5, f"{topic}.absent": 0}  # nothing committed yet
        committer = Consumer({"bootstrap.servers": kafka_broker, "group.id": group,
                              "enable.auto.commit": False})
        try:
            committer.commit(offsets=[TopicPartition(topic, 0, 2)], asynchronous=False)
        finally:
            committer.close()
        assert probe.measure()[topic] == 3
        probe.publish(probe.measure())
        assert metrics.CONSUMER_LAG.labels(consumer=group, topic=topic)._value.get() == 3
    finally:
        probe.close()


def test_every_dlq_reason_in_the_code_is_exported_from_the_start() -> None:
    """The zero-initialised label values (metrics.init_label_values) cover every reason the
    processor and the sink can count: every DecodeError and dead-letter reason in the code."""
    def reasons(*paths: str) -> set[str]:
        found: set[str] = set()
        for path in paths:
            for file in sorted(ROOT.glob(path)):
                text = file.read_text("utf-8")
                found |= set(re.findall(r'DecodeError\(\s*"(\w+)"', text))
                found |= set(re.findall(r'REASON_\w+ = "(\w+)"', text))
                # a literal reason as the second argument, whatever the first one is
                found |= set(re.findall(r'(?:dlq_record|_dead)\([^"\n]*?, "(\w+)"', text))
        return found

    processor = reasons("lineage_pipeline/codec.py", "stream_processor/*.py")
    sink = reasons("lineage_pipeline/codec.py", "graph_sink/service.py")
    assert {"bad_magic", "handler_error", "invalid_json"} <= processor
    assert {"graph_rejected", "invalid_mutations"} <= sink
    assert processor <= set(metrics.PROCESSOR_DLQ_REASONS)
    assert sink <= set(metrics.SINK_DLQ_REASONS)
