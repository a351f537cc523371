"""Dead-letter records of the sink: what could not be decoded or was refused by the graph.

The record keeps the original key and value; headers say why (the same header names as the
processor's DLQ): ``reason`` (a stable code, e.g. ``bad_magic``, ``truncated``,
``invalid_mutations``, ``graph_rejected``), ``detail``, ``source_topic``,
``source_partition``, ``source_offset``, ``dlq_time_ms``. All header values are UTF-8 text.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from confluent_kafka import KafkaError, Message, Producer

from lineage_pipeline import metrics
from lineage_pipeline.errors import TransportError
from lineage_pipeline.settings import LineageSettings

log = logging.getLogger(__name__)

#: How long to wait for the broker to acknowledge dead letters, seconds.
DLQ_FLUSH_TIMEOUT_S = 30.0


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One record for the DLQ topic: where it came from and why it cannot be written."""

    key: bytes | None
    value: bytes | None
    reason: str
    detail: str
    source_topic: str
    source_partition: int
    source_offset: int

    def headers(self, now_ms: int | None = None) -> list[tuple[str, str | bytes | None]]:
        """Return the Kafka headers of this record (``detail`` capped at 1,000 characters)."""
        now = now_ms if now_ms is not None else int(time.time() * 1000)
        return [
            ("reason", self.reason.encode()),
            ("detail", self.detail[:1000].encode()),
            ("source_topic", self.source_topic.encode()),
            ("source_partition", str(self.source_partition).encode()),
            ("source_offset", str(self.source_offset).encode()),
            ("dlq_time_ms", str(now).encode()),
        ]


class DeadLetterSender:
    """Sends dead letters to ``topics.dlq`` and waits for the broker's acknowledgement."""

    def __init__(self, settings: LineageSettings) -> None:
        self.settings = settings
        self.producer: Producer | None = None

    def send(self, dead: list[DeadLetter]) -> None:
        """Deliver ``dead``; raises :class:`TransportError` (retryable) when the broker did
        not acknowledge every record within :data:`DLQ_FLUSH_TIMEOUT_S`."""
        if self.producer is None:
            conf = self.settings.kafka.client_config()
            conf.update({"client.id": "lineage-graph-sink-dlq", "acks": "all", "linger.ms": 5})
            self.producer = Producer(conf)
        errors: list[str] = []

        def delivered(err: KafkaError | None, _msg: Message) -> None:
            if err is not None:
                errors.append(str(err))

        topic = self.settings.topics.dlq
        for d in dead:
            self.producer.produce(topic, value=d.value, key=d.key, headers=d.headers(),
                                  on_delivery=delivered)
        left = self.producer.flush(DLQ_FLUSH_TIMEOUT_S)
        if left or errors:
            raise TransportError(
                f"DLQ {topic}: {left} dead letters unacknowledged, errors: {errors[:3]}"
            )
        for d in dead:
            metrics.SINK_DLQ.labels(reason=d.reason).inc()
            log.warning("dead letter %s[%d]@%d: %s %s", d.source_topic, d.source_partition,
                        d.source_offset, d.reason, d.detail[:200])

    def close(self) -> None:
        """Flush what is still queued (at most 5 s) and drop the producer."""
        if self.producer is not None:
            left = self.producer.flush(5.0)
            if left:
                log.error("%d dead letters not delivered at shutdown", left)
            self.producer = None
