"""No broker listening: the job is not slowed, its events wait in the spool, and once a
broker is there they are delivered exactly once (automatic replay and ``lineage spool replay``).
"""

from __future__ import annotations

import json
import os
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
from sklearn.datasets import load_breast_cancer
from typer.testing import CliRunner

from emitters.batch import current_run, lineage_job
from emitters.cli import spool_app
from emitters.client import LineageClient
from emitters.transports.spool import Spool, read_segment
from lineage_app.localstack.kafka_server import start_kafka
from lineage_app.localstack.processes import free_port
from lineage_pipeline.codec import EventCodec
from lineage_pipeline.settings import TopicSettings
from tests.support.waiting import wait_until
from tests.test_emitter_kafka import create_topic, kafka_client, read_events, sample_event

RUNS = 7


def make_job(client: LineageClient, src: Path, dst: Path) -> Callable[[], int]:
    @lineage_job(name="offline.select", namespace="tests", client=client)
    def job() -> int:
        run = current_run()
        assert run is not None
        run.input_file(src)
        df = pd.read_csv(src)
        df[df["target"] == 1].to_parquet(dst)
        run.output_file(dst)
        return len(df)

    return job


def timed(job: Callable[[], int]) -> float:
    started = time.perf_counter()
    job()
    return time.perf_counter() - started


def spooled_ids(directory: Path) -> list[str]:
    codec = EventCodec()
    ids = []
    for path in sorted(directory.glob("*.*")):
        if path.suffix in (".open", ".spool"):
            records, corrupt = read_segment(path)
            assert corrupt == 0
            ids += [codec.decode(r.value).eventId for r in records]
    return ids




@pytest.fixture(scope="module")
def cancer_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data") / "breast_cancer.csv"
    load_breast_cancer(as_frame=True).frame.to_csv(path, index=False)
    return path


def test_unreachable_broker_costs_the_job_nothing_and_replay_delivers_once(
    kafka_broker: str, topic_names: TopicSettings, tmp_path: Path, cancer_csv: Path
) -> None:
    topic = topic_names.events
    # the same job with a working broker is the reference; runs alternate, so load on the
    # machine affects both alike
    create_topic(kafka_broker, topic)
    online = kafka_client(kafka_broker, topic, tmp_path / "online")
    reference = make_job(online, cancer_csv, tmp_path / "ref.parquet")
    port = free_port()
    offline = kafka_client(f"127.0.0.1:{port}", topic, tmp_path / "offline")
    job = make_job(offline, cancer_csv, tmp_path / "out.parquet")
    reference()
    job()  # warm-up of both (imports, git and environment caches)
    t_online: list[float] = []
    t_offline: list[float] = []
    for _ in range(RUNS):
        t_online.append(timed(reference))
        t_offline.append(timed(job))
    online.close()
    added = statistics.median(t_offline) - statistics.median(t_online)
    print(f"median job time: broker up {statistics.median(t_online) * 1000:.1f} ms, "
          f"no broker {statistics.median(t_offline) * 1000:.1f} ms, added {added * 1000:.1f} ms")
    assert added < 0.050
    events_expected = 2 * (RUNS + 1)

    # nothing waits for a broker; flush counts the spooled events as not yet delivered
    assert offline.flush(0.5) == events_expected
    spool_dir = tmp_path / "offline" / "spool"
    ids = spooled_ids(spool_dir)
    assert len(ids) == events_expected and len(set(ids)) == events_expected

    broker = start_kafka(tmp_path / "late-broker", port)
    try:
        create_topic(f"127.0.0.1:{port}", topic)
        spool = Spool(spool_dir)
        assert wait_until(lambda: spool.status().records == 0, 60.0), "automatic replay ran"
        offline.emit(sample_event("after.recovery"))  # direct again once the spool is empty
        assert offline.flush(20.0) == 0
        events = read_events(f"127.0.0.1:{port}", topic, events_expected + 1, settle_s=1.0)
        counts = Counter(e.eventId for e in events)
        assert set(counts) >= set(ids)
        assert all(n == 1 for n in counts.values()), "each event exactly once"
        assert len(events) == events_expected + 1
        offline.close()
    finally:
        broker.stop(30)


def test_cli_replays_a_closed_jobs_spool_exactly_once(
    kafka_broker: str, topic_names: TopicSettings, tmp_path: Path, cancer_csv: Path
) -> None:
    topic = topic_names.events
    offline = kafka_client(f"127.0.0.1:{free_port()}", topic, tmp_path)
    make_job(offline, cancer_csv, tmp_path / "out.parquet")()
    offline.close(5.0)  # the job's process ends: undelivered events are sealed in the spool
    spool_dir = tmp_path / "spool"
    ids = spooled_ids(spool_dir)
    assert len(ids) == 2

    runner = CliRunner()
    status = runner.invoke(spool_app, ["status", "--spool-dir", str(spool_dir), "--json"])
    assert status.exit_code == 0, status.output
    assert json.loads(status.output)["records"] == 2

    create_topic(kafka_broker, topic)
    args = ["replay", "--spool-dir", str(spool_dir), "--bootstrap-servers", kafka_broker]
    first = runner.invoke(spool_app, args)
    assert first.exit_code == 0, first.output
    assert "2 delivered" in first.output
    second = runner.invoke(spool_app, args)
    assert second.exit_code == 0 and "0 delivered" in second.output

    events = read_events(kafka_broker, topic, 2, settle_s=1.0)
    assert sorted(e.eventId for e in events) == sorted(ids)


def test_a_following_replayer_drains_the_spool_an_ended_job_left(
    kafka_broker: str, topic_names: TopicSettings, tmp_path: Path, cancer_csv: Path
) -> None:
    """No manual step: ``lineage spool replay --follow`` beside the jobs sends what a job
    left in the spool when it ended during an outage, once the broker answers."""
    topic = topic_names.events
    offline = kafka_client(f"127.0.0.1:{free_port()}", topic, tmp_path)
    make_job(offline, cancer_csv, tmp_path / "out.parquet")()
    offline.close(5.0)  # the job ends with its events in the spool
    spool_dir = tmp_path / "spool"
    ids = spooled_ids(spool_dir)
    assert len(ids) == 2
    create_topic(kafka_broker, topic)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LINEAGE_")}
    follower = subprocess.Popen(
        [sys.executable, "-m", "lineage_app.cli.app", "spool", "replay", "--follow",
         "--interval", "0.5", "--spool-dir", str(spool_dir), "--bootstrap-servers",
         kafka_broker], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        events = read_events(kafka_broker, topic, 2, settle_s=1.0, timeout_s=60.0)
        assert sorted(e.eventId for e in events) == sorted(ids)
        assert wait_until(lambda: Spool(spool_dir).status().records == 0, 30.0)
    finally:
        follower.send_signal(signal.SIGTERM)
        out, err = follower.communicate(timeout=30)
    assert follower.returncode == 0, err
    assert "2 delivered" in out, out
