"""The local stack's server processes start, answer and stop by pid."""

from __future__ import annotations

from pathlib import Path

from confluent_kafka.admin import AdminClient
from falkordb import FalkorDB

from lineage_pipeline.localstack.processes import pid_alive, start_broker


def test_broker_answers_metadata(kafka_broker: str) -> None:
    md = AdminClient({"bootstrap.servers": kafka_broker}).list_topics(timeout=5)
    assert md.brokers, "the broker lists itself in metadata"


def test_falkordb_answers_cypher(falkordb_server: int, graph_name: str) -> None:
    g = FalkorDB(host="127.0.0.1", port=falkordb_server).select_graph(graph_name)
    g.query("CREATE (:Probe {uid: $u})", {"u": "x"})
    assert g.query("MATCH (p:Probe) RETURN p.uid").result_set == [["x"]]


def test_broker_stops_by_pid(tmp_path: Path) -> None:
    proc = start_broker(tmp_path)
    assert pid_alive(proc.pid)
    proc.stop()
    assert not pid_alive(proc.pid)
