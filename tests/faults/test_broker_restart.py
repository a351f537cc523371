"""The Kafka broker SIGKILLed mid-stream and restarted on the same log directory and ports:
every event the broker acknowledged reaches the graph exactly once.

The test runs a broker of its own (:func:`~lineage_app.localstack.kafka_server.start_kafka`
under ``tmp_path``, its own client and controller ports). It carries the events, graph and
DLQ topics, the processor's table changelogs and both consumer groups' offsets. While a paced
stream flows (idempotent producer, ``acks=all``, as the emitter sends), the broker is killed
with SIGKILL after the first acknowledgements, then started again on the same directory and
ports (KRaft recovers the log). The producer resends what was not acknowledged; the processor
and the sink are not restarted: they must reconnect by themselves. The graph must equal the
graph of one linear pass over the events topic, and every acknowledged event id must be in
the topic exactly once.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from lineage_app.localstack.processes import ManagedProcess
from lineage_pipeline.settings import GraphSettings
from tests.faults.harness import (
    Feeder,
    GraphLeases,
    acked_accounting,
    converged_diff,
    make_runs,
    read_topic,
    report,
)
from tests.faults.own_broker import own_broker_pipeline
from tests.support.waiting import wait_until

RUNS = 40
#: Acknowledged events before the kill (of 3 * RUNS).
KILL_AFTER = 45


@pytest.mark.timeout(420)
def test_kafka_sigkilled_and_restarted_mid_stream_loses_and_duplicates_nothing(
    graph_settings: GraphSettings, graphs: GraphLeases, tmp_path: Path,
    started: list[ManagedProcess],
) -> None:
    pipe = own_broker_pipeline(graph_settings, tmp_path, started)
    settings, bootstrap = pipe.settings, pipe.bootstrap
    events = make_runs("brokerkill", RUNS)
    feeder = Feeder(bootstrap, settings.topics.events)
    stream = feeder.paced(events, rate_per_s=10.0, flush_timeout_s=240.0)
    assert wait_until(lambda: len(feeder.acked) >= KILL_AFTER, 60), "no acknowledgements"
    pipe.kill_broker()
    acked_at_kill = len(feeder.acked)
    killed_at = time.monotonic()
    pipe.restart_broker()
    outage = time.monotonic() - killed_at
    stream.join(timeout=240)
    assert not stream.is_alive(), "the producer's messages were not all acknowledged"

    diff, runs_in_graph = converged_diff(graphs, bootstrap, settings.topics.events,
                                         settings.graph, 120)
    lost, duplicated = acked_accounting(feeder, bootstrap, settings.topics.events)
    dead = read_topic(bootstrap, settings.topics.dlq)
    report("kafka-sigkill-restart", lost=lost + diff.missing,
           duplicated=duplicated + diff.duplicated, skipped=len(dead), extra=diff.extra,
           acked=len(feeder.acked), acked_at_kill=acked_at_kill, outage_s=f"{outage:.1f}",
           runs_in_graph=runs_in_graph)
    assert feeder.failed == [], feeder.failed[:3]
    assert len(set(feeder.acked)) == len(events)
    assert lost == 0 and duplicated == 0
    assert diff.clean, diff.examples
    assert runs_in_graph == RUNS
    assert dead == []
    assert pipe.processor.alive() and pipe.sink.alive(), "both reconnect without a restart"
