"""Create the processor's topics when they are missing (an AdminClient of
:func:`lineage_pipeline.kafka.admin`)."""

from __future__ import annotations

import logging

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.cimpl import NewTopic

from lineage_pipeline import kafka
from lineage_pipeline.errors import TransportError
from lineage_pipeline.settings import LineageSettings

log = logging.getLogger(__name__)


def ensure_topics(settings: LineageSettings, timeout_s: float = 30.0) -> int:
    """Create ``topics.events``, ``topics.openlineage``, ``topics.graph``, ``topics.dlq`` and
    ``topics.erasures`` (``cleanup.policy=compact``) if absent, with ``topics.partitions``
    partitions and ``topics.replication_factor`` replicas.

    Returns the partition count of ``topics.events`` as it exists (the processor's tables are
    co-partitioned with it). Raises :class:`TransportError` (retryable) when the broker does
    not answer within ``timeout_s`` seconds or refuses to create a topic.
    """
    topics = settings.topics
    admin = kafka.admin(settings.kafka, "lineage-processor-topics")
    configs: dict[str, dict[str, str]] = {
        topics.events: {}, topics.openlineage: {}, topics.graph: {}, topics.dlq: {},
        topics.erasures: {"cleanup.policy": "compact"},  # latest erasure per dataset, forever
    }
    try:
        existing = admin.list_topics(timeout=timeout_s).topics
        missing = [n for n in configs if n not in existing]
        if missing:
            futures = admin.create_topics(
                [NewTopic(n, topics.partitions, topics.replication_factor, config=configs[n])
                 for n in missing],
                request_timeout=timeout_s,
            )
            for name, future in futures.items():
                try:
                    future.result(timeout=timeout_s)
                    log.info("created topic %s (%d partitions)", name, topics.partitions)
                except KafkaException as exc:
                    err = exc.args[0] if exc.args else None
                    exists = isinstance(err, KafkaError) and (
                        err.code() == KafkaError.TOPIC_ALREADY_EXISTS
                    )
                    if exists:
                        continue  # created meanwhile by another process
                    raise
        meta = admin.list_topics(topic=topics.events, timeout=timeout_s).topics[topics.events]
        return len(meta.partitions) or topics.partitions
    except KafkaException as exc:
        raise TransportError(f"cannot prepare topics on {settings.kafka.bootstrap_servers}: "
                             f"{exc}") from exc
