"""Reading and replaying the dead-letter queue (``topics.dlq``).

A DLQ record keeps the original bytes as its value; its headers say why and where from
(:mod:`lineage_pipeline.dead_letter`: ``reason``, ``detail``, ``source_topic``,
``source_partition``, ``source_offset``, ``dlq_time_ms``, and the original's ``value_bytes``
and ``value_sha256``). A record's id is ``<partition>:<offset>`` in the DLQ topic. A record
of an oversized message keeps only a prefix (:data:`lineage_pipeline.dead_letter.MAX_VALUE_BYTES`):
:func:`original` fetches the whole message from its source topic while that topic retains it
and checks it against the size and digest. Replaying publishes the original bytes (or a
corrected version) back to the source topic with a ``dlq_replayed_from`` header, so the
processor takes it like any new event. The Kafka clients come from :mod:`lineage_pipeline.kafka`.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from lineage_pipeline import dead_letter, kafka
from lineage_pipeline.errors import ConfigError, NotFoundError, QueryError, TransportError
from lineage_pipeline.settings import LineageSettings


@dataclass
class DlqRecord:
    """One dead-lettered message with the reason and origin from its headers."""

    id: str
    value: bytes
    key: bytes | None
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def reason(self) -> str:
        """The stable reason code (``unknown_fingerprint``, ``invalid_json``...)."""
        return self.headers.get(dead_letter.H_REASON, "unknown")

    @property
    def truncated(self) -> bool:
        """``True`` when the record carries only a prefix of the original key or value."""
        return dead_letter.truncated(self.key, self.value, self.headers.items())

    def summary(self) -> dict[str, Any]:
        """Return the record's metadata as a JSON-ready dict (no payload): ``id``, the
        headers of :func:`lineage_pipeline.dead_letter.summary`, ``bytes`` (the value the
        record carries) and ``truncated``."""
        return {"id": self.id, **dead_letter.summary(self.headers.items()),
                "bytes": len(self.value), "truncated": self.truncated}


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return "" if value is None else str(value)


def _bytes(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    return b"" if value is None else str(value).encode("utf-8")


def parse_id(record_id: str) -> tuple[int, int]:
    """Parse ``<partition>:<offset>``; raises :class:`ConfigError` with the expected form."""
    try:
        partition, offset = record_id.split(":")
        return int(partition), int(offset)
    except ValueError as exc:
        raise ConfigError(
            f"DLQ record id {record_id!r} is not of the form PARTITION:OFFSET "
            "(see `lineage dlq list`)"
        ) from exc


def _consumer(settings: LineageSettings) -> Consumer:
    return kafka.consumer(settings.kafka, "lineage-dlq-reader", "lineage-dlq-reader",
                          overrides={"enable.auto.commit": False,
                                     "enable.partition.eof": True})


def read_dlq(settings: LineageSettings, timeout_s: float = 15.0) -> list[DlqRecord]:
    """Return every record in the DLQ topic, oldest first per partition.

    Raises :class:`TransportError` when the broker cannot be reached.
    """
    consumer = _consumer(settings)
    try:
        topic = settings.topics.dlq
        try:
            md = consumer.list_topics(topic, timeout=timeout_s)
        except Exception as exc:
            raise TransportError(f"cannot reach the broker: {exc}") from exc
        partitions = sorted(md.topics[topic].partitions) if topic in md.topics else []
        assignments, ends = [], {}
        for p in partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout_s)
            if high > low:
                assignments.append(TopicPartition(topic, p, low))
                ends[p] = high
        if not assignments:
            return []
        consumer.assign(assignments)
        records: list[DlqRecord] = []
        done: set[int] = set()
        deadline = time.monotonic() + timeout_s
        while len(done) < len(ends) and time.monotonic() < deadline:
            for msg in consumer.consume(500, 0.5):
                if msg.error() is not None:
                    continue
                p, off = msg.partition() or 0, msg.offset() or 0
                headers = {_text(k): _text(v) for k, v in list(msg.headers() or [])}
                value = msg.value()
                key = msg.key()
                records.append(DlqRecord(
                    f"{p}:{off}", _bytes(value), _bytes(key) if key is not None else None, headers
                ))
                if off + 1 >= ends[p]:
                    done.add(p)
        return records
    finally:
        consumer.close()


def get_record(settings: LineageSettings, record_id: str) -> DlqRecord:
    """Return the DLQ record ``record_id``; raises :class:`QueryError` if there is none."""
    parse_id(record_id)
    for record in read_dlq(settings):
        if record.id == record_id:
            return record
    raise NotFoundError(f"no DLQ record {record_id} in {settings.topics.dlq}; "
                        "see `lineage dlq list`")


def _fetch_one(settings: LineageSettings, topic: str, partition: int, offset: int,
               timeout_s: float) -> Any:
    """The message at ``topic[partition]@offset``, or ``None`` when the topic no longer
    holds it (deleted by retention, or compacted away)."""
    consumer = _consumer(settings)
    try:
        tp = TopicPartition(topic, partition)
        try:
            low, high = consumer.get_watermark_offsets(tp, timeout=timeout_s)
        except Exception as exc:
            raise TransportError(f"cannot reach the broker: {exc}") from exc
        if not low <= offset < high:
            return None
        consumer.assign([TopicPartition(topic, partition, offset)])
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None or msg.error() is not None:
                continue
            return msg if msg.offset() == offset else None
        raise TransportError(f"{topic}[{partition}]@{offset} not read within {timeout_s} s")
    finally:
        consumer.close()


def original(settings: LineageSettings, record: DlqRecord,
             timeout_s: float = 30.0) -> tuple[bytes | None, bytes]:
    """The original ``(key, value)`` of ``record``: its own when it carries them whole, else
    the message fetched from its source topic, checked against the size and SHA-256 in its
    headers. Raises :class:`QueryError` when the source topic no longer holds that message
    or holds another one there, :class:`TransportError` when the broker cannot be reached."""
    if not record.truncated:
        return record.key, record.value
    found = dead_letter.summary(record.headers.items())
    where = (f"{found[dead_letter.H_SOURCE_TOPIC]}[{found[dead_letter.H_SOURCE_PARTITION]}]"
             f"@{found[dead_letter.H_SOURCE_OFFSET]}")
    topic, partition = found[dead_letter.H_SOURCE_TOPIC], found[dead_letter.H_SOURCE_PARTITION]
    offset = found[dead_letter.H_SOURCE_OFFSET]
    if not (isinstance(topic, str) and isinstance(partition, int) and isinstance(offset, int)):
        raise QueryError(f"DLQ record {record.id} does not say where its original is")
    msg = _fetch_one(settings, topic, partition, offset, timeout_s)
    if msg is None:
        raise QueryError(
            f"the original of DLQ record {record.id} ({where}) is no longer on its topic "
            "(retention); only its first bytes are kept: replay a corrected payload with "
            "`lineage dlq replay ID --file FILE`")
    value = _bytes(msg.value())
    if (len(value) != found[dead_letter.H_VALUE_BYTES]
            or hashlib.sha256(value).hexdigest() != found[dead_letter.H_VALUE_SHA256]):
        raise QueryError(f"{where} is not the original of DLQ record {record.id} "
                         "(size or SHA-256 differ): the topic was recreated or compacted")
    key = msg.key()
    return (_bytes(key) if key is not None else None), value


def replay(
    settings: LineageSettings,
    record: DlqRecord,
    value: bytes | None = None,
    to_topic: str | None = None,
) -> str:
    """Publish ``record`` (or the corrected ``value``) to its source topic; return the topic.
    A record that keeps only a prefix replays its :func:`original`.

    Raises :class:`ConfigError` when the source topic is unknown and ``to_topic`` not given,
    :class:`QueryError` when a truncated record's original is gone,
    :class:`TransportError` when the broker does not confirm delivery.
    """
    topic = to_topic or record.headers.get(dead_letter.H_SOURCE_TOPIC)
    if not topic:
        raise ConfigError(f"DLQ record {record.id} names no source topic; pass --to TOPIC")
    key = record.key
    if value is None:
        key, value = original(settings, record)
    producer = kafka.producer(settings.kafka, "lineage-dlq-replay")
    errors: list[str] = []
    producer.produce(
        topic,
        value=value,
        key=key,
        headers=[(dead_letter.H_REPLAYED_FROM, record.id.encode())],
        on_delivery=lambda err, _msg: errors.append(str(err)) if err else None,
    )
    if producer.flush(30) or errors:
        raise TransportError(f"replay of {record.id} to {topic} not confirmed: {errors}")
    return topic


def payload_text(value: bytes) -> str:
    """A DLQ payload for people (``lineage dlq show``, ``GET /api/v1/dlq/{id}``): pretty JSON
    when it parses, its text when it is UTF-8 (e.g. broken JSON), else the hex of its first
    512 bytes (Avro)."""
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError:
        return value[:512].hex(" ")
    try:
        return json.dumps(json.loads(text), indent=2)
    except (ValueError, RecursionError):
        return text
