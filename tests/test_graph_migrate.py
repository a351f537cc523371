"""Graphs and graph records of earlier versions, whose properties were partly snake_case
(``observed_at``, ``job_uid``, ...; :data:`lineage_pipeline.graph_model.LEGACY_PROPERTY_NAMES`):

- the sink translates old names when it decodes a record from the graph topic, so old records
  still on the topic are stored under today's names;
- ``lineage migrate`` (:mod:`graph_sink.migrate`) renames them in a stored graph,
  in batches, idempotently, on both backends (``[neo4j]`` / ``[falkordb]``): afterwards the
  graph is exactly the one today's sink writes, and the queries answer the same.
"""

from __future__ import annotations

import json
import types
from typing import Any

import pytest
from typer.testing import CliRunner

from graph_sink.migrate import count_legacy, migrate
from graph_sink.service import _Sink
from graph_sink.testing import VersionSpec, legacy_mutations, run_mutations, snapshot
from graph_sink.writer import GraphWriter
from lineage_app.cli import context
from lineage_app.cli.app import app
from lineage_pipeline.codec import AvroCodec
from lineage_pipeline.graph import GraphBackend
from lineage_pipeline.graph.base import Statement
from lineage_pipeline.graph_model import (
    LEGACY_PROPERTY_NAMES,
    GraphMutations,
    NodeLabel,
    NodeUpsert,
    RelationshipUpsert,
    RelType,
    current_props,
    keyed_relationship_uid,
)
from lineage_pipeline.graph_record import GraphRecordCodec
from lineage_pipeline.settings import GraphSettings
from lineage_queries.api import LineageGraph
from tests.graph_servers import graph_env

T1, T2 = 1_000_000, 2_000_000
OLD_OF = {new: old for old, new in LEGACY_PROPERTY_NAMES.items()}


def _deliveries() -> list[GraphMutations]:
    """Two deliveries through ingest -> train, with fields (every old property occurs)."""
    out = []
    for n, t in ((1, T1), (2, T2)):
        stats = {"radius": {"mean": 16.0 * n, "min": 8.0, "max": 36.0, "nullCount": 0}}
        landing = VersionSpec("file", "/data/landing.csv", f"d{n}", digest=f"land{n}",
                              row_count=569, fields=stats)
        raw = VersionSpec("file", "/data/raw.parquet", f"r{n}", digest=f"raw{n}", fields=stats)
        model = VersionSpec("file", "/data/model.pkl", f"m{n}", kind="model", digest=f"mod{n}")
        out += [run_mutations(("demo", "ingest"), f"ingest-{n}", time_ms=t, inputs=[landing],
                              outputs=[raw]),
                run_mutations(("demo", "train"), f"train-{n}", time_ms=t + 10_000, inputs=[raw],
                              outputs=[model], metrics={"accuracy": 0.9 / n})]
    return out


def _old_props(props: dict[str, Any]) -> dict[str, Any]:
    return {OLD_OF.get(k, k): v for k, v in props.items()}


#: Property names today's graph no longer holds at all (``versionUid`` was on the per-version
#: Field nodes of the model before schemas were content-addressed).
GONE = {"version_uid"}


def _old_record(m: GraphMutations) -> dict[str, Any]:
    """The Avro record an earlier version published for ``m``: old property names."""
    record = legacy_mutations(m).to_record()
    for item in (*record["nodes"], *record["edges"]):
        item["props"] = _old_props(item["props"])
    return record


def _to_old_names(backend: GraphBackend) -> None:
    """Rename today's properties back to the old names in place (raw Cypher): the graph an
    earlier version wrote."""
    def sets(var: str) -> str:
        olds = ", ".join(f"{var}.{new} AS v{i}" for i, new in enumerate(OLD_OF))
        assign = [f"{var}.{old} = v{i}, {var}.{new} = NULL"
                  for i, (new, old) in enumerate(OLD_OF.items())]
        return f"WITH {var}, {olds} SET " + ", ".join(assign)

    statements = [Statement(f"MATCH (n:{label.value}) {sets('n')}", {}) for label in NodeLabel]
    statements += [Statement(f"MATCH ()-[r:{rel.value}]->() {sets('r')}", {}) for rel in RelType]
    backend.write_batch(statements)


def _answers(graph: LineageGraph) -> dict[str, Any]:
    return {
        "upstream": graph.upstream("file:/data/model.pkl", depth=10),
        "downstream": graph.downstream("file:/data/landing.csv@d1"),
        "runs": graph.runs("demo:train"),
        "run": graph.run("train-2"),
        "fields": graph.fields(["file:/data/raw.parquet@r2"]),
        "impact": graph.impact("file:/data/landing.csv"),
    }


# -- the record translation ------------------------------------------------------------------
def test_current_props_translates_old_names_and_today_wins() -> None:
    assert current_props({"observed_at": 1, "job_uid": "j", "runId": "r"}) == {
        "observedAt": 1, "jobUid": "j", "runId": "r"}
    assert current_props({"updated_at": 1, "updatedAt": 2}) == {"updatedAt": 2}
    props = {"observedAt": 1}
    assert current_props(props) == props and current_props(props) is not props


def test_the_sink_stores_an_old_record_under_todays_names(backend: GraphBackend) -> None:
    codec = AvroCodec("graph_mutations")  # the family an earlier version published
    sink = types.SimpleNamespace(codec=GraphRecordCodec())  # what _Sink._decode uses
    records = [_old_record(m) for m in _deliveries()]
    assert any("observed_at" in n["props"] for r in records for n in r["nodes"])
    decoded = [_Sink._decode(sink, codec.encode(r)) for r in records]  # type: ignore[arg-type]
    for m in decoded:
        for props in [n.props for n in m.nodes] + [e.props for e in m.relationships]:
            assert not set(props) & set(LEGACY_PROPERTY_NAMES), props
    GraphWriter(backend).write(decoded)
    written = snapshot(backend)
    assert not count_legacy(backend).total

    backend.write_batch([Statement("MATCH (n) DETACH DELETE n", {})])
    GraphWriter(backend).write([legacy_mutations(m) for m in _deliveries()])
    assert snapshot(backend) == written  # as if today's processor had published them


# -- lineage migrate -------------------------------------------------------------------------
def test_migrate_renames_an_old_graph_in_batches_idempotently(backend: GraphBackend) -> None:
    GraphWriter(backend).write(_deliveries())
    fresh = snapshot(backend)
    expected = _answers(LineageGraph(backend))  # not closed: that would close ``backend``
    _to_old_names(backend)
    old = snapshot(backend)
    assert any(k == "observed_at" for _, _, props in old["nodes"] for k, _ in props)

    dry = migrate(backend, dry_run=True)
    found = dry.before.to_dict()
    assert set(found) == set(LEGACY_PROPERTY_NAMES) - GONE, found
    assert found["job_uid"]["nodes"] == {"Run": 4}
    assert found["dataset_uid"] == {"new": "datasetUid",
                                    "nodes": {"DatasetVersion": 6, "Schema": 2, "Field": 2},
                                    "relationships": {}}
    assert found["observed_at"]["relationships"]["RUN_OF"] == 4
    assert dry.left == dry.before and dry.renamed == 0 and dry.transactions == 0
    assert snapshot(backend) == old, "a dry run changes nothing"

    report = migrate(backend, batch_size=3)
    assert report.renamed == dry.before.total and not report.left.total
    assert report.transactions > len(NodeLabel), "several pages of 3 nodes per label"
    assert snapshot(backend) == fresh
    assert _answers(LineageGraph(backend)) == expected

    again = migrate(backend, batch_size=3)
    assert not again.before.total and again.transactions == 0 and again.renamed == 0
    assert snapshot(backend) == fresh, "a second run changes nothing"


def test_migrate_keeps_the_wider_times_and_todays_uids_when_both_names_are_stored(
    backend: GraphBackend,
) -> None:
    backend.write_batch([Statement(
        "CREATE (:Run {uid: 'r', observed_at: 100, observedAt: 200, updated_at: 300, "
        "updatedAt: 250, job_uid: 'old:job', jobUid: 'new:job'})"
        "-[:RUN_OF {observed_at: 50, updatedAt: 60}]->(:Job {uid: 'j', updated_at: 7})", {})])
    report = migrate(backend)
    assert report.renamed == 5 and report.transactions == 2  # one page of Runs, one of Jobs
    rows = backend.query("MATCH (r:Run)-[e:RUN_OF]->(j:Job) RETURN properties(r) AS r, "
                         "properties(e) AS e, properties(j) AS j")
    assert rows == [{"r": {"uid": "r", "observedAt": 100, "updatedAt": 300, "jobUid": "new:job"},
                     "e": {"observedAt": 50, "updatedAt": 60},
                     "j": {"uid": "j", "updatedAt": 7}}]


def test_migrate_refuses_a_batch_size_below_one(backend: GraphBackend) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        migrate(backend, batch_size=0)


def test_lineage_migrate_command(any_graph: GraphSettings, backend: GraphBackend,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    GraphWriter(backend).write(_deliveries())
    fresh = snapshot(backend)
    _to_old_names(backend)
    monkeypatch.delenv("LINEAGE_CONFIG", raising=False)
    for key, value in graph_env(any_graph).items():
        monkeypatch.setenv(key, value)
    context.settings.cache_clear()
    try:
        runner = CliRunner()
        dry = runner.invoke(app, ["migrate", "--dry-run"])
        assert dry.exit_code == 0, dry.output
        assert "would rename:" in dry.output
        assert "observed_at -> observedAt:" in dry.output and "Run 4" in dry.output
        assert count_legacy(backend).total, "a dry run changes nothing"

        done = runner.invoke(app, ["migrate", "--batch-size", "5", "--json"])
        assert done.exit_code == 0, done.output
        report = json.loads(done.output)
        assert report["renamed"] > 0 and report["left"] == {} and not report["dryRun"]
        assert set(report["found"]) == set(LEGACY_PROPERTY_NAMES) - GONE
        assert snapshot(backend) == fresh

        again = runner.invoke(app, ["migrate"])
        assert again.exit_code == 0, again.output
        assert "nothing to migrate" in again.output
    finally:
        context.settings.cache_clear()


def test_migrate_gives_column_lineage_written_without_a_uid_the_uid_the_sink_computes(
    backend: GraphBackend,
) -> None:
    """Ends whose uids hold the escape characters: the uid computed in Cypher by the
    migration equals the one the sink computes in Python, on both backends."""
    ends = ["ns:a|b#x", "ns:a#b|x", "ns:c\\|d#y", "ns:c#\\d|y", "ns:plain#z"]
    lineages = [("lineage:1", ends[i], ends[j]) for i in range(len(ends))
                for j in range(len(ends)) if i != j] + [("lineage:2|x", ends[0], ends[1])]
    GraphWriter(backend).write([GraphMutations(
        "e", 1, 1, [NodeUpsert(NodeLabel.FIELD, uid, {"name": uid}) for uid in ends],
        [RelationshipUpsert(RelType.DERIVED_FROM, NodeLabel.FIELD, src, NodeLabel.FIELD, dst,
                            {"lineageUid": lin}) for lin, src, dst in lineages])])
    fresh = snapshot(backend)
    assert len(fresh["relationships"]) == len(lineages)
    stored = {(src, dst, json.loads(dict(props)["lineageUid"]), json.loads(dict(props)["uid"]))
              for _type, src, dst, props in fresh["relationships"]}
    assert stored == {(src, dst, lin, keyed_relationship_uid(lin, src, dst))
                      for lin, src, dst in lineages}
    backend.write_batch([Statement("MATCH ()-[r:DERIVED_FROM]->() SET r.uid = NULL", {})])
    dry = migrate(backend, dry_run=True)
    assert dry.missing_uids == len(lineages) and dry.filled_uids == 0
    report = migrate(backend, batch_size=7)
    assert report.filled_uids == len(lineages) and report.transactions == 3
    assert snapshot(backend) == fresh, "the same uids as the sink's"
    assert migrate(backend).missing_uids == 0
    GraphWriter(backend).write([GraphMutations("e", 2, 2, [], [RelationshipUpsert(
        RelType.DERIVED_FROM, NodeLabel.FIELD, src, NodeLabel.FIELD, dst, {"lineageUid": lin})
        for lin, src, dst in lineages])])
    assert len(snapshot(backend)["relationships"]) == len(lineages), "written again: merged"
