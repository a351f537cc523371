"""Dataset identity (issue 6): alias table, prefix rules, symlinks facets, and the graph merge
that `lineage alias apply` / `lineage datasets merge` run after an alias change (on a fresh
graph of each backend: Neo4j and FalkorDB)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

from graph_sink.writer import GraphWriter
from lineage_pipeline.events import LineageEvent
from lineage_pipeline.graph import open_backend
from lineage_pipeline.settings import GraphSettings
from stream_processor.identity import DatasetIdentity, split_uid
from stream_processor.mapping import event_to_mutations
from stream_processor.stitch import stitch
from tests.graph_servers import graph_env


def event(run: str, etype: str, t: int, **body: Any) -> LineageEvent:
    base: dict[str, Any] = {"eventType": etype, "eventTime": t, "producer": "tests/identity",
                            "run": {"runId": run}, "job": {"namespace": "ml", "name": run}}
    base.update(body)
    return LineageEvent.model_validate(base)


@pytest.mark.parametrize(
    ("uid", "parts"),
    [
        ("file:/tmp/x", ("file", "/tmp/x")),
        ("postgres://h:5432:db.public.t", ("postgres://h:5432", "db.public.t")),
        ("s3://bucket:k/x.parquet", ("s3://bucket", "k/x.parquet")),
        ("hive://metastore:analytics.orders", ("hive://metastore", "analytics.orders")),
        ("warehouse:crm.customers", ("warehouse", "crm.customers")),
        ("duckdb:///p/shop.duckdb:shop.main.t", ("duckdb:///p/shop.duckdb", "shop.main.t")),
        ("file:///tmp/x/", ("", "file:///tmp/x/")),
    ],
)
def test_split_uid(uid: str, parts: tuple[str, str]) -> None:
    assert split_uid(uid) == parts


def test_alias_table_and_prefix_rules_name_one_dataset() -> None:
    ident = DatasetIdentity(
        aliases={"file:///srv/exports/customers.csv/": "warehouse:crm.customers",
                 "warehouse:crm.customers": "warehouse:crm.customers_v2",
                 "loop:a": "loop:b", "loop:b": "loop:a"},
        prefixes={"s3://old-lake:": "s3://lake:"},
    )
    assert ident.canonical_uid("file", "/srv/exports/customers.csv") == "warehouse:crm.customers_v2"
    assert ident.canonical_uid("s3a://Old-Lake", "/t/x/") == "s3://lake:t/x"
    assert ident.canonical_uid("loop", "a") in {"loop:a", "loop:b"}  # a cycle stops


def test_a_symlink_to_a_table_is_one_dataset_and_is_remembered() -> None:
    ident = DatasetIdentity()
    table = {"namespace": "hive://metastore", "name": "analytics.orders", "type": "TABLE"}
    writer = ident.apply(event("w", "COMPLETE", 1, outputs=[
        {"namespace": "file", "name": "file:///tmp/wh/orders/", "facets": {"symlinks": [table]}}]))
    (out,) = writer.outputs
    assert (out.namespace, out.name) == ("hive://metastore", "analytics.orders")
    assert [(s.namespace, s.name, s.type) for s in out.facets.symlinks or []] == [
        ("file", "/tmp/wh/orders", "LOCATION")]
    # a later producer that names only the storage path, also in its column lineage
    reader = ident.apply(event("r", "COMPLETE", 2,
        inputs=[{"namespace": "file", "name": "/tmp/wh/orders"}],
        outputs=[{"namespace": "file", "name": "/tmp/report.csv", "facets": {"columnLineage": [
            {"field": "total", "inputFields": [
                {"namespace": "file", "name": "file:/tmp/wh/orders", "field": "amount"}]}]}}]))
    assert [(d.namespace, d.name) for d in reader.inputs] == [("hive://metastore",
                                                              "analytics.orders")]
    lineage = reader.outputs[0].facets.columnLineage or []
    assert [(f.namespace, f.name) for f in lineage[0].inputFields] == [
        ("hive://metastore", "analytics.orders")]
    ds_uids = {n.uid for n in event_to_mutations(reader, stitch([reader])).nodes
               if n.label.value == "Dataset"}
    assert ds_uids == {"hive://metastore:analytics.orders", "file:/tmp/report.csv"}


def test_symlinks_can_be_switched_off() -> None:
    ident = DatasetIdentity(use_symlinks=False)
    ev = event("w", "COMPLETE", 1, outputs=[{"namespace": "file", "name": "/tmp/wh/o",
        "facets": {"symlinks": [{"namespace": "hive://m", "name": "a.o", "type": "TABLE"}]}}])
    assert ident.apply(ev) is ev


# -- graph merge after an alias change ---------------------------------------------------

ALIAS = "file:/data/orders.parquet"
CANONICAL = "postgres://db:5432:public.orders"


def _write_graph(settings: GraphSettings) -> None:
    """Two producers that named one table differently, written before any alias existed."""
    load = event("load", "COMPLETE", 1_000, outputs=[{
        "namespace": "file", "name": "/data/orders.parquet", "version": "v1", "kind": "file",
        "facets": {"schema": [{"name": "id", "type": "int"},
                              {"name": "amount", "type": "double"}]}}])
    report = event("report", "COMPLETE", 2_000,
        inputs=[{"namespace": "postgresql://DB:5432", "name": "public.orders", "version": "v1"},
                {"namespace": "file", "name": "/data/orders.parquet", "version": "v1"}],
        outputs=[{"namespace": "file", "name": "/data/report.csv", "version": "r1", "facets": {
            "columnLineage": [{"field": "total", "inputFields": [
                {"namespace": "file", "name": "/data/orders.parquet", "field": "amount",
                 "transformations": [{"type": "DIRECT", "subtype": "AGGREGATION"}]}]}]}}])
    backend = open_backend(settings)
    try:
        GraphWriter(backend).write([event_to_mutations(e, stitch([e])) for e in (load, report)])
    finally:
        backend.close()


def _lineage(env: dict[str, str], *args: str) -> Any:
    proc = subprocess.run([sys.executable, "-m", "lineage_app.cli.app", *args, "--json"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_an_alias_added_later_merges_the_nodes_already_written(
    any_graph: GraphSettings, tmp_path: Any
) -> None:
    settings = any_graph
    _write_graph(settings)
    config = tmp_path / "lineage.yaml"
    config.write_text(json.dumps({"identity": {"aliases": {"file:///data/orders.parquet/":
                                                           CANONICAL}}}))
    env = {**os.environ, "LINEAGE_CONFIG": str(config), **graph_env(settings)}

    assert _lineage(env, "alias", "apply", "--dry-run") == [
        {"alias": ALIAS, "canonical": CANONICAL, "datasets": 1, "versions": 0, "schemas": 0,
         "fields": 0}]
    (merged,) = _lineage(env, "alias", "apply")
    assert (merged["alias"], merged["canonical"], merged["datasets"], merged["versions"]) == (
        ALIAS, CANONICAL, 1, 1)
    assert _lineage(env, "alias", "apply") == []  # idempotent: nothing left to merge

    backend = open_backend(settings)
    try:
        q = backend.query
        uids = {r["uid"] for r in q("MATCH (n) RETURN n.uid AS uid")}
        assert not any(u.startswith(ALIAS) for u in uids)
        assert [r["uid"] for r in q("MATCH (d:Dataset) RETURN d.uid AS uid ORDER BY uid")] == [
            "file:/data/report.csv", CANONICAL]
        version = f"{CANONICAL}@v1"
        rows = q("MATCH (r:Run)-[:GENERATED]->(v:DatasetVersion {uid: $v})-[:VERSION_OF]->"
                 "(d:Dataset) MATCH (s:Schema {uid: v.schemaUid})-[:HAS_FIELD]->(f:Field) "
                 "RETURN r.uid AS run, d.uid AS ds, s.datasetUid AS sduid, "
                 "collect(f.uid) AS fields, v.datasetUid AS duid", {"v": version})
        assert [(r["run"], r["ds"], r["duid"], r["sduid"]) for r in rows] == [
            ("load", CANONICAL, CANONICAL, CANONICAL)]
        assert sorted(rows[0]["fields"]) == [f"{CANONICAL}#amount", f"{CANONICAL}#id"]
        consumed = q("MATCH (v:DatasetVersion {uid: $v})-[:CONSUMED_BY]->(r:Run) "
                     "RETURN count(r) AS n", {"v": version})
        assert consumed[0]["n"] == 1  # both producers' CONSUMED_BY relationships are one now
        fields = q("MATCH (o:Field)-[e:DERIVED_FROM]->(i:Field) "
                   "RETURN i.uid AS uid, i.datasetUid AS duid, e.subtype AS subtype")
        assert [(f["uid"], f["duid"], f["subtype"]) for f in fields] == [
            (f"{CANONICAL}#amount", CANONICAL, "AGGREGATION")]
    finally:
        backend.close()
    up = _lineage(env, "upstream", "file:/data/report.csv")
    assert CANONICAL in {f"{n.get('namespace')}:{n.get('name')}" for n in up["nodes"]
                         if n.get("kind") != "run"}

    # one pair by hand: a stray spelling written later is merged with `lineage datasets merge`
    _lineage(env, "datasets", "merge", "file:/data/report.csv", "warehouse:reports.daily")
    backend = open_backend(settings)
    try:
        assert {r["uid"] for r in backend.query("MATCH (d:Dataset) RETURN d.uid AS uid")} == {
            "warehouse:reports.daily", CANONICAL}
    finally:
        backend.close()
