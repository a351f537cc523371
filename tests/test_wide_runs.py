"""Wide runs land, never dropped whole: a run with 10,000 inputs and an output of 5,000
columns (with column lineage), one event of about 1.1 MB. The emitter splits it into events
that fit its cap with every facet whole (:meth:`emitters.size_cap.SizeCap.fit_all`); the
processor stitches them into one run, whose graph record (1.5 MB) goes as several records
under the cap that together write exactly what the one oversized record would
(:mod:`stream_processor.record_split`). A schema too wide for one record goes as pieces
of its columns, each with its position."""

from __future__ import annotations

import json
from typing import Any

from emitters.config import DEFAULT_MAX_EVENT_BYTES
from emitters.size_cap import SizeCap
from lineage_pipeline.codec import DEFAULT_MAX_MESSAGE_BYTES
from lineage_pipeline.events import LineageEvent
from lineage_pipeline.graph_model import GraphMutations
from lineage_pipeline.graph_record import GraphRecordCodec
from stream_processor.processor import DEFAULT_MAX_RECORD_BYTES
from tests.test_processor_core import CODEC, GRAPH, Harness

INPUTS, COLUMNS = 10_000, 5_000


def wide_event(run_id: str) -> LineageEvent:
    """COMPLETE of a run reading ``INPUTS`` files (each with a two-column schema) and
    writing one table of ``COLUMNS`` columns, column ``c{i}`` derived from column ``x`` of
    input ``i``; with run parameters (the first part keeps them)."""
    def name(i: int) -> str:
        return f"/lake/in/part-{i:05d}.csv"

    inputs = [{"namespace": "file", "name": name(i), "version": "1",
               "facets": {"schema": [{"name": "x", "type": "DOUBLE"},
                                     {"name": "y", "type": "VARCHAR"}]}}
              for i in range(INPUTS)]
    fields = [{"name": f"c{i}", "type": "DOUBLE"} for i in range(COLUMNS)]
    lineage = [{"field": f"c{i}", "inputFields": [
        {"namespace": "file", "name": name(i), "field": "x",
         "transformations": [{"type": "DIRECT", "subtype": "IDENTITY"}]}]}
        for i in range(COLUMNS)]
    return LineageEvent.model_validate({
        "eventType": "COMPLETE", "eventTime": 1_767_225_600_000, "producer": "tests/wide",
        "run": {"runId": run_id, "facets": {"parameters": {"date": "2026-12-01"}}},
        "job": {"namespace": "wide", "name": "merge"}, "inputs": inputs,
        "outputs": [{"namespace": "file", "name": "/lake/out/wide.parquet", "version": "2",
                     "facets": {"schema": fields, "columnLineage": lineage}}]})


def wide_parts(run_id: str) -> list[bytes]:
    """The encoded events the emitter sends for :func:`wide_event` (default cap)."""
    return [data for _event, data in SizeCap(CODEC, DEFAULT_MAX_EVENT_BYTES).fit_all(
        wide_event(run_id))]


def elements(records: list[GraphMutations]) -> tuple[set[Any], set[Any]]:
    """The distinct node and relationship upserts of ``records`` (props as sorted JSON)."""
    nodes = {(n.label.value, n.uid, json.dumps(n.props, sort_keys=True),
              json.dumps(n.weak, sort_keys=True)) for m in records for n in m.nodes}
    rels = {(r.type.value, r.from_uid, r.to_uid, json.dumps(r.props, sort_keys=True))
            for m in records for r in m.relationships}
    return nodes, rels


def test_the_emitter_splits_a_wide_event_into_parts_that_fit_whole() -> None:
    event = wide_event("r-wide")
    whole = len(CODEC.encode(event))
    cap = SizeCap(CODEC, DEFAULT_MAX_EVENT_BYTES)
    parts = cap.fit_all(event)
    print(f"event {whole:,} bytes -> {len(parts)} parts of {[len(d) for _e, d in parts]} bytes")
    assert whole > DEFAULT_MAX_EVENT_BYTES and len(parts) > 1
    assert all(len(data) <= DEFAULT_MAX_EVENT_BYTES for _e, data in parts)
    events = [e for e, _d in parts]
    assert all(e.truncated == [] for e in events), "nothing cut"
    assert sum(len(e.inputs) for e in events) == INPUTS
    assert sum(len(e.outputs) for e in events) == 1
    assert events[0].eventId == event.eventId
    assert events[0].run.facets.parameters == {"date": "2026-12-01"}
    assert len({e.eventId for e in events}) == len(events)
    assert [e.eventId for e, _d in cap.fit_all(event)] == [e.eventId for e in events], \
        "a resent event splits into the same ids (the processor dedupes them)"
    assert {(e.run.runId, e.eventType, e.eventTime) for e in events} == {
        ("r-wide", event.eventType, event.eventTime)}


def test_a_wide_run_is_split_into_records_that_write_what_the_whole_would() -> None:
    values = wide_parts("r-wide")
    assert max(map(len, values)) < DEFAULT_MAX_MESSAGE_BYTES
    parts = Harness().batch(*values)
    whole = Harness(max_record_bytes=64 * DEFAULT_MAX_RECORD_BYTES).batch(*values)
    sizes = [len(r.value) for r in parts]
    print(f"events {[len(v) for v in values]} bytes; whole record {len(whole[0].value):,} "
          f"bytes; {len(parts)} parts of at most {max(sizes):,} bytes")
    assert [r.topic for r in parts] == ["graph"] * len(parts) and len(parts) > 1
    assert len(whole) == 1 and len(whole[0].value) > DEFAULT_MAX_RECORD_BYTES
    assert max(sizes) <= DEFAULT_MAX_RECORD_BYTES
    assert {r.key for r in parts} == {b"r-wide"}, "one key: the parts stay in order"
    split = [GRAPH.decode(r.value) for r in parts]
    expected = elements([GraphRecordCodec(max_message_bytes=1 << 26).decode(whole[0].value)])
    assert elements(split) == expected
    nodes, rels = expected
    assert sum(1 for r in rels if r[0] == "CONSUMED_BY") == INPUTS
    assert sum(1 for r in rels if r[0] == "HAS_FIELD") == 2 * INPUTS + COLUMNS
    assert sum(1 for r in rels if r[0] == "DERIVED_FROM") == COLUMNS
    assert sum(1 for n in nodes if n[0] == "Run") == 1, "every part carries the same run"
    run = next(json.loads(n[2]) for n in nodes if n[0] == "Run")
    assert "2026-12-01" in run["parameters"], run


def test_a_schema_too_wide_for_one_record_goes_as_pieces_that_write_what_the_whole_would(
) -> None:
    columns = 12_000  # about 190 KB of Avro for the schema alone: over a 64 KiB cap
    run = {"runId": "r-schema", "facets": {}}
    event = LineageEvent.model_validate({
        "eventType": "COMPLETE", "eventTime": 1_767_225_600_000, "producer": "tests/wide",
        "run": run, "job": {"namespace": "wide", "name": "schema"},
        "outputs": [{"namespace": "file", "name": "/lake/out/columns.parquet", "version": "3",
                     "facets": {"schema": [{"name": f"column_{i:05d}", "type": "DOUBLE"}
                                           for i in range(columns)]}}]})
    value = CODEC.encode(event)
    cap = 64 * 1024
    parts = Harness(max_record_bytes=cap).batch(value)
    whole = Harness(max_record_bytes=64 * DEFAULT_MAX_RECORD_BYTES).batch(value)
    print(f"whole record {len(whole[0].value):,} bytes; {len(parts)} parts of at most "
          f"{max(len(r.value) for r in parts):,} bytes")
    assert [r.topic for r in parts] == ["graph"] * len(parts) and len(parts) > 2
    assert len(whole[0].value) > cap >= max(len(r.value) for r in parts)
    split = [GRAPH.decode(r.value) for r in parts]
    nodes, rels = elements(split)
    assert (nodes, rels) == elements([GraphRecordCodec(max_message_bytes=1 << 26).decode(
        whole[0].value)])
    schema = [json.loads(n[2]) for n in nodes if n[0] == "Schema"]
    assert len(schema) == 1 and schema[0]["fieldCount"] == columns, "one Schema node"
    positions = sorted(json.loads(r[3])["position"] for r in rels if r[0] == "HAS_FIELD")
    assert positions == list(range(columns))
    field_of = {r[2]: json.loads(r[3])["position"] for r in rels if r[0] == "HAS_FIELD"}
    assert all(pos == int(uid.rsplit("column_", 1)[1]) for uid, pos in field_of.items())
