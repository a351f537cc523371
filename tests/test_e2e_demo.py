"""Issue 3 end to end: a smaller `make demo` through real broker, processor, sink and graph.

The demo pipeline runs over the real breast-cancer data twice (good delivery, then
``worst radius`` in mm) with the batch emitter publishing to a Tansu broker; the Faust
processor and the graph sink run as real processes; the assertions are on what a user
sees: the root-cause chain, the CLI's JSON, and graph counts.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from emitters.client import LineageClient
from graph_sink.api import LineageGraph
from graph_sink.backends import open_backend
from lineage_pipeline.demo.pipeline import DEFECT_COLUMN, Paths, deliver, run_pipeline
from lineage_pipeline.demo.report import (
    EVALUATE_JOB,
    Chain,
    find_root_cause_chain,
    wait_for_runs,
)
from tests.e2e_stack import PipelineStack, cli_env, pipeline_stack

pytestmark = pytest.mark.slow


@dataclass
class DemoRun:
    stack: PipelineStack
    paths: Paths
    graph: LineageGraph
    accuracies: list[float]
    landing_digests: list[str]
    chain: Chain


@pytest.fixture(scope="module")
def demo(
    kafka_broker: str, falkordb_server: int, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DemoRun]:
    root = tmp_path_factory.mktemp("demo")
    with pipeline_stack(kafka_broker, falkordb_server, root / "stack") as stack:
        s = stack.settings
        paths = Paths(root / "data")
        client = LineageClient.from_config(
            kafka={"bootstrap_servers": s.kafka.bootstrap_servers},
            topics={"events": s.topics.events},
        )
        accuracies, digests = [], []
        for delivery in (1, 2):
            deliver(paths, delivery)
            digests.append(hashlib.sha256(paths.landing.read_bytes()).hexdigest())
            accuracies.append(run_pipeline(paths, client))
        assert client.flush(30.0) == 0, "every event was delivered to the broker"
        client.close()
        graph = LineageGraph(open_backend(s.graph))
        runs = wait_for_runs(graph, EVALUATE_JOB, 2, timeout_s=150.0)
        chain = find_root_cause_chain(graph, runs[0]["runId"], runs[1]["runId"])
        yield DemoRun(stack, paths, graph, accuracies, digests, chain)


def test_accuracy_drops_after_the_defective_delivery(demo: DemoRun) -> None:
    good, bad = demo.accuracies
    assert good > 0.95
    assert bad < good - 0.02
    assert demo.chain.bad_run["metrics"]["accuracy"] == pytest.approx(bad)
    assert demo.chain.good_run["metrics"]["accuracy"] == pytest.approx(good)


def test_root_cause_chain_ends_at_raw_data_version_and_changed_column(demo: DemoRun) -> None:
    chain = demo.chain
    root = chain.root_version
    assert root is not None
    assert root.dataset_uid == f"file:{demo.paths.landing}"
    assert root.good_version is not None
    assert root.good_version["digest"] == demo.landing_digests[0]
    assert root.bad_version["digest"] == demo.landing_digests[1]
    assert root.moves, "the root version's column statistics moved"
    assert root.moves[0].column == DEFECT_COLUMN
    assert root.moves[0].after == pytest.approx(root.moves[0].before * 10, rel=1e-6)
    kinds = [link.kind for link in chain.links]
    assert "model" in kinds, f"the chain passes through the model: {kinds}"
    datasets = [link.dataset_uid for link in chain.links]
    for path in (demo.paths.raw, demo.paths.clean, demo.paths.features):
        assert f"file:{path}" in datasets


def _cli(demo: DemoRun, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lineage_pipeline.cli.app", *args],
        capture_output=True, text=True, env=cli_env(demo.stack), timeout=60, check=False,
    )


def test_cli_upstream_of_model_lists_training_runs_and_inputs_down_to_raw_file(
    demo: DemoRun,
) -> None:
    result = _cli(demo, "upstream", f"file:{demo.paths.model}", "--depth", "10", "--json")
    assert result.returncode == 0, result.stderr
    sub = json.loads(result.stdout)
    runs = [n for n in sub["nodes"] if n["kind"] == "Run"]
    train_runs = [r for r in runs if r.get("job") == "demo:breast_cancer.train"]
    assert len(train_runs) == 2, runs
    version_names = {n["name"] for n in sub["nodes"] if n["kind"] == "DatasetVersion"}
    for path in (demo.paths.features, demo.paths.clean, demo.paths.raw, demo.paths.landing):
        assert str(path) in version_names
    landing_versions = {
        n["version"] for n in sub["nodes"]
        if n["kind"] == "DatasetVersion" and n["name"] == str(demo.paths.landing)
    }
    assert landing_versions == set(demo.landing_digests)
    ids = {n["id"] for n in sub["nodes"]}
    assert all(e["from"] in ids and e["to"] in ids for e in sub["edges"])


def test_cli_reports_unknown_node_clearly(demo: DemoRun) -> None:
    result = _cli(demo, "upstream", "file:/no/such/dataset.csv")
    assert result.returncode == 2
    assert "file:/no/such/dataset.csv" in result.stderr


def _counts(graph: LineageGraph) -> dict[str, Any]:
    nodes = graph.backend.query("MATCH (n) RETURN labels(n)[0] AS label, count(n) AS c", {})
    rels = graph.backend.query("MATCH ()-[r]->() RETURN type(r) AS type, count(r) AS c", {})
    return {
        "nodes": {row["label"]: row["c"] for row in nodes},
        "rels": {row["type"]: row["c"] for row in rels},
    }


def _duplicates(port: int) -> float:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    for line in text.splitlines():
        if line.startswith("lineage_processor_duplicates_total"):
            return float(line.split()[-1])
    return 0.0


def test_every_event_published_twice_gives_the_same_graph(demo: DemoRun) -> None:
    s = demo.stack.settings
    before = _counts(demo.graph)
    consumer = Consumer({
        "bootstrap.servers": s.kafka.bootstrap_servers, "group.id": "e2e-reader",
        "enable.auto.commit": False,
    })
    tp = TopicPartition(s.topics.events, 0, 0)
    _, high = consumer.get_watermark_offsets(tp, timeout=10)
    consumer.assign([tp])
    records: list[tuple[bytes | None, bytes]] = []
    deadline = time.monotonic() + 30
    while len(records) < high and time.monotonic() < deadline:
        for msg in consumer.consume(500, 1.0):
            if msg.error() is None and msg.value() is not None:
                records.append((msg.key(), msg.value()))
    consumer.close()
    assert len(records) == high > 0
    dup_before = _duplicates(s.processor.metrics_port)
    producer = Producer({"bootstrap.servers": s.kafka.bootstrap_servers})
    for key, value in records:
        producer.produce(s.topics.events, value=value, key=key)
    producer.flush(30)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if _duplicates(s.processor.metrics_port) - dup_before >= len(records):
            break
        time.sleep(0.5)
    assert _duplicates(s.processor.metrics_port) - dup_before == len(records)
    time.sleep(2.0)  # anything the processor still published has reached the sink by now
    assert _counts(demo.graph) == before

