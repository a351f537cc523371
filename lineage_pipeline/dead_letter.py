"""The dead-letter record on ``topics.dlq``: one definition for the processor, the sink and
the CLI.

A DLQ record keeps the ORIGINAL message: its key and value bytes unchanged, so an operator
can inspect it and replay it onto the source topic after a fix (``lineage dlq replay``) --
up to a bound: a value over :data:`MAX_VALUE_BYTES` (a key over :data:`MAX_KEY_BYTES`) keeps
only that prefix, so a dead letter always fits the producer's and the broker's 1 MiB limit
and dead-lettering a 5 MB message cannot fail. The headers give the original's size and
SHA-256, so the original can be fetched from ``source_topic`` at ``source_partition`` /
``source_offset`` while that topic retains it, and checked (``lineage dlq fetch``; ``lineage
dlq replay`` fetches it by itself). Why it failed and where it came from travel in Kafka
headers, UTF-8 text values:

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
``value_bytes``        the original value's size in bytes (decimal; 0 for no value)
``value_sha256``       the SHA-256 of the original value (64 hex digits)
``key_bytes``          the original key's size in bytes (decimal; absent for no key)
=====================  =========================================================================

The last three are absent on records written before they existed: such a record always
carries the whole original.

A record replayed by the CLI carries :data:`H_REPLAYED_FROM` (``<partition>:<offset>`` of the
DLQ record) on the source topic.

The format is the one both writers used before this module; only the ``detail`` cap differed
(processor 2,000 characters, sink 1,000): it is 2,000 for both, which every reader accepts.
:func:`parse_headers` reads every record on the topic, old ones included.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable
from dataclasses import dataclass

from lineage_pipeline.errors import EventError

#: Longest ``detail`` header, characters.
MAX_DETAIL_CHARS = 2000
#: Longest value a dead letter carries, bytes: a longer one keeps this prefix. With the key
#: and headers capped too, a record stays far below Kafka's default 1 MiB message limit.
MAX_VALUE_BYTES = 256 * 1024
#: Longest key a dead letter carries, bytes (a longer one keeps this prefix).
MAX_KEY_BYTES = 4 * 1024

H_REASON = "reason"
H_DETAIL = "detail"
H_SOURCE_TOPIC = "source_topic"
H_SOURCE_PARTITION = "source_partition"
H_SOURCE_OFFSET = "source_offset"
H_DLQ_TIME_MS = "dlq_time_ms"
H_VALUE_BYTES = "value_bytes"
H_VALUE_SHA256 = "value_sha256"
H_KEY_BYTES = "key_bytes"
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

    def kept_value(self) -> bytes:
        """The value the DLQ record carries: the original, or its first
        :data:`MAX_VALUE_BYTES` bytes (``b""`` for no value)."""
        return (self.value or b"")[:MAX_VALUE_BYTES]

    def kept_key(self) -> bytes | None:
        """The key the DLQ record carries: the original, or its first :data:`MAX_KEY_BYTES`."""
        return None if self.key is None else self.key[:MAX_KEY_BYTES]

    def headers(self, now_ms: int | None = None) -> list[tuple[str, bytes]]:
        """The record's Kafka headers (:func:`dlq_headers`, then the original's size and
        digest; ``now_ms`` defaults to now)."""
        value = self.value or b""
        original = [(H_VALUE_BYTES, str(len(value)).encode()),
                    (H_VALUE_SHA256, hashlib.sha256(value).hexdigest().encode())]
        if self.key is not None:
            original.append((H_KEY_BYTES, str(len(self.key)).encode()))
        return dlq_headers(self.reason, self.detail, self.source_topic, self.source_partition,
                           self.source_offset, now_ms) + original


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
    ``source_offset``, ``dlq_time_ms``, ``value_bytes``, ``key_bytes`` (``None`` when
    missing or not a number), ``value_sha256`` (``None`` when missing)."""
    found = header_text(headers)
    return {
        H_REASON: found.get(H_REASON, "unknown"),
        H_DETAIL: found.get(H_DETAIL, ""),
        H_SOURCE_TOPIC: found.get(H_SOURCE_TOPIC),
        H_SOURCE_PARTITION: _int(found.get(H_SOURCE_PARTITION)),
        H_SOURCE_OFFSET: _int(found.get(H_SOURCE_OFFSET)),
        H_DLQ_TIME_MS: _int(found.get(H_DLQ_TIME_MS)),
        H_VALUE_BYTES: _int(found.get(H_VALUE_BYTES)),
        H_VALUE_SHA256: found.get(H_VALUE_SHA256),
        H_KEY_BYTES: _int(found.get(H_KEY_BYTES)),
    }


def truncated(kept_key: bytes | None, kept_value: bytes, headers: Headers | None) -> bool:
    """``True`` when a DLQ record (its key, value and headers) carries only a prefix of the
    original key or value (:data:`MAX_KEY_BYTES`, :data:`MAX_VALUE_BYTES`)."""
    found = summary(headers)
    value_bytes, key_bytes = found[H_VALUE_BYTES], found[H_KEY_BYTES]
    return ((isinstance(value_bytes, int) and value_bytes > len(kept_value))
            or (isinstance(key_bytes, int) and key_bytes > len(kept_key or b"")))
