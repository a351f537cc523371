"""Create the processor's topics when they are missing (an AdminClient of
:func:`lineage_pipeline.kafka.admin`): the pipeline's topics, then the changelog topics of
the Faust tables, and wait until the broker's metadata lists them.

Why the changelogs are made here and not left to Faust: a consumer that joins its group
while a just-created topic of its subscription is not yet in the cluster metadata gets no
assignment for it ("Ignoring missing topic") and, for a global table's changelog, never
finishes its first rebalance. Created and visible before the worker starts, the topics are
only declared again (no-op) by Faust.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from lineage_pipeline import kafka
from lineage_pipeline.errors import TransportError
from lineage_pipeline.settings import LineageSettings

log = logging.getLogger(__name__)


def pipeline_topics(settings: LineageSettings) -> list[NewTopic]:
    """``topics.events``, ``topics.openlineage``, ``topics.graph``, ``topics.dlq`` and
    ``topics.erasures`` (``cleanup.policy=compact``: the latest erasure per dataset, forever),
    with ``topics.partitions`` partitions and ``topics.replication_factor`` replicas."""
    topics = settings.topics
    configs: dict[str, dict[str, str]] = {
        topics.events: {}, topics.openlineage: {}, topics.graph: {}, topics.dlq: {},
        topics.erasures: {"cleanup.policy": "compact"},
    }
    return [NewTopic(name, topics.partitions, topics.replication_factor, config=config)
            for name, config in configs.items()]


def changelog_topics(app: Any) -> list[NewTopic]:
    """The changelog topic of every table of the Faust ``app``, configured as Faust declares
    it (``faust.transport.drivers.aiokafka.Transport._topic_config``): ``cleanup.policy``
    ``compact`` (``compact,delete`` for windowed tables), ``retention.ms`` from the window's
    expiry, the table's partitions and replicas."""
    from mode.utils.times import want_seconds  # Faust's own Seconds -> float

    new: list[NewTopic] = []
    for table in app.tables.values():
        topic = table.changelog_topic
        flags = [flag for flag, on in (("compact", topic.compacting), ("delete", topic.deleting))
                 if on]
        config = {"cleanup.policy": ",".join(flags)} if flags else {}
        if topic.retention:
            config["retention.ms"] = str(int(want_seconds(topic.retention) * 1000))
        config.update({k: str(v) for k, v in (topic.config or {}).items()})
        replicas = topic.replicas or app.conf.topic_replication_factor
        new.append(NewTopic(topic.get_topic_name(), topic.partitions or app.conf.topic_partitions,
                            replicas, config=config))
    return new


def ensure_topics(settings: LineageSettings, timeout_s: float = 30.0) -> int:
    """Create the :func:`pipeline_topics` that are missing and wait until they are visible.

    Returns the partition count of ``topics.events`` as it exists (the processor's tables are
    co-partitioned with it). Raises :class:`TransportError` (retryable) when the broker does
    not answer within ``timeout_s`` seconds or refuses to create a topic.
    """
    events = settings.topics.events
    meta = create_missing(settings, pipeline_topics(settings), timeout_s)
    return len(meta[events].partitions) or settings.topics.partitions


def create_missing(settings: LineageSettings, wanted: Iterable[NewTopic],
                   timeout_s: float = 30.0) -> dict[str, Any]:
    """Create the topics of ``wanted`` that do not exist, then wait until the cluster
    metadata lists every one of them with a leader for each partition.

    Returns ``{topic name: confluent_kafka.admin.TopicMetadata}`` for the wanted topics.
    Raises :class:`TransportError` (retryable) when the broker does not answer or the topics
    are not visible within ``timeout_s`` seconds, or a topic cannot be created.
    """
    wanted = list(wanted)
    admin = kafka.admin(settings.kafka, "lineage-processor-topics")
    try:
        existing = admin.list_topics(timeout=timeout_s).topics
        missing = [t for t in wanted if t.topic not in existing]
        if missing:
            _create(admin, missing, timeout_s)
        return _wait_visible(admin, [t.topic for t in wanted], timeout_s)
    except KafkaException as exc:
        raise TransportError(f"cannot prepare topics on {settings.kafka.bootstrap_servers}: "
                             f"{exc}") from exc


def _create(admin: AdminClient, new: list[NewTopic], timeout_s: float) -> None:
    """Create ``new``; a topic created meanwhile by another process is no error."""
    for name, future in admin.create_topics(new, request_timeout=timeout_s).items():
        try:
            future.result(timeout=timeout_s)
            log.info("created topic %s", name)
        except KafkaException as exc:
            err = exc.args[0] if exc.args else None
            if isinstance(err, KafkaError) and err.code() == KafkaError.TOPIC_ALREADY_EXISTS:
                continue
            raise


def _wait_visible(admin: AdminClient, names: list[str], timeout_s: float) -> dict[str, Any]:
    """Poll the metadata until every topic of ``names`` has all partitions led."""
    deadline = time.monotonic() + timeout_s
    while True:
        listed = admin.list_topics(timeout=timeout_s).topics
        pending = [n for n in names if n not in listed or listed[n].error is not None
                   or not listed[n].partitions
                   or any(p.leader < 0 for p in listed[n].partitions.values())]
        if not pending:
            return {n: listed[n] for n in names}
        if time.monotonic() > deadline:
            raise TransportError(f"topics not in the cluster metadata after {timeout_s:.0f} s: "
                                 f"{', '.join(pending)}")
        time.sleep(0.1)
