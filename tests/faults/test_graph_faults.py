"""Faults on the graph side, with real processes.

- Neo4j (a server of the test's own) killed with SIGKILL while the sink has a write
  transaction open, and started again on the same data directory, port and password: the
  sink backs off and keeps trying (it never exits), exports ``lineage_sink_graph_waiting 1``
  (which ``lineage status`` shows), commits nothing while the graph is down, and resumes by
  itself; the graph equals the graph of one linear pass over the events topic, with no node
  or relationship twice.
- The whole graph topic replayed twice into a fresh graph by two sink replicas writing at
  once (two consumer groups): the same graph, uniqueness constraints in place, no duplicates.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from contextlib import closing
from dataclasses import asdict
from pathlib import Path

import neo4j
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from pydantic import SecretStr

from lineage_app.localstack.neo4j_server import DEFAULT_DATABASE, start_neo4j
from lineage_app.localstack.processes import ManagedProcess, free_port
from lineage_app.localstack.stack import STATE_FILE, ServiceInfo, create_topics
from lineage_pipeline.graph import open_backend
from lineage_pipeline.metrics import read_metric
from lineage_pipeline.settings import GraphSettings, LineageSettings
from tests.e2e_stack import make_settings
from tests.faults.harness import (
    Feeder,
    GraphLeases,
    converged_diff,
    graph_diff,
    linear_records,
    log_count,
    make_runs,
    read_topic,
    reference_graph,
    report,
    start_processor,
    start_sink,
)
from tests.support.waiting import wait_until

RUNS = 60
WAITING = "lineage_sink_graph_waiting"
RETRY_LINE = "consumption paused, retrying"
#: The sink's ``graph.timeout_s`` here: the driver's own retry of one transaction gives up
#: after this long, then the sink's backoff (and its waiting gauge) takes over.
GRAPH_TIMEOUT_S = 10.0


def committed(settings: LineageSettings, group: str | None = None) -> int:
    """The sink group's committed offset on partition 0 of the graph topic (-1001: none)."""
    consumer = Consumer({"bootstrap.servers": settings.kafka.bootstrap_servers,
                         "group.id": group or settings.sink.group_id,
                         "enable.auto.commit": False})
    try:
        tp = consumer.committed([TopicPartition(settings.topics.graph, 0)], timeout=10)[0]
        return int(tp.offset)
    finally:
        consumer.close()


def kill_inside_a_write(server: ManagedProcess, graph: GraphSettings, timeout_s: float) -> bool:
    """SIGKILL ``server`` as soon as ``SHOW TRANSACTIONS`` lists a transaction of the sink's
    writer (a ``MERGE`` running, or an open transaction between its statements); after
    ``timeout_s`` seconds without one, kill it anyway. Return whether a write was open."""
    password = graph.password.get_secret_value() if graph.password else ""
    deadline = time.monotonic() + timeout_s
    seen = False
    with neo4j.GraphDatabase.driver(graph.url, auth=("neo4j", password),
                                    notifications_min_severity="OFF") as driver:
        while not seen and time.monotonic() < deadline:
            rows, _, _ = driver.execute_query(
                "SHOW TRANSACTIONS YIELD currentQuery "
                "WHERE currentQuery CONTAINS 'MERGE' RETURN count(*) AS n",
                database_=DEFAULT_DATABASE)
            seen = rows[0]["n"] > 0
        server.kill()
    return seen


def lineage_status(data_dir: Path) -> subprocess.CompletedProcess[str]:
    """Run ``lineage status`` for the stack recorded in ``data_dir``."""
    env = {**os.environ, "LINEAGE_DATA_DIR": str(data_dir), "COLUMNS": "250"}
    return subprocess.run([sys.executable, "-m", "lineage_app.cli.app", "status"],
                          env=env, capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.timeout(420)
def test_neo4j_sigkilled_mid_batch_and_restarted_the_sink_waits_and_resumes(
    kafka_broker: str, graphs: GraphLeases, tmp_path: Path, started: list[ManagedProcess]
) -> None:
    home, port, password = tmp_path / "own-neo4j", free_port(), secrets.token_urlsafe(16)
    server = start_neo4j(home, port, password=password, heap_mb=512)
    started.append(server)
    graph = GraphSettings(backend="neo4j", url=f"bolt://127.0.0.1:{port}",
                          name=DEFAULT_DATABASE, username="neo4j", password=SecretStr(password),
                          timeout_s=GRAPH_TIMEOUT_S)
    settings = make_settings(kafka_broker, graph, tmp_path)
    create_topics(settings)
    metrics_port = settings.sink.metrics_port
    # max_retries 0: retry until the graph is back (the default exits 75 after 8 attempts)
    sink = start_sink(settings, tmp_path, LINEAGE_SINK__MAX_RETRIES="0")
    started.append(sink)
    processor = start_processor(settings, tmp_path)
    started.append(processor)
    # what `lineage status` reads: a stack.json that records this sink and its metrics port
    status_dir = tmp_path / "status"
    status_dir.mkdir()
    (status_dir / STATE_FILE).write_text(json.dumps({"sink": asdict(ServiceInfo(
        "sink", sink.pid, metrics_port, f"http://127.0.0.1:{metrics_port}/metrics",
        str(sink.log_path)))}), "utf-8")
    feeder = Feeder(kafka_broker, settings.topics.events)
    assert wait_until(lambda: log_count(processor.log_path, "stream processor ready") >= 1,
                      90)
    assert read_metric(metrics_port, WAITING) == 0.0
    stream = feeder.paced(make_runs("graphdown", RUNS), rate_per_s=10.0)
    with closing(open_backend(graph)) as actual:
        assert wait_until(
            lambda: actual.query("MATCH (r:Run) RETURN count(r) AS c")[0]["c"] >= 3, 60), \
            "the sink writes before the fault"
    in_write = kill_inside_a_write(server, graph, 30.0)
    down_at = time.monotonic()
    assert stream.is_alive(), "events still flow after the kill (the sink has work)"

    assert wait_until(lambda: read_metric(metrics_port, WAITING) == 1.0, 90), \
        "the sink exports that it waits for the graph"
    waiting_status = lineage_status(status_dir)
    offset_during = committed(settings)
    retries_then = log_count(sink.log_path, RETRY_LINE)
    assert wait_until(lambda: log_count(sink.log_path, RETRY_LINE) > retries_then, 90), \
        "the sink keeps trying"
    offset_later = committed(settings)
    assert sink.alive(), "the sink waits for the graph; it does not exit"

    server = start_neo4j(home, port, password=password, heap_mb=512)
    started.append(server)
    outage = time.monotonic() - down_at
    assert wait_until(lambda: read_metric(metrics_port, WAITING) == 0.0, 90), \
        "the sink resumes by itself"
    resumed_status = lineage_status(status_dir)
    stream.join(timeout=90)
    assert not stream.is_alive()

    diff, runs_in_graph = converged_diff(graphs, kafka_broker, settings.topics.events, graph,
                                         90)
    retries = log_count(sink.log_path, RETRY_LINE)
    report("neo4j-sigkill-restart", lost=diff.missing, duplicated=diff.duplicated,
           skipped=0, extra=diff.extra, killed_inside_write=in_write,
           outage_s=f"{outage:.1f}", retries=retries,
           committed_while_down=offset_later - offset_during, runs_in_graph=runs_in_graph)
    assert in_write, "no write transaction of the sink was seen open before the kill"
    assert offset_later == offset_during, "nothing is committed while the graph is down"
    assert waiting_status.returncode == 1, waiting_status.stdout + waiting_status.stderr
    assert "waiting for the graph" in waiting_status.stdout, waiting_status.stdout
    assert resumed_status.returncode == 0, resumed_status.stdout + resumed_status.stderr
    assert "waiting" not in resumed_status.stdout, resumed_status.stdout
    assert diff.clean, diff.examples
    assert runs_in_graph == RUNS
    assert sink.alive() and processor.alive()


def test_topic_replayed_twice_by_two_sink_replicas_gives_the_same_graph(
    fault_settings: LineageSettings, graphs: GraphLeases
) -> None:
    settings = fault_settings
    bootstrap = settings.kafka.bootstrap_servers
    feeder = Feeder(bootstrap, settings.topics.events)
    for ev in make_runs("replay", 30):
        feeder.send(ev)
    feeder.flush()
    # the graph topic as the processor publishes it: one record per handled event
    records, _dead = linear_records(read_topic(bootstrap, settings.topics.events))
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for rec in records:
        producer.produce(settings.topics.graph, rec.value, rec.key)
    assert producer.flush(30) == 0

    replicas = []
    with reference_graph(graphs, bootstrap, settings.topics.events) as reference, \
            closing(open_backend(settings.graph)) as actual:
        try:
            for i in range(2):  # two groups: each replica reads (replays) the whole topic
                replica = settings.model_copy(update={"sink": settings.sink.model_copy(
                    update={"group_id": f"{settings.sink.group_id}-{i}",
                             "metrics_port": free_port()})})
                replicas.append(start_sink(replica, settings.data_dir, name=f"sink{i}"))
            groups = [f"{settings.sink.group_id}-{i}" for i in range(2)]

            def both_done() -> bool:
                return all(committed(settings, g) >= len(records) for g in groups) and \
                    graph_diff(reference, actual).clean

            wait_until(both_done, 60, step_s=1.0)
            diff = graph_diff(reference, actual)
            offsets = [committed(settings, g) for g in groups]
            unique = {(row["labels"][0], tuple(row["properties"])) for row in actual.query(
                "SHOW CONSTRAINTS YIELD type, labelsOrTypes, properties "
                "WHERE type = 'UNIQUENESS' RETURN labelsOrTypes AS labels, properties")}
            report("replay-twice-two-sinks", lost=diff.missing, duplicated=diff.duplicated,
                   skipped=0, extra=diff.extra, records=len(records), committed=offsets)
            assert offsets == [len(records)] * 2, "each replica wrote the whole topic"
            assert diff.clean, diff.examples
            for label in ("Job", "Run", "Dataset", "DatasetVersion", "Field"):
                assert (label, ("uid",)) in unique, f"uid uniqueness on {label}"
        finally:
            for r in replicas:
                r.stop()
