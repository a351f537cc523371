"""Every DLQ reason the processor can give, each from a message that really has the defect
(the ones tests/test_processor_core.py does not cover)."""

from __future__ import annotations

import struct

import pytest

from lineage_pipeline.codec import AvroCodec, EventCodec, integrity_header, registry_client
from lineage_pipeline.dead_letter import MAX_VALUE_BYTES
from stream_processor.dlq import SourceMessage, parse_dlq_headers
from tests.test_processor_core import CODEC, Harness, event

GOOD = CODEC.encode(event("r-dlq", "START", 1))
BODY = GOOD[10:]  # the Avro body after the single-object header


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"\xc3\x01" + b"\x00" * (1 << 20), "too_large"),
        (GOOD + b"\x00", "trailing_bytes"),
        (GOOD[:10] + b"\x02" + b"\x80" * 20, "malformed_avro"),
        (b"\x00" + struct.pack(">I", 7) + BODY, "no_schema_registry"),
        (b"\xc3\x01\x00", "truncated"),
    ],
)
def test_avro_defects_are_dead_lettered_with_their_reason(value: bytes, reason: str) -> None:
    (record,) = Harness().batch(value)
    assert record.topic == "dlq" and record.value == value[:MAX_VALUE_BYTES]
    assert parse_dlq_headers(record.headers).reason == reason


def test_an_unknown_schema_id_is_dead_lettered() -> None:
    codec = EventCodec(AvroCodec("lineage_event", registry=registry_client("mock://dlq-test")))
    value = b"\x00" + struct.pack(">I", 999_999) + BODY
    (record,) = Harness(codec=codec).batch(value)
    info = parse_dlq_headers(record.headers)
    assert (info.reason, record.value) == ("unknown_schema_id", value)


def test_a_value_changed_on_the_way_fails_its_integrity_header() -> None:
    h = Harness()
    changed = GOOD[:-1] + bytes([GOOD[-1] ^ 1])
    h.proc.handle(SourceMessage("events", 0, 0, b"k", changed,
                                headers=(integrity_header(GOOD),)))
    h.proc.handle(SourceMessage("events", 0, 1, b"k", GOOD, headers=(integrity_header(GOOD),)))
    records = h.proc.drain()
    dlq = [r for r in records if r.topic == "dlq"]
    assert [parse_dlq_headers(r.headers).reason for r in dlq] == ["integrity_mismatch"]
    assert [r.topic for r in records].count("graph") == 1  # the intact copy goes through


def test_an_oversized_openlineage_event_is_too_large() -> None:
    value = b'{"eventType": "START", "x": "' + b"a" * (1 << 20) + b'"}'
    (record,) = Harness().batch(value, topic="openlineage")
    assert parse_dlq_headers(record.headers).reason == "too_large"
