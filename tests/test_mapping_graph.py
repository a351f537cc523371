"""event_to_record: the graph record of a stitched run, and the nodes, relationships and
properties it expands to (docs/contracts.md, "Graph properties")."""

from __future__ import annotations

import json
from typing import Any

from lineage_pipeline.events import LineageEvent
from lineage_pipeline.graph_model import (
    GraphMutations,
    NodeLabel,
    RelType,
    column_uid,
    lineage_uid,
    schema_hash,
    schema_uid,
)
from lineage_pipeline.graph_record import GraphRecordCodec, element_count, expand
from stream_processor.mapping import event_to_mutations, event_to_record, stale_record
from stream_processor.published import Published
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
    raw_schema = schema_uid("file:/data/raw.csv", schema_hash(
        [("radius", "double", ()), ("label", "long", ())]))
    raw_radius, out_radius = (column_uid("file:/data/raw.csv", "radius"),
                              column_uid("file:/data/clean.parquet", "radius"))

    assert set(nodes) == {
        ("Job", "ml:clean"), ("Run", RUN),
        ("Run", "pipeline-run"), ("Job", "ml:pipeline"),
        ("Run", "root-run"), ("Job", "ml:nightly"),
        ("Dataset", "file:/data/raw.csv"), ("DatasetVersion", raw_v),
        ("Schema", raw_schema), ("Field", raw_radius),
        ("Field", column_uid("file:/data/raw.csv", "label")),
        ("Dataset", "file:/data/lookup.csv"), ("DatasetVersion", lookup_v),
        ("Dataset", "file:/data/clean.parquet"), ("DatasetVersion", out_v),
        ("Field", out_radius),
    }
    lineage = lineage_uid("ml:clean", "file:/data/clean.parquet", [
        ("radius", "file:/data/raw.csv", "radius", "DIRECT", "TRANSFORMATION", False)])
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
        ("HAS_FIELD", raw_schema, raw_radius),
        ("HAS_FIELD", raw_schema, column_uid("file:/data/raw.csv", "label")),
        ("DERIVED_FROM", out_radius, raw_radius),
    }
    # every element but the content-addressed values (Schema, HAS_FIELD, column lineage)
    # carries its first observation (event time); the run, its RUN_OF and CHILD_OF (in every
    # record of the run) also their last; nothing else has one
    with_last = {("Run", RUN), ("RUN_OF", RUN, "ml:clean"), ("CHILD_OF", RUN, "pipeline-run")}
    timeless = {"Schema", "HAS_FIELD", "DERIVED_FROM"}
    for key, props in [((n.label.value, n.uid), n.props) for n in m.nodes] + [
            ((e.type.value, e.from_uid, e.to_uid), e.props) for e in m.relationships]:
        assert ("observedAt" in props) == (key[0] not in timeless), key
        assert ("updatedAt" in props) == (key in with_last), key

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
    assert out["observedAt"] == 1_000 and "updatedAt" not in out, "listed by both events"

    job = nodes[("Job", "ml:clean")]
    assert (job["jobType"], job["integration"], job["processingType"], job["sql"]) == (
        "TASK", "PYTHON", "BATCH", "SELECT * FROM raw")

    # a version the run read: identity as props, its content weak (a producer's wins)
    raw = next(n for n in m.nodes if n.uid == raw_v)
    assert raw.props["datasetUid"] == "file:/data/raw.csv" and "producedByRunId" not in raw.props
    assert (raw.weak["digestAlgorithm"], raw.weak["digest"], raw.weak["rowCount"],
            raw.weak["bytes"], raw.weak["schemaUid"]) == ("sha256", "sha-raw", 569, 4096,
                                                          raw_schema)
    assert json.loads(str(raw.weak["columnStats"])) == {"radius": {
        "nullCount": 0, "distinctCount": 456, "min": 6.9, "max": 28.1, "mean": 14.1}}
    produced = nodes[("DatasetVersion", out_v)]
    assert produced["producedByRunId"] == RUN and "schemaUid" not in produced
    assert nodes[("Dataset", "file:/data/clean.parquet")]["kind"] == "features"

    assert nodes[("Field", raw_radius)] == {"name": "radius", "datasetUid": "file:/data/raw.csv",
                                           "observedAt": 1_000}
    has_field = next(e for e in m.relationships if e.type is RelType.HAS_FIELD
                     and e.to_uid == raw_radius)
    assert (has_field.props["type"], has_field.props["position"]) == ("double", 0)
    field_relationship = next(e for e in m.relationships if e.type is RelType.DERIVED_FROM
                              and e.from_label is NodeLabel.FIELD)
    assert field_relationship.props == {"lineageUid": lineage, "jobUid": "ml:clean",
                                        "transformation": "DIRECT",
                                        "subtype": "TRANSFORMATION", "masking": False}
    generated = next(e for e in m.relationships if e.type is RelType.GENERATED)
    assert generated.props["lineageUid"] == lineage


def test_records_fit_the_avro_schema_and_are_compact() -> None:
    events = full_run()
    record, _ = event_to_record(events[-1], stitch(events), now_ms=7)
    codec = GraphRecordCodec()
    value = codec.encode(record)
    assert codec.decode_record(value) == record
    assert codec.decode(value) == expand(record)
    assert len(value) < 1500


def test_a_repeat_run_writes_only_its_run_consumed_versions_and_new_outputs() -> None:
    published = Published()
    first = full_run()
    event_to_mutations(first[0], stitch(first[:1]), now_ms=1, published=published)
    event_to_mutations(first[-1], stitch(first), now_ms=2, published=published)
    again = [e.model_copy(update={"run": e.run.model_copy(update={"runId": "run-2"}),
                                  "eventId": e.eventId + "-2"}) for e in first]
    start, notes = event_to_record(again[0], stitch(again[:1]), now_ms=3, published=published)
    published.note(notes)
    assert element_count(start) == 2 + 1 + 2  # run, RUN_OF, CHILD_OF; 2 CONSUMED_BY
    assert start["versions"] == [] and start["schemas"] == [] and start["jobs"] == []
    done = event_to_record(again[-1], stitch(again), now_ms=4, published=published)[0]
    assert [v["version"] for v in done["versions"]] == ["run:run-2"]
    assert done["schemas"] == [] and done["lineages"] == [] and done["consumed"] == []
    assert done["versions"][0]["lineage"] is not None  # points at the known lineage


def test_output_without_version_appears_only_once_the_run_is_terminal() -> None:
    start = full_run()[0]
    m = event_to_mutations(start, stitch([start]), now_ms=0)
    labels = {(n.label.value, n.uid) for n in m.nodes}
    assert ("DatasetVersion", f"file:/data/clean.parquet@run:{RUN}") not in labels
    assert not any(e.type is RelType.GENERATED for e in m.relationships)
    assert nodes_by_uid(m)[("Run", RUN)].get("endTime") is None


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
    m = expand(stale_record(stitch([start]), now_ms=3))
    assert [(n.label.value, n.uid, n.props["state"]) for n in m.nodes] == [("Run", RUN, "STALE")]
    assert [e.type for e in m.relationships] == [RelType.RUN_OF]


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
    rels = relationship_set(m)
    assert ("DERIVED_FROM", "file:/out.csv#y", "file:/src.csv#x") in rels
    assert ("CONSUMED_BY", "file:/src.csv@sha-src", RUN) in rels  # the source, as pinned


def test_dataset_and_job_facets_are_kept_one_property_per_facet() -> None:
    """Every dataset facet the graph does not keep per version, and every job facet beyond
    jobType and sql, is a ``facet_<name>`` property (JSON text); a dataset's symlinks are
    also a list of uids (``LineageGraph.resolve`` finds the dataset by them). A repeat run
    with the same facets writes no Dataset node again; a changed facet does."""
    owners = json.dumps({"owners": [{"name": "team:ml"}]})
    table: dict[str, Any] = {
        "namespace": "hive://meta:9083", "name": "ml.features", "kind": "features",
        "version": "v1", "facets": {
                 "symlinks": [{"namespace": "s3a://Lake", "name": "/wh/features/",
                               "type": "LOCATION"}],
                 "dataSource": {"name": "meta", "uri": "hive://meta:9083"},
                 "extra": {"ownership": owners, "lifecycleStateChange":
                           json.dumps({"lifecycleStateChange": "OVERWRITE"})}}}
    done = event("COMPLETE", 2_000, "f1", outputs=[table],
                 run={"runId": RUN, "facets": {
                     "nominalTime": {"nominalStartTime": 900, "nominalEndTime": 1_900},
                     "error": {"message": "boom", "programmingLanguage": "scala"}}},
                 job={"namespace": "ml", "name": "clean", "facets": {"extra": {
                     "documentation": json.dumps({"description": "cleans"}),
                     "sourceCodeLocation": json.dumps({"type": "git", "url": "x"})}}})
    published = Published()
    nodes = nodes_by_uid(event_to_mutations(done, stitch([done]), now_ms=1,
                                            published=published))
    ds = nodes[("Dataset", "hive://meta:9083:ml.features")]
    assert ds["symlinks"] == ["s3://lake:wh/features"]
    assert json.loads(str(ds["facet_symlinks"]))["identifiers"][0]["name"] == "wh/features"
    assert json.loads(str(ds["facet_dataSource"])) == {"name": "meta", "uri": "hive://meta:9083"}
    assert ds["facet_ownership"] == owners and "facet_lifecycleStateChange" in ds
    job = nodes[("Job", "ml:clean")]
    assert json.loads(str(job["facet_documentation"])) == {"description": "cleans"}
    assert "facet_sourceCodeLocation" in job
    run = nodes[("Run", RUN)]
    assert (run["nominalEndTime"], run["programmingLanguage"]) == (1_900, "scala")

    def again(run_id: str, facets_extra: dict[str, str]) -> dict[tuple[str, str], Any]:
        out = {**table, "facets": {**table["facets"], "extra": facets_extra}}
        e = event("COMPLETE", 3_000, f"e-{run_id}", outputs=[out], run={"runId": run_id})
        return nodes_by_uid(event_to_mutations(e, stitch([e]), now_ms=2, published=published))

    assert ("Dataset", "hive://meta:9083:ml.features") not in again(
        "run-2", table["facets"]["extra"])
    changed = again("run-3", {"ownership": json.dumps({"owners": [{"name": "team:data"}]})})
    assert "team:data" in str(changed[("Dataset", "hive://meta:9083:ml.features")][
        "facet_ownership"])
