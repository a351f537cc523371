"""A broker outage in the middle of a job's runs: the emitter's spool drains by itself.

A broker of its own (Apache Kafka, log under ``tmp_path``), a real processor and sink and a
leased Neo4j graph. One long-lived :class:`~emitters.client.LineageClient` (the ``kafka``
transport, as a job uses it) emits runs: the first runs' events are delivered, then the
broker is SIGKILLed and the client keeps emitting (the interrupted runs' COMPLETE and whole
new runs go to its spool), then the broker starts again on the same log and ports. With no
manual step, the client's background replay sends the spool in order; ``flush()`` returns
as soon as nothing is in flight or spooled. Every run ends COMPLETE in the graph, every
event id is on the topic exactly once, and each run's events are in emission order there.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest

from emitters.client import LineageClient
from emitters.transports.spool import Spool
from lineage_app.localstack.processes import ManagedProcess
from lineage_pipeline.graph import open_backend
from lineage_pipeline.settings import GraphSettings
from tests.faults.harness import CODEC, make_runs, read_topic, report
from tests.faults.own_broker import own_broker_pipeline
from tests.support.waiting import wait_for

RUNS = 12
BEFORE = 4  # runs whose START goes out before the kill


def spooled(directory: Path) -> int:
    return Spool(directory).status().records if directory.exists() else 0


@pytest.mark.timeout(420)
def test_a_broker_outage_mid_job_drains_the_spool_by_itself(
    graph_settings: GraphSettings, tmp_path: Path, started: list[ManagedProcess],
) -> None:
    pipe = own_broker_pipeline(graph_settings, tmp_path, started)
    settings, bootstrap = pipe.settings, pipe.bootstrap

    events = make_runs("outage", RUNS)  # START, RUNNING, COMPLETE of each run
    spool_dir = tmp_path / "job-spool"
    client = LineageClient.from_config(bootstrap_servers=bootstrap,
                                       topic=settings.topics.events, spool_dir=str(spool_dir))
    first = [e for e in events[: 3 * BEFORE] if e.eventType.value == "START"]
    for event in first:
        client.emit(event)
    assert client.flush(30.0) == 0, "delivered while the broker is up"

    pipe.kill_broker()
    for event in events:
        if event not in first:
            client.emit(event)  # the interrupted runs' RUNNING/COMPLETE and new runs
    still = client.flush(3.0)
    print(f"broker down: flush(3.0) -> {still} undelivered")
    assert still > 0, "the outage holds events back"

    pipe.restart_broker()
    back = time.monotonic()
    left = client.flush(120.0)
    drained_s = time.monotonic() - back
    assert left == 0, f"{left} events not delivered"
    assert spooled(spool_dir) == 0
    client.close()

    messages = read_topic(bootstrap, settings.topics.events)
    decoded = [CODEC.decode(m.value() or b"") for m in messages]
    counts = Counter(e.eventId for e in decoded)
    lost = len({e.eventId for e in events} - set(counts))
    duplicated = sum(n - 1 for n in counts.values())
    order = {e.eventId: i for i, e in enumerate(events)}
    per_run: dict[str, list[int]] = {}
    for e in decoded:
        per_run.setdefault(e.run.runId, []).append(order[e.eventId])
    out_of_order = sum(1 for seq in per_run.values() if seq != sorted(seq))
    backend = open_backend(settings.graph)
    try:
        def complete() -> int | None:
            rows = backend.query("MATCH (r:Run) WHERE r.state = 'COMPLETE' "
                                 "RETURN count(r) AS n", {})
            return int(rows[0]["n"]) if int(rows[0]["n"]) == RUNS else None

        in_graph = wait_for(complete, f"all {RUNS} runs COMPLETE in the graph", timeout_s=120)
    finally:
        backend.close()
    report("emitter-outage-spool-drain", lost=lost, duplicated=duplicated, skipped=0,
           drained_after_broker_start_s=f"{drained_s:.1f}", runs_complete=in_graph,
           out_of_order=out_of_order)
    assert lost == 0 and duplicated == 0 and out_of_order == 0
