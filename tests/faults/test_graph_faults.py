"""Faults on the graph side, with real processes.

- The graph server (its own FalkorDB process) stopped and restarted mid-stream: the sink
  retries (bounded backoff), pauses without committing, then catches up; the graph equals the
  graph of one linear pass over the events topic.
- The whole graph topic replayed twice into a fresh graph by two sink replicas writing at
  once (two consumer groups): the same graph, uniqueness in place, no duplicates.
"""

from __future__ import annotations

import time
from pathlib import Path

from confluent_kafka import Consumer, Producer, TopicPartition

from graph_sink.backends import open_backend
from lineage_pipeline.localstack.processes import free_port, start_falkordb
from lineage_pipeline.localstack.stack import create_topics
from lineage_pipeline.settings import LineageSettings
from tests.e2e_stack import make_settings
from tests.faults.harness import (
    GRAPH_CODEC,
    Feeder,
    build_reference,
    graph_diff,
    linear_pass,
    log_count,
    make_runs,
    read_topic,
    report,
    start_processor,
    start_sink,
    wait_until,
)


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


def test_graph_server_stopped_and_restarted_mid_stream(
    kafka_broker: str, falkordb_server: int, tmp_path: Path
) -> None:
    graph_dir = tmp_path / "graph-server"
    port = free_port()
    server = start_falkordb(graph_dir, port=port)
    settings = make_settings(kafka_broker, port, tmp_path)
    create_topics(settings)
    # max_retries 0: retry until the graph is back (the default exits 75 after 8 attempts)
    sink = start_sink(settings, tmp_path, LINEAGE_SINK__MAX_RETRIES="0")
    processor = start_processor(settings, tmp_path)
    events = make_runs("graphdown", 30)
    feeder = Feeder(kafka_broker, settings.topics.events)
    try:
        assert wait_until(lambda: log_count(processor.log_path, "stream processor ready") >= 1,
                          60)
        stream = feeder.paced(events, rate_per_s=15.0)
        actual = open_backend(settings.graph)
        assert wait_until(lambda: actual.query("MATCH (r:Run) RETURN count(r) AS c")[0]["c"] >= 3,
                          60), "the sink writes before the fault"
        actual.close()
        server.stop()
        down_at = time.monotonic()
        time.sleep(1.0)
        offset_during = committed(settings)
        time.sleep(3.0)
        offset_later = committed(settings)
        retries = log_count(sink.log_path, "consumption paused, retrying")
        assert sink.alive(), "the sink waits for the graph; it does not exit"
        server = start_falkordb(graph_dir, port=port)
        outage = time.monotonic() - down_at
        stream.join(timeout=60)

        reference = build_reference(
            kafka_broker, settings.topics.events,
            settings.graph.model_copy(update={"url": f"redis://127.0.0.1:{falkordb_server}"}))
        actual = open_backend(settings.graph)
        wait_until(lambda: graph_diff(reference, actual).clean, 45, step_s=1.0)
        diff = graph_diff(reference, actual)
        report("graph-server-restart", lost=diff.missing, duplicated=diff.duplicated, skipped=0,
               extra=diff.extra, outage_s=f"{outage:.1f}", retries=retries,
               committed_while_down=offset_later - offset_during)
        assert offset_later == offset_during, "nothing is committed while the graph is down"
        assert retries >= 1
        assert diff.clean, diff.examples
    finally:
        processor.stop()
        sink.stop()
        server.stop()


def test_topic_replayed_twice_by_two_sink_replicas_gives_the_same_graph(
    fault_settings: LineageSettings,
) -> None:
    settings = fault_settings
    bootstrap = settings.kafka.bootstrap_servers
    feeder = Feeder(bootstrap, settings.topics.events)
    for ev in make_runs("replay", 30):
        feeder.send(ev)
    feeder.flush()
    # the graph topic as the processor publishes it: one record per handled event
    mutations, _dead = linear_pass(read_topic(bootstrap, settings.topics.events))
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for m in mutations:
        producer.produce(settings.topics.graph, GRAPH_CODEC.encode(m.to_record()),
                         m.source_event_id.encode())
    assert producer.flush(30) == 0

    reference = build_reference(
        bootstrap, settings.topics.events,
        settings.graph.model_copy(update={"name": settings.graph.name + "_ref"}))
    replicas = []
    try:
        for i in range(2):  # two groups: each replica reads (replays) the whole topic
            replica = settings.model_copy(update={"sink": settings.sink.model_copy(
                update={"group_id": f"{settings.sink.group_id}-{i}",
                         "metrics_port": free_port()})})
            replicas.append(start_sink(replica, settings.data_dir, name=f"sink{i}"))
        actual = open_backend(settings.graph)

        groups = [f"{settings.sink.group_id}-{i}" for i in range(2)]

        def both_done() -> bool:
            return all(committed(settings, g) >= len(mutations) for g in groups) and \
                graph_diff(reference, actual).clean

        wait_until(both_done, 60, step_s=1.0)
        diff = graph_diff(reference, actual)
        offsets = [committed(settings, g) for g in groups]
        indexed = {(row["label"], tuple(row["properties"]))
                   for row in actual.query("CALL db.indexes() YIELD label, properties "
                                           "RETURN label, properties")}
        report("replay-twice-two-sinks", lost=diff.missing, duplicated=diff.duplicated,
               skipped=0, extra=diff.extra, records=len(mutations), committed=offsets)
        assert offsets == [len(mutations)] * 2, "each replica wrote the whole topic"
        assert diff.clean, diff.examples
        for label in ("Job", "Run", "Dataset", "DatasetVersion", "Field"):
            assert (label, ("uid",)) in indexed, f"uid index on {label}"
    finally:
        for r in replicas:
            r.stop()
