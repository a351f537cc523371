"""The one dead-letter record (:mod:`lineage_pipeline.dead_letter`): headers, caps, parser."""

from __future__ import annotations

import hashlib

import pytest

from lineage_pipeline import dead_letter
from lineage_pipeline.dead_letter import (
    MAX_DETAIL_CHARS,
    MAX_KEY_BYTES,
    MAX_VALUE_BYTES,
    DeadLetter,
    DlqInfo,
    parse_headers,
)
from lineage_pipeline.errors import EventError
from stream_processor.dlq import SourceMessage, dlq_record


def test_headers_round_trip() -> None:
    dead = DeadLetter(b"k", b"v", "graph_rejected", "field Dataset.props['']: empty",
                      "lineage.graph", 2, 41)
    assert parse_headers(dead.headers(now_ms=1234)) == DlqInfo(
        "graph_rejected", "field Dataset.props['']: empty", "lineage.graph", 2, 41, 1234)
    assert [name for name, _ in dead.headers()] == [
        "reason", "detail", "source_topic", "source_partition", "source_offset", "dlq_time_ms",
        "value_bytes", "value_sha256", "key_bytes"]
    assert not dead_letter.truncated(dead.kept_key(), dead.kept_value(), dead.headers())


def test_an_oversized_original_is_kept_as_a_prefix_with_its_size_and_digest() -> None:
    value, key = bytes(range(256)) * (5 * 4096), b"k" * (MAX_KEY_BYTES + 1)  # 5 MiB value
    msg = SourceMessage("lineage.events", 3, 12, key, value)
    record = dlq_record(msg, "too_large", "5242880 bytes > 1048576", "lineage.dlq")
    assert record.value == value[:MAX_VALUE_BYTES] and record.key == key[:MAX_KEY_BYTES]
    # with every header, far below Kafka's default 1 MiB message limit
    assert len(record.value) + len(record.key or b"") + sum(
        len(n) + len(v) for n, v in record.headers) < 300 * 1024
    found = dead_letter.summary(record.headers)
    assert (found["value_bytes"], found["key_bytes"]) == (len(value), len(key))
    assert found["value_sha256"] == hashlib.sha256(value).hexdigest()
    assert dead_letter.truncated(record.key, record.value, record.headers)
    assert parse_headers(record.headers).source_offset == 12


def test_processor_and_sink_write_the_same_headers() -> None:
    msg = SourceMessage("lineage.events", 1, 7, b"k", b"\x00bad")
    record = dlq_record(msg, "bad_magic", "x" * 5000, "lineage.dlq", now_ms=99)
    sink = DeadLetter(b"k", b"\x00bad", "bad_magic", "x" * 5000, "lineage.events", 1, 7)
    assert list(record.headers) == sink.headers(now_ms=99)
    assert len(parse_headers(record.headers).detail) == MAX_DETAIL_CHARS == 2000


def test_records_written_by_the_old_code_parse() -> None:
    """The sink used to cap ``detail`` at 1,000 characters; the names were the same."""
    old_sink = [("reason", b"graph_rejected"), ("detail", b"y" * 1000),
                ("source_topic", b"lineage.graph"), ("source_partition", b"0"),
                ("source_offset", b"5"), ("dlq_time_ms", b"1700000000000")]
    info = parse_headers(old_sink)
    assert (info.reason, len(info.detail), info.source_offset) == ("graph_rejected", 1000, 5)
    no_detail = [h for h in old_sink if h[0] != "detail"]
    assert parse_headers(no_detail).detail == ""


def test_text_without_utf8_form_is_replaced_not_refused() -> None:
    dead = DeadLetter(None, None, "graph_rejected", "bad \ud800 text", "t", 0, 0)
    assert parse_headers(dead.headers()).detail == "bad ? text"


def test_invalid_headers() -> None:
    with pytest.raises(EventError, match="not a DLQ record"):
        parse_headers([("reason", b"x")])
    with pytest.raises(EventError, match="not a DLQ record"):
        parse_headers([*DeadLetter(None, b"", "r", "", "t", 0, 0).headers()[:4],
                       ("source_offset", b"NaN"), ("dlq_time_ms", b"1")])
    assert dead_letter.summary([("source_offset", b"NaN")]) == {
        "reason": "unknown", "detail": "", "source_topic": None, "source_partition": None,
        "source_offset": None, "dlq_time_ms": None, "value_bytes": None, "value_sha256": None,
        "key_bytes": None}
    assert not dead_letter.truncated(None, b"old record", [("reason", b"x")])
