"""Hostile names go through emitter -> processor -> sink -> API and CLI and come back verbatim.

Hypothesis generates job, dataset and column names full of quotes, backticks (also written
``\\u0060``), braces, ``$``, backslashes, newlines and Cypher keywords (``MATCH (n) DETACH
DELETE n``, ``}) RETURN 1 //``...). Each example runs a real run through
:class:`~emitters.run.RunContext` (the emitter, encoding to Avro bytes), the processor's logic
(:class:`~stream_processor.processor.EventProcessor`), the sink's
:class:`~graph_sink.writer.GraphWriter` into an empty graph (each example its own; the test
runs once per backend, Neo4j and FalkorDB), then reads it back
with :class:`~lineage_queries.api.LineageGraph` and the ``lineage upstream/runs --json`` commands.
The names must be stored verbatim, and the graph must have exactly the shape (nodes per label,
relationships per type) of the same run with plain names: nothing else changed.

Names avoid ``:``, ``@`` and ``/``: they are the separators of the CLI's NODE syntax
(``namespace:name@version``) and of dataset paths, not an injection vector.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from emitters.client import LineageClient
from emitters.run import RunContext
from graph_sink.testing import counts
from graph_sink.writer import GraphWriter
from lineage_app.cli.query_commands import register
from lineage_pipeline.events import Dataset, DatasetFacets, SchemaField
from lineage_pipeline.graph import open_backend
from lineage_pipeline.graph_model import NodeLabel, RelType
from lineage_pipeline.graph_record import GraphRecordCodec
from lineage_pipeline.settings import GraphSettings
from lineage_queries.api import LineageGraph
from stream_processor.dlq import SourceMessage
from stream_processor.processor import EventProcessor
from stream_processor.state import MemoryRunStore, MemoryVersionStore
from tests.conftest import BACKENDS, GraphFactory
from tests.support.recording import RecordingTransport

GRAPH_CODEC = GraphRecordCodec()
NAMESPACE = "tests"
HOSTILE_PIECES = [
    "'", '"', "`", "\u0060", "\\", "\\'", "{", "}", "$", "(", ")", "[", "]", ";", "//", "\n",
    "MATCH (n) DETACH DELETE n", "}) RETURN 1 //", "' OR 1=1 --", "` ", "`)-[:X]->(", "CALL db.",
    "MERGE", "SET n.x = 1", "UNWIND", "$rows", "\t", "é", "名前", " ",
]
hostile = st.lists(
    st.one_of(st.sampled_from(HOSTILE_PIECES),
              st.text(st.characters(blacklist_characters=":@/",
                                    blacklist_categories=("Cs", "Cc")), max_size=4)),
    min_size=1, max_size=6,
).map("".join).map(lambda s: "x" + s + "x")  # no leading/trailing blanks to trim


def pipeline(job: str, src: str, dst: str, column: str, graph: GraphSettings) -> str:
    """Run one job through emitter, processor and sink into ``graph``; return its run id."""
    transport = RecordingTransport()
    client = LineageClient(transport, topic="events")
    run = RunContext(job, NAMESPACE, client=client)
    schema = DatasetFacets(schema=[SchemaField(name=column, type="string")])
    run.add_input(Dataset(namespace=NAMESPACE, name=src, version="v1", facets=schema))
    run.start()
    run.add_output(Dataset(namespace=NAMESPACE, name=dst, version="v2", facets=schema))
    run.complete()
    assert client.flush(10.0) == 0
    client.close(5.0)
    proc = EventProcessor(graph_topic="graph", dlq_topic="dlq", runs=MemoryRunStore(),
                          versions=MemoryVersionStore())
    for offset, env in enumerate(transport.sent):
        proc.handle(SourceMessage("events", 0, offset, env.key, env.value))
    records = proc.drain()
    assert [r.topic for r in records] == ["graph"], "nothing dead-lettered"
    mutations = [GRAPH_CODEC.decode(r.value) for r in records]
    backend = open_backend(graph)
    try:
        backend.ensure_schema()
        GraphWriter(backend).write(mutations)
    finally:
        backend.close()
    return run.run_id


def cli(graph: GraphSettings, *args: str) -> object:
    import typer

    app = typer.Typer()

    @contextmanager
    def factory() -> Iterator[LineageGraph]:
        backend = open_backend(graph)
        try:
            yield LineageGraph(backend)
        finally:
            backend.close()

    register(app, factory)  # type: ignore[arg-type]
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def shape(graph: GraphSettings) -> dict[str, int]:
    backend = open_backend(graph)
    try:
        return counts(backend)
    finally:
        backend.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_hostile_names_are_stored_and_returned_verbatim(graphs: GraphFactory, backend: str
                                                        ) -> None:
    with graphs.fresh(backend) as plain:
        pipeline("job", "src", "dst", "col", plain)
        expected_shape = shape(plain)
    assert set(expected_shape) <= {x.value for x in NodeLabel} | {x.value for x in RelType}
    seen: list[str] = []

    @settings(max_examples=25, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow])
    @given(job=hostile, src=hostile, dst=hostile, column=hostile)
    def check(job: str, src: str, dst: str, column: str) -> None:
        if src == dst:
            dst = dst + "2"
        seen.append(job + src + dst + column)
        with graphs.fresh(backend) as graph:
            check_graph(graph, expected_shape, job, src, dst, column)

    check()
    assert len(seen) >= 20
    assert any("`" in s for s in seen) and any("'" in s for s in seen)
    assert any("DETACH DELETE" in s for s in seen)


def check_graph(graph: GraphSettings, expected_shape: dict[str, int], job: str, src: str,
                dst: str, column: str) -> None:
    """Run one run with these names through the pipeline into the empty ``graph``; check its
    shape is ``expected_shape`` and that API and CLI return the names verbatim."""
    run_id = pipeline(job, src, dst, column, graph)
    assert shape(graph) == expected_shape, "the same nodes and relationships as with plain names"

    backend = open_backend(graph)
    try:
        api = LineageGraph(backend)
        sub = api.upstream(f"{NAMESPACE}:{dst}")
        names = {(n["kind"], n.get("name")) for n in sub["nodes"]}
        assert ("dataset", src) in names or any(
            n.get("name") == src for n in sub["nodes"]), names
        runs = api.runs(f"{NAMESPACE}:{job}")
        assert [r["runId"] for r in runs] == [run_id]
        stored = backend.query("MATCH (f:Field) RETURN DISTINCT f.name AS name")
        assert {row["name"] for row in stored} == {column}
        jobs = backend.query("MATCH (j:Job) RETURN j.name AS name")
        assert [row["name"] for row in jobs] == [job]
    finally:
        backend.close()

    out = cli(graph, "upstream", f"{NAMESPACE}:{dst}", "--json")
    assert src in json.dumps(out, ensure_ascii=False) or any(
        n.get("name") == src for n in out["nodes"])  # type: ignore[index]
    runs_out = cli(graph, "runs", f"{NAMESPACE}:{job}", "--json")
    assert run_id in json.dumps(runs_out)

