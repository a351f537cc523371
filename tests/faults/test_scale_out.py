"""Scale out with Kafka's own means: 3 partitions, 2 processors and 2 sinks in their consumer
groups, one of each SIGKILLed mid-stream. The final graph equals the graph of one linear pass
over the topic: nothing lost, no duplicate node or relationship.

Real processes on the session's Kafka broker and a leased Neo4j graph. Both processors and
both sinks must have done work before the kills (their metrics say so), so the test really
runs two of each; the survivors take the killed members' partitions over after the group's
session timeout (6 s here). Runs of one job land on different partitions (the key is the run
id), so the two sinks write the same Job and column-lineage relationships concurrently.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from lineage_app.localstack.processes import ManagedProcess, free_port
from lineage_app.localstack.stack import create_topics
from lineage_pipeline.settings import GraphSettings, LineageSettings
from tests.e2e_stack import make_settings
from tests.faults.harness import (
    Feeder,
    GraphLeases,
    acked_accounting,
    converged_diff,
    graph_topic_states,
    log_count,
    make_runs,
    read_topic,
    report,
    start_processor,
    start_sink,
)
from tests.prometheus_support import sample_sum
from tests.support.waiting import wait_until

READY = "stream processor ready"
PARTITIONS = 3
RUNS = 60


def instance(settings: LineageSettings, data_dir: Path) -> LineageSettings:
    """``settings`` for one more processor and sink instance: own data dir and metrics ports,
    same topics, group ids and graph."""
    return settings.model_copy(update={
        "data_dir": data_dir,
        "processor": settings.processor.model_copy(update={"metrics_port": free_port()}),
        "sink": settings.sink.model_copy(update={"metrics_port": free_port()}),
    })


def counter(port: int, name: str) -> float:
    """Counter ``name`` summed over its labels on the /metrics endpoint at ``port``."""
    return sample_sum(f"http://127.0.0.1:{port}/metrics", name)


@pytest.mark.timeout(420)
def test_two_processors_and_two_sinks_lose_nothing_when_one_of_each_is_killed(
    kafka_broker: str, graph_settings: GraphSettings, graphs: GraphLeases, tmp_path: Path
) -> None:
    base = make_settings(kafka_broker, graph_settings, tmp_path)
    settings = base.model_copy(update={
        "topics": base.topics.model_copy(update={"partitions": PARTITIONS})})
    create_topics(settings)
    one, two = instance(settings, tmp_path / "one"), instance(settings, tmp_path / "two")
    started: list[ManagedProcess] = []
    try:
        sinks = [start_sink(s, s.data_dir) for s in (one, two)]
        started += sinks
        processors = [start_processor(s, s.data_dir) for s in (one, two)]
        started += processors
        assert wait_until(lambda: all(log_count(p.log_path, READY) >= 1 for p in processors),
                          90), "a processor was never assigned"
        feeder = Feeder(kafka_broker, settings.topics.events)
        events = make_runs("scale", RUNS)
        stream = feeder.paced(events, rate_per_s=8.0, flush_timeout_s=240.0)

        def all_busy() -> bool:  # each instance handled events before the kills
            return all(counter(s.processor.metrics_port, "lineage_processor_events_in_total") > 0
                       and counter(s.sink.metrics_port, "lineage_sink_records_total") > 0
                       for s in (one, two))

        assert wait_until(all_busy, 90), "the work was not shared by both instances"
        assert wait_until(lambda: feeder.sent >= len(events) // 3, 60)
        processors[0].popen.send_signal(signal.SIGKILL) if processors[0].popen else None
        killed_processor_at = feeder.sent
        assert wait_until(lambda: feeder.sent >= 2 * len(events) // 3, 60)
        sinks[0].popen.send_signal(signal.SIGKILL) if sinks[0].popen else None
        killed_sink_at = feeder.sent
        stream.join(timeout=240)
        assert not stream.is_alive(), "the producer's messages were not all acknowledged"

        bootstrap = settings.kafka.bootstrap_servers
        diff, runs_in_graph = converged_diff(graphs, bootstrap, settings.topics.events,
                                             settings.graph, 150)
        lost, duplicated = acked_accounting(feeder, bootstrap, settings.topics.events)
        dead = read_topic(bootstrap, settings.topics.dlq)
        report("scale-out-3p-2x2", lost=lost + diff.missing,
               duplicated=duplicated + diff.duplicated, skipped=len(dead), extra=diff.extra,
               events=len(events), killed=f"processor@{killed_processor_at},"
               f"sink@{killed_sink_at}", runs_in_graph=runs_in_graph)
        assert processors[1].alive() and sinks[1].alive(), "a surviving instance died"
        assert lost == 0 and duplicated == 0
        assert diff.clean, (diff.examples, graph_topic_states(settings, diff.examples))
        assert dead == []
        assert runs_in_graph == RUNS
    finally:
        for proc in started:
            proc.stop()
