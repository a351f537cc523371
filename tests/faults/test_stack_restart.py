"""``lineage down`` / ``lineage up`` with events acknowledged but not yet consumed: after the
restart on the same data directory every event reaches the graph once and the DLQ keeps its
records.

The whole local stack (:func:`lineage_app.localstack.stack.up`: Kafka, Neo4j, the sink
and the processor as processes) runs on free ports with its data under ``tmp_path``:

1. runs 0..9 and one undecodable message are emitted and handled (graph and DLQ);
2. the processor and the sink are stopped (SIGTERM, by pid), runs 10..29 and a second
   undecodable message are emitted and acknowledged by the broker: nobody consumes them;
3. ``down`` stops Kafka and Neo4j (and the spool follower); a job emits one more run while
   the broker is down and ends with its events in the spool; ``up`` starts everything again
   on the same directory and ports, and the spool follower it starts delivers that run.

The graph must then equal the graph of one linear pass over the events topic (built on a
leased Neo4j server), every acknowledged event must be in the topic once, and the DLQ must
hold both undecodable messages (the first one written before the restart).

``duplicated`` counts events twice in the topic and nodes or relationships twice in the graph.
The processor is at-least-once, so a dead letter may be written twice: Faust's recovery after
the restart can hand the backlog to the agent once before and once after it seeks to the
committed offsets (see :mod:`stream_processor.app`); such copies carry the same source
coordinates and are reported as ``dlq_copies``, not hidden and not counted as lost.

Open (1 of 4 runs with a CPU-bound process beside it, after the fixes in
:mod:`stream_processor.delivery`): one run came back without its START in the state or the
graph topic (the Run's ``observedAt`` was its RUNNING's time) while later events of it were
stitched, so START's offset was committed unhandled. Suspect: Faust's recovery resumes the
stream partitions before it seeks them to the committed offsets, and the consumer drops
re-fetched offsets below the last one it read (``DROPPED MESSAGE ROFF``). A failure prints
each differing run's events and graph records (:func:`graph_topic_states`) to tell.
"""

from __future__ import annotations

import socket
from collections import Counter
from contextlib import closing
from pathlib import Path

import pytest

from emitters.client import LineageClient
from emitters.transports.spool import Spool
from lineage_app.localstack import stack
from lineage_app.localstack.neo4j_server import password_path
from lineage_app.localstack.processes import free_port, stop_pid, tail
from lineage_pipeline.graph import open_backend
from lineage_pipeline.settings import GraphSettings, LineageSettings, load_settings
from stream_processor.dlq import parse_dlq_headers
from tests.faults.harness import (
    Feeder,
    GraphLeases,
    acked_accounting,
    converged_diff,
    graph_topic_states,
    make_runs,
    read_topic,
    report,
    run_events,
    source_message,
)
from tests.support.waiting import wait_until

RUNS_BEFORE, RUNS_AFTER = 10, 20
BAD = [(b"bad-before", b"not an event (before the stop)"),
       (b"bad-after", b"not an event (after the stop)")]


def free_port_pair() -> int:
    """A port ``p`` with ``p`` and ``p + 1`` free (Kafka's client and controller ports)."""
    while True:
        port = free_port()
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port


def stack_settings(data_dir: Path) -> LineageSettings:
    """The stack's settings (default topics and groups) on free ports under ``data_dir``."""
    return load_settings(
        data_dir=data_dir,
        kafka={"bootstrap_servers": f"127.0.0.1:{free_port_pair()}"},
        graph={"backend": "neo4j", "url": f"bolt://127.0.0.1:{free_port()}"},
        processor={"metrics_port": free_port()},
        sink={"metrics_port": free_port()},
        serve={"port": free_port()},
    )


def stack_graph(settings: LineageSettings) -> GraphSettings:
    """The stack's graph settings with the password ``lineage up`` generated."""
    return GraphSettings.model_validate(
        {**settings.graph.model_dump(), "password_file": password_path(settings.data_dir)})


def run_count(settings: LineageSettings) -> int:
    """How many Run nodes the stack's graph holds."""
    with closing(open_backend(stack_graph(settings))) as backend:
        return int(backend.query("MATCH (r:Run) RETURN count(r) AS c")[0]["c"])


def log_tails(settings: LineageSettings) -> str:
    """The last lines of the processor's and the sink's logs (for a failure message)."""
    logs = settings.data_dir / "logs"
    return "\n".join(f"--- {name}.log\n{tail(logs / f'{name}.log', 30)}"
                     for name in ("processor", "sink"))


def spool_a_run(settings: LineageSettings) -> str:
    """A job's run emitted while the broker is down: the client spools it (the stack's
    default spool, ``<data_dir>/spool``) and closes; return its runId."""
    events = run_events("stack-spooled", 0)
    client = LineageClient.from_config(
        bootstrap_servers=settings.kafka.bootstrap_servers, topic=settings.topics.events,
        spool_dir=str(settings.data_dir / "spool"), kafka_producer={"probe_interval_s": 0.2})
    for event in events:
        client.emit(event)
    client.close(5.0)
    assert Spool(settings.data_dir / "spool").status().records == len(events)
    return events[0].run.runId


def run_state(settings: LineageSettings, run_id: str) -> str | None:
    """The ``state`` of Run ``run_id`` in the stack's graph."""
    with closing(open_backend(stack_graph(settings))) as backend:
        rows = backend.query("MATCH (r:Run {uid: $uid}) RETURN r.state AS s", {"uid": run_id})
    return rows[0]["s"] if rows else None


def dlq_keys(settings: LineageSettings) -> Counter[bytes]:
    """The keys of the DLQ's records, counted."""
    return Counter(m.key() or b"" for m in
                   read_topic(settings.kafka.bootstrap_servers, settings.topics.dlq))


@pytest.mark.timeout(600)
def test_stack_down_and_up_with_unconsumed_events_loses_and_duplicates_nothing(
    graphs: GraphLeases, tmp_path: Path
) -> None:
    settings = stack_settings(tmp_path / "stack")
    bootstrap, topics = settings.kafka.bootstrap_servers, settings.topics
    try:
        stack.up(settings)
        feeder = Feeder(bootstrap, topics.events)
        for event in make_runs("stack", RUNS_BEFORE):
            feeder.send(event)
        feeder.send_raw(*BAD[0], headers=[])
        feeder.flush()
        assert wait_until(lambda: run_count(settings) == RUNS_BEFORE, 120), \
            f"first runs: {run_count(settings)}\n{log_tails(settings)}"
        assert wait_until(lambda: dlq_keys(settings)[BAD[0][0]] == 1, 60), "first dead letter"
        dlq_before = [(parse_dlq_headers(source_message(m).headers).reason, m.value())
                      for m in read_topic(bootstrap, topics.dlq)]

        # 2. nobody consumes: the processor and the sink stop; events are acknowledged
        state = stack.read_state(settings)
        for name in ("processor", "sink"):
            stop_pid(state[name].pid, 30)
        for event in make_runs("stack", RUNS_AFTER, start=RUNS_BEFORE):
            feeder.send(event)
        feeder.send_raw(*BAD[1], headers=[])
        feeder.flush()
        assert run_count(settings) == RUNS_BEFORE, "the new events wait in the topic"

        # 3. down; a job ends during the outage, its run in the spool; up on the same data
        # directory and ports: the spool follower `up` starts sends the run, no manual step
        stopped = stack.down(settings)
        spooled = spool_a_run(settings)
        restarted = stack.up(settings)
        assert sorted(restarted) == sorted(stack.SERVICES)

        diff, _runs = converged_diff(graphs, bootstrap, topics.events, stack_graph(settings),
                                     120)
        runs = run_count(settings)
        wait_until(lambda: dlq_keys(settings)[BAD[1][0]] >= 1, 60)
        dead = dlq_keys(settings)
        dlq_after = [(parse_dlq_headers(source_message(m).headers).reason, m.value())
                     for m in read_topic(bootstrap, topics.dlq)]
        lost, duplicated = acked_accounting(feeder, bootstrap, topics.events)
        dlq_lost = sum(1 for key, _ in BAD if dead[key] == 0)
        dlq_copies = sum(n - 1 for n in dead.values())
        waiting = stack.sink_waiting(stack.read_state(settings)["sink"])
        report("stack-down-up-unconsumed", lost=lost + diff.missing + dlq_lost,
               duplicated=duplicated + diff.duplicated, skipped=0,
               extra=diff.extra, acked=len(feeder.acked), runs_in_graph=runs,
               dlq=sum(dead.values()), stopped=",".join(stopped), dlq_copies=dlq_copies)
        assert stopped == ["spool", "serve", "graph", "kafka"], \
            "processor and sink were already stopped"
        assert len(feeder.acked) == 3 * (RUNS_BEFORE + RUNS_AFTER) and lost == 0
        assert duplicated == 0
        assert diff.clean, (diff.examples, graph_topic_states(settings, diff.examples),
                            log_tails(settings))
        assert runs == RUNS_BEFORE + RUNS_AFTER + 1, "the spooled run is in the graph"
        assert wait_until(lambda: Spool(settings.data_dir / "spool").status().records == 0, 30)
        assert run_state(settings, spooled) == "COMPLETE"
        assert set(dead) == {key for key, _ in BAD} and dlq_lost == 0, dead
        assert dlq_after[:1] == dlq_before, "the dead letter from before the restart survives"
        assert waiting is False
    finally:
        stack.down(settings)
