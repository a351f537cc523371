"""Hostile input through the real broker, processor, sink and Neo4j: dead-lettering never
fails, and values the graph cannot hold are normalised, not rejected.

A burst mixes 5 MB garbage, truncated Avro and valid events, a wide run emitted by the SDK
(10,000 inputs, an output of 5,000 columns with column lineage: the emitter splits the event,
and the run's graph record, over the 1 MiB cap, goes as several records) and an OpenLineage
event whose facets hold NaN and infinities.

The events topic is raised to take 8 MiB messages (as a team that allows big events would);
the DLQ topic keeps the broker's 1 MiB default, which a whole 5 MB original would exceed.
Every valid event's run reaches the graph, every bad message is in the DLQ once with its
reason, the processor never restarts, and the CLI fetches the whole original of a record
that keeps only a prefix (checked against its size and SHA-256). The OpenLineage run lands
with its non-finite numbers null and the ``lineage_normalised`` facet flagging them.
"""

from __future__ import annotations

import hashlib
import json
import random
import uuid
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ResourceType,
)

from emitters.client import LineageClient
from lineage_app.localstack.processes import tail
from lineage_pipeline.codec import EventCodec
from lineage_pipeline.dead_letter import MAX_VALUE_BYTES
from lineage_pipeline.events import LineageEvent
from lineage_pipeline.graph import open_backend
from tests.e2e_stack import (
    PipelineStack,
    lineage_cli,
    lineage_json,
    metric_total,
    pipeline_stack,
)
from tests.support.waiting import wait_for
from tests.test_wide_runs import COLUMNS, INPUTS, wide_event

if TYPE_CHECKING:
    from tests.conftest import GraphFactory

BIG = 8 * 1024 * 1024
RUNS = 10


def event(run: str, etype: str, t: int) -> LineageEvent:
    return LineageEvent.model_validate({
        "eventType": etype, "eventTime": t, "producer": "tests/dead-letter",
        "run": {"runId": run}, "job": {"namespace": "dlq-e2e", "name": f"job-{run[:8]}"},
        "inputs": [{"namespace": "file", "name": f"/data/in-{run[:8]}.csv", "version": "1"}],
        "outputs": [{"namespace": "file", "name": f"/data/out-{run[:8]}.csv", "version": "2"}]
        if etype == "COMPLETE" else [],
    })


def allow_big_messages(stack: PipelineStack) -> None:
    admin = AdminClient({"bootstrap.servers": stack.settings.kafka.bootstrap_servers})
    entry = ConfigEntry("max.message.bytes", str(BIG),
                        incremental_operation=AlterConfigOpType.SET)
    resource = ConfigResource(ResourceType.TOPIC, stack.settings.topics.events,
                              incremental_configs=[entry])
    for future in admin.incremental_alter_configs([resource]).values():
        future.result(timeout=30)


def processor_metric(stack: PipelineStack, line_start: str) -> float:
    return metric_total(stack.settings.processor.metrics_port, line_start)


def _wide_counts(backend: Any, run_id: str) -> dict[str, int] | None:
    """The wide run's inputs, output columns and column lineage in the graph, once whole."""
    rows = backend.query(
        "MATCH (r:Run {uid: $uid}) WHERE r.state = 'COMPLETE' "
        "OPTIONAL MATCH (:DatasetVersion)-[c:CONSUMED_BY]->(r) WITH r, count(c) AS inputs "
        "OPTIONAL MATCH (r)-[:GENERATED]->(:DatasetVersion)-[:VERSION_OF]->(d:Dataset) "
        "OPTIONAL MATCH (f:Field {datasetUid: d.uid})-[l:DERIVED_FROM]->() "
        "RETURN inputs, count(DISTINCT f) AS columns, count(l) AS lineage", {"uid": run_id})
    found = {k: int(v) for k, v in rows[0].items()} if rows else {}
    want = {"inputs": INPUTS, "columns": COLUMNS, "lineage": COLUMNS}
    return found if found == want else None


@pytest.mark.slow
def test_a_burst_of_garbage_truncated_avro_and_valid_events_loses_nothing(
    kafka_broker: str, graphs: GraphFactory, tmp_path: Path,
) -> None:
    rng = random.Random(17)
    garbage = [rng.randbytes(5 * 1024 * 1024), b"{" + b'"x": 1, ' * 400_000]  # 5 MB, 3.2 MB
    codec = EventCodec()
    runs = [str(uuid.uuid4()) for _ in range(RUNS)]
    valid = [(e.partition_key(), codec.encode(e)) for run in runs
             for e in (event(run, "START", 1_767_225_600_000),
                       event(run, "COMPLETE", 1_767_225_660_000))]
    truncated = [value[: len(value) // 2] for _key, value in valid[:2]]
    ol_run = str(uuid.uuid4())
    ol_nan = json.dumps({
        "eventType": "COMPLETE", "eventTime": "2026-12-01T00:00:00Z", "producer": "tests",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json",
        "run": {"runId": ol_run, "facets": {"custom": {
            "_producer": "tests", "_schemaURL": "s", "score": float("nan"),
            "worst": float("-inf")}}},
        "job": {"namespace": "dlq-e2e", "name": "ol-nan"}, "inputs": [],
        "outputs": [{"namespace": "file", "name": "/data/ol-nan.csv"}]}).encode()
    assert b"NaN" in ol_nan
    wide_run = str(uuid.uuid4())
    burst = [(b"garbage-0", garbage[0]), *valid[:7], (b"t-0", truncated[0]), *valid[7:13],
             (b"garbage-1", garbage[1]), (b"t-1", truncated[1]), *valid[13:]]
    extra = {"LINEAGE_PROCESSOR__BATCH_TIMEOUT_S": "0.02"}
    with graphs.fresh("neo4j") as graph, \
            pipeline_stack(kafka_broker, graph, tmp_path / "stack", extra) as stack:
        allow_big_messages(stack)
        producer = Producer({"bootstrap.servers": stack.settings.kafka.bootstrap_servers,
                             "linger.ms": 100, "message.max.bytes": BIG + 4096})
        for key, value in burst:
            producer.produce(stack.settings.topics.events, key=key, value=value)
        producer.produce(stack.settings.topics.openlineage, key=ol_run.encode(), value=ol_nan)
        with LineageClient.from_config(bootstrap_servers=stack.settings.kafka.bootstrap_servers,
                                       topic=stack.settings.topics.events,
                                       spool_dir=str(tmp_path / "spool")) as client:
            client.emit(wide_event(wide_run))  # about 1.1 MB: the emitter splits it
            assert client.flush(60) == 0
        assert producer.flush(60) == 0
        processor_pid = stack.processor.pid

        backend = open_backend(graph)
        try:
            def complete_runs() -> int | None:
                rows = backend.query("MATCH (r:Run) WHERE r.uid IN $ids AND "
                                     "r.state = 'COMPLETE' RETURN count(r) AS n", {"ids": runs})
                return int(rows[0]["n"]) if int(rows[0]["n"]) == RUNS else None

            wait_for(complete_runs, f"all {RUNS} valid runs COMPLETE in the graph",
                     timeout_s=120)
            rows = wait_for(lambda: backend.query(
                "MATCH (r:Run {uid: $uid}) WHERE r.state = 'COMPLETE' "
                "RETURN r.extraFacets AS extra", {"uid": ol_run}), "the NaN run in the graph")
            extra = json.loads(rows[0]["extra"])
            custom = json.loads(extra["custom"], parse_constant=lambda c: pytest.fail(c))
            assert custom["score"] is None and custom["worst"] is None
            flags = json.loads(extra["lineage_normalised"])
            assert flags["count"] == 1, flags
            wide_counts = wait_for(lambda: _wide_counts(backend, wide_run),
                                   "the wide run whole in the graph", timeout_s=120)
        finally:
            backend.close()

        def dead_letters() -> list[dict[str, object]] | None:
            found = lineage_json(stack, "dlq", "list")
            assert isinstance(found, list)
            return found if len(found) >= 4 else None

        dead = wait_for(dead_letters, "the 4 bad messages in the DLQ", timeout_s=60)
        assert Counter(str(d["reason"]) for d in dead) == {"too_large": 2, "truncated": 2}
        by_size = {int(str(d["value_bytes"])): d for d in dead}
        assert set(by_size) == {len(garbage[0]), len(garbage[1]), *map(len, truncated)}
        for value in garbage:
            record = by_size[len(value)]
            assert record["truncated"] is True and record["bytes"] == MAX_VALUE_BYTES
            assert record["value_sha256"] == hashlib.sha256(value).hexdigest()
        for value in truncated:
            assert by_size[len(value)]["truncated"] is False
        assert processor_metric(stack, "lineage_processor_dlq_total{") == 4
        assert stack.processor.alive() and stack.processor.pid == processor_pid, \
            tail(stack.processor.log_path, 40)
        assert processor_metric(stack, "lineage_processor_restarts_total") == 0

        record_id = str(by_size[len(garbage[0])]["id"])
        shown = lineage_cli(stack, "dlq", "show", record_id)
        assert shown.returncode == 0, shown.stderr
        assert f"lineage dlq fetch {record_id} --out FILE" in shown.stdout
        print(f"burst: {len(valid)} valid events of {RUNS} runs -> {RUNS} COMPLETE in the "
              f"graph; {len(garbage)} garbage + {len(truncated)} truncated -> {len(dead)} DLQ "
              f"records; OpenLineage NaN run -> graph, {flags['count']} value(s) flagged; "
              f"wide run -> graph {wide_counts}")
        out = tmp_path / "original.bin"
        fetched = lineage_cli(stack, "dlq", "fetch", record_id, "--out", str(out))
        assert fetched.returncode == 0, fetched.stderr
        assert out.read_bytes() == garbage[0]
