"""The durable erasure record: a compacted Kafka topic (``topics.erasures``) outside the graph.

``lineage erase`` records every erasure twice: on the Dataset node of the graph it scrubs and
as one record on this topic, so a graph rebuilt from the topics (a new graph name after a
disaster recovery, a second backend) still knows which datasets were erased.

Record: key = the dataset uid (``namespace:name``, UTF-8); value = JSON
``{"dataset": uid, "erasedAt": epoch ms, "reason": text}``. The topic is created with
``cleanup.policy=compact`` (:func:`lineage_app.localstack.stack.create_topics`), so the
latest record per dataset is kept forever. A tombstone (null value) withdraws the key's
erasure from the topic; a value that is not a valid record still erases its key (when in
doubt, erased).

- :func:`publish_erasure`: the CLI's producer. Refuses (nothing sent) when the broker does
  not answer or the topic does not exist (a Kafka broker would auto-create it without
  compaction), and waits for the broker's acknowledgement.
- :class:`ErasureLog`: the sink's reader. The constructor does no I/O; :meth:`ErasureLog.load`
  reads the topic from the beginning to the end (end of every partition) before the sink's
  first write; :meth:`ErasureLog.poll` then takes the records fetched since, without waiting.
  "The end" is the consumer's end-of-partition event (``enable.partition.eof``).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import Any

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)

from lineage_pipeline import kafka
from lineage_pipeline.errors import ConfigError, LineageError, TransportError
from lineage_pipeline.settings import LineageSettings

log = logging.getLogger(__name__)

#: How long ``lineage erase`` waits for the broker (metadata, then the acknowledgement), s.
PUBLISH_TIMEOUT_S = 10.0
#: How long the sink's start-up read of the whole topic may take, seconds.
LOAD_TIMEOUT_S = 30.0
#: While the topic is missing, how often :meth:`ErasureLog.poll` looks for it again, seconds.
RECHECK_S = 5.0


@dataclass(frozen=True, slots=True)
class ErasureRecord:
    """One erasure: dataset uid, when (epoch ms) and why."""

    dataset: str
    erased_at: int
    reason: str

    def to_json(self) -> bytes:
        """The record's value on the topic."""
        return json.dumps({"dataset": self.dataset, "erasedAt": self.erased_at,
                           "reason": self.reason}, sort_keys=True).encode("utf-8")

    @classmethod
    def from_message(cls, key: bytes | None, value: bytes) -> ErasureRecord:
        """Decode a topic record. A value that is not a valid record still erases its key
        (reason ``undecodable erasure record``); raises :class:`ValueError` when neither
        key nor value names a dataset."""
        uid = key.decode("utf-8", "replace") if key else ""
        try:
            data: Any = json.loads(value)
            dataset = data["dataset"]
            erased_at = data["erasedAt"]
            if not isinstance(dataset, str) or not dataset or isinstance(erased_at, bool) \
                    or not isinstance(erased_at, int):
                raise TypeError("dataset must be a string and erasedAt epoch ms")
            return cls(dataset, erased_at, str(data.get("reason") or ""))
        except (ValueError, KeyError, TypeError) as exc:
            if not uid:
                raise ValueError(f"erasure record without a dataset: {exc}") from exc
            log.warning("erasure record for %s is not valid (%s): the dataset counts as erased",
                        uid, exc)
            return cls(uid, 0, "undecodable erasure record")


def publish_erasure(settings: LineageSettings, record: ErasureRecord, *,
                    timeout_s: float = PUBLISH_TIMEOUT_S) -> None:
    """Append ``record`` to ``topics.erasures`` and wait for the broker's acknowledgement.

    Raises :class:`TransportError` (retryable) when the broker does not answer or does not
    acknowledge within ``timeout_s``, :class:`ConfigError` when the topic does not exist;
    in both cases nothing was written. The messages say how to fix it.
    """
    topic = settings.topics.erasures
    bootstrap = settings.kafka.bootstrap_servers
    again = f"then run `lineage erase {record.dataset}` again"
    producer = kafka.producer(settings.kafka, "lineage-erase", overrides={
        "acks": "all", "message.timeout.ms": max(1, int(timeout_s * 1000)),
        # a missing topic must not be auto-created: it would not be compacted
        "allow.auto.create.topics": False})
    try:
        # all topics: a metadata request naming the topic may auto-create it
        # (brokers with auto.create.topics.enable do)
        metadata = producer.list_topics(timeout=timeout_s)
    except KafkaException as exc:
        raise TransportError(
            f"cannot record the erasure of {record.dataset}: the Kafka broker at {bootstrap} "
            f"did not answer within {timeout_s:g} s ({_reason(exc)}); nothing was changed. "
            f"Start it (`lineage up` for the local stack) or point kafka.bootstrap_servers "
            f"(LINEAGE_KAFKA__BOOTSTRAP_SERVERS) at your brokers, {again}"
        ) from exc
    found = metadata.topics.get(topic)
    if found is None or found.error is not None:
        raise ConfigError(
            f"the erasure topic {topic!r} does not exist on {bootstrap}; nothing was changed. "
            f"Create it compacted (`lineage up` does for the local stack; elsewhere "
            f"kafka-topics.sh --create --topic {topic} --config cleanup.policy=compact) or set "
            f"topics.erasures (LINEAGE_TOPICS__ERASURES) to the right name, {again}"
        )
    errors: list[str] = []

    def delivered(err: KafkaError | None, _msg: Message) -> None:
        if err is not None:
            errors.append(err.str())

    producer.produce(topic, key=record.dataset.encode("utf-8"), value=record.to_json(),
                     on_delivery=delivered)
    left = producer.flush(timeout_s + 5.0)
    if left or errors:
        raise TransportError(
            f"cannot record the erasure of {record.dataset}: the broker at {bootstrap} did "
            f"not acknowledge it on {topic} ({errors[0] if errors else 'timed out'}); the "
            f"graph was not changed. Check the broker (`lineage status`), {again}"
        )


def _reason(exc: KafkaException) -> str:
    err = exc.args[0] if exc.args else None
    return err.str() if isinstance(err, KafkaError) else str(exc)


class ErasureLog:
    """The erasure topic read into memory, for the sink (see the module docstring).

    ``records()``: the latest record per erased dataset uid. Not thread-safe (the sink's
    loop is its only user).
    """

    def __init__(self, settings: LineageSettings) -> None:
        self.topic = settings.topics.erasures
        self._kafka = settings.kafka
        self._group = f"{settings.sink.group_id}.erasures"  # never joins, never commits
        self._conf: dict[str, object] = {
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "auto.offset.reset": "earliest",
            "fetch.wait.max.ms": 50,
            "allow.auto.create.topics": False,
        }
        self._consumer: Consumer | None = None
        self._records: dict[str, ErasureRecord] = {}
        self._assigned = False
        self._recheck_at = float("inf")
        self._errors: set[int] = set()

    def records(self) -> dict[str, ErasureRecord]:
        """The erased datasets known so far (uid -> latest record)."""
        return dict(self._records)

    def load(self, timeout_s: float = LOAD_TIMEOUT_S) -> int:
        """Read the topic from the beginning to the end of every partition; return how many
        datasets it erases. A missing topic counts as empty (logged; :meth:`poll` looks for
        it again). Raises :class:`TransportError` when the broker does not answer or the end
        is not reached within ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        self._records = {}
        partitions = self._assign(timeout_s)
        pending = set(partitions)
        while pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TransportError(
                    f"erasure topic {self.topic}: partitions {sorted(pending)} not read to the "
                    f"end within {timeout_s:g} s"
                )
            assert self._consumer is not None
            msg = self._consumer.poll(min(remaining, 0.5))
            if msg is not None:
                eof = self._take(msg)
                if eof is not None:
                    pending.discard(eof)
        if self._assigned:
            log.info("erasure topic %s read to the end: %d erased datasets", self.topic,
                     len(self._records))
        return len(self._records)

    def poll(self) -> None:
        """Take the records fetched since the last call, without waiting; while the topic is
        missing, look for it again at most every :data:`RECHECK_S` seconds. Does nothing
        before :meth:`load` (a partial read must not pass for the whole topic)."""
        if not self._assigned:
            if time.monotonic() < self._recheck_at:
                return
            try:
                self._assign(1.0)
            except TransportError as exc:
                log.warning("%s", exc)
                self._recheck_at = time.monotonic() + RECHECK_S
                return
            if not self._assigned:
                return
        assert self._consumer is not None
        while True:
            msg = self._consumer.poll(0)
            if msg is None:
                return
            self._take(msg)

    def close(self) -> None:
        """Close the consumer (nothing is committed)."""
        if self._consumer is not None:
            try:
                self._consumer.close()
            except (KafkaException, RuntimeError) as exc:
                log.warning("closing the erasure consumer: %s", exc)
            self._consumer = None
            self._assigned = False

    def _assign(self, timeout_s: float) -> list[int]:
        """Assign every partition of the topic from its beginning; return their ids (empty
        when the topic does not exist)."""
        if self._consumer is None:
            self._consumer = kafka.consumer(self._kafka, self._group,
                                            "lineage-graph-sink-erasures", overrides=self._conf)
        try:
            # all topics: a metadata request naming the topic may auto-create it
            metadata = self._consumer.list_topics(timeout=timeout_s)
        except KafkaException as exc:
            raise TransportError(
                f"erasure topic {self.topic}: the broker does not answer ({_reason(exc)})"
            ) from exc
        found = metadata.topics.get(self.topic)
        if found is None or found.error is not None or not found.partitions:
            log.warning("erasure topic %s does not exist (yet): no erasures recorded outside "
                        "the graph are applied until it does; `lineage up` creates it",
                        self.topic)
            self._recheck_at = time.monotonic() + RECHECK_S
            return []
        partitions = sorted(found.partitions)
        self._consumer.assign([TopicPartition(self.topic, p, OFFSET_BEGINNING)
                               for p in partitions])
        self._assigned = True
        return partitions

    def _take(self, msg: Message) -> int | None:
        """Apply one consumed message; return its partition when it marks the end of one."""
        err = msg.error()
        if err is not None:
            if err.code() == KafkaError._PARTITION_EOF:
                return msg.partition()
            if err.fatal():
                raise LineageError(f"fatal Kafka error on erasure topic {self.topic}: {err}")
            if err.code() not in self._errors:  # log each kind once
                self._errors.add(err.code())
                log.warning("erasure topic %s: %s", self.topic, err)
            return None
        key, value = msg.key(), msg.value()
        if value is None:  # tombstone: the key's erasure is withdrawn from the topic
            if key:
                self._records.pop(key.decode("utf-8", "replace"), None)
            return None
        try:
            record = ErasureRecord.from_message(key, value)
        except ValueError as exc:
            log.warning("erasure topic %s[%s]@%s skipped: %s", self.topic, msg.partition(),
                        msg.offset(), exc)
            return None
        self._records[record.dataset] = record
        return None
