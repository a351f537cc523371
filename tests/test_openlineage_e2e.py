"""Issue 6 end to end: third-party OpenLineage producers and dataset identity through the real
processor and sink processes (Kafka broker, a leased Neo4j server), one stack for the module.

- two producers naming one dataset differently (``file:`` spellings, a symlinks facet that
  points at a catalog table, a configured alias) -> one Dataset node;
- a real dbt project (dbt-core 1.9 + dbt-duckdb) run with ``dbt-ol`` publishing to the
  OpenLineage topic -> jobs, runs, tables, column lineage, and ``lineage upstream``;
- the openlineage-python client's KafkaTransport -> events in the graph with their facets;
- ``lineage dlq replay`` of a corrected OpenLineage event -> the event reaches the graph.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import pytest
from confluent_kafka import Producer

from lineage_app.localstack.processes import ManagedProcess, port_open, start_python_service
from lineage_app.localstack.stack import create_topics
from lineage_pipeline.codec import EventCodec
from lineage_pipeline.events import LineageEvent
from lineage_pipeline.graph import GraphBackend, open_backend
from lineage_pipeline.naming import normalize_dataset
from lineage_pipeline.openlineage import to_openlineage_json
from lineage_pipeline.settings import GraphSettings, LineageSettings
from tests.conftest import GraphFactory
from tests.e2e_stack import make_settings, stack_env

pytestmark = pytest.mark.slow

T = TypeVar("T")
VENV_BIN = Path(sys.executable).parent
CONFIGURED_ALIAS = ("file:/srv/exports/customers.csv", "warehouse:crm.customers")


class Stack:
    """The processor and sink processes, the settings and env that point at them."""

    def __init__(self, settings: LineageSettings, env: dict[str, str], root: Path) -> None:
        self.settings = settings
        self.env = env
        self.root = root
        self.graph: GraphBackend = open_backend(settings.graph)
        self.producer = Producer({"bootstrap.servers": settings.kafka.bootstrap_servers,
                                  "linger.ms": 1})

    def publish(self, topic: str, *values: bytes) -> None:
        for value in values:
            self.producer.produce(topic, value=value, key=b"tests")
        assert self.producer.flush(30) == 0

    def q(self, cypher: str, **params: Any) -> list[dict[str, Any]]:
        return self.graph.query(cypher, params)

    def wait(self, probe: Callable[[], T | None], what: str, timeout_s: float = 90.0) -> T:
        deadline = time.monotonic() + timeout_s
        while True:
            found = probe()
            if found:
                return found
            if time.monotonic() > deadline:
                pytest.fail(f"timed out after {timeout_s} s waiting for {what}")
            time.sleep(0.3)

    def run_state(self, run_id: str) -> str | None:
        rows = self.q("MATCH (r:Run {uid: $uid}) RETURN r.state AS state", uid=run_id)
        return rows[0]["state"] if rows else None

    def wait_complete(self, *run_ids: str) -> None:
        for run_id in run_ids:
            self.wait(partial(self.is_complete, run_id), f"run {run_id} COMPLETE")

    def is_complete(self, run_id: str) -> bool:
        return self.run_state(run_id) == "COMPLETE"

    def lineage(self, *args: str) -> Any:
        proc = subprocess.run(
            [sys.executable, "-m", "lineage_app.cli.app", *args],
            env={**os.environ, **self.env}, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout) if "--json" in args else proc.stdout


@pytest.fixture(scope="module")
def stack(kafka_broker: str, graphs: GraphFactory,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with graphs.fresh("neo4j") as graph:
        yield from _stack(kafka_broker, graph, tmp_path_factory.mktemp("openlineage-e2e"))


def _stack(kafka_broker: str, graph: GraphSettings, root: Path) -> Iterator[Stack]:
    settings = make_settings(kafka_broker, graph, root)
    create_topics(settings)
    config = root / "lineage.yaml"
    config.write_text(json.dumps({"identity": {"aliases": dict([CONFIGURED_ALIAS])}}))
    env = {**stack_env(settings), "LINEAGE_CONFIG": str(config),
           "LINEAGE_PROCESSOR__BATCH_TIMEOUT_S": "0.02"}
    started: list[ManagedProcess] = []
    try:
        started.append(start_python_service(
            "sink", "graph_sink", [], root, ready=lambda: port_open(settings.sink.metrics_port),
            env=env))
        started.append(start_python_service(
            "processor", "stream_processor", [], root,
            ready=lambda: port_open(settings.processor.metrics_port), env=env))
        s = Stack(settings, env, root)
        yield s
        s.graph.close()
    finally:
        for proc in reversed(started):
            proc.stop()


def event(run: str, job: str, etype: str, t: int, **body: Any) -> LineageEvent:
    base: dict[str, Any] = {"eventType": etype, "eventTime": t, "producer": "tests/identity",
                            "run": {"runId": run}, "job": {"namespace": "e2e", "name": job}}
    base.update(body)
    return LineageEvent.model_validate(base)


# -- (a) one dataset, one node -----------------------------------------------------------

def test_producers_naming_one_dataset_differently_make_one_node(stack: Stack) -> None:
    tag = uuid.uuid4().hex[:6]
    wh = f"/tmp/{tag}/warehouse/orders"
    table = {"namespace": "hive://metastore", "name": f"analytics.orders_{tag}", "type": "TABLE"}
    codec = EventCodec()
    runs = [str(uuid.uuid4()) for _ in range(4)]
    spark_write = event(runs[0], "spark_write", "COMPLETE", 1_000, outputs=[
        {"namespace": "file", "name": f"file://{wh}/", "version": "v1",
         "facets": {"symlinks": [table]}},
        {"namespace": "file", "name": f"file:/tmp/{tag}/x", "version": "x1"}])
    path_reader = event(runs[1], "path_reader", "COMPLETE", 2_000, inputs=[
        {"namespace": "file", "name": f"{wh}"},
        {"namespace": "file", "name": f"file:///tmp/{tag}/x/"},
        {"namespace": "file", "name": CONFIGURED_ALIAS[0]}])
    stack.publish(stack.settings.topics.events, codec.encode(spark_write),
                  codec.encode(path_reader))
    # a third-party producer (OpenLineage JSON) that knows only the catalog table
    ownership = {"owners": [{"name": "team:sales", "type": "MAINTAINER"}]}
    table_reader = event(runs[2], "table_reader", "COMPLETE", 3_000, inputs=[
        {"namespace": table["namespace"], "name": table["name"], "facets": {"extra": {
            "ownership": json.dumps(ownership),
            "documentation": json.dumps({"description": "orders, one row per order"})}}},
        {"namespace": "file", "name": "file:///srv/exports/customers.csv"}])
    stack.publish(stack.settings.topics.openlineage, to_openlineage_json(table_reader).encode())
    stack.wait_complete(*runs[:3])

    table_uid = f"hive://metastore:analytics.orders_{tag}"
    # collect(DISTINCT): Neo4j 5.26 drops a RETURN DISTINCT after a var-length expand from
    # start nodes found by a unique-index seek on an IN list (it returns one row per start node)
    [row] = stack.q("MATCH (d:Dataset)-[*0..2]-(r:Run) WHERE r.uid IN $runs "
                    "RETURN collect(DISTINCT d.uid) AS uids", runs=runs[:3])
    assert sorted(row["uids"]) == sorted([table_uid, f"file:/tmp/{tag}/x", CONFIGURED_ALIAS[1]])
    # every producer's run is attached to the one table node
    rows = stack.q("MATCH (d:Dataset {uid: $uid})<-[:VERSION_OF]-(:DatasetVersion)-[e]-(r:Run) "
                   "RETURN DISTINCT r.uid AS run", uid=table_uid)
    assert {r["run"] for r in rows} == set(runs[:3])
    assert not stack.q("MATCH (d:Dataset) WHERE d.uid STARTS WITH $p RETURN d.uid AS uid",
                       p=f"file:/tmp/{tag}/warehouse")
    # the table keeps its other name (the physical path), by which the CLI finds it too
    [node] = stack.q("MATCH (d:Dataset {uid: $uid}) RETURN d.symlinks AS links, "
                     "d.facet_symlinks AS facet, d.facet_ownership AS owners, "
                     "d.facet_documentation AS doc", uid=table_uid)
    assert node["links"] == [f"file:{wh}"]
    # and every dataset facet, each as one property (a reader's facets do not erase others)
    assert json.loads(node["owners"]) == ownership
    assert json.loads(node["doc"])["description"] == "orders, one row per order"
    assert json.loads(node["facet"]) == {"identifiers": [
        {"namespace": "file", "name": wh, "type": "LOCATION"}]}
    for name in (f"file://{wh}/", wh):
        assert stack.lineage("downstream", name, "--json")["root"] == table_uid


# -- (c) a real dbt project with dbt-ol ------------------------------------------------------

DBT_MODELS = {
    "stg_orders.sql": (
        "select id as order_id, customer_id, amount from {{ source('raw', 'orders') }}"),
    "customer_orders.sql": (
        "select c.id as customer_id, c.name, c.country, o.order_id, o.amount\n"
        "from {{ source('raw', 'customers') }} c join {{ ref('stg_orders') }} o "
        "on o.customer_id = c.id"),
    "revenue_by_country.sql": (
        "select country, sum(amount) as revenue, count(*) as orders\n"
        "from {{ ref('customer_orders') }} group by country"),
}


def _write_dbt_project(root: Path, bootstrap: str, topic: str) -> None:
    (root / "seeds").mkdir(parents=True)
    (root / "models").mkdir()
    (root / "dbt_project.yml").write_text(
        "name: shop\nversion: '1.0'\nconfig-version: 2\nprofile: shop\n")
    (root / "profiles.yml").write_text(
        f"shop:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n"
        f"      path: {root / 'shop.duckdb'}\n      threads: 1\n")
    (root / "seeds" / "customers.csv").write_text("id,name,country\n1,Ann,DE\n2,Bob,FR\n3,Cid,DE\n")
    (root / "seeds" / "orders.csv").write_text(
        "id,customer_id,amount\n10,1,5.5\n11,1,7.0\n12,2,3.25\n13,3,9.0\n")
    (root / "models" / "sources.yml").write_text(
        "version: 2\nsources:\n  - name: raw\n    schema: main\n    tables:\n"
        "      - name: orders\n      - name: customers\n")
    for name, sql in DBT_MODELS.items():
        (root / "models" / name).write_text(sql + "\n")
    (root / "openlineage.yml").write_text(json.dumps({"transport": {
        "type": "kafka", "topic": topic, "flush": True,
        "config": {"bootstrap.servers": bootstrap, "acks": "all"}}}))


def test_a_dbt_project_run_with_dbt_ol_lands_in_the_graph(stack: Stack, tmp_path: Path) -> None:
    if shutil.which("dbt-ol", path=str(VENV_BIN)) is None:
        pytest.skip("dbt-ol is not installed in this interpreter's environment")
    project = tmp_path / "shop"
    _write_dbt_project(project, stack.settings.kafka.bootstrap_servers,
                       stack.settings.topics.openlineage)
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
           "DBT_PROFILES_DIR": str(project), "OPENLINEAGE_CONFIG": str(project / "openlineage.yml"),
           "OPENLINEAGE_NAMESPACE": "dbt_e2e", "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
           "DO_NOT_TRACK": "1"}
    for argv in (["dbt", "seed"], ["dbt-ol", "run"]):
        done = subprocess.run([str(VENV_BIN / argv[0]), *argv[1:]], cwd=project, env=env,
                              capture_output=True, text=True, timeout=180)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    ns, _ = normalize_dataset(f"duckdb://{project / 'shop.duckdb'}", "x")
    uid = {t: f"{ns}:shop.main.{t}" for t in
           ("orders", "customers", "stg_orders", "customer_orders", "revenue_by_country")}
    jobs = {m: f"dbt_e2e:shop.main.shop.{m}" for m in
            ("stg_orders", "customer_orders", "revenue_by_country")}

    def model_runs() -> dict[str, tuple[str, str]] | None:
        rows = stack.q("MATCH (r:Run)-[:RUN_OF]->(j:Job) WHERE j.uid IN $jobs "
                       "RETURN j.uid AS job, r.uid AS run, r.state AS state",
                       jobs=list(jobs.values()))
        found = {r["job"]: (r["run"], r["state"]) for r in rows}
        return found if len(found) == 3 and all(s == "COMPLETE" for _, s in found.values()) \
            else None

    runs = stack.wait(model_runs, "the three dbt model runs COMPLETE", timeout_s=120)
    expected_io = {"stg_orders": ({"orders"}, "stg_orders"),
                   "customer_orders": ({"stg_orders", "customers"}, "customer_orders"),
                   "revenue_by_country": ({"customer_orders"}, "revenue_by_country")}
    for model, (inputs, output) in expected_io.items():
        run_id = runs[jobs[model]][0]
        got_in = stack.q("MATCH (:Run {uid: $r})<-[:CONSUMED_BY]-(:DatasetVersion)-[:VERSION_OF]->"
                         "(d:Dataset) RETURN d.uid AS uid", r=run_id)
        got_out = stack.q("MATCH (:Run {uid: $r})-[:GENERATED]->(:DatasetVersion)-[:VERSION_OF]->"
                          "(d:Dataset) RETURN d.uid AS uid", r=run_id)
        assert {r["uid"] for r in got_in} == {uid[t] for t in inputs}, model
        assert [r["uid"] for r in got_out] == [uid[output]], model
    job = stack.q("MATCH (j:Job {uid: $j}) RETURN j.sql AS sql, j.integration AS integration",
                  j=jobs["revenue_by_country"])[0]
    assert "group by country" in job["sql"].lower()
    # the parent dbt run links every model run
    parents = stack.q("MATCH (r:Run)-[:CHILD_OF]->(p:Run) WHERE r.uid IN $runs "
                      "RETURN DISTINCT p.uid AS parent", runs=[r for r, _ in runs.values()])
    assert len({p["parent"] for p in parents}) == 1

    # column lineage from dbt's columnLineage facets: Field DERIVED_FROM Field
    pairs = stack.q("MATCH (o:Field)-[:DERIVED_FROM]->(i:Field) WHERE o.datasetUid IN $outs "
                    "RETURN o.datasetUid AS od, o.name AS oc, i.datasetUid AS idu, i.name AS ic",
                    outs=list(uid.values()))
    got = {(p["od"], p["oc"], p["idu"], p["ic"]) for p in pairs}
    assert {(uid["revenue_by_country"], "revenue", uid["customer_orders"], "amount"),
            (uid["customer_orders"], "country", uid["customers"], "country"),
            (uid["stg_orders"], "order_id", uid["orders"], "id")} <= got

    up = stack.lineage("upstream", uid["revenue_by_country"], "--json")
    named = {f"{n.get('namespace')}:{n.get('name')}" for n in up["nodes"]}
    assert {uid[t] for t in ("orders", "customers", "stg_orders", "customer_orders")} <= named
    assert set(jobs.values()) - {jobs["revenue_by_country"]} <= named | {
        n.get("id") for n in up["nodes"]}


# -- (d) the openlineage-python client's Kafka transport ---------------------------------

def test_openlineage_python_client_events_reach_the_graph_with_their_facets(stack: Stack) -> None:
    from openlineage.client import OpenLineageClient
    from openlineage.client.event_v2 import (
        InputDataset,
        Job,
        OutputDataset,
        Run,
        RunEvent,
        RunState,
    )
    from openlineage.client.facet_v2 import (
        column_lineage_dataset,
        job_type_job,
        schema_dataset,
        sql_job,
    )
    from openlineage.client.transport.kafka import KafkaConfig, KafkaTransport

    client = OpenLineageClient(transport=KafkaTransport(KafkaConfig(
        config={"bootstrap.servers": stack.settings.kafka.bootstrap_servers},
        topic=stack.settings.topics.openlineage, flush=True)))
    run_id = str(uuid.uuid4())
    schema = schema_dataset.SchemaDatasetFacet(fields=[
        schema_dataset.SchemaDatasetFacetFields(name="id", type="BIGINT"),
        schema_dataset.SchemaDatasetFacetFields(name="amount", type="DOUBLE")])
    lineage = column_lineage_dataset.ColumnLineageDatasetFacet(fields={
        "total": column_lineage_dataset.Fields(inputFields=[
            column_lineage_dataset.InputField(
                namespace="postgres://db:5432", name="shop.public.orders", field="amount",
                transformations=[column_lineage_dataset.Transformation(
                    type="DIRECT", subtype="AGGREGATION")])],
            transformationDescription="", transformationType="")})
    job = Job(namespace="olpy", name="daily_totals", facets={
        "sql": sql_job.SQLJobFacet(query="select sum(amount) as total from orders"),
        "jobType": job_type_job.JobTypeJobFacet(processingType="BATCH", integration="PYTHON",
                                                jobType="QUERY")})
    inputs = [InputDataset(namespace="postgres://db:5432", name="shop.public.orders",
                           facets={"schema": schema})]
    outputs = [OutputDataset(namespace="postgres://db:5432", name="shop.public.totals",
                             facets={"columnLineage": lineage})]
    for state, when in ((RunState.START, "2026-01-01T00:00:00Z"),
                        (RunState.COMPLETE, "2026-01-01T00:01:00Z")):
        client.emit(RunEvent(eventType=state, eventTime=when, run=Run(runId=run_id), job=job,
                             producer="tests/openlineage-python", inputs=inputs,
                             outputs=outputs))
    client.close()

    stack.wait_complete(run_id)
    row = stack.q("MATCH (r:Run {uid: $r})-[:RUN_OF]->(j:Job) RETURN r.startTime AS start, "
                  "r.endTime AS end, j.sql AS sql, j.integration AS integration, "
                  "j.jobType AS jobType", r=run_id)[0]
    assert (row["sql"], row["integration"], row["jobType"]) == (
        "select sum(amount) as total from orders", "PYTHON", "QUERY")
    assert row["end"] - row["start"] == 60_000
    columns = stack.q("MATCH (v:DatasetVersion)-[:CONSUMED_BY]->(:Run {uid: $r}) "
                      "MATCH (s:Schema {uid: v.schemaUid})-[h:HAS_FIELD]->(f:Field) "
                      "RETURN v.datasetUid AS ds, f.name AS name, h.type AS type "
                      "ORDER BY h.position", r=run_id)
    assert {c["ds"] for c in columns} == {"postgres://db:5432:shop.public.orders"}
    assert [(c["name"], c["type"]) for c in columns] == [("id", "BIGINT"), ("amount", "DOUBLE")]
    rel = stack.q("MATCH (:Run {uid: $r})-[g:GENERATED]->(:DatasetVersion) "
                  "MATCH (o:Field {name: 'total'})-[e:DERIVED_FROM]->(i:Field) "
                  "WHERE e.lineageUid = g.lineageUid "
                  "RETURN i.name AS col, i.datasetUid AS ds, e.subtype AS subtype", r=run_id)
    assert [(e["col"], e["ds"], e["subtype"]) for e in rel] == [
        ("amount", "postgres://db:5432:shop.public.orders", "AGGREGATION")]


# -- (e) DLQ replay of a corrected event ----------------------------------------------------

def test_a_corrected_event_replayed_from_the_dlq_reaches_the_graph(
    stack: Stack, tmp_path: Path
) -> None:
    run_id = str(uuid.uuid4())
    good = json.loads(to_openlineage_json(event(run_id, "replayed", "COMPLETE", 5_000, outputs=[
        {"namespace": "file", "name": f"/tmp/replayed-{run_id[:8]}.csv", "version": "1"}])))
    broken = {**good, "run": {"facets": {}}}  # runId missing: fails the OpenLineage schema
    stack.publish(stack.settings.topics.openlineage, json.dumps(broken).encode())

    def dead() -> list[dict[str, Any]]:
        records = stack.lineage("dlq", "list", "--reason", "invalid_openlineage", "--json")
        return [r for r in records if r["source_topic"] == stack.settings.topics.openlineage]

    (record,) = stack.wait(dead, "the broken event in the DLQ", timeout_s=60)
    assert "runId" in record["detail"]
    fixed = tmp_path / "fixed.json"
    fixed.write_text(json.dumps(good))
    out = stack.lineage("dlq", "replay", record["id"], "--file", str(fixed))
    assert f"to {stack.settings.topics.openlineage}" in out
    stack.wait_complete(run_id)
