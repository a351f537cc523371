"""The dead-letter record on ``topics.dlq``: one definition for the processor, the sink and
the CLI.

A DLQ record keeps the ORIGINAL message: its key and value bytes unchanged, so an operator
can inspect it and replay it onto the source topic after a fix (``lineage dlq replay``).
Why it failed and where it came from travel in Kafka headers, UTF-8 text values:

=====================  =========================================================================
header                 value
=====================  =========================================================================
``reason``             a stable code: a :class:`~lineage_pipeline.errors.DecodeError` reason
                       (``bad_magic``, ``truncated``, ``unknown_fingerprint``, ``malformed_avro``,
                       ``invalid_event``, ``too_large``, ``empty``, ...), ``handler_error``
                       (processor), ``invalid_mutations`` or ``graph_rejected`` (sink)
``detail``             a human-readable explanation, at most :data:`MAX_DETAIL_CHARS` characters
                       (characters with no UTF-8 form become ``?``)
``source_topic``       the topic the message was read from
``source_partition``   its partition (decimal)
``source_offset``      its offset (decimal)
``dlq_time_ms``        when it was dead-lettered (epoch ms, decimal)
=====================  =========================================================================

A record replayed by the CLI carries :data:`H_REPLAYED_FROM` (``<partition>:<offset>`` of the
DLQ record) on the source topic.

The format is the one both writers used before this module; only the ``detail`` cap differed
(processor 2,000 characters, sink 1,000): it is 2,000 for both, which every reader accepts.
:func:`parse_headers` reads every record on the topic, old ones included.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

from lineage_pipeline.errors import EventError

#: Longest ``detail`` header, characters.
MAX_DETAIL_CHARS = 2000

H_REASON = "reason"
H_DETAIL = "detail"
H_SOURCE_TOPIC = "source_topic"
H_SOURCE_PARTITION = "source_partition"
H_SOURCE_OFFSET = "source_offset"
H_DLQ_TIME_MS = "dlq_time_ms"
#: Header of a record ``lineage dlq replay`` put back on its source topic.
H_REPLAYED_FROM = "dlq_replayed_from"

#: Kafka headers as confluent-kafka hands them out or takes them: ``(name, value)`` pairs.
Headers = Iterable[tuple[str, bytes | str | None]]


@dataclass(frozen=True, slots=True)
class DlqInfo:
    """The headers of a DLQ record, parsed: why and where from (times in epoch ms)."""

    reason: str
    detail: str
    source_topic: str
    source_partition: int
    source_offset: int
    dlq_time_ms: int

    def headers(self) -> list[tuple[str, bytes]]:
        """The record's Kafka headers (``detail`` capped at :data:`MAX_DETAIL_CHARS`)."""
        return [
            (H_REASON, self.reason.encode("utf-8", errors="replace")),
            (H_DETAIL, self.detail[:MAX_DETAIL_CHARS].encode("utf-8", errors="replace")),
            (H_SOURCE_TOPIC, self.source_topic.encode("utf-8", errors="replace")),
            (H_SOURCE_PARTITION, str(self.source_partition).encode()),
            (H_SOURCE_OFFSET, str(self.source_offset).encode()),
            (H_DLQ_TIME_MS, str(self.dlq_time_ms).encode()),
        ]


def now_ms() -> int:
    """The current time, epoch ms."""
    return int(time.time() * 1000)


def dlq_headers(reason: str, detail: str, source_topic: str, source_partition: int,
                source_offset: int, dlq_time_ms: int | None = None) -> list[tuple[str, bytes]]:
    """The Kafka headers of a dead letter (``dlq_time_ms`` defaults to now)."""
    return DlqInfo(reason, detail, source_topic, source_partition, source_offset,
                   now_ms() if dlq_time_ms is None else dlq_time_ms).headers()


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One record for the DLQ topic: the original key and value, where they came from and
    why they cannot be handled."""

    key: bytes | None
    value: bytes | None
    reason: str
    detail: str
    source_topic: str
    source_partition: int
    source_offset: int

    def headers(self, now_ms: int | None = None) -> list[tuple[str, bytes]]:
        """The record's Kafka headers (:func:`dlq_headers`; ``now_ms`` defaults to now)."""
        return dlq_headers(self.reason, self.detail, self.source_topic, self.source_partition,
                           self.source_offset, now_ms)


def header_text(headers: Headers | None) -> dict[str, str]:
    """The headers as text by name (the last value of a repeated name; ``None`` dropped;
    invalid UTF-8 replaced)."""
    found: dict[str, str] = {}
    for name, value in headers or ():
        if isinstance(value, bytes):
            found[name] = value.decode("utf-8", errors="replace")
        elif value is not None:
            found[name] = value
    return found


def parse_headers(headers: Headers | None) -> DlqInfo:
    """Parse the headers of a DLQ record (as ``confluent_kafka.Message.headers()`` returns).

    ``detail`` may be missing (empty). Raises :class:`EventError` when another header is
    missing or not a number where one is due.
    """
    found = header_text(headers)
    try:
        return DlqInfo(
            reason=found[H_REASON],
            detail=found.get(H_DETAIL, ""),
            source_topic=found[H_SOURCE_TOPIC],
            source_partition=int(found[H_SOURCE_PARTITION]),
            source_offset=int(found[H_SOURCE_OFFSET]),
            dlq_time_ms=int(found[H_DLQ_TIME_MS]),
        )
    except (KeyError, ValueError) as exc:
        raise EventError(f"not a DLQ record: header {exc} missing or invalid") from exc


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def summary(headers: Headers | None) -> dict[str, str | int | None]:
    """What the headers say, leniently (for listing any record of the topic): ``reason``
    (``"unknown"`` when missing), ``detail`` (``""``), ``source_topic``, ``source_partition``,
    ``source_offset``, ``dlq_time_ms`` (``None`` when missing or not a number)."""
    found = header_text(headers)
    return {
        H_REASON: found.get(H_REASON, "unknown"),
        H_DETAIL: found.get(H_DETAIL, ""),
        H_SOURCE_TOPIC: found.get(H_SOURCE_TOPIC),
        H_SOURCE_PARTITION: _int(found.get(H_SOURCE_PARTITION)),
        H_SOURCE_OFFSET: _int(found.get(H_SOURCE_OFFSET)),
        H_DLQ_TIME_MS: _int(found.get(H_DLQ_TIME_MS)),
    }
