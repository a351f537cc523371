"""Dead-letter records: what the processor could not handle, kept byte for byte (up to
:data:`~lineage_pipeline.dead_letter.MAX_VALUE_BYTES`; the headers give the size and digest
of a longer original, which stays on its source topic).

The record and its headers are defined once for every writer and reader in
:mod:`lineage_pipeline.dead_letter` (header names, the ``detail`` cap, the parser); this module
builds the processor's records from a consumed :class:`SourceMessage`. Every record built here
counts once in ``lineage_processor_dlq_total{reason}``.
"""

from __future__ import annotations

from dataclasses import dataclass

from lineage_pipeline.dead_letter import (
    MAX_DETAIL_CHARS,
    DeadLetter,
    DlqInfo,
    parse_headers,
)
from lineage_pipeline.metrics import DLQ

__all__ = ["MAX_DETAIL_CHARS", "REASON_HANDLER_ERROR", "DlqInfo", "OutRecord", "SourceMessage",
           "dlq_record", "parse_dlq_headers"]

#: Reason of a message that decoded but whose handling raised.
REASON_HANDLER_ERROR = "handler_error"

#: Parse the headers of a DLQ record (:func:`lineage_pipeline.dead_letter.parse_headers`).
parse_dlq_headers = parse_headers


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


def dlq_record(
    msg: SourceMessage, reason: str, detail: str, dlq_topic: str, now_ms: int | None = None
) -> OutRecord:
    """Return the DLQ record of ``msg`` (original key and value, bounded by
    :meth:`~lineage_pipeline.dead_letter.DeadLetter.kept_value`) and count it by ``reason``."""
    dead = DeadLetter(msg.key, msg.value, reason, detail, msg.topic, msg.partition, msg.offset)
    DLQ.labels(reason=reason).inc()
    return OutRecord(dlq_topic, dead.kept_key(), dead.kept_value(), tuple(dead.headers(now_ms)))
