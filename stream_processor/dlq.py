"""Dead-letter records: what the processor could not handle, kept byte for byte.

A DLQ record on ``topics.dlq`` keeps the ORIGINAL message: its key and value bytes unchanged,
so an operator can inspect it and replay it onto the source topic after a fix. Why it failed
and where it came from travel in Kafka headers (UTF-8 text values):

=====================  =========================================================================
header                 value
=====================  =========================================================================
``reason``             a stable code: a :class:`~lineage_pipeline.errors.DecodeError` reason
                       (``bad_magic``, ``truncated``, ``unknown_fingerprint``, ``malformed_avro``,
                       ``invalid_event``, ``too_large``, ``empty``, ...) or ``handler_error``
``detail``             a human-readable explanation (at most :data:`MAX_DETAIL_CHARS` characters)
``source_topic``       the topic the message was read from
``source_partition``   its partition (decimal)
``source_offset``      its offset (decimal)
``dlq_time_ms``        when the processor dead-lettered it (epoch ms, decimal)
=====================  =========================================================================

Every record built here counts once in ``lineage_processor_dlq_total{reason}``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from lineage_pipeline.errors import EventError
from lineage_pipeline.metrics import DLQ

#: Reason of a message that decoded but whose handling raised.
REASON_HANDLER_ERROR = "handler_error"
#: Longest ``detail`` header, characters.
MAX_DETAIL_CHARS = 2000

H_REASON = "reason"
H_DETAIL = "detail"
H_SOURCE_TOPIC = "source_topic"
H_SOURCE_PARTITION = "source_partition"
H_SOURCE_OFFSET = "source_offset"
H_DLQ_TIME_MS = "dlq_time_ms"


@dataclass(frozen=True, slots=True)
class SourceMessage:
    """One consumed Kafka message: where it came from and its raw bytes."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int | None = None
    #: the message's Kafka headers, ``(name, value)`` pairs (checked for ``lineage-crc32``)
    headers: tuple[tuple[str, bytes | None], ...] = ()


@dataclass(frozen=True, slots=True)
class OutRecord:
    """One record to publish: ``topic``, ``key``/``value`` bytes and headers."""

    topic: str
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()


@dataclass(frozen=True, slots=True)
class DlqInfo:
    """The headers of a DLQ record, parsed (times in epoch ms)."""

    reason: str
    detail: str
    source_topic: str
    source_partition: int
    source_offset: int
    dlq_time_ms: int


def dlq_record(
    msg: SourceMessage, reason: str, detail: str, dlq_topic: str, now_ms: int | None = None
) -> OutRecord:
    """Return the DLQ record of ``msg`` (original key and value) and count it by ``reason``."""
    now = now_ms if now_ms is not None else int(time.time() * 1000)
    headers = (
        (H_REASON, reason.encode()),
        (H_DETAIL, detail[:MAX_DETAIL_CHARS].encode("utf-8", errors="replace")),
        (H_SOURCE_TOPIC, msg.topic.encode()),
        (H_SOURCE_PARTITION, str(msg.partition).encode()),
        (H_SOURCE_OFFSET, str(msg.offset).encode()),
        (H_DLQ_TIME_MS, str(now).encode()),
    )
    DLQ.labels(reason=reason).inc()
    return OutRecord(dlq_topic, msg.key, msg.value or b"", headers)


def parse_dlq_headers(
    headers: Iterable[tuple[str, bytes | str | None]] | Sequence[tuple[str, bytes]] | None,
) -> DlqInfo:
    """Parse the headers of a DLQ record (as confluent-kafka's ``Message.headers()`` returns).

    Raises :class:`EventError` when a header is missing or not a number where one is due.
    """
    found: dict[str, str] = {}
    for name, value in headers or ():
        if isinstance(value, bytes):
            found[name] = value.decode("utf-8", errors="replace")
        elif value is not None:
            found[name] = value
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
