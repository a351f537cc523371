"""Retention and erasure on a fresh graph of each backend (``any_graph``: Neo4j and FalkorDB),
through the ``lineage`` CLI.

- ``lineage purge --older-than 30d`` compacts old finished runs into job summaries, deletes
  them, and keeps every dataset version, field and version-level DERIVED_FROM relationship;
- ``lineage erase NAMESPACE:NAME`` removes the dataset's field statistics and records the
  erasure (on the Dataset node, and on the erasure topic of the session's Kafka broker);
  replaying every graph record through the sink's writer afterwards does not bring them back
  (the writer consults the erasure list), and other datasets keep theirs.

The durable side (a replay into a fresh graph, by real processor and sink processes) is in
``tests/test_erasure_durable.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from graph_sink.retention import ErasureList
from graph_sink.testing import counts
from graph_sink.writer import GraphWriter
from lineage_app.localstack.stack import create_topics
from lineage_pipeline.codec import EventCodec
from lineage_pipeline.events import LineageEvent
from lineage_pipeline.graph import GraphBackend, open_backend
from lineage_pipeline.graph_model import GraphMutations, NodeLabel, NodeUpsert
from lineage_pipeline.graph_record import GraphRecordCodec
from lineage_pipeline.settings import GraphSettings, TopicSettings, load_settings
from stream_processor.dlq import SourceMessage
from stream_processor.processor import EventProcessor
from stream_processor.state import MemoryRunStore, MemoryVersionStore
from tests.graph_servers import graph_env

CODEC = EventCodec()
GRAPH_CODEC = GraphRecordCodec()
LINEAGE = str(Path(sys.executable).with_name("lineage"))
DAY_MS = 86_400_000


def events(now: int) -> list[LineageEvent]:
    """Four runs of job ``etl`` (three 100 days old, one today) reading ``crm:users`` v{i}
    and writing ``crm:stats`` v{i}, both with column statistics."""
    out = []
    for i, t in enumerate([now - 100 * DAY_MS, now - 99 * DAY_MS, now - 98 * DAY_MS, now]):
        stats = {"rowCount": 5, "columns": [{"name": "email", "nullCount": 0, "distinctCount": 5,
                                             "min": 1.0, "max": 9.0}]}
        users = {"namespace": "crm", "name": "users", "version": f"v{i}",
                 "facets": {"schema": [{"name": "email", "type": "string", "tags": ["pii"]}],
                            "statistics": stats}}
        report = {"namespace": "crm", "name": "stats", "version": f"v{i}",
                  "facets": {"schema": [{"name": "email", "type": "string"}],
                             "statistics": stats}}
        base = {"producer": "tests/retention", "run": {"runId": str(uuid.uuid4())},
                "job": {"namespace": "crm", "name": "etl"}}
        out += [LineageEvent.model_validate({**base, "eventType": "START", "eventTime": t,
                                             "inputs": [users]}),
                LineageEvent.model_validate({**base, "eventType": "COMPLETE",
                                             "eventTime": t + 1000, "inputs": [users],
                                             "outputs": [report]})]
    return out


def graph_values(now: int) -> list[bytes]:
    """The graph records (wire bytes) the processor publishes for :func:`events`."""
    proc = EventProcessor(graph_topic="graph", dlq_topic="dlq", runs=MemoryRunStore(),
                          versions=MemoryVersionStore())
    out = []
    for i, ev in enumerate(events(now)):
        proc.handle(SourceMessage("events", 0, i, b"k", CODEC.encode(ev)))
        out += [r.value for r in proc.drain()]
    return out


def graph_records(now: int) -> list[GraphMutations]:
    """The upserts of :func:`graph_values`."""
    return [GRAPH_CODEC.decode(v) for v in graph_values(now)]


def lineage(graph: GraphSettings, *args: str, env_extra: dict[str, str] | None = None) -> Any:
    env = {**os.environ, **graph_env(graph), **(env_extra or {})}
    env.pop("LINEAGE_CONFIG", None)
    done = subprocess.run([LINEAGE, *args, "--json"], env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


def field_stats(backend: GraphBackend, dataset: str) -> list[dict[str, Any]]:
    """Per version of ``dataset``: its uid and the ``email`` column's distinct count and min
    from its ``columnStats`` (``None`` when absent)."""
    rows = backend.query("MATCH (v:DatasetVersion) WHERE v.datasetUid = $d RETURN v.uid AS "
                         "uid, v.columnStats AS stats ORDER BY uid", {"d": dataset})
    out = []
    for row in rows:
        email = json.loads(row["stats"]).get("email", {}) if row["stats"] else {}
        out.append({"uid": row["uid"], "distinct": email.get("distinctCount"),
                    "min": email.get("min")})
    return out


def erasure_topic_env(bootstrap: str, topics: TopicSettings) -> dict[str, str]:
    """Create ``topic_names``' topics (the erasure topic compacted) on ``bootstrap``; return
    the environment pointing ``lineage erase`` at them."""
    create_topics(load_settings(kafka={"bootstrap_servers": bootstrap},
                                topics=topics.model_dump()))
    return {"LINEAGE_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
            "LINEAGE_TOPICS__ERASURES": topics.erasures}


def fresh_graph(graph: GraphSettings, records: list[GraphMutations]
                ) -> tuple[GraphSettings, GraphBackend]:
    """Write ``records`` into the empty graph ``graph``; return it and an open backend."""
    backend = open_backend(graph)
    backend.ensure_schema()
    GraphWriter(backend).write(records)
    return graph, backend


def test_purge_compacts_old_runs_and_keeps_dataset_versions(any_graph: GraphSettings) -> None:
    now = int(time.time() * 1000)
    graph, backend = fresh_graph(any_graph, graph_records(now))
    try:
        before = counts(backend)
        assert before["Run"] == 4 and before["DatasetVersion"] == 8
        dry = lineage(graph, "purge", "--older-than", "30d", "--dry-run")
        assert dry["runs"] == 3 and counts(backend) == before
        report = lineage(graph, "purge", "--older-than", "30d")
        assert report["runs"] == 3 and report["jobs"] == {"crm:etl": {"COMPLETE": 3}}
        after = counts(backend)
        assert after["Run"] == 1, "the recent run stays"
        for kept in ("DatasetVersion", "Dataset", "Schema", "Field", "HAS_FIELD", "VERSION_OF"):
            assert after[kept] == before[kept], kept
        job = backend.query("MATCH (j:Job {uid: 'crm:etl'}) RETURN j.runSummary AS s")[0]
        summary = json.loads(job["s"])
        assert summary["runsByState"] == {"COMPLETE": 3} and summary["runs"] == 3
        assert summary["firstStart"] == now - 100 * DAY_MS
        assert lineage(graph, "purge", "--older-than", "30d")["runs"] == 0
    finally:
        backend.close()


def test_erase_removes_pii_metadata_and_a_replay_does_not_bring_it_back(
    any_graph: GraphSettings, kafka_broker: str, topic_names: TopicSettings,
) -> None:
    now = int(time.time() * 1000)
    records = graph_records(now)
    graph, backend = fresh_graph(any_graph, records)
    topics = topic_names.model_copy(update={"erasures": f"lineage.erasures.{uuid.uuid4().hex[:8]}"})
    kafka = erasure_topic_env(kafka_broker, topics)
    try:
        assert all(f["distinct"] == 5 for f in field_stats(backend, "crm:users"))
        shape = counts(backend)
        report = lineage(graph, "erase", "crm:users", "--reason", "GDPR art. 17 request 42",
                         env_extra=kafka)
        assert report["versions"] == 4 and report["topic"] == topics.erasures
        erased = backend.query("MATCH (d:Dataset {uid: 'crm:users'}) "
                               "RETURN d.erasedAt AS at, d.erasureReason AS why")[0]
        assert erased["at"] == report["erasedAt"] and erased["why"] == "GDPR art. 17 request 42"

        GraphWriter(backend, erasures=ErasureList(backend)).write(records)  # the sink replays
        users = field_stats(backend, "crm:users")
        assert users and all(f["distinct"] is None and f["min"] is None for f in users)
        assert all(f["distinct"] == 5 for f in field_stats(backend, "crm:stats")), \
            "other datasets keep their statistics"
        assert counts(backend) == shape, "lineage itself is kept"
        hidden = lineage(graph, "fields", "crm:users")
        assert all(row.get("distinctCount") is None for row in hidden)
        # a record of the older graph_mutations family still on the topic: statistics on a
        # per-version Field node
        old = GraphMutations("old", 1, 1, [NodeUpsert(NodeLabel.FIELD, "crm:users@v1#email", {
            "name": "email", "datasetUid": "crm:users", "nullCount": 3, "min": "a",
            "observedAt": 1})])
        GraphWriter(backend, erasures=ErasureList(backend)).write([old])
        stored = backend.query("MATCH (f:Field {uid: 'crm:users@v1#email'}) "
                               "RETURN f.nullCount AS n, f.min AS m, f.name AS name")
        assert stored == [{"n": None, "m": None, "name": "email"}]
        print("ERASURE: crm:users statistics gone after a full replay; crm:stats intact")
    finally:
        backend.close()
