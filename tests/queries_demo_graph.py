"""A lineage graph built from REAL runs of the demo pipeline, without broker or services.

The demo pipeline (:mod:`lineage_pipeline.demo.pipeline`) runs delivery 1 then delivery 2
with a :class:`~emitters.client.LineageClient` whose transport keeps the encoded envelopes in
memory. The Avro bytes then go through the processor's own logic
(:class:`~stream_processor.processor.EventProcessor`: decode, dedupe, stitch, map) one
message at a time, each graph record is decoded back to
:class:`~lineage_pipeline.graph_model.GraphMutations` and written with
:class:`~graph_sink.writer.GraphWriter` -- the same path a record takes through Kafka, minus
Kafka.
"""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from emitters.client import LineageClient
from emitters.transports.base import Envelope, Transport
from graph_sink.backends import open_backend
from graph_sink.backends.base import GraphBackend
from graph_sink.writer import GraphWriter
from lineage_pipeline.codec import AvroCodec
from lineage_pipeline.demo.pipeline import Paths, deliver, ingest, run_pipeline, stop_spark
from lineage_pipeline.graph_model import GraphMutations
from lineage_pipeline.settings import GraphSettings
from stream_processor.dlq import SourceMessage
from stream_processor.processor import EventProcessor
from stream_processor.state import MemoryDedupeStore, MemoryRunStore, MemoryVersionStore


class MemoryTransport(Transport):
    """Keeps every envelope in a list (thread-safe)."""

    kind = "memory"

    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []
        self._lock = threading.Lock()

    def send(self, envelope: Envelope) -> None:
        with self._lock:
            self.envelopes.append(envelope)


@dataclass
class DemoGraph:
    """The graph of two demo deliveries and what the test needs to know about them."""

    backend: GraphBackend
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
    dlq: list[str] = field(default_factory=list)


def build_demo_graph(falkordb_port: int, root: Path, rows: int | None = None,
                     engine: str = "pandas") -> DemoGraph:
    """Run deliveries 1 and 2 under ``root``, then delivery 3 whose landing file lacks the
    ``sample_id`` column (its ingest run fails), and load their lineage into a fresh graph.

    ``engine``: the demo's feature step engine; ``pandas`` (default) is the demo's own
    quick-test mode without a JVM (a Spark start costs 20-100 s on a loaded 2-core machine),
    ``spark`` the full demo."""
    transport = MemoryTransport()
    client = LineageClient(transport, topic="lineage.events")
    paths = Paths(root)
    accuracies: list[float] = []
    digests: list[str] = []
    between = 0
    for delivery in (1, 2):
        if delivery == 2:
            assert client.flush(30.0) == 0
            time.sleep(0.01)
            between = int(time.time() * 1000)
            time.sleep(0.01)
        deliver(paths, delivery, rows=rows)
        digests.append(hashlib.sha256(paths.landing.read_bytes()).hexdigest())
        accuracies.append(run_pipeline(paths, client, engine=engine))
    if engine == "spark":
        stop_spark()  # ends the Spark application run (its COMPLETE event)
    assert client.flush(30.0) == 0
    time.sleep(0.01)
    end = int(time.time() * 1000)
    time.sleep(0.01)
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
    failed = int(time.time() * 1000) + 1

    processor = EventProcessor(
        graph_topic="lineage.graph", dlq_topic="lineage.dlq", runs=MemoryRunStore(),
        dedupe=MemoryDedupeStore(3600.0), versions=MemoryVersionStore(),
    )
    codec = AvroCodec("graph_mutations")
    backend = open_backend(GraphSettings(url=f"redis://127.0.0.1:{falkordb_port}",
                                         name=f"demo_{uuid.uuid4().hex[:10]}"))
    backend.ensure_schema()
    writer = GraphWriter(backend)
    dlq: list[str] = []
    for offset, env in enumerate(transport.envelopes):
        processor.handle(SourceMessage(env.topic, 0, offset, env.key, env.value))
        batch: list[GraphMutations] = []
        for record in processor.drain():
            if record.topic == "lineage.dlq":
                dlq.append(dict(record.headers).get("reason", b"").decode())
                continue
            batch.append(GraphMutations.from_record(codec.decode(record.value)))
        writer.write(batch)
    return DemoGraph(backend, paths, accuracies, digests, between, end, failed,
                     len(transport.envelopes), dlq)
