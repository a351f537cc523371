"""The local stack's servers (Kafka, Neo4j, FalkorDB) start, keep their data across a stop
and a restart on the same data directory, and stop by pid; the Neo4j password stays secret.

Each restart test starts its own server under ``tmp_path`` (the session's servers are never
stopped here) and stops it by pid in a ``finally``.
"""

from __future__ import annotations

import os
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]
from falkordb import FalkorDB

from lineage_app.localstack.kafka_server import new_cluster_id, start_kafka
from lineage_app.localstack.neo4j_server import await_neo4j, password_path, start_neo4j
from lineage_app.localstack.processes import (
    ManagedProcess,
    free_port,
    pid_alive,
    port_open,
    start_falkordb,
)
from lineage_pipeline.errors import StackError
from lineage_pipeline.graph import open_backend
from lineage_pipeline.graph.base import Statement
from lineage_pipeline.settings import GraphSettings
from tests.support.waiting import wait_for


def _stop(proc: ManagedProcess) -> None:
    """Stop ``proc`` (SIGTERM, SIGKILL after 30 s) and check it is gone and its port closed."""
    proc.stop(30)
    assert not pid_alive(proc.pid)
    assert not port_open(proc.port)


def test_session_broker_answers_metadata(kafka_broker: str) -> None:
    md = AdminClient({"bootstrap.servers": kafka_broker}).list_topics(timeout=5)
    assert md.brokers, "the broker lists itself in metadata"


def _read_topic(bootstrap: str, topic: str) -> list[tuple[bytes | None, bytes | None]]:
    """Every record of partition 0 of ``topic``, from the beginning to its end."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"r-{uuid.uuid4().hex}",
                         "enable.auto.commit": False, "enable.partition.eof": True})
    consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    got: list[tuple[bytes | None, bytes | None]] = []
    try:
        def at_end() -> bool:
            msg = consumer.poll(0.5)
            if msg is None:
                return False
            err = msg.error()
            if err is not None:
                assert err.code() == KafkaError._PARTITION_EOF, err
                return True
            got.append((msg.key(), msg.value()))
            return False

        wait_for(at_end, f"the end of {topic}", timeout_s=60, step_s=0)
        return got
    finally:
        consumer.close()


def test_kafka_keeps_topics_and_records_across_a_restart(
    tmp_path: Path, started: list[ManagedProcess],
) -> None:
    port, controller = free_port(), free_port()
    broker = start_kafka(tmp_path, port, controller_port=controller, heap_mb=384)
    started.append(broker)
    bootstrap = f"127.0.0.1:{port}"
    topic = f"durable.{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(topic, 1, 1)]).values():
        future.result(timeout=30)
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    producer.produce(topic, key=b"k", value=b"written before the stop")
    assert producer.flush(30) == 0
    _stop(broker)

    again = start_kafka(tmp_path, port, controller_port=controller, heap_mb=384)
    started.append(again)
    assert again.pid != broker.pid
    assert _read_topic(bootstrap, topic) == [(b"k", b"written before the stop")]
    _stop(again)


def _logs_and_config(data_dir: Path) -> Iterator[Path]:
    """The text files a Neo4j stack writes besides its store: logs, configuration, run."""
    for folder in ("logs", "neo4j/logs", "neo4j/conf", "neo4j/run"):
        yield from (p for p in (data_dir / folder).rglob("*") if p.is_file())


def test_neo4j_keeps_nodes_across_a_restart_and_its_password_stays_secret(
    tmp_path: Path, started: list[ManagedProcess],
) -> None:
    port = free_port()
    server = start_neo4j(tmp_path, port, heap_mb=512)  # generates the password file
    started.append(server)
    secret_file = password_path(tmp_path)
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    password = secret_file.read_text("utf-8").strip()
    assert len(password) >= 24
    graph = GraphSettings(backend="neo4j", url=f"bolt://127.0.0.1:{port}",
                          password_file=secret_file, timeout_s=10.0)
    backend = open_backend(graph)
    try:
        backend.write_batch([Statement("CREATE (:Job {uid: $uid})", {"uid": "before-stop"},
                                       "probe")])
    finally:
        backend.close()
    _stop(server)

    again = start_neo4j(tmp_path, port, heap_mb=512)  # the same data and password file
    started.append(again)
    assert secret_file.read_text("utf-8").strip() == password, "the password was kept"
    cmdline = Path(f"/proc/{again.pid}/cmdline").read_bytes()
    backend = open_backend(graph)
    try:
        rows = backend.query("MATCH (j:Job) RETURN j.uid AS uid")
    finally:
        backend.close()
    assert rows == [{"uid": "before-stop"}]
    _stop(again)

    # a data directory made with another password: a clear error, not a hang
    other = start_neo4j(tmp_path, port, password="not-the-one", heap_mb=512, wait=False)
    started.append(other)
    with pytest.raises(StackError, match="neo4j/password"):
        await_neo4j(other, "not-the-one", timeout_s=120)
    _stop(other)

    assert password.encode() not in cmdline, "the password is never on a command line"
    scanned = list(_logs_and_config(tmp_path))
    assert tmp_path / "logs" / "neo4j.log" in scanned
    leaked = [str(p) for p in scanned if password.encode() in p.read_bytes()]
    assert not leaked, f"the password appears in {leaked}"


def test_falkordb_answers_cypher_and_keeps_its_graph_across_a_restart(
    tmp_path: Path, started: list[ManagedProcess],
) -> None:
    port = free_port()
    server = start_falkordb(tmp_path, port)
    started.append(server)
    g = FalkorDB(host="127.0.0.1", port=port).select_graph("g")
    g.query("CREATE (:Probe {uid: $u})", {"u": "x"})
    assert g.query("MATCH (p:Probe) RETURN p.uid").result_set == [["x"]]
    _stop(server)

    again = start_falkordb(tmp_path, port)  # replays the append-only file
    started.append(again)
    g = FalkorDB(host="127.0.0.1", port=port).select_graph("g")
    assert g.query("MATCH (p:Probe) RETURN p.uid").result_set == [["x"]]
    _stop(again)
    assert os.listdir(tmp_path / "falkordb"), "the data lives under the data directory"


def test_cluster_ids_never_start_with_a_dash() -> None:
    """The storage tool reads ``-t -x...`` as an option: one fresh broker in 64 failed to
    format before. 5,000 draws see a leading ``-`` with probability 1 - (63/64)^5000."""
    ids = [new_cluster_id() for _ in range(5000)]
    assert not [i for i in ids if i.startswith("-")]
    assert {len(i) for i in ids} == {22}
