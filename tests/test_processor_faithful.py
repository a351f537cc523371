"""Values the graph cannot hold faithfully (:mod:`stream_processor.faithful`): one rule,
flagged on the run, never rejected."""

from __future__ import annotations

import json
import math
from typing import Any

from lineage_pipeline.events import LineageEvent
from lineage_pipeline.graph_model import GraphMutations
from stream_processor.faithful import FACET, MAX_FLAGGED_PATHS, MAX_TEXT_CHARS, normalise_event
from stream_processor.stitch.merge import as_record
from tests.test_processor_core import CODEC, GRAPH, Harness

NAN, INF = float("nan"), float("inf")


def event(run_id: str, etype: str, t: int, run_facets: dict[str, Any] | None = None,
          **body: Any) -> LineageEvent:
    base: dict[str, Any] = {"eventType": etype, "eventTime": t, "producer": "tests",
                            "run": {"runId": run_id, "facets": run_facets or {}},
                            "job": {"namespace": "ml", "name": "job"}, **body}
    return LineageEvent.model_validate(base)


def flagged(record: dict[str, Any]) -> dict[str, Any]:
    return dict(json.loads(record["run"]["facets"]["extra"][FACET]))


def test_every_kind_of_value_is_normalised_by_the_rule_and_flagged() -> None:
    long_name = "n" * (MAX_TEXT_CHARS + 10)
    record = as_record(event(
        "r-faithful", "COMPLETE", 1,
        run_facets={
            "metrics": {"loss": NAN, "auc": 0.9, "up": INF},
            "extra": {"custom": '{"a": NaN, "b": [1, -Infinity], "c": "NaN stays text"}',
                      "big": json.dumps({"x": "y" * MAX_TEXT_CHARS})}},
        job={"namespace": "ml", "name": "job", "facets": {
            "extra": {"note": '{"text": "nul \x00 here"}'}}},  # a raw NUL in the text
        outputs=[{"namespace": "file", "name": long_name, "version": "v\x00",
                  "facets": {"statistics": {"rowCount": 3, "columns": [
                      {"name": "c", "min": -INF, "max": 2.0, "mean": NAN}]}}}],
    ))
    assert normalise_event(record) == 8
    rf = record["run"]["facets"]
    assert rf["metrics"] == {"auc": 0.9}
    assert json.loads(rf["extra"]["custom"]) == {"a": None, "b": [1, None],
                                                 "c": "NaN stays text"}
    assert json.loads(rf["extra"]["big"])["lineageTruncated"]["chars"] > MAX_TEXT_CHARS
    out = record["outputs"][0]
    assert out["name"] == long_name, "identity fields keep any length"
    assert out["version"] == "v\ufffd"
    column = out["facets"]["statistics"]["columns"][0]
    assert (column["min"], column["max"], column["mean"]) == (None, 2.0, None)
    assert record["job"]["facets"]["extra"]["note"] == '{"text": "nul \ufffd here"}'
    flags = flagged(record)
    assert flags["count"] == 8
    assert {(f["path"], f["rule"]) for f in flags["values"]} >= {
        ("run.facets.metrics.loss", "non_finite"), ("run.facets.extra.custom", "non_finite"),
        ("run.facets.extra.big", "truncated"), ("outputs[0].version", "text"),
        ("outputs[0].facets.statistics.columns[0].mean", "non_finite")}


def test_a_clean_event_is_left_alone_and_unflagged() -> None:
    record = as_record(event("r-clean", "START", 1, run_facets={
        "metrics": {"loss": 0.5}, "extra": {"custom": '{"a": 1}'}}))
    before = json.dumps(record, sort_keys=True)
    assert normalise_event(record) == 0
    assert json.dumps(record, sort_keys=True) == before


def test_flags_list_at_most_the_first_paths_and_count_them_all() -> None:
    metrics = {f"m{i}": NAN for i in range(MAX_FLAGGED_PATHS + 25)}
    record = as_record(event("r-many", "START", 1, run_facets={"metrics": metrics}))
    assert normalise_event(record) == MAX_FLAGGED_PATHS + 25
    flags = flagged(record)
    assert (flags["count"], len(flags["values"])) == (MAX_FLAGGED_PATHS + 25, MAX_FLAGGED_PATHS)


def finite_everywhere(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, str):
        return "NaN" not in value and "Infinity" not in value and "\x00" not in value
    if isinstance(value, dict):
        return all(finite_everywhere(v) for v in value.values())
    if isinstance(value, list | tuple):
        return all(finite_everywhere(v) for v in value)
    return True


def test_the_processor_publishes_no_nan_and_flags_the_run() -> None:
    h = Harness()
    nan_event = event("r-nan", "COMPLETE", 5, run_facets={
        "metrics": {"loss": NAN}, "extra": {"custom": '{"score": Infinity}'}},
        outputs=[{"namespace": "file", "name": "/data/out.csv", "version": "1",
                  "facets": {"statistics": {"rowCount": 1, "columns": [
                      {"name": "c", "min": NAN, "max": 1.0, "mean": 0.5}]}}}])
    records = h.batch(CODEC.encode(nan_event))
    assert [r.topic for r in records] == ["graph"], "normalised, not rejected"
    mutations: GraphMutations = GRAPH.decode(records[0].value)
    props = [n.props for n in mutations.nodes] + [r.props for r in mutations.relationships]
    assert finite_everywhere(props), props
    run = next(p for n, p in zip(mutations.nodes, props, strict=False)
               if n.label.value == "Run")
    assert FACET in json.dumps(run), run


def test_openlineage_json_with_nan_lands_normalised() -> None:
    h = Harness()
    run_id = "0196a3a4-0000-7000-8000-00000000000a"
    text = ('{"eventType": "COMPLETE", "eventTime": "2026-12-01T00:00:00Z", "producer": "p",'
            ' "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json",'
            f' "run": {{"runId": "{run_id}", "facets": {{"custom": {{"_producer": "p",'
            ' "_schemaURL": "s", "score": NaN, "worst": -Infinity}}},'
            ' "job": {"namespace": "ol", "name": "j\\u0000x"}, "inputs": [], "outputs": [{'
            ' "namespace": "file", "name": "/o.csv", "outputFacets": {}, "facets": {}}]}')
    records = h.batch(text.encode(), topic="openlineage")
    assert [r.topic for r in records] == ["graph"], "normalised, not rejected"
    mutations: GraphMutations = GRAPH.decode(records[0].value)
    run = next(n.props for n in mutations.nodes if n.label.value == "Run")
    assert finite_everywhere(run) and FACET in json.dumps(run), run
    flags = json.loads(json.loads(str(run["extraFacets"]))[FACET])
    assert flags["count"] == 2 and {f["rule"] for f in flags["values"]} == {
        "non_finite", "text"}, flags
    assert "j\ufffdx" in {n.props.get("name") for n in mutations.nodes}


def test_a_nul_in_an_avro_string_lands_replaced_and_flags_the_run() -> None:
    """The raw bytes of an Avro event cannot show a NUL in a string (Avro writes zero bytes
    for nulls and zeros); it is caught where the text enters the graph record, and the run
    keeps its flag in every later publication."""
    h = Harness()
    start = event("r-nul", "START", 5, outputs=[
        {"namespace": "file", "name": "/data/o\x00ut.csv", "version": "1",
         "facets": {"schema": [{"name": "c\x00l", "type": "int"}]}}])
    records = h.batch(CODEC.encode(start))
    assert [r.topic for r in records] == ["graph"], "normalised, not rejected"
    mutations: GraphMutations = GRAPH.decode(records[0].value)
    names = {n.props.get("name") for n in mutations.nodes}
    assert {"/data/o\ufffdut.csv", "c\ufffdl"} <= names
    assert not any("\x00" in json.dumps(n.props) for n in mutations.nodes)
    run = next(n.props for n in mutations.nodes if n.label.value == "Run")
    flags = json.loads(json.loads(str(run["extraFacets"]))[FACET])
    assert flags["values"] == [{"path": "graph record", "rule": "text"}]
    assert flags["count"] >= 2
    # the COMPLETE's publication keeps the flag, counted once
    again = GRAPH.decode(h.batch(CODEC.encode(event("r-nul", "COMPLETE", 6)))[0].value)
    run = next(n.props for n in again.nodes if n.label.value == "Run")
    assert json.loads(json.loads(str(run["extraFacets"]))[FACET]) == flags
