"""Dead-letter records of the sink: what could not be decoded or was refused by the graph.

The record keeps the original key and value (a prefix of an oversized one, with its size
and digest: :class:`~lineage_pipeline.dead_letter.DeadLetter`); its headers say why, in the
one format of :mod:`lineage_pipeline.dead_letter` (``reason``: a stable code, e.g. ``bad_magic``,
``truncated``, ``invalid_mutations``, ``graph_rejected``; ``detail``; ``source_topic``,
``source_partition``, ``source_offset``; ``dlq_time_ms``).
"""

from __future__ import annotations

import logging

from confluent_kafka import KafkaError, Message, Producer

from lineage_pipeline import kafka, metrics
from lineage_pipeline.dead_letter import DeadLetter
from lineage_pipeline.errors import TransportError
from lineage_pipeline.settings import LineageSettings

log = logging.getLogger(__name__)

__all__ = ["DLQ_FLUSH_TIMEOUT_S", "DeadLetter", "DeadLetterSender"]

#: How long to wait for the broker to acknowledge dead letters, seconds.
DLQ_FLUSH_TIMEOUT_S = 30.0


class DeadLetterSender:
    """Sends dead letters to ``topics.dlq`` and waits for the broker's acknowledgement."""

    def __init__(self, settings: LineageSettings) -> None:
        self.settings = settings
        self.producer: Producer | None = None

    def send(self, dead: list[DeadLetter]) -> None:
        """Deliver ``dead``; raises :class:`TransportError` (retryable) when the broker did
        not acknowledge every record within :data:`DLQ_FLUSH_TIMEOUT_S`."""
        if self.producer is None:
            self.producer = kafka.producer(self.settings.kafka, "lineage-graph-sink-dlq",
                                           overrides={"acks": "all", "linger.ms": 5})
        errors: list[str] = []

        def delivered(err: KafkaError | None, _msg: Message) -> None:
            if err is not None:
                errors.append(str(err))

        topic = self.settings.topics.dlq
        for d in dead:
            self.producer.produce(topic, value=d.kept_value(), key=d.kept_key(),
                                  headers=list(d.headers()),
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
