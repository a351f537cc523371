"""OpenLineage ingestion over HTTP (issue 19, point 2) through the real pipeline: a Kafka
broker, the stream processor and the graph sink as processes (:func:`tests.e2e_stack.
pipeline_stack`), a fresh Neo4j graph, and ``lineage serve``'s app on uvicorn built from the
same settings (its own producer from :mod:`lineage_pipeline.kafka`, its own graph connection).

- openlineage-python's ``HttpTransport`` (API key, gzip) pointed at the server: the run
  reaches the graph with its inputs and outputs, and the query endpoints answer it;
- the batch form (a JSON array) likewise;
- an invalid event is a 422 and nothing reaches the topic (a batch is taken whole or not at
  all);
- a broker that does not acknowledge within ``serve.ack_timeout_s`` is a 503;
- the DLQ endpoints list and show what the processor dead-lettered, as ``lineage dlq``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import schema_dataset
from openlineage.client.transport.http import (
    ApiKeyTokenProvider,
    HttpCompression,
    HttpConfig,
    HttpTransport,
)

from lineage_app import dlq
from lineage_app.localstack.processes import free_port
from lineage_app.serve.app import create_app
from lineage_app.serve.auth import ADMIN, READER, WRITER, TokenStore
from lineage_pipeline.errors import QueryError
from lineage_pipeline.graph import open_backend
from lineage_pipeline.settings import LineageSettings
from lineage_queries.api import LineageGraph
from tests.conftest import GraphFactory
from tests.e2e_stack import PipelineStack, pipeline_stack
from tests.serve_support import call, running
from tests.support.waiting import wait_for

pytestmark = pytest.mark.slow

PRODUCER = "https://github.com/OpenLineage/OpenLineage/tree/1.54.0/client/python"


class Ingest:
    """The pipeline stack, the server over it, its tokens and a graph to read back."""

    def __init__(self, stack: PipelineStack, url: str, tokens: dict[str, str]) -> None:
        self.stack, self.url, self.tokens = stack, url, tokens
        self.settings: LineageSettings = stack.settings
        self.graph = LineageGraph(open_backend(stack.settings.graph))


@pytest.fixture(scope="module")
def ingest(kafka_broker: str, graphs: GraphFactory,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ingest]:
    root = tmp_path_factory.mktemp("serve-ingest")
    with graphs.fresh("neo4j") as graph, pipeline_stack(kafka_broker, graph, root) as stack:
        settings = stack.settings.model_copy(update={"serve": stack.settings.serve.model_copy(
            update={"tokens_file": root / "tokens.json", "rate_limit_per_s": 0.0,
                    "ack_timeout_s": 30.0})})
        store = TokenStore(root / "tokens.json")
        tokens = {role: store.add(role, role) for role in (READER, WRITER, ADMIN)}
        with running(create_app(settings)) as url:
            found = Ingest(stack, url, tokens)
            yield found
            found.graph.close()


def completed_run(graph: LineageGraph, run_id: str) -> Callable[[], dict[str, Any] | None]:
    """A probe: the run's detail once it is COMPLETE in the graph."""
    def probe() -> dict[str, Any] | None:
        try:
            detail = graph.run(run_id)
        except QueryError:
            return None
        return dict(detail) if detail.get("state") == "COMPLETE" else None
    return probe


def ol_events(run_id: str, job: str, tag: str) -> list[RunEvent]:
    """START and COMPLETE of a run reading ``raw_<tag>`` and writing ``clean_<tag>``."""
    schema = schema_dataset.SchemaDatasetFacet(fields=[
        schema_dataset.SchemaDatasetFacetFields(name="id", type="integer"),
        schema_dataset.SchemaDatasetFacetFields(name="email", type="string")])
    inputs = [InputDataset(namespace="s3://lake", name=f"raw_{tag}", facets={"schema": schema})]
    outputs = [OutputDataset(namespace="s3://lake", name=f"clean_{tag}",
                             facets={"schema": schema})]
    now = datetime.now(UTC)
    return [RunEvent(eventType=state, eventTime=now.isoformat(), producer=PRODUCER,
                     run=Run(runId=run_id), job=Job(namespace="http", name=job),
                     inputs=inputs, outputs=outputs)
            for state in (RunState.START, RunState.COMPLETE)]


def test_openlineage_http_transport_run_reaches_the_graph(ingest: Ingest) -> None:
    tag = uuid.uuid4().hex[:6]
    run_id = str(uuid.uuid4())
    transport = HttpTransport(HttpConfig(
        url=ingest.url, auth=ApiKeyTokenProvider({"apiKey": ingest.tokens[WRITER]}),
        timeout=60.0, compression=HttpCompression.GZIP))
    client = OpenLineageClient(transport=transport)
    for event in ol_events(run_id, f"etl_{tag}", tag):
        client.emit(event)
    detail = wait_for(completed_run(ingest.graph, run_id), f"run {run_id} COMPLETE", 120)
    assert detail["job"]["uid"] == f"http:etl_{tag}"
    assert [v["dataset"] for v in detail["inputs"]] == [f"s3://lake:raw_{tag}"]
    assert [v["dataset"] for v in detail["outputs"]] == [f"s3://lake:clean_{tag}"]
    answer = call(ingest.url, "/api/v1/run", token=ingest.tokens[READER],
                  params={"runId": run_id})
    assert answer.status == 200
    assert answer.json()["state"] == "COMPLETE"
    up = call(ingest.url, "/api/v1/upstream", token=ingest.tokens[READER],
              params={"node": f"s3://lake:clean_{tag}"}).json()
    assert f"s3://lake:raw_{tag}" in {n.get("dataset") for n in up["nodes"]}


def test_the_batch_form_takes_an_array(ingest: Ingest) -> None:
    from openlineage.client.serde import Serde

    tag = uuid.uuid4().hex[:6]
    run_id = str(uuid.uuid4())
    events = [Serde.to_dict(e) for e in ol_events(run_id, f"batch_{tag}", tag)]
    answer = call(ingest.url, "/api/v1/lineage/batch", token=ingest.tokens[WRITER],
                  method="POST", body=events)
    assert answer.status == 200, answer.text
    assert answer.json() == {"accepted": 2, "topic": ingest.settings.topics.openlineage}
    wait_for(completed_run(ingest.graph, run_id), f"run {run_id} COMPLETE", 120)


def _end_offset(settings: LineageSettings) -> int:
    consumer = Consumer({"bootstrap.servers": settings.kafka.bootstrap_servers,
                         "group.id": f"probe-{uuid.uuid4().hex[:6]}"})
    try:
        _low, high = consumer.get_watermark_offsets(
            TopicPartition(settings.topics.openlineage, 0), timeout=30)
        return int(high)
    finally:
        consumer.close()


def test_an_invalid_event_is_a_422_and_nothing_is_produced(ingest: Ingest) -> None:
    from openlineage.client.serde import Serde

    good = Serde.to_dict(ol_events(str(uuid.uuid4()), "valid", "v")[0])
    before = _end_offset(ingest.settings)
    token = ingest.tokens[WRITER]
    missing = call(ingest.url, "/api/v1/lineage", token=token, method="POST",
                   body={**good, "run": {}})
    assert missing.status == 422
    assert "runId" in missing.json()["detail"]
    bad_time = call(ingest.url, "/api/v1/lineage/batch", token=token, method="POST",
                    body=[good, {**good, "eventTime": "yesterday"}])
    assert bad_time.status == 422
    assert bad_time.json()["detail"].startswith("event 1:")
    not_json = call(ingest.url, "/api/v1/lineage", token=token, method="POST",
                    raw=b"{not json")
    assert not_json.status == 422
    assert _end_offset(ingest.settings) == before


def test_a_broker_that_does_not_acknowledge_is_a_503(ingest: Ingest, tmp_path: Path) -> None:
    from openlineage.client.serde import Serde

    settings = ingest.settings.model_copy(update={
        "kafka": ingest.settings.kafka.model_copy(
            update={"bootstrap_servers": f"127.0.0.1:{free_port()}"}),
        "serve": ingest.settings.serve.model_copy(
            update={"tokens_file": tmp_path / "tokens.json", "ack_timeout_s": 1.0})})
    token = TokenStore(tmp_path / "tokens.json").add("writer", WRITER)
    event = Serde.to_dict(ol_events(str(uuid.uuid4()), "unacked", "u")[0])
    with running(create_app(settings)) as url:
        answer = call(url, "/api/v1/lineage", token=token, method="POST", body=event)
    assert answer.status == 503, answer.text
    assert answer.json()["retryable"] is True
    assert "did not acknowledge" in answer.json()["detail"]
    assert answer.headers["retry-after"].isdigit()


def test_the_dlq_endpoints_show_what_lineage_dlq_shows(ingest: Ingest) -> None:
    producer = Producer({"bootstrap.servers": ingest.settings.kafka.bootstrap_servers})
    marker = f"not json {uuid.uuid4().hex}"
    producer.produce(ingest.settings.topics.openlineage, value=marker.encode(), key=b"t")
    assert producer.flush(30) == 0
    admin = ingest.tokens[ADMIN]

    def listed() -> list[dict[str, Any]] | None:
        answer = call(ingest.url, "/api/v1/dlq", token=admin,
                      params={"reason": "invalid_json"})
        assert answer.status == 200, answer.text
        rows: list[dict[str, Any]] = answer.json()
        return rows if any(r["value_bytes"] == len(marker) for r in rows) else None

    rows = wait_for(listed, "the DLQ record of the invalid message", 120)
    record_id = next(r["id"] for r in rows if r["value_bytes"] == len(marker))
    expected = {r.id: r.summary() for r in dlq.read_dlq(ingest.settings)}
    assert {r["id"]: r for r in rows} == {k: v for k, v in expected.items()
                                          if v["reason"] == "invalid_json"}
    shown = call(ingest.url, f"/api/v1/dlq/{record_id}", token=admin)
    assert shown.status == 200
    assert shown.json() == {**expected[record_id], "payload": marker}
    assert call(ingest.url, "/api/v1/dlq", token=ingest.tokens[READER]).status == 403
    assert call(ingest.url, "/api/v1/dlq/0:999999", token=admin).status == 404
