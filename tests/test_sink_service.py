"""The graph sink service against a real Tansu broker and a real FalkorDB.

Each test runs :func:`run_sink` in a thread (or ``python -m graph_sink`` as a process) and
waits for its commits through the ``after_commit`` hook, never by sleeping. Consumers use
``session.timeout.ms = 6000`` because Tansu answers a JoinGroup after half the session timeout.
"""

from __future__ import annotations

import os
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]
from prometheus_client import REGISTRY

from graph_sink.backends import open_backend
from graph_sink.backends.base import GraphBackend
from graph_sink.service import SinkBatch, SinkHooks, SinkStats, run_sink
from graph_sink.testing import VersionSpec, counts, run_mutations, snapshot
from graph_sink.writer import GraphWriter
from lineage_pipeline.codec import AvroCodec
from lineage_pipeline.graph_model import GraphMutations, NodeLabel, NodeUpsert
from lineage_pipeline.localstack.processes import (
    free_port,
    port_open,
    start_falkordb,
    start_python_service,
)
from lineage_pipeline.settings import (
    GraphSettings,
    KafkaSettings,
    LineageSettings,
    SinkSettings,
    TopicSettings,
)

CODEC = AvroCodec("graph_mutations")


def _records(n_runs: int) -> list[GraphMutations]:
    """``n_runs`` chained runs: run i reads the version run i-1 wrote."""
    out = []
    for i in range(n_runs):
        src = VersionSpec("file", f"/d/{i}.csv", f"v{i}", digest=f"h{i}",
                          fields={"x": {"mean": float(i), "nullCount": 0}})
        dst = VersionSpec("file", f"/d/{i + 1}.csv", f"v{i + 1}", digest=f"h{i + 1}")
        out.append(run_mutations(("demo", f"step{i % 3}"), f"run-{i}", time_ms=1_000 * i,
                                 inputs=[src], outputs=[dst], metrics={"n": float(i)}))
    return out


def _settings(broker: str, graph_port: int, graph: str, topics: TopicSettings,
              group: str, **sink: Any) -> LineageSettings:
    return LineageSettings(
        kafka=KafkaSettings(bootstrap_servers=broker, extra={"session.timeout.ms": "6000"}),
        topics=topics,
        graph=GraphSettings(url=f"redis://127.0.0.1:{graph_port}", name=graph, timeout_s=2.0),
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


def _reference(falkordb_server: int, graph: str, records: list[GraphMutations]) -> GraphBackend:
    """The graph an uninterrupted writer produces: all records written once, directly."""
    ref = open_backend(GraphSettings(url=f"redis://127.0.0.1:{falkordb_server}",
                                     name=graph + "_ref"))
    ref.ensure_schema()
    GraphWriter(ref).write(records)
    return ref


def _metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_sink_consumes_writes_commits_and_dead_letters_bad_records(
    kafka_broker: str, falkordb_server: int, graph_name: str, topics: TopicSettings,
) -> None:
    records = _records(9)
    good = [CODEC.encode(m.to_record()) for m in records]
    poison = GraphMutations("poison", 1, 1, [NodeUpsert(NodeLabel.JOB, "ns:p", {"a`b": 1})])
    values = [*good[:4], b"not avro at all", *good[4:7], CODEC.encode(poison.to_record()),
              *good[7:], good[0][:12]]  # garbage, refused by the graph, truncated
    _produce(kafka_broker, topics.graph, values)
    group = f"sink-{uuid.uuid4().hex[:6]}"
    written_before = _metric("lineage_sink_records_total")
    dlq_before = _metric("lineage_sink_dlq_total", reason="bad_magic")

    sink = SinkThread(_settings(kafka_broker, falkordb_server, graph_name, topics, group))
    sink.wait_committed(len(values))
    stats = sink.finish()

    assert stats is not None and (stats.records, stats.written, stats.dead_letters) == (12, 9, 3)
    assert all(b.records <= 5 for b in sink.batches)  # bounded by sink.batch_size
    assert _committed(kafka_broker, group, topics.graph) == len(values)
    graph = open_backend(GraphSettings(url=f"redis://127.0.0.1:{falkordb_server}", name=graph_name))
    ref = _reference(falkordb_server, graph_name, records)
    assert snapshot(graph) == snapshot(ref)
    assert counts(graph)["Run"] == 9
    dead = _read_all(kafka_broker, topics.dlq, 3)
    headers = [dict((k, v.decode()) for k, v in m.headers()) for m in dead]
    assert sorted((h["source_offset"], h["reason"], h["source_topic"]) for h in headers) == [
        ("11", "truncated", topics.graph), ("4", "bad_magic", topics.graph),
        ("8", "graph_rejected", topics.graph)]
    assert {"detail", "source_partition", "dlq_time_ms"} <= set(headers[0])
    garbage = next(m for m in dead if m.value() == b"not avro at all")
    assert garbage.key() == b"k4"
    assert _metric("lineage_sink_records_total") - written_before == 9
    assert _metric("lineage_sink_dlq_total", reason="bad_magic") - dlq_before == 1


class _Crash(Exception):
    """Stands for the process dying between the graph write and the offset commit."""


def test_sink_stopped_between_write_and_commit_then_restarted_equals_an_uninterrupted_run(
    kafka_broker: str, falkordb_server: int, graph_name: str, topics: TopicSettings,
) -> None:
    records = _records(12)
    _produce(kafka_broker, topics.graph, [CODEC.encode(m.to_record()) for m in records])
    group = f"sink-{uuid.uuid4().hex[:6]}"
    settings = _settings(kafka_broker, falkordb_server, graph_name, topics, group)
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
    graph = open_backend(GraphSettings(url=f"redis://127.0.0.1:{falkordb_server}", name=graph_name))
    assert snapshot(graph) == snapshot(_reference(falkordb_server, graph_name, records))


def test_sink_pauses_while_the_graph_is_down_and_catches_up_after(
    kafka_broker: str, topics: TopicSettings, tmp_path: Path,
) -> None:
    port = free_port()
    server = start_falkordb(tmp_path, port)
    records = _records(9)
    group = f"sink-{uuid.uuid4().hex[:6]}"
    settings = _settings(kafka_broker, port, "g", topics, group)
    retries_before = _metric("lineage_sink_write_errors_total", retryable="true")
    retried = threading.Event()

    sink = SinkThread(settings)
    try:
        _produce(kafka_broker, topics.graph, [CODEC.encode(m.to_record()) for m in records[:3]])
        sink.wait_committed(3)
        server.stop()
        _produce(kafka_broker, topics.graph, [CODEC.encode(m.to_record()) for m in records[3:6]])

        def watch() -> None:
            while not retried.is_set() and sink.thread.is_alive():
                if _metric("lineage_sink_write_errors_total", retryable="true") > retries_before:
                    retried.set()
                sink.stop.wait(0.05)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        watcher.join(60)
        assert retried.is_set(), sink.error
        # more records arrive while the partitions are paused: none may be skipped
        _produce(kafka_broker, topics.graph, [CODEC.encode(m.to_record()) for m in records[6:]])
        assert sink.committed == 3 and _committed(kafka_broker, group, topics.graph) == 3
        server = start_falkordb(tmp_path, port)  # same port, same append-only file
        sink.wait_committed(9)
        graph = open_backend(GraphSettings(url=f"redis://127.0.0.1:{port}", name="g"))
        assert counts(graph)["Run"] == 9
        graph.close()
    finally:
        sink.finish()
        server.stop()
    assert sink.error is None


@pytest.fixture
def sink_process_env(kafka_broker: str, falkordb_server: int, graph_name: str,
                     topics: TopicSettings) -> Iterator[dict[str, str]]:
    yield {
        "LINEAGE_KAFKA__BOOTSTRAP_SERVERS": kafka_broker,
        "LINEAGE_KAFKA__EXTRA": '{"session.timeout.ms": "6000"}',
        "LINEAGE_TOPICS__GRAPH": topics.graph,
        "LINEAGE_TOPICS__DLQ": topics.dlq,
        "LINEAGE_GRAPH__URL": f"redis://127.0.0.1:{falkordb_server}",
        "LINEAGE_GRAPH__NAME": graph_name,
        "LINEAGE_SINK__GROUP_ID": f"sink-{uuid.uuid4().hex[:6]}",
        "LINEAGE_SINK__METRICS_PORT": str(free_port()),
        "LINEAGE_CONFIG": os.devnull,
    }


def test_python_m_graph_sink_serves_metrics_writes_and_stops_cleanly_on_sigterm(
    kafka_broker: str, falkordb_server: int, graph_name: str, topics: TopicSettings,
    sink_process_env: dict[str, str], tmp_path: Path,
) -> None:
    port = int(sink_process_env["LINEAGE_SINK__METRICS_PORT"])
    proc = start_python_service("sink", "graph_sink", [], tmp_path, ready=lambda: port_open(port),
                                port=port, env=sink_process_env, timeout_s=60)
    try:
        records = _records(3)
        _produce(kafka_broker, topics.graph, [CODEC.encode(m.to_record()) for m in records])
        group, topic = sink_process_env["LINEAGE_SINK__GROUP_ID"], topics.graph
        for _ in range(600):  # the commit follows the graph write
            if _committed(kafka_broker, group, topic) == 3:
                break
            assert proc.alive(), proc.log_path.read_text()
            time.sleep(0.1)
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
        assert "lineage_sink_records_total 3.0" in body
    finally:
        proc.stop(timeout_s=20)
    assert proc.popen is not None and proc.popen.returncode == 0, proc.log_path.read_text()
    log = proc.log_path.read_text()
    assert "finishing the in-flight batch" in log and "graph sink stopped" in log
    graph = open_backend(GraphSettings(url=f"redis://127.0.0.1:{falkordb_server}", name=graph_name))
    assert counts(graph)["Run"] == 3
