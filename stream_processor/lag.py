"""The processor's consumer lag: ``lineage_consumer_lag_messages{consumer, topic}``.

Every :data:`LAG_INTERVAL_S` seconds a Faust timer (:func:`register_lag_timer`) asks the
broker for the processor's consumer group (``processor.app_id``) and each of its input
topics (``topics.events``, ``topics.openlineage``)::

    lag(topic) = sum over the topic's partitions of  end offset - committed offset

where a partition the group has not committed yet counts from its start (the low watermark:
the processor reads with ``auto.offset.reset = earliest``). This is the lag Kafka's
``kafka-consumer-groups --describe`` shows; it includes what the processor has fetched but
not yet committed (Faust commits every ``broker_commit_every`` messages or
``broker_commit_interval`` seconds, 2.8 s by default), so an idle processor reads 0 once its
last commit is done. The value is the whole group's (every partition, whichever replica owns
it), so with several replicas each exports the same number: the dashboards and the alert
``LineageConsumerLag`` aggregate with ``max by (consumer, topic)``, never ``sum``.

The broker calls are blocking (confluent-kafka), so they run in a worker thread
(:func:`asyncio.to_thread`) with a timeout each; a failure is logged (once per kind) and the
gauge keeps its last value. The probe's consumer never subscribes, so it never joins the
group and cannot trigger a rebalance; it only sends OffsetFetch and ListOffsets requests.

The end offset is the partition's high watermark, which Kafka reports as the offset after the
last record; a committed offset never passes it, and it is read after the committed offsets,
so the lag is never negative (no clamping: a negative value would show a real anomaly).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from confluent_kafka import Consumer, KafkaException, TopicPartition

from lineage_pipeline import kafka
from lineage_pipeline.metrics import CONSUMER_LAG
from lineage_pipeline.settings import KafkaSettings, LineageSettings

log = logging.getLogger(__name__)

#: Seconds between two lag measurements.
LAG_INTERVAL_S = 5.0
#: Timeout of each broker request of one measurement, seconds.
REQUEST_TIMEOUT_S = 5.0


def group_positions(consumer: Consumer, partitions: Sequence[TopicPartition],
                    timeout_s: float) -> dict[tuple[str, int], tuple[int, int]]:
    """``{(topic, partition): (start, high watermark)}`` for the group of ``consumer``: start
    is where the group's consumption of the partition stands, its committed offset, or the
    partition's first offset (low watermark) when nothing is committed or the committed
    offset was deleted. Blocking; raises :class:`confluent_kafka.KafkaException` when the
    broker does not answer within ``timeout_s`` seconds per request."""
    out: dict[tuple[str, int], tuple[int, int]] = {}
    if not partitions:
        return out
    for tp in consumer.committed(list(partitions), timeout=timeout_s):
        low, high = consumer.get_watermark_offsets(
            TopicPartition(tp.topic, tp.partition), timeout=timeout_s, cached=False
        )
        out[(tp.topic, tp.partition)] = (max(tp.offset, low), high)  # negative: no commit
    return out


class GroupLag:
    """Measures a consumer group's lag on some topics (see the module docstring).

    ``kafka``: the cluster's settings; ``group``: the consumer group id; ``topics``: the
    topics it consumes. The consumer (:func:`lineage_pipeline.kafka.consumer`, client id
    ``<group>-lag``) is created on the first :meth:`measure` (no network I/O before); call
    :meth:`close` at the end.
    """

    def __init__(self, kafka_settings: KafkaSettings, group: str, topics: Sequence[str],
                 timeout_s: float = REQUEST_TIMEOUT_S) -> None:
        self.kafka_settings = kafka_settings
        self.group = group
        self.topics = list(dict.fromkeys(topics))
        self.timeout_s = timeout_s
        self._consumer: Consumer | None = None

    def _client(self) -> Consumer:
        if self._consumer is None:
            self._consumer = kafka.consumer(self.kafka_settings, self.group, f"{self.group}-lag",
                                            overrides={"enable.auto.commit": False})
        return self._consumer

    def measure(self) -> dict[str, int]:
        """Return the group's lag per topic, in messages (blocking; raises
        :class:`confluent_kafka.KafkaException` when the broker does not answer)."""
        consumer = self._client()
        partitions: list[TopicPartition] = []
        for topic in self.topics:
            meta = consumer.list_topics(topic, timeout=self.timeout_s).topics.get(topic)
            if meta is None or meta.error is not None:
                continue  # not created yet: nothing to lag behind
            partitions += [TopicPartition(topic, p) for p in sorted(meta.partitions)]
        lag: dict[str, int] = dict.fromkeys(self.topics, 0)
        for (topic, _), (start, high) in group_positions(consumer, partitions,
                                                          self.timeout_s).items():
            lag[topic] += high - start
        return lag

    def publish(self, lag: dict[str, int]) -> None:
        """Set ``lineage_consumer_lag_messages{consumer=group, topic}`` from ``lag``."""
        for topic, value in lag.items():
            CONSUMER_LAG.labels(consumer=self.group, topic=topic).set(value)

    def close(self) -> None:
        """Close the probe's consumer (it holds no group membership)."""
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None


def register_lag_timer(app: Any, settings: LineageSettings,
                       interval_s: float = LAG_INTERVAL_S) -> GroupLag:
    """Add a timer to Faust ``app`` that publishes the processor group's lag every
    ``interval_s`` seconds (first after one interval); return its :class:`GroupLag`.

    The probe's consumer is closed when the app shuts down.
    """
    topics = settings.topics
    probe = GroupLag(settings.kafka, settings.processor.app_id,
                     [topics.events, topics.openlineage])
    failures: set[str] = set()

    async def report_consumer_lag() -> None:
        try:
            lag = await asyncio.to_thread(probe.measure)
        except (KafkaException, RuntimeError) as exc:
            kind = f"{type(exc).__name__}: {exc.args[0] if exc.args else ''}"
            if kind not in failures:  # log each kind once
                failures.add(kind)
                log.warning("consumer lag of %s not measured: %s", probe.group, exc)
            return
        probe.publish(lag)

    # Faust's decorators are untyped: apply them as plain calls
    app.timer(interval_s, name="lineage.consumer_lag")(report_consumer_lag)

    async def close_probe(sender: Any, *args: Any, **kwargs: Any) -> None:
        await asyncio.to_thread(probe.close)

    app.on_before_shutdown.connect(close_probe)
    return probe
