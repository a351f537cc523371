"""event_to_mutations: the nodes, relationships and properties of the brief's "Graph properties"."""

from __future__ import annotations

import json
from typing import Any

from lineage_pipeline.codec import AvroCodec
from lineage_pipeline.events import LineageEvent
from lineage_pipeline.graph_model import GraphMutations, NodeLabel, RelType
from stream_processor.mapping import event_to_mutations, stale_mutations
from stream_processor.stitch import stitch

RUN = "run-1"
CSV = {"namespace": "file", "name": "file:///data/raw.csv/", "kind": "file", "version": "sha-raw",
       "facets": {
           "contentDigest": {"algorithm": "sha256", "hex": "sha-raw"},
           "schema": [{"name": "radius", "type": "double"}, {"name": "label", "type": "long"}],
           "statistics": {"rowCount": 569, "bytes": 4096, "columns": [
               {"name": "radius", "nullCount": 0, "distinctCount": 456, "min": 6.9,
                "max": 28.1, "mean": 14.1}]},
       }}


def event(etype: str, t: int, event_id: str, **body: Any) -> LineageEvent:
    base: dict[str, Any] = {
        "eventId": event_id, "eventType": etype, "eventTime": t, "producer": "tests/1.0",
        "run": {"runId": RUN}, "job": {"namespace": "ml", "name": "clean"},
    }
    base.update(body)
    return LineageEvent.model_validate(base)


def full_run() -> list[LineageEvent]:
    start = event(
        "START", 1_000, "e1",
        run={"runId": RUN,
             "parent": {"runId": "pipeline-run", "job": {"namespace": "ml", "name": "pipeline"},
                        "root": {"runId": "root-run",
                                 "job": {"namespace": "ml", "name": "nightly"}}},
             "facets": {"parameters": {"impute": "median"},
                        "codeVersion": {"gitSha": "abc123", "dirty": False,
                                        "repository": "git@x:y.git", "branch": "main",
                                        "entryPoint": "clean.py"},
                        "nominalTime": {"nominalStartTime": 999}}},
        job={"namespace": "ml", "name": "clean",
             "facets": {"jobType": {"processingType": "BATCH", "integration": "PYTHON",
                                    "jobType": "TASK"},
                        "sql": {"query": "SELECT * FROM raw"}}},
        inputs=[CSV, {"namespace": "file", "name": "/data/lookup.csv"}],
        outputs=[{"namespace": "file", "name": "/data/clean.parquet", "kind": "features"}],
    )
    complete = event(
        "COMPLETE", 2_000, "e2",
        run={"runId": RUN, "facets": {"metrics": {"rows_dropped": 3.0}}},
        outputs=[{"namespace": "file", "name": "/data/clean.parquet", "kind": "features",
                  "facets": {"columnLineage": [
                      {"field": "radius", "inputFields": [
                          {"namespace": "file", "name": "/data/raw.csv", "field": "radius",
                           "transformations": [{"type": "DIRECT", "subtype": "TRANSFORMATION",
                                                "masking": False}]}]}]}}],
    )
    return [start, complete]


def nodes_by_uid(m: GraphMutations) -> dict[tuple[str, str], dict[str, Any]]:
    return {(n.label.value, n.uid): n.props for n in m.nodes}


def relationship_set(m: GraphMutations) -> set[tuple[str, str, str]]:
    return {(e.type.value, e.from_uid, e.to_uid) for e in m.relationships}


def test_full_run_maps_to_the_documented_graph() -> None:
    events = full_run()
    state = stitch(events)
    m = event_to_mutations(events[-1], state, now_ms=5)
    nodes = nodes_by_uid(m)
    raw_v = "file:/data/raw.csv@sha-raw"
    lookup_v = "file:/data/lookup.csv@unversioned"
    out_v = f"file:/data/clean.parquet@run:{RUN}"

    assert set(nodes) == {
        ("Job", "ml:clean"), ("Run", RUN),
        ("Run", "pipeline-run"), ("Job", "ml:pipeline"),
        ("Run", "root-run"), ("Job", "ml:nightly"),
        ("Dataset", "file:/data/raw.csv"), ("DatasetVersion", raw_v),
        ("Field", f"{raw_v}#radius"), ("Field", f"{raw_v}#label"),
        ("Dataset", "file:/data/lookup.csv"), ("DatasetVersion", lookup_v),
        ("Dataset", "file:/data/clean.parquet"), ("DatasetVersion", out_v),
        ("Field", f"{out_v}#radius"),
    }
    assert relationship_set(m) == {
        ("RUN_OF", RUN, "ml:clean"),
        ("RUN_OF", "pipeline-run", "ml:pipeline"),
        ("RUN_OF", "root-run", "ml:nightly"),
        ("CHILD_OF", RUN, "pipeline-run"),
        ("CONSUMED_BY", raw_v, RUN), ("CONSUMED_BY", lookup_v, RUN),
        ("GENERATED", RUN, out_v),
        ("VERSION_OF", raw_v, "file:/data/raw.csv"),
        ("VERSION_OF", lookup_v, "file:/data/lookup.csv"),
        ("VERSION_OF", out_v, "file:/data/clean.parquet"),
        ("HAS_FIELD", raw_v, f"{raw_v}#radius"), ("HAS_FIELD", raw_v, f"{raw_v}#label"),
        ("HAS_FIELD", out_v, f"{out_v}#radius"),
        ("DERIVED_FROM", out_v, raw_v), ("DERIVED_FROM", out_v, lookup_v),
        ("DERIVED_FROM", f"{out_v}#radius", f"{raw_v}#radius"),
    }
    # every node and relationship carries its first and last observation (event times)
    for props in [n.props for n in m.nodes] + [e.props for e in m.relationships]:
        assert isinstance(props["observedAt"], int) and isinstance(props["updatedAt"], int)
        assert props["observedAt"] <= props["updatedAt"]

    run = nodes[("Run", RUN)]
    assert run["state"] == "COMPLETE"
    assert (run["startTime"], run["endTime"]) == (1_000, 2_000)
    assert run["jobUid"] == "ml:clean"
    assert (run["gitSha"], run["gitDirty"], run["branch"]) == ("abc123", False, "main")
    assert run["nominalStartTime"] == 999
    assert json.loads(str(run["parameters"])) == {"impute": "median"}
    assert json.loads(str(run["metrics"])) == {"rows_dropped": 3.0}
    assert (run["parentRunId"], run["rootRunId"]) == ("pipeline-run", "root-run")
    assert run["producer"] == "tests/1.0"
    assert (run["observedAt"], run["updatedAt"]) == (1_000, 2_000)
    out = nodes[("Dataset", "file:/data/clean.parquet")]
    assert (out["observedAt"], out["updatedAt"]) == (1_000, 2_000), "listed by both events"

    job = nodes[("Job", "ml:clean")]
    assert (job["jobType"], job["integration"], job["processingType"], job["sql"]) == (
        "TASK", "PYTHON", "BATCH", "SELECT * FROM raw")

    raw = nodes[("DatasetVersion", raw_v)]
    assert (raw["digestAlgorithm"], raw["digest"], raw["rowCount"], raw["bytes"]) == (
        "sha256", "sha-raw", 569, 4096)
    assert json.loads(str(raw["schema"])) == [{"name": "radius", "type": "double"},
                                              {"name": "label", "type": "long"}]
    assert "producedByRunId" not in raw
    assert nodes[("DatasetVersion", out_v)]["producedByRunId"] == RUN
    assert nodes[("Dataset", "file:/data/clean.parquet")]["kind"] == "features"

    radius = nodes[("Field", f"{raw_v}#radius")]
    assert radius == {"name": "radius", "type": "double", "versionUid": raw_v,
                      "datasetUid": "file:/data/raw.csv", "nullCount": 0,
                      "distinctCount": 456, "min": 6.9, "max": 28.1, "mean": 14.1,
                      "observedAt": 1_000, "updatedAt": 2_000}  # COMPLETE's column lineage

    field_relationship = next(e for e in m.relationships if e.type is RelType.DERIVED_FROM
                      and e.from_label is NodeLabel.FIELD)
    assert field_relationship.props == {"runId": RUN, "transformation": "DIRECT",
                                "subtype": "TRANSFORMATION", "masking": False,
                                "observedAt": 1_000, "updatedAt": 2_000}
    version_relationship = next(e for e in m.relationships if e.type is RelType.DERIVED_FROM
                        and e.to_uid == raw_v)
    assert version_relationship.props["runId"] == RUN


def test_mutations_fit_the_avro_schema() -> None:
    events = full_run()
    m = event_to_mutations(events[-1], stitch(events), now_ms=7)
    codec = AvroCodec("graph_mutations")
    back = GraphMutations.from_record(codec.decode(codec.encode(m.to_record())))
    assert back == m


def test_output_without_version_appears_only_once_the_run_is_terminal() -> None:
    start = full_run()[0]
    m = event_to_mutations(start, stitch([start]), now_ms=0)
    labels = {(n.label.value, n.uid) for n in m.nodes}
    assert ("Dataset", "file:/data/clean.parquet") not in labels
    assert not any(e.type is RelType.GENERATED for e in m.relationships)
    assert nodes_by_uid(m)[("Run", RUN)]["endTime"] is None


def test_input_without_version_uses_the_version_resolved_for_it() -> None:
    consumer = event("START", 10, "c1", inputs=[{"namespace": "file", "name": "/data/x.csv"}])
    state = stitch([consumer], resolve=lambda uid: "sha-x" if uid == "file:/data/x.csv" else None)
    m = event_to_mutations(consumer, state, now_ms=0)
    assert ("CONSUMED_BY", "file:/data/x.csv@sha-x", RUN) in relationship_set(m)


def test_consumer_without_kind_does_not_overwrite_the_producers_kind() -> None:
    consumer = event("START", 10, "c1", inputs=[{"namespace": "file", "name": "/m.pt"}])
    m = event_to_mutations(consumer, stitch([consumer]), now_ms=0)
    assert "kind" not in nodes_by_uid(m)[("Dataset", "file:/m.pt")]


def test_event_alone_is_stitched_when_no_state_is_given() -> None:
    start = full_run()[0]
    assert event_to_mutations(start, None, now_ms=1) == event_to_mutations(
        start, stitch([start]), now_ms=1)


def test_stale_marks_only_the_run_state() -> None:
    start = full_run()[0]
    m = stale_mutations(stitch([start]), now_ms=3)
    assert [(n.label.value, n.uid, n.props["state"]) for n in m.nodes] == [("Run", RUN, "STALE")]
    assert m.relationships == []


def test_column_lineage_from_an_unlisted_source_waits_for_the_terminal_event() -> None:
    lineage = {"columnLineage": [{"field": "y", "inputFields": [
        {"namespace": "file", "name": "/src.csv", "field": "x", "transformations": []}]}]}
    out = {"namespace": "file", "name": "/out.csv", "version": "o1", "facets": lineage}
    running = event("START", 10, "s1", outputs=[out])
    m = event_to_mutations(running, stitch([running]), now_ms=0)
    assert not any(n.uid.startswith("file:/src.csv") for n in m.nodes)

    done = event("COMPLETE", 20, "c1")
    state = stitch([running, done],
                   resolve=lambda uid: "sha-src" if uid == "file:/src.csv" else None)
    m = event_to_mutations(done, state, now_ms=0)
    assert ("DERIVED_FROM", "file:/out.csv@o1#y", "file:/src.csv@sha-src#x") in relationship_set(m)
