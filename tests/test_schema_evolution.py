"""Schema evolution: v2 (an added optional field) read by v1 and v1 read by v2; shipped
versions stay compatible; an incompatible change is caught."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient

import schemas
from lineage_pipeline.codec import AvroCodec
from lineage_pipeline.errors import DecodeError
from lineage_pipeline.events import EventType, Job, LineageEvent, Run
from lineage_pipeline.schema_compat import compatible_both_ways, problems


def _v1() -> dict[str, Any]:
    return schemas.load_schema("lineage_event", 1)


def _v2() -> dict[str, Any]:
    v2 = copy.deepcopy(_v1())
    v2["doc"] = "Version 2: adds an optional sourceRegion."
    v2["fields"].append({"name": "sourceRegion", "type": ["null", "string"], "default": None})
    return v2


def _event() -> dict[str, Any]:
    return LineageEvent(
        eventType=EventType.COMPLETE, eventTime=1_700_000_000_000, producer="test",
        run=Run(runId="r-1"), job=Job(namespace="ns", name="job"),
    ).to_record()


def test_v2_with_an_optional_field_is_compatible_both_ways() -> None:
    assert compatible_both_ways(_v1(), _v2()) == []


def test_v2_reader_reads_v1_data() -> None:
    v1_writer = AvroCodec("lineage_event", 1, known_schemas={1: _v1()})
    v2_reader = AvroCodec("lineage_event", 2, known_schemas={1: _v1(), 2: _v2()})
    record = v2_reader.decode(v1_writer.encode(_event()))
    assert record["sourceRegion"] is None
    assert record["run"]["runId"] == "r-1"


def test_v1_reader_reads_v2_data_through_the_schema_registry() -> None:
    registry = SchemaRegistryClient.new_client({"url": "mock://evolution"})
    v2_writer = AvroCodec("lineage_event", 2, known_schemas={2: _v2()}, registry=registry)
    v1_reader = AvroCodec("lineage_event", 1, known_schemas={1: _v1()}, registry=registry)
    data = v2_writer.encode({**_event(), "sourceRegion": "eu-west-1"})
    record = v1_reader.decode(data)
    assert "sourceRegion" not in record
    assert record["eventTime"] == 1_700_000_000_000


def test_v1_reader_sends_unknown_single_object_v2_to_the_dlq_not_silently() -> None:
    # Without a registry a reader must know the writer's fingerprint: upgrade readers first.
    v2_writer = AvroCodec("lineage_event", 2, known_schemas={2: _v2()})
    v1_reader = AvroCodec("lineage_event", 1, known_schemas={1: _v1()})
    with pytest.raises(DecodeError) as info:
        v1_reader.decode(v2_writer.encode(_event()))
    assert info.value.reason == "unknown_fingerprint"


@pytest.mark.parametrize("family", schemas.SCHEMA_NAMES)
def test_every_shipped_version_pair_is_compatible_both_ways(family: str) -> None:
    versions = schemas.available_versions(family)
    assert versions
    for old in versions:
        for new in versions:
            if old < new:
                assert compatible_both_ways(
                    schemas.load_schema(family, old), schemas.load_schema(family, new)
                ) == [], f"{family} v{old} <-> v{new}"


def test_incompatible_changes_are_caught() -> None:
    retyped = copy.deepcopy(_v1())
    next(f for f in retyped["fields"] if f["name"] == "eventTime")["type"] = "string"
    assert any("eventTime" in p for p in problems(retyped, _v1()))

    required = copy.deepcopy(_v1())
    required["fields"].append({"name": "tenant", "type": "string"})
    assert any("tenant" in p and "no default" in p for p in problems(required, _v1()))

    fewer_symbols = copy.deepcopy(_v1())
    event_type = next(f for f in fewer_symbols["fields"] if f["name"] == "eventType")
    event_type["type"]["symbols"] = ["START", "COMPLETE"]
    assert any("symbols" in p for p in problems(fewer_symbols, _v1()))


def test_a_record_the_model_rejects_is_dead_lettered_as_invalid_event() -> None:
    # A reader schema newer than the event model decodes a field the model does not know:
    # the record is valid Avro but not a valid LineageEvent -> DLQ reason invalid_event.
    from lineage_pipeline.codec import EventCodec

    v1_writer = AvroCodec("lineage_event", 1, known_schemas={1: _v1()})
    v2_reader = EventCodec(AvroCodec("lineage_event", 2, known_schemas={1: _v1(), 2: _v2()}))
    with pytest.raises(DecodeError) as info:
        v2_reader.decode(v1_writer.encode(_event()))
    assert info.value.reason == "invalid_event"
    assert "sourceRegion" in str(info.value)
