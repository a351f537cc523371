"""The graph sink service against the real Kafka broker and real Neo4j servers.

Each test runs :func:`run_sink` in a thread (or ``python -m graph_sink`` as a process) and
waits for its commits through the ``after_commit`` hook (or the committed offsets), never by
sleeping. The sink's graph is ``graph_settings`` (a leased Neo4j server); a reference graph
written directly is a second lease (``graphs.fresh("neo4j")``: a second server). Consumers use
``session.timeout.ms = 6000`` (the broker's minimum), so a dead member leaves its group fast.
"""

from __future__ import annotations

import os
import secrets
import threading
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]
from prometheus_client import REGISTRY
from pydantic import SecretStr

from graph_sink.service import SinkBatch, SinkHooks, SinkStats, run_sink
from graph_sink.testing import VersionSpec, counts, run_record, snapshot
from graph_sink.writer import GraphWriter
from lineage_app.localstack.neo4j_server import start_neo4j
from lineage_app.localstack.processes import (
    ManagedProcess,
    free_port,
    port_open,
    start_python_service,
)
from lineage_pipeline.graph import open_backend
from lineage_pipeline.graph.base import GraphBackend
from lineage_pipeline.graph_record import GraphRecord, GraphRecordCodec, expand, new_record
from lineage_pipeline.settings import (
    GraphSettings,
    KafkaSettings,
    LineageSettings,
    SinkSettings,
    TopicSettings,
)
from tests.graph_servers import graph_env
from tests.support.waiting import wait_for

if TYPE_CHECKING:
    from tests.conftest import GraphFactory

CODEC = GraphRecordCodec()


def _records(n_runs: int) -> list[GraphRecord]:
    """``n_runs`` chained runs: run i reads the version run i-1 wrote."""
    out = []
    for i in range(n_runs):
        src = VersionSpec("file", f"/d/{i}.csv", f"v{i}", digest=f"h{i}",
                          fields={"x": {"mean": float(i), "nullCount": 0}})
        dst = VersionSpec("file", f"/d/{i + 1}.csv", f"v{i + 1}", digest=f"h{i + 1}")
        out.append(run_record(("demo", f"step{i % 3}"), f"run-{i}", time_ms=1_000 * i,
                              inputs=[src], outputs=[dst], metrics={"n": float(i)}))
    return out


def _settings(broker: str, graph: GraphSettings, topics: TopicSettings,
              group: str, **sink: Any) -> LineageSettings:
    return LineageSettings(
        kafka=KafkaSettings(bootstrap_servers=broker, extra={"session.timeout.ms": "6000"}),
        topics=topics,
        graph=graph.model_copy(update={"timeout_s": 2.0}),
        sink=SinkSettings(group_id=group, batch_size=5, batch_timeout_s=0.2, max_retries=0,
                          metrics_port=0, **sink),
    )


@pytest.fixture
def topics(kafka_broker: str, topic_names: TopicSettings) -> TopicSettings:
    admin = AdminClient({"bootstrap.servers": kafka_broker})
    futures = admin.create_topics([NewTopic(t, 1, 1) for t in (topic_names.graph, topic_names.dlq)])
    for f in futures.values():
        f.result(timeout=30)
    return topic_names


def _produce(broker: str, topic: str, values: list[bytes]) -> None:
    producer = Producer({"bootstrap.servers": broker})
    for i, v in enumerate(values):
        producer.produce(topic, value=v, key=f"k{i}".encode())
    assert producer.flush(30) == 0


def _committed(broker: str, group: str, topic: str) -> int:
    c = Consumer({"bootstrap.servers": broker, "group.id": group})
    try:
        [tp] = c.committed([TopicPartition(topic, 0)], timeout=20)
        return int(tp.offset)
    finally:
        c.close()


def _read_all(broker: str, topic: str, n: int) -> list[Any]:
    c = Consumer({"bootstrap.servers": broker, "group.id": "reader", "enable.auto.commit": False})
    c.assign([TopicPartition(topic, 0, 0)])
    got: list[Any] = []
    try:
        for _ in range(200):
            got += [m for m in c.consume(n - len(got), 0.1) if m.error() is None]
            if len(got) >= n:
                break
        return got
    finally:
        c.close()


class SinkThread:
    """``run_sink`` in a thread; ``wait_committed(offset)`` blocks until it committed ``offset``."""

    def __init__(
        self, settings: LineageSettings, after_write: Callable[[SinkBatch], None] | None = None
    ) -> None:
        self.stop = threading.Event()
        self.batches: list[SinkBatch] = []
        self.committed = 0
        self._cond = threading.Condition()
        self.result: SinkStats | None = None
        self.error: BaseException | None = None
        hooks = SinkHooks(after_write=after_write, after_commit=self._on_commit)
        self.thread = threading.Thread(target=self._run, args=(settings, hooks), daemon=True)
        self.thread.start()

    def _run(self, settings: LineageSettings, hooks: SinkHooks) -> None:
        try:
            self.result = run_sink(settings, self.stop, hooks=hooks)
        except BaseException as exc:  # handed to the test
            self.error = exc
        finally:
            with self._cond:
                self._cond.notify_all()

    def _on_commit(self, batch: SinkBatch) -> None:
        with self._cond:
            self.batches.append(batch)
            self.committed = max(o for o in batch.offsets.values())
            self._cond.notify_all()

    def wait_committed(self, offset: int, timeout: float = 90.0) -> None:
        with self._cond:
            ok = self._cond.wait_for(
                lambda: self.committed >= offset or not self.thread.is_alive(), timeout)
        assert ok and self.committed >= offset, (self.committed, offset, self.error)

    def finish(self) -> SinkStats | None:
        self.stop.set()
        self.thread.join(30)
        assert not self.thread.is_alive()
        return self.result


@contextmanager
def _reference(graphs: GraphFactory, records: list[GraphRecord]) -> Iterator[GraphBackend]:
    """The graph an uninterrupted writer produces (all records written once, directly), on a
    second Neo4j server leased for the block."""
    with graphs.fresh("neo4j") as settings:
        ref = open_backend(settings)
        try:
            ref.ensure_schema()
            GraphWriter(ref).write([expand(r) for r in records])
            yield ref
        finally:
            ref.close()


def _snapshot_of(settings: GraphSettings) -> dict[str, Any]:
    graph = open_backend(settings)
    try:
        return snapshot(graph)
    finally:
        graph.close()


def _metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_sink_consumes_writes_commits_and_dead_letters_bad_records(
    kafka_broker: str, graph_settings: GraphSettings, graphs: GraphFactory,
    topics: TopicSettings,
) -> None:
    records = _records(9)
    good = [CODEC.encode(m) for m in records]
    # valid Avro the graph refuses: Neo4j has no empty property name (TokenNameError)
    poison = new_record("poison", 1, 1)
    poison["jobs"].append({"namespace": "ns", "name": "p", "first": 1, "props": {"": 1}})
    values = [*good[:4], b"not avro at all", *good[4:7], CODEC.encode(poison),
              *good[7:], good[0][:12]]  # garbage, refused by the graph, truncated
    _produce(kafka_broker, topics.graph, values)
    group = f"sink-{uuid.uuid4().hex[:6]}"
    written_before = _metric("lineage_sink_records_total")
    dlq_before = _metric("lineage_sink_dlq_total", reason="bad_magic")

    sink = SinkThread(_settings(kafka_broker, graph_settings, topics, group))
    sink.wait_committed(len(values))
    stats = sink.finish()

    assert stats is not None and (stats.records, stats.written, stats.dead_letters) == (12, 9, 3)
    assert all(b.records <= 5 for b in sink.batches)  # bounded by sink.batch_size
    assert _committed(kafka_broker, group, topics.graph) == len(values)
    with _reference(graphs, records) as ref:
        assert _snapshot_of(graph_settings) == snapshot(ref)
        assert counts(ref)["Run"] == 9
    dead = _read_all(kafka_broker, topics.dlq, 3)
    headers = [dict((k, v.decode()) for k, v in m.headers()) for m in dead]
    assert sorted((h["source_offset"], h["reason"], h["source_topic"]) for h in headers) == [
        ("11", "truncated", topics.graph), ("4", "bad_magic", topics.graph),
        ("8", "graph_rejected", topics.graph)]
    assert {"detail", "source_partition", "dlq_time_ms"} <= set(headers[0])
    rejected = next(h for h in headers if h["reason"] == "graph_rejected")
    assert "TokenNameError" in rejected["detail"], rejected["detail"]
    garbage = next(m for m in dead if m.value() == b"not avro at all")
    assert garbage.key() == b"k4"
    assert _metric("lineage_sink_records_total") - written_before == 9
    assert _metric("lineage_sink_dlq_total", reason="bad_magic") - dlq_before == 1


class _Crash(Exception):
    """Stands for the process dying between the graph write and the offset commit."""


def test_sink_stopped_between_write_and_commit_then_restarted_equals_an_uninterrupted_run(
    kafka_broker: str, graph_settings: GraphSettings, graphs: GraphFactory,
    topics: TopicSettings,
) -> None:
    records = _records(12)
    _produce(kafka_broker, topics.graph, [CODEC.encode(m) for m in records])
    group = f"sink-{uuid.uuid4().hex[:6]}"
    settings = _settings(kafka_broker, graph_settings, topics, group)
    written: list[SinkBatch] = []

    def crash_on_second_batch(batch: SinkBatch) -> None:
        written.append(batch)
        if len(written) == 2:
            raise _Crash

    first = SinkThread(settings, after_write=crash_on_second_batch)
    first.thread.join(90)
    assert isinstance(first.error, _Crash)
    committed = _committed(kafka_broker, group, topics.graph)
    assert committed == written[0].offsets[(topics.graph, 0)] < len(records)
    assert written[1].written > 0  # the second batch reached the graph, uncommitted

    second = SinkThread(settings)
    second.wait_committed(len(records))
    stats = second.finish()
    assert stats is not None and stats.records == len(records) - committed  # re-read from there
    with _reference(graphs, records) as ref:
        assert _snapshot_of(graph_settings) == snapshot(ref)


@pytest.fixture
def own_neo4j(tmp_path: Path) -> Iterator[tuple[GraphSettings, Callable[[], ManagedProcess]]]:
    """A Neo4j server of this test's own (it is stopped and restarted), and a function that
    (re)starts it on the same port, data directory and password; stopped by pid at the end."""
    port, password = free_port(), secrets.token_urlsafe(16)
    running: list[ManagedProcess] = []

    def start() -> ManagedProcess:
        running.append(start_neo4j(tmp_path, port, password=password, heap_mb=512))
        return running[-1]

    settings = GraphSettings(backend="neo4j", url=f"bolt://127.0.0.1:{port}", username="neo4j",
                             password=SecretStr(password), timeout_s=2.0)
    try:
        yield settings, start
    finally:
        for proc in running:
            if proc.alive():
                proc.stop(30)


def test_sink_pauses_while_the_graph_is_down_and_catches_up_after(
    kafka_broker: str, topics: TopicSettings,
    own_neo4j: tuple[GraphSettings, Callable[[], ManagedProcess]],
) -> None:
    graph_settings, start = own_neo4j
    server = start()
    records = _records(9)
    group = f"sink-{uuid.uuid4().hex[:6]}"
    settings = _settings(kafka_broker, graph_settings, topics, group)
    retries_before = _metric("lineage_sink_write_errors_total", retryable="true")

    sink = SinkThread(settings)
    try:
        _produce(kafka_broker, topics.graph, [CODEC.encode(m) for m in records[:3]])
        sink.wait_committed(3)
        server.stop(30)
        assert not server.alive()
        _produce(kafka_broker, topics.graph, [CODEC.encode(m) for m in records[3:6]])
        wait_for(lambda: _metric("lineage_sink_write_errors_total", retryable="true")
                 > retries_before or not sink.thread.is_alive(),
                 "the sink to retry a write against the stopped graph")
        assert sink.thread.is_alive(), sink.error
        # more records arrive while the partitions are paused: none may be skipped
        _produce(kafka_broker, topics.graph, [CODEC.encode(m) for m in records[6:]])
        assert sink.committed == 3 and _committed(kafka_broker, group, topics.graph) == 3
        start()  # same port, data directory and password
        sink.wait_committed(9)
        graph = open_backend(graph_settings)
        try:
            assert counts(graph)["Run"] == 9
        finally:
            graph.close()
    finally:
        sink.finish()
    assert sink.error is None


@pytest.fixture
def sink_process_env(kafka_broker: str, graph_settings: GraphSettings,
                     topics: TopicSettings) -> Iterator[dict[str, str]]:
    yield {
        "LINEAGE_KAFKA__BOOTSTRAP_SERVERS": kafka_broker,
        "LINEAGE_KAFKA__EXTRA": '{"session.timeout.ms": "6000"}',
        "LINEAGE_TOPICS__GRAPH": topics.graph,
        "LINEAGE_TOPICS__DLQ": topics.dlq,
        **graph_env(graph_settings),
        "LINEAGE_SINK__GROUP_ID": f"sink-{uuid.uuid4().hex[:6]}",
        "LINEAGE_SINK__METRICS_PORT": str(free_port()),
        "LINEAGE_CONFIG": os.devnull,
    }


def test_python_m_graph_sink_serves_metrics_writes_and_stops_cleanly_on_sigterm(
    kafka_broker: str, graph_settings: GraphSettings, topics: TopicSettings,
    sink_process_env: dict[str, str], tmp_path: Path,
) -> None:
    port = int(sink_process_env["LINEAGE_SINK__METRICS_PORT"])
    proc = start_python_service("sink", "graph_sink", [], tmp_path, ready=lambda: port_open(port),
                                port=port, env=sink_process_env, timeout_s=60)
    try:
        records = _records(3)
        _produce(kafka_broker, topics.graph, [CODEC.encode(m) for m in records])
        group, topic = sink_process_env["LINEAGE_SINK__GROUP_ID"], topics.graph

        def committed_all() -> bool:  # the commit follows the graph write
            assert proc.alive(), proc.log_path.read_text()
            return _committed(kafka_broker, group, topic) == 3

        wait_for(committed_all, "the sink process to commit 3 records")
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
        assert "lineage_sink_records_total 3.0" in body
    finally:
        proc.stop(timeout_s=20)
    assert proc.popen is not None and proc.popen.returncode == 0, proc.log_path.read_text()
    log = proc.log_path.read_text()
    assert "finishing the in-flight batch" in log and "graph sink stopped" in log
    assert graph_settings.password is not None
    assert graph_settings.password.get_secret_value() not in log
    graph = open_backend(graph_settings)
    try:
        assert counts(graph)["Run"] == 3
    finally:
        graph.close()
