"""A lineage graph built from REAL runs of the demo pipeline, without broker or services.

The demo pipeline (:mod:`lineage_app.demo.pipeline`) runs delivery 1 then delivery 2
with a :class:`~emitters.client.LineageClient` whose transport keeps the encoded envelopes in
memory. The Avro bytes then go through the processor's own logic
(:class:`~stream_processor.processor.EventProcessor`: decode, dedupe, stitch, map) one
message at a time, each graph record is decoded and expanded to
:class:`~lineage_pipeline.graph_model.GraphMutations` and written with
:class:`~graph_sink.writer.GraphWriter` -- the same path a record takes through Kafka, minus
Kafka. The pipeline runs once (:func:`run_demo`); :func:`demo_graph` loads its records
into a fresh graph of either backend.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import typer
from typer.testing import CliRunner

from emitters.client import LineageClient
from graph_sink.writer import GraphWriter
from lineage_app.cli.query_commands import register
from lineage_app.demo.pipeline import Paths, deliver, ingest, run_pipeline, stop_spark
from lineage_pipeline.freshness import FreshnessPolicy
from lineage_pipeline.graph import open_backend
from lineage_pipeline.graph.base import GraphBackend
from lineage_pipeline.graph_model import GraphMutations
from lineage_pipeline.graph_record import GraphRecordCodec
from lineage_pipeline.settings import GraphSettings
from lineage_queries.api import LineageGraph
from stream_processor.dlq import SourceMessage
from stream_processor.processor import EventProcessor
from stream_processor.state import MemoryRunStore, MemoryVersionStore
from tests.support.recording import RecordingTransport


@dataclass
class DemoRun:
    """Two demo deliveries and a failed third, processed into graph mutations (no graph yet).

    Running the pipeline (pandas, PyTorch) is the slow part, so one run is loaded into a
    fresh graph per backend with :func:`load_demo_graph`."""

    paths: Paths
    accuracies: list[float]
    landing_digests: list[str]
    #: epoch ms between the end of delivery 1's pipeline and the start of delivery 2's
    between_ms: int
    #: epoch ms after both pipelines ran, before the failed delivery 3
    end_ms: int
    #: epoch ms after delivery 3's ingest failed
    failed_ms: int
    events: int
    #: the processor's graph records, one batch per source message, in order
    batches: list[list[GraphMutations]] = field(default_factory=list)
    dlq: list[str] = field(default_factory=list)


@dataclass
class DemoGraph(DemoRun):
    """A :class:`DemoRun` loaded into one graph (``backend`` open on it)."""

    backend: GraphBackend = field(kw_only=True)


def tick_ms() -> int:
    """Return the current epoch ms once the clock has moved past it (a strict boundary:
    events before the call are earlier, events after it later)."""
    now = int(time.time() * 1000)
    while int(time.time() * 1000) <= now:
        time.sleep(0.001)
    return now


def run_demo(root: Path, rows: int | None = None, engine: str = "pandas") -> DemoRun:
    """Run deliveries 1 and 2 under ``root``, then delivery 3 whose landing file lacks the
    ``sample_id`` column (its ingest run fails), and turn their lineage into graph mutations
    with the processor's logic.

    ``engine``: the demo's feature step engine; ``pandas`` (default) is the demo's own
    quick-test mode without a JVM (a Spark start costs 20-100 s on a loaded 2-core machine),
    ``spark`` the full demo."""
    transport = RecordingTransport()
    client = LineageClient(transport, topic="lineage.events")
    paths = Paths(root)
    accuracies: list[float] = []
    digests: list[str] = []
    between = 0
    for delivery in (1, 2):
        if delivery == 2:
            assert client.flush(30.0) == 0
            tick_ms()
            between = tick_ms()
        deliver(paths, delivery, rows=rows)
        digests.append(hashlib.sha256(paths.landing.read_bytes()).hexdigest())
        accuracies.append(run_pipeline(paths, client, engine=engine))
    if engine == "spark":
        stop_spark()  # ends the Spark application run (its COMPLETE event)
    assert client.flush(30.0) == 0
    tick_ms()
    end = tick_ms()
    # delivery 3: the source sends a file without the sample_id column; ingest fails
    paths.landing.write_text("id,radius\n1,2.5\n", "utf-8")
    try:
        ingest(paths, client)
    except KeyError:
        pass
    else:  # pragma: no cover - the demo's ingest must refuse it
        raise AssertionError("ingest accepted a landing file without sample_id")
    assert client.flush(30.0) == 0
    client.close()
    failed = tick_ms() + 1

    processor = EventProcessor(
        graph_topic="lineage.graph", dlq_topic="lineage.dlq", runs=MemoryRunStore(),
        versions=MemoryVersionStore(),
    )
    codec = GraphRecordCodec()
    run = DemoRun(paths, accuracies, digests, between, end, failed, len(transport.sent))
    for offset, env in enumerate(transport.sent):
        processor.handle(SourceMessage(env.topic, 0, offset, env.key, env.value))
        batch: list[GraphMutations] = []
        for record in processor.drain():
            if record.topic == "lineage.dlq":
                run.dlq.append(dict(record.headers).get("reason", b"").decode())
                continue
            batch.append(codec.decode(record.value))
        run.batches.append(batch)
    return run


@contextmanager
def demo_graph(run: DemoRun, settings: GraphSettings) -> Iterator[DemoGraph]:
    """Write ``run``'s batches, in order, into the (empty) graph ``settings`` names; yield it
    with its backend open (closed at the end of the block)."""
    backend = open_backend(settings)
    try:
        backend.ensure_schema()
        writer = GraphWriter(backend)
        for batch in run.batches:
            writer.write(batch)
        yield DemoGraph(**{f.name: getattr(run, f.name) for f in fields(run)}, backend=backend)
    finally:
        backend.close()


class _Unclosed(LineageGraph):
    """The CLI closes its graph after each command: this one stays open for the next."""

    def close(self) -> None:
        pass


def demo_cli(graph: LineageGraph, policy: FreshnessPolicy) -> typer.Typer:
    """Return a Typer app with the query commands over ``graph``'s backend."""
    app = typer.Typer()
    register(app, lambda: _Unclosed(graph.backend), lambda: policy)
    return app


def run_cli(cli: typer.Typer, *args: str) -> str:
    """Invoke ``cli`` with ``args`` (220 columns wide); assert it succeeded; return stdout."""
    result = CliRunner().invoke(cli, list(args), env={"COLUMNS": "220"})
    assert result.exit_code == 0, (result.output, result.exception)
    return result.stdout


class Ids:
    """Dataset uids of the demo, from its paths."""

    def __init__(self, paths: Paths) -> None:
        self.landing = f"file:{paths.landing}"
        self.golden = f"file:{paths.golden}"
        self.incoming = f"file:{paths.incoming}"
        self.raw = f"file:{paths.raw}"
        self.clean = f"file:{paths.clean}"
        self.features = f"file:{paths.features}"
        self.scaler = f"file:{paths.scaler}"
        self.model = f"file:{paths.model}"
        self.evaluation = f"file:{paths.evaluation}"
        self.predictions = f"file:{paths.predictions}"


def landing(demo: DemoRun, ids: Ids, delivery: int) -> str:
    """Return the uid of the landing file's version of ``delivery`` (1 or 2)."""
    return f"{ids.landing}@{demo.landing_digests[delivery - 1]}"


def node_ids(sub: Mapping[str, Any], **match: Any) -> set[str]:
    """Return the ids of the subgraph's nodes whose properties equal ``match``."""
    return {n["id"] for n in sub["nodes"] if all(n.get(k) == v for k, v in match.items())}


def datasets_of(sub: Mapping[str, Any]) -> set[str]:
    """Return the datasets of the subgraph's dataset versions."""
    return {n["dataset"] for n in sub["nodes"] if n["label"] == "DatasetVersion"}
