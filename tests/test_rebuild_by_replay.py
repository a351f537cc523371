"""Rebuilding a graph by replaying the events topics (docs/contracts.md, "A graph written
before the content-addressed model ... Rebuild it by replaying the events topics").

Through the real broker, processor and sink processes and two Neo4j graphs: realistic
lineage events (:class:`bench.pipeline.events.Workload`: schemas, statistics, column lineage,
repeat runs and runs of new jobs) and OpenLineage JSON events build graph A. A processor
under a new ``processor.app_id`` (empty state, the events topics read from the earliest
offset) with its own graph topic, and a sink of a new group, then build graph B from the same
events topics. B must equal A node for node and relationship for relationship, properties
included: what the graph holds depends on the events only, not on the processor's history.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from confluent_kafka import Producer

from bench.pipeline.events import Workload, encode
from graph_sink.testing import counts, snapshot
from lineage_pipeline.events import LineageEvent
from lineage_pipeline.graph import GraphBackend, open_backend
from lineage_pipeline.openlineage import to_openlineage_json
from tests.e2e_stack import PipelineStack, metric_total, pipeline_stack
from tests.support.waiting import wait_for

if TYPE_CHECKING:
    from tests.conftest import GraphFactory

RUNS = 60  # START and COMPLETE each: 120 Avro events, about 10 KB each
OPENLINEAGE_RUNS = 5
T0 = 1_767_225_600_000


def _events() -> tuple[list[tuple[bytes, bytes]], list[tuple[bytes, bytes]], int]:
    """``(Avro (key, value) pairs, OpenLineage (key, JSON) pairs, runs in all)``: the Avro
    events of ``RUNS`` runs (templates first, then repeat runs and runs of new jobs), and
    OpenLineage runs reading a dataset the Avro runs wrote."""
    workload = Workload(template_runs=20, seed=11)
    items = workload.items(20, overlap=3, new_jobs=False) + workload.items(RUNS - 20, overlap=3)
    avro = [(e.key, e.value) for e in encode(items, [T0 + 1000 * i for i in range(len(items))])]
    read = items[0].event.model_dump(mode="json")["outputs"][0]
    ol: list[tuple[bytes, bytes]] = []
    for i in range(OPENLINEAGE_RUNS):
        run = str(uuid.UUID(int=i + 1, version=4))
        for etype, t in (("START", T0 + 500_000 + i), ("COMPLETE", T0 + 600_000 + i)):
            body = items[0].event.model_dump(mode="json")
            body.update(eventType=etype, eventTime=t, eventId=str(uuid.uuid4()), inputs=[read],
                        outputs=[])
            body["run"]["runId"] = run
            body["job"]["name"] = f"third_party_{i}"
            event = LineageEvent.model_validate(body)
            ol.append((run.encode(), to_openlineage_json(event).encode()))
    return avro, ol, RUNS + OPENLINEAGE_RUNS


def _settled(stack: PipelineStack, graph: GraphBackend, runs: int,
             events: int) -> dict[str, Any] | None:
    """The graph's snapshot once the processor read ``events`` events, the sink wrote every
    record it published and ``runs`` runs are COMPLETE; else ``None``."""
    p, s = stack.settings.processor.metrics_port, stack.settings.sink.metrics_port
    if metric_total(p, "lineage_processor_events_in_total") < events:
        return None
    published = metric_total(p, "lineage_processor_mutation_records_total")
    if metric_total(s, "lineage_sink_records_total") < published:
        return None
    done = graph.query("MATCH (r:Run) WHERE r.state = 'COMPLETE' RETURN count(r) AS c")
    if done[0]["c"] < runs:
        return None
    return snapshot(graph)


def _build(kafka_broker: str, graph_settings: Any, data_dir: Path, runs: int, events: int,
           extra: dict[str, str], publish: list[tuple[str, list[tuple[bytes, bytes]]]] | None
           ) -> tuple[dict[str, Any], dict[str, str]]:
    """Start a processor and sink on ``graph_settings``; publish (first build) or replay;
    return the settled snapshot and the stack's topics (events, OpenLineage)."""
    graph = open_backend(graph_settings)
    try:
        with pipeline_stack(kafka_broker, graph_settings, data_dir, extra) as stack:
            topics = {"LINEAGE_TOPICS__EVENTS": stack.env["LINEAGE_TOPICS__EVENTS"],
                      "LINEAGE_TOPICS__OPENLINEAGE": stack.env["LINEAGE_TOPICS__OPENLINEAGE"]}
            if publish:
                producer = Producer({"bootstrap.servers": kafka_broker, "linger.ms": 20})
                for which, messages in publish:
                    topic = stack.env[which]
                    for key, value in messages:
                        producer.produce(topic, key=key, value=value)
                assert producer.flush(30) == 0
            started = time.monotonic()
            snap = wait_for(lambda: _settled(stack, graph, runs, events),
                            f"{runs} runs COMPLETE and every record written", timeout_s=240,
                            step_s=1.0, retry_on=(OSError,))
            print(f"REBUILD build in {time.monotonic() - started:.1f} s: {counts(graph)}")
            return snap, topics
    finally:
        graph.close()


@pytest.mark.slow
def test_replaying_the_events_topics_into_an_empty_graph_rebuilds_the_same_graph(
    kafka_broker: str, graphs: GraphFactory, tmp_path: Path,
) -> None:
    avro, ol, runs = _events()
    events = len(avro) + len(ol)
    fast = {"LINEAGE_PROCESSOR__BATCH_TIMEOUT_S": "0.05"}
    with graphs.fresh("neo4j") as graph_a:
        first, topics = _build(kafka_broker, graph_a, tmp_path / "a", runs, events, fast,
                               [("LINEAGE_TOPICS__EVENTS", avro),
                                ("LINEAGE_TOPICS__OPENLINEAGE", ol)])
    # the replay: a new app id (empty state), new graph topic and sink group (pipeline_stack
    # makes them), the first build's events topics, an empty graph
    with graphs.fresh("neo4j") as graph_b:
        second, _ = _build(kafka_broker, graph_b, tmp_path / "b", runs, events,
                           {**fast, **topics}, None)
    assert len(first["nodes"]) > 500 and len(first["relationships"]) > 1000
    missing = [x for x in first["nodes"] if x not in second["nodes"]]
    extra = [x for x in second["nodes"] if x not in first["nodes"]]
    assert not missing and not extra, json.dumps(
        {"missing": missing[:5], "extra": extra[:5]}, default=str)[:3000]
    assert first == second
