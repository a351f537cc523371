"""Decoding consumed bytes into lineage events; what does not decode becomes a DLQ record.

Two wire formats: Avro :class:`LineageEvent` on ``topics.events`` (:func:`decode_message`)
and OpenLineage RunEvent JSON from any OpenLineage producer on ``topics.openlineage``
(:func:`decode_openlineage_message`, via :mod:`lineage_pipeline.openlineage`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from lineage_pipeline.codec import EventCodec, check_integrity
from lineage_pipeline.errors import DecodeError, EventError
from lineage_pipeline.events import LineageEvent
from lineage_pipeline.openlineage import from_openlineage_dict
from stream_processor.dlq import OutRecord, SourceMessage, dlq_record

#: A JSON ``\\uD800``-``\\uDFFF`` escape: the only way JSON text carries a lone surrogate.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89abcdefABCDEF]")

#: DLQ reasons of the OpenLineage JSON topic.
REASON_INVALID_JSON = "invalid_json"
REASON_INVALID_OPENLINEAGE = "invalid_openlineage"


def message_headers(raw: Any) -> tuple[tuple[str, bytes | None], ...]:
    """Return Kafka headers as ``(name, value)`` pairs; ``raw`` is what a client hands out:
    ``None``, a sequence of pairs or a mapping (Faust accepts both). Text values become UTF-8."""
    if not raw:
        return ()
    items = raw.items() if isinstance(raw, Mapping) else raw
    return tuple((str(name), value.encode("utf-8") if isinstance(value, str) else value)
                 for name, value in items)


def _text(value: str) -> str:
    """``value`` with every lone surrogate (JSON ``\\ud800`` escapes decode to them; they
    have no UTF-8 form) replaced by U+FFFD, as :func:`~lineage_pipeline.graph_model.graph_text`
    does in the graph."""
    if value.isascii():
        return value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in value)
    return value


def without_lone_surrogates(data: dict[str, Any]) -> dict[str, Any]:
    """Return decoded JSON ``data`` (nested dicts / lists) with every string, keys included,
    passed through :func:`_text`; iterative, so any nesting depth is safe."""
    root: dict[str, Any] = {}
    stack: list[tuple[Any, Any]] = [(data, root)]
    while stack:
        src, dst = stack.pop()
        pairs = src.items() if isinstance(src, dict) else enumerate(src)
        for key, value in pairs:
            if isinstance(value, dict | list):
                child: Any = {} if isinstance(value, dict) else [None] * len(value)
                stack.append((value, child))
                value = child
            elif isinstance(value, str):
                value = _text(value)
            dst[_text(key) if isinstance(key, str) else key] = value
    return root


def decode_message(
    msg: SourceMessage, codec: EventCodec, dlq_topic: str, now_ms: int | None = None
) -> dict[str, Any] | OutRecord:
    """Return the event in ``msg`` as its wire record (:meth:`EventCodec.decode_record`: no
    model is built), or its DLQ record when it does not decode.

    The DLQ reason is the codec's :class:`DecodeError` reason (``empty``, ``bad_magic``,
    ``truncated``, ``unknown_fingerprint``, ``malformed_avro``, ``invalid_event``, ...);
    a tombstone (no value) is ``empty``; a value whose ``lineage-crc32`` header does not
    match is ``integrity_mismatch`` (:func:`~lineage_pipeline.codec.check_integrity`; a
    message without the header is decoded as is). Never raises for bad input.
    """
    try:
        if not msg.value:
            raise DecodeError("empty", "message has no value")
        check_integrity(msg.value, msg.headers)
        return codec.decode_record(msg.value)
    except DecodeError as exc:
        return dlq_record(msg, exc.reason, exc.detail, dlq_topic, now_ms)


def decode_openlineage_message(
    msg: SourceMessage, dlq_topic: str, now_ms: int | None = None, max_bytes: int = 1 << 20
) -> LineageEvent | OutRecord:
    """Return the :class:`LineageEvent` of the OpenLineage RunEvent JSON in ``msg``, or its
    DLQ record: reason ``empty``, ``too_large`` (over ``max_bytes``), ``integrity_mismatch``
    (a ``lineage-crc32`` header that does not match), ``invalid_json`` (not
    UTF-8 JSON text of an object) or ``invalid_openlineage`` (JSON, but not a RunEvent: a
    required field missing or malformed). Never raises for bad input.
    """
    value = msg.value
    if not value:
        return dlq_record(msg, "empty", "message has no value", dlq_topic, now_ms)
    if len(value) > max_bytes:
        return dlq_record(msg, "too_large", f"{len(value)} bytes > {max_bytes}", dlq_topic,
                          now_ms)
    try:
        check_integrity(value, msg.headers)
    except DecodeError as exc:
        return dlq_record(msg, exc.reason, exc.detail, dlq_topic, now_ms)
    try:
        data: Any = json.loads(value)
    except ValueError as exc:  # includes UnicodeDecodeError
        return dlq_record(msg, REASON_INVALID_JSON, str(exc), dlq_topic, now_ms)
    except RecursionError:  # nesting deeper than the interpreter's recursion limit
        return dlq_record(msg, REASON_INVALID_JSON, "JSON nested too deeply", dlq_topic, now_ms)
    if not isinstance(data, dict):
        return dlq_record(msg, REASON_INVALID_JSON, "top level is not a JSON object",
                          dlq_topic, now_ms)
    try:
        if _SURROGATE_ESCAPE.search(value):  # rare: walk the decoded JSON only then
            data = without_lone_surrogates(data)
        return from_openlineage_dict(data)
    except EventError as exc:
        return dlq_record(msg, REASON_INVALID_OPENLINEAGE, str(exc), dlq_topic, now_ms)
    except RecursionError:
        return dlq_record(msg, REASON_INVALID_OPENLINEAGE, "facets nested too deeply",
                          dlq_topic, now_ms)
