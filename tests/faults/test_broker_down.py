"""The broker down for a whole job, and the emitting process SIGKILLed with its events still
undelivered: both lose nothing and duplicate nothing in the graph.

A broker of its own (Apache Kafka, its log under ``tmp_path``) is *not* running while the
jobs run:

1. in this process, a batch job (``@lineage_job``, real files) runs several times against
   the dead address; its time is compared with the same job against the session's live
   broker (added time per run < 50 ms) and its events wait in the spool;
2. a child job process emits events, they land in its spool, and it is SIGKILLed;

then the broker starts on that port (first start: an empty log, the topics created then):
the first client drains its spool by itself; the job is run again as a new process, whose
client replays the killed process's spool. A real processor and sink then build the graph (a
leased Neo4j graph), which must equal the graph of one linear pass over the topic (on a
second leased Neo4j server) with every run present once.
"""

from __future__ import annotations

import signal
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from emitters.batch import current_run, lineage_job
from emitters.client import LineageClient
from emitters.transports.spool import Spool
from lineage_app.localstack.kafka_server import start_kafka
from lineage_app.localstack.processes import free_port
from lineage_app.localstack.stack import create_topics
from lineage_pipeline.settings import GraphSettings
from tests.e2e_stack import make_settings
from tests.faults.harness import (
    CODEC,
    GraphLeases,
    converged_diff,
    make_runs,
    read_topic,
    report,
    start_processor,
    start_sink,
)
from tests.support.waiting import wait_until
from tests.test_emitter_kafka import create_topic, kafka_client

RUNS = 7
CHILD_RUNS = 5


def make_job(client: LineageClient, src: Path, dst: Path) -> Callable[[], int]:
    @lineage_job(name="faults.broker_down", namespace="faults", client=client)
    def job() -> int:
        run = current_run()
        assert run is not None
        run.input_file(src)
        df = pd.read_csv(src)
        df[df["x"] % 2 == 0].to_csv(dst, index=False)
        run.output_file(dst)
        return len(df)

    return job


def timed(job: Callable[[], int]) -> float:
    started = time.perf_counter()
    job()
    return time.perf_counter() - started


def spool_records(directory: Path) -> int:
    return Spool(directory).status().records if directory.exists() else 0


@pytest.mark.timeout(300)
def test_broker_down_for_the_job_and_a_killed_emitter_lose_nothing(
    kafka_broker: str, graph_settings: GraphSettings, graphs: GraphLeases, tmp_path: Path
) -> None:
    port = free_port()
    dead = f"127.0.0.1:{port}"
    settings = make_settings(dead, graph_settings, tmp_path)
    topic = settings.topics.events
    src = tmp_path / "in.csv"
    pd.DataFrame({"x": range(50), "y": [f"v{i}" for i in range(50)]}).to_csv(src, index=False)

    # 1. the job with the broker down, against the same job with a live broker
    create_topic(kafka_broker, f"{topic}.online")
    online = kafka_client(kafka_broker, f"{topic}.online", tmp_path / "online")
    offline = kafka_client(dead, topic, tmp_path / "offline")
    reference_job = make_job(online, src, tmp_path / "ref.csv")
    job = make_job(offline, src, tmp_path / "out.csv")
    reference_job()
    job()  # warm-up of both
    t_on: list[float] = []
    t_off: list[float] = []
    for _ in range(RUNS):
        t_on.append(timed(reference_job))
        t_off.append(timed(job))
    online.close()
    added_ms = (statistics.median(t_off) - statistics.median(t_on)) * 1000
    job_events = 2 * (RUNS + 1)
    # nothing waits for the broker; flush counts the spooled events as not yet delivered
    assert offline.flush(0.5) == job_events
    assert spool_records(tmp_path / "offline" / "spool") == job_events

    # 2. a job process killed with its events in the spool
    child_spool = tmp_path / "child" / "spool"
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.faults.emitter_child", "hang", dead, topic,
         str(child_spool), "killed", str(CHILD_RUNS)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    broker = None
    processor = sink = None
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "emitted"
        assert wait_until(lambda: spool_records(child_spool) == 3 * CHILD_RUNS, 30)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)

        # the broker comes up (its first start: an empty log; the topics are created now)
        broker = start_kafka(tmp_path / "late-broker", port)
        create_topics(settings)
        assert wait_until(lambda: spool_records(tmp_path / "offline" / "spool") == 0, 60), \
            "the live client drains its spool"
        rerun = subprocess.run(
            [sys.executable, "-m", "tests.faults.emitter_child", "rerun", dead, topic,
             str(child_spool), "rerun", "1"],
            capture_output=True, text=True, timeout=90)
        assert rerun.stdout.strip().endswith("drained"), rerun.stdout + rerun.stderr[-2000:]
        offline.close()

        sink = start_sink(settings, tmp_path)
        processor = start_processor(settings, tmp_path)
        diff, runs_in_graph = converged_diff(graphs, dead, topic, settings.graph, 60)

        events = [CODEC.decode(m.value() or b"") for m in read_topic(dead, topic)]
        topic_ids = Counter(e.eventId for e in events)
        topic_dups = sum(n - 1 for n in topic_ids.values())
        child_runs = {e.run.runId for e in make_runs("killed", CHILD_RUNS)}
        rerun_runs = {e.run.runId for e in make_runs("rerun", 1)}
        lost_job = job_events - len({e.eventId for e in events
                                     if e.run.runId not in child_runs | rerun_runs})
        lost_child = 3 * CHILD_RUNS - len({e.eventId for e in events
                                           if e.run.runId in child_runs})
        report("broker-down-whole-job", lost=max(lost_job, 0) + diff.missing,
               duplicated=diff.duplicated + topic_dups, skipped=0,
               added_ms_per_run=f"{added_ms:.1f}", events=job_events)
        report("emitter-sigkill-spool-replay", lost=lost_child, duplicated=topic_dups,
               skipped=0, runs=CHILD_RUNS, runs_in_graph=runs_in_graph)
        assert added_ms < 50.0
        assert lost_job == 0 and lost_child == 0 and topic_dups == 0, diff.examples
        assert len(topic_ids) == job_events + 3 * CHILD_RUNS + 3
        assert diff.clean, diff.examples
        assert runs_in_graph == RUNS + 1 + CHILD_RUNS + 1
    finally:
        if child.poll() is None:
            child.kill()
        for proc in (processor, sink):
            if proc is not None:
                proc.stop()
        if broker is not None:
            broker.stop(30)
