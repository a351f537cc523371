"""Hostile input to the decoder: only defined errors, bounded time, silent corruption 0.

A short property-based run in ``make test``; ``python -m bench.fuzz`` runs 1,000,000 inputs.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import schemas
from lineage_pipeline.codec import (
    EventCodec,
    check_integrity,
    integrity_header,
)
from lineage_pipeline.errors import DecodeError
from lineage_pipeline.events import (
    ColumnStats,
    Dataset,
    DatasetFacets,
    EventType,
    Job,
    LineageEvent,
    Run,
    SchemaField,
    Statistics,
)

CODEC = EventCodec()
SAMPLE = CODEC.encode(
    LineageEvent(
        eventType=EventType.COMPLETE, eventTime=1_700_000_000_000, producer="fuzz",
        run=Run(runId="run-1"), job=Job(namespace="ns", name="job"),
        inputs=[Dataset(
            namespace="file", name="/data/x.csv", version="ab" * 32,
            facets=DatasetFacets(
                schema=[SchemaField(name="a", type="double")],
                statistics=Statistics(rowCount=10, columns=[ColumnStats(name="a", mean=1.0)]),
            ),
        )],
    )
)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(SAMPLE)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "set", "truncate", "insert", "delete"]))
        if not data:
            break
        i = draw(st.integers(0, len(data) - 1))
        if op == "flip":
            data[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "set":
            data[i] = draw(st.integers(0, 255))
        elif op == "truncate":
            del data[i:]
        elif op == "insert":
            data[i:i] = draw(st.binary(min_size=1, max_size=9))
        else:
            del data[i]
    return bytes(data)


@pytest.fixture(autouse=True)
def _frozen_heap() -> Iterator[None]:
    """Objects earlier tests of the session left alive are moved out of the garbage
    collector's reach (``gc.freeze``) for each test here, so a full collection scanning them
    is not timed as decoding (it once took 160 ms of this thread's CPU after a wide-run test)."""
    gc.collect()
    gc.freeze()
    yield
    gc.unfreeze()


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(mutated(), st.binary(max_size=300)))
def test_decoder_raises_only_defined_errors_quickly(data: bytes) -> None:
    start = time.thread_time()  # this thread's CPU time: a loaded machine does not count
    try:
        CODEC.decode(data)
    except DecodeError as exc:
        assert exc.reason
    assert time.thread_time() - start < 0.1, "a hostile input made the decoder spin"


@settings(max_examples=1500, deadline=None)
@given(mutated())
def test_every_changed_payload_is_detected_by_the_integrity_header(data: bytes) -> None:
    header = [integrity_header(SAMPLE)]
    if data == SAMPLE:
        assert check_integrity(data, header)
        return
    try:
        check_integrity(data, header)
    except DecodeError as exc:
        assert exc.reason == "integrity_mismatch"
    else:
        raise AssertionError("a changed payload passed the integrity check")


def _min_item_bytes(schema: Any, named: dict[str, Any]) -> int:
    """Smallest encoding of ``schema`` in bytes (Avro binary encoding)."""
    if isinstance(schema, str):
        if schema in named:
            return _min_item_bytes(named[schema], named)
        return {"null": 0, "boolean": 1, "int": 1, "long": 1, "float": 4, "double": 8,
                "bytes": 1, "string": 1}.get(schema, 1)
    if isinstance(schema, list):
        return 1  # the branch index
    kind = schema["type"]
    if kind == "record":
        named[schema["name"]] = schema
        return sum(_min_item_bytes(f["type"], named) for f in schema["fields"])
    if kind in ("array", "map", "enum"):
        if kind == "array":
            _min_item_bytes(schema["items"], named)
        if kind == "map":
            _min_item_bytes(schema["values"], named)
        return 1
    return _min_item_bytes(kind, named)


def _collections(schema: Any, out: list[Any]) -> None:
    if isinstance(schema, list):
        for branch in schema:
            _collections(branch, out)
    elif isinstance(schema, dict):
        if schema.get("type") == "array":
            out.append(schema["items"])
            _collections(schema["items"], out)
        elif schema.get("type") == "map":
            out.append(("map", schema["values"]))
            _collections(schema["values"], out)
        elif schema.get("type") == "record":
            for f in schema["fields"]:
                _collections(f["type"], out)


def test_every_collection_item_of_every_schema_encodes_in_at_least_one_byte() -> None:
    # The decoder's memory bound rests on this: a declared count cannot exceed the bytes left.
    for family in schemas.SCHEMA_NAMES:
        for version in schemas.available_versions(family):
            schema = schemas.load_schema(family, version)
            named: dict[str, Any] = {}
            _min_item_bytes(schema, named)
            items: list[Any] = []
            _collections(schema, items)
            for item in items:
                if isinstance(item, tuple):
                    continue  # map entries carry a string key: at least one byte
                assert _min_item_bytes(item, named) >= 1, f"{family} v{version}: {item}"


# -- the OpenLineage JSON path (topics.openlineage) --------------------------------------------


def test_openlineage_json_path_only_decodes_or_dead_letters_quickly() -> None:
    """A short run of bench.fuzz's OpenLineage fuzzer (byte and structural mutations, nesting
    deeper than the recursion limit): no exception escapes, nothing over 100 ms, and with the
    integrity header no changed payload decodes."""
    from bench.fuzz import run_openlineage

    # this thread's CPU time: neither a loaded machine nor other threads of the process count
    result = run_openlineage(3000, seed=7, clock=time.thread_time)
    print(f"OpenLineage JSON fuzz: {result}")
    assert result["crashes"] == 0, result
    assert result["hangs_over_100ms"] == 0, result
    assert result["silent_corruptions"] == 0, result
    assert result["dead_lettered"] + result["decoded"] == result["inputs"], result


def test_json_nested_deeper_than_the_recursion_limit_is_dead_lettered() -> None:
    from stream_processor.decode import decode_openlineage_message
    from stream_processor.dlq import OutRecord, SourceMessage

    for value in (b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 50_000 + b"1" + b"}" * 50_000):
        out = decode_openlineage_message(SourceMessage("ol", 0, 0, None, value), "dlq", 0)
        assert isinstance(out, OutRecord)
        assert dict(out.headers)["reason"] == b"invalid_json"


def test_lone_surrogates_in_openlineage_json_become_the_replacement_character() -> None:
    """``\\ud800`` escapes decode to lone surrogates, which no UTF-8 encoder takes (Avro, Bolt):
    the event is kept with U+FFFD in their place, keys and nested facets included."""
    from stream_processor.decode import decode_openlineage_message
    from stream_processor.dlq import SourceMessage

    value = (b'{"eventType": "COMPLETE", "eventTime": "2026-01-01T00:00:05Z", '
             b'"producer": "p", "run": {"runId": "3f1b7a52-0f5e-4c47-9d4e-2a6f1c1d9e01"}, '
             b'"job": {"namespace": "ns", "name": "lone\\ud800job"}, "inputs": [], '
             b'"outputs": [{"namespace": "ns", "name": "ds\\udc00x\\ud83d\\ude00"}]}')
    out = decode_openlineage_message(SourceMessage("ol", 0, 0, None, value), "dlq", 0)
    assert isinstance(out, LineageEvent), out
    assert out.job.name == "lone\ufffdjob"
    assert out.outputs[0].name == "ds\ufffdx\U0001f600", "a valid pair stays one character"
    EventCodec().encode(out)  # encodable now
