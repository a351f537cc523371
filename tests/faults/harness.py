"""Shared machinery of the fault-injection scenarios.

- :func:`make_runs`: a deterministic stream of lineage events (chained runs with explicit
  dataset versions, schemas, statistics and column lineage);
- :class:`Feeder`: produces events to the events topic the way the emitter does (key =
  ``partition_key()``, ``lineage-crc32`` header), optionally paced from a thread;
- :func:`read_topic`: every message of a topic, read with a manual-assign consumer up to
  the high watermarks (no consumer-group join);
- :func:`build_reference` / :func:`reference_graph`: the graph one linear pass over the events
  topic gives (:class:`~stream_processor.processor.EventProcessor` with in-memory state, one
  message at a time, then :class:`~graph_sink.writer.GraphWriter`) — what every faulty run
  must equal; :func:`reference_graph` writes it on a Neo4j server leased for the purpose;
- :func:`converged_diff`: wait until a graph equals the reference graph of a topic;
- :func:`acked_accounting`: acknowledged events missing from, or repeated in, a topic;
- :func:`graph_diff`: missing / extra / duplicated counts between two graphs;
- :func:`start_processor` / :func:`start_sink`: the real services as processes (by pid);
- :func:`report`: the one line per scenario that ``make test -s`` shows.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import AbstractContextManager, closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    Message,
    Producer,
    TopicPartition,
)

from graph_sink.testing import snapshot
from graph_sink.writer import GraphWriter
from lineage_app.localstack.processes import (
    ManagedProcess,
    port_open,
    start_python_service,
)
from lineage_pipeline.codec import EventCodec, integrity_header
from lineage_pipeline.errors import DecodeError
from lineage_pipeline.events import LineageEvent
from lineage_pipeline.graph import GraphBackend, open_backend
from lineage_pipeline.graph_model import GraphMutations
from lineage_pipeline.graph_record import GraphRecordCodec
from lineage_pipeline.settings import GraphSettings, LineageSettings
from stream_processor.dlq import OutRecord, SourceMessage
from stream_processor.processor import EventProcessor
from stream_processor.state import MemoryRunStore, MemoryVersionStore
from tests.e2e_stack import stack_env
from tests.support.waiting import wait_until

CODEC = EventCodec()
GRAPH_CODEC = GraphRecordCodec()
T0 = 1_700_000_000_000




SCHEMA = [{"name": "id", "type": "int"}, {"name": "email", "type": "string"},
          {"name": "email_hash", "type": "string"}]


def run_events(tag: str, i: int) -> list[LineageEvent]:
    """START, RUNNING, COMPLETE of run ``i`` of stream ``tag``: reads ``{tag}.d{i}`` version
    ``v{i}``, writes ``{tag}.d{i+1}`` version ``v{i+1}``; every dataset has the columns
    ``id``, ``email`` and ``email_hash`` (:data:`SCHEMA`); in the output ``id`` and ``email``
    are copies of the input's, ``email_hash`` a masking of its ``email``."""
    run_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"lineage-faults/{tag}/{i}"))
    job = {"namespace": "faults", "name": f"{tag}.job{i % 5}"}
    t = T0 + i * 1000
    src_name = f"{tag}.d{i}"

    def derived(out: str, col: str, masking: bool = False) -> dict[str, Any]:
        kind = {"type": "DIRECT", "subtype": "TRANSFORMATION" if masking else "IDENTITY",
                "masking": masking}
        return {"field": out, "inputFields": [
            {"namespace": "faults", "name": src_name, "field": col, "transformations": [kind]}]}

    src = {"namespace": "faults", "name": src_name, "version": f"v{i}",
           "facets": {"schema": SCHEMA}}
    dst = {"namespace": "faults", "name": f"{tag}.d{i + 1}", "version": f"v{i + 1}",
           "facets": {
               "schema": SCHEMA,
               "statistics": {"rowCount": 10 + i, "columns": [
                   {"name": "id", "nullCount": 0, "min": 0.0, "max": float(i)}]},
               "columnLineage": [derived("id", "id"), derived("email", "email"),
                                 derived("email_hash", "email", masking=True)]}}
    base: dict[str, Any] = {"producer": "tests/faults", "run": {"runId": run_id}, "job": job}
    return [
        LineageEvent.model_validate({**base, "eventType": "START", "eventTime": t,
                                     "inputs": [src]}),
        LineageEvent.model_validate({**base, "eventType": "RUNNING", "eventTime": t + 100,
                                     "run": {"runId": run_id,
                                             "facets": {"metrics": {"loss": 1.0 / (i + 1)}}}}),
        LineageEvent.model_validate({**base, "eventType": "COMPLETE", "eventTime": t + 200,
                                     "inputs": [src], "outputs": [dst]}),
    ]


def make_runs(tag: str, count: int, start: int = 0) -> list[LineageEvent]:
    """The events of runs ``start .. start+count-1`` of stream ``tag``, run by run."""
    return [e for i in range(start, start + count) for e in run_events(tag, i)]


class Feeder:
    """Produces lineage events to ``topic`` as the emitter does (idempotent producer,
    ``acks=all``, key ``partition_key()``, ``lineage-crc32`` header)."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.topic = topic
        # librdkafka's log (every refused connection while a broker is down) goes to logging
        self.producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True,
                                  "acks": "all", "linger.ms": 2},
                                 logger=logging.getLogger("tests.faults.feeder"))
        self.sent = 0
        #: Event ids the broker acknowledged, and ``(event id, error)`` of failed deliveries.
        self.acked: list[str] = []
        self.failed: list[tuple[str, str]] = []

    def send(self, event: LineageEvent) -> None:
        """Produce one event (asynchronously; its delivery lands in :attr:`acked` or
        :attr:`failed`)."""
        value = CODEC.encode(event)
        event_id = event.eventId

        def delivered(err: KafkaError | None, _msg: Message) -> None:
            if err is None:
                self.acked.append(event_id)
            else:
                self.failed.append((event_id, str(err)))

        self.producer.produce(self.topic, value, event.partition_key(),
                              headers=[integrity_header(value)], on_delivery=delivered)
        self.producer.poll(0)
        self.sent += 1

    def send_raw(self, key: bytes, value: bytes,
                 headers: list[tuple[str, str | bytes | None]]) -> None:
        """Produce raw bytes with the given headers (fault injection)."""
        self.producer.produce(self.topic, value, key, headers=headers)
        self.sent += 1

    def flush(self, timeout_s: float = 30.0) -> None:
        """Wait until every produced message is acknowledged; raise if some are not."""
        left = self.producer.flush(timeout_s)
        assert left == 0, f"{left} messages not acknowledged by the broker"

    def paced(self, events: list[LineageEvent], rate_per_s: float,
              flush_timeout_s: float = 30.0) -> threading.Thread:
        """Start a thread that sends ``events`` at ``rate_per_s`` and flushes (waiting up to
        ``flush_timeout_s`` for the acknowledgements); return it."""

        def run() -> None:
            gap = 1.0 / rate_per_s
            nxt = time.monotonic()
            for ev in events:
                self.send(ev)
                nxt += gap
                time.sleep(max(0.0, nxt - time.monotonic()))
            self.flush(flush_timeout_s)

        thread = threading.Thread(target=run, name="feeder", daemon=True)
        thread.start()
        return thread


def read_topic(bootstrap: str, topic: str, timeout_s: float = 30.0) -> list[Message]:
    """Every message of every partition of ``topic``, partition by partition in offset order,
    up to the high watermarks at the call (Kafka's high watermark is the offset after the
    last acknowledged record; nothing here is transactional, so no control records)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"reader-{uuid.uuid4()}",
                         "enable.auto.commit": False, "fetch.wait.max.ms": 100})
    try:
        meta = consumer.list_topics(topic, timeout=10).topics[topic]
        parts = sorted(meta.partitions)
        highs = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                 for p in parts}
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts])
        out: dict[int, list[Message]] = {p: [] for p in parts}
        deadline = time.monotonic() + timeout_s
        while not all(not highs[p] or (out[p] and (out[p][-1].offset() or 0) >= highs[p] - 1)
                      for p in parts):
            assert time.monotonic() < deadline, f"read {sum(map(len, out.values()))} from {topic}"
            msg = consumer.poll(0.1)
            if msg is not None and msg.error() is None:
                out[msg.partition() or 0].append(msg)
        return [m for p in parts for m in out[p]]
    finally:
        consumer.close()


def end_offsets_read(bootstrap: str, topic: str,
                     timeout_s: float = 30.0) -> dict[int, tuple[int, int]]:
    """Per non-empty partition of ``topic``: ``(high watermark, offset after the last record
    actually there)``, both read at the partition's end: records are read from the high
    watermark - 1 on until the broker reports the end, whose offset is the high watermark at
    that moment (a processor still writing only moves both). Equal on Kafka; Tansu reported
    the first as the last record *batch*'s base offset + 1, which made Faust stop restoring a
    table early."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"ends-{uuid.uuid4()}",
                         "enable.auto.commit": False, "enable.partition.eof": True})
    try:
        meta = consumer.list_topics(topic, timeout=10).topics[topic]
        highs: dict[int, int] = {}
        for part in sorted(meta.partitions):
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, part), timeout=10)
            if high > low:
                highs[part] = high
        consumer.assign([TopicPartition(topic, part, high - 1) for part, high in highs.items()])
        ends = dict(highs)
        waiting = set(highs)
        deadline = time.monotonic() + timeout_s
        while waiting:
            assert time.monotonic() < deadline, f"no end of {topic} partitions {waiting}"
            msg = consumer.poll(0.2)
            if msg is None:
                continue
            part = msg.partition() or 0
            err = msg.error()
            if err is not None and err.code() == KafkaError._PARTITION_EOF:
                waiting.discard(part)
                highs[part] = msg.offset() or 0  # the high watermark the end was reached at
            elif err is None:
                ends[part] = max(ends[part], (msg.offset() or 0) + 1)
        return {part: (highs[part], ends[part]) for part in highs}
    finally:
        consumer.close()


def source_message(msg: Message) -> SourceMessage:
    """The processor's view of a consumed message (headers as ``(name, bytes)`` pairs)."""
    raw = msg.headers() or []
    pairs = raw.items() if isinstance(raw, dict) else raw
    headers = tuple((k, v.encode() if isinstance(v, str) else v) for k, v in pairs)
    return SourceMessage(msg.topic() or "", msg.partition() or 0, msg.offset() or 0, msg.key(),
                         msg.value(), None, headers)


def linear_records(messages: list[Message], graph_topic: str = "graph",
                   dlq_topic: str = "dlq") -> tuple[list[OutRecord], list[OutRecord]]:
    """Run ``messages`` once, in order, through the processor logic with in-memory state,
    one message per batch. Returns the graph records and the DLQ records."""
    proc = EventProcessor(graph_topic=graph_topic, dlq_topic=dlq_topic,
                          runs=MemoryRunStore(), versions=MemoryVersionStore())
    graph: list[OutRecord] = []
    dead: list[OutRecord] = []
    for msg in messages:
        proc.handle(source_message(msg))
        for rec in proc.drain():
            (graph if rec.topic == graph_topic else dead).append(rec)
    return graph, dead


def linear_pass(messages: list[Message], graph_topic: str = "graph",
                dlq_topic: str = "dlq") -> tuple[list[GraphMutations], list[OutRecord]]:
    """:func:`linear_records`, the graph records decoded to their upserts."""
    graph, dead = linear_records(messages, graph_topic, dlq_topic)
    return [GRAPH_CODEC.decode(rec.value) for rec in graph], dead


def build_reference(bootstrap: str, topic: str, graph: GraphSettings) -> GraphBackend:
    """Write the graph of one linear pass over ``topic`` into ``graph`` (an empty graph) and
    return its open backend."""
    mutations, _dead = linear_pass(read_topic(bootstrap, topic))
    backend = open_backend(graph)
    backend.ensure_schema()
    GraphWriter(backend).write(mutations)
    return backend


class GraphLeases(Protocol):
    """The session's graph servers (``tests.conftest.GraphFactory``, fixture ``graphs``)."""

    def fresh(self, backend: str = "neo4j") -> AbstractContextManager[GraphSettings]:
        """Return a context manager yielding settings of an empty graph."""
        ...


@contextmanager
def reference_graph(graphs: GraphLeases, bootstrap: str, topic: str) -> Iterator[GraphBackend]:
    """Yield the open backend of :func:`build_reference` on an empty Neo4j graph leased from
    ``graphs`` (Neo4j Community has one database per server: the reference graph is a server
    of its own); close it and end the lease afterwards."""
    with graphs.fresh("neo4j") as settings:
        backend = build_reference(bootstrap, topic, settings)
        try:
            yield backend
        finally:
            backend.close()


def acked_accounting(feeder: Feeder, bootstrap: str, topic: str) -> tuple[int, int]:
    """``(lost, duplicated)`` of the events the broker acknowledged to ``feeder``: acked event
    ids absent from ``topic``, and copies of any event id in ``topic`` beyond the first
    (undecodable messages in ``topic`` are not events and are left out)."""
    in_topic: Counter[str] = Counter()
    for msg in read_topic(bootstrap, topic):
        try:
            in_topic[CODEC.decode(msg.value() or b"").eventId] += 1
        except DecodeError:
            continue
    lost = len(set(feeder.acked) - set(in_topic))
    return lost, sum(n - 1 for n in in_topic.values())


@dataclass
class GraphDiff:
    """How a graph differs from the reference: items (nodes and relationships, with their
    properties) missing from it, extra in it, and uids / relationships stored more than once."""

    missing: int
    extra: int
    duplicated: int
    examples: list[Any] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        """``True`` when the graph equals the reference."""
        return self.missing == 0 and self.extra == 0 and self.duplicated == 0


def duplicates(backend: GraphBackend) -> int:
    """Count nodes sharing a uid and relationships sharing (type, ends, runId) beyond the
    first."""
    nodes = backend.query("MATCH (n) WITH n.uid AS u, count(*) AS c WHERE c > 1 "
                          "RETURN coalesce(sum(c - 1), 0) AS d")
    relationships = backend.query("MATCH (a)-[r]->(b) WITH a.uid AS s, b.uid AS t, type(r) AS k, "
                          "r.runId AS run, count(*) AS c WHERE c > 1 "
                          "RETURN coalesce(sum(c - 1), 0) AS d")
    return int(nodes[0]["d"]) + int(relationships[0]["d"])


def graph_diff(reference: GraphBackend, actual: GraphBackend) -> GraphDiff:
    """Compare ``actual`` with ``reference`` (every node and relationship with its props)."""
    ref, act = snapshot(reference), snapshot(actual)
    ref_items = Counter([("node", *n) for n in ref["nodes"]]
                        + [("relationship", *e) for e in ref["relationships"]])
    act_items = Counter([("node", *n) for n in act["nodes"]]
                        + [("relationship", *e) for e in act["relationships"]])
    missing = ref_items - act_items
    extra = act_items - ref_items
    examples = _explain(missing, extra)
    return GraphDiff(sum(missing.values()), sum(extra.values()), duplicates(actual), examples)


def converged_diff(graphs: GraphLeases, bootstrap: str, topic: str, graph: GraphSettings,
                   timeout_s: float) -> tuple[GraphDiff, int]:
    """Build the reference graph of events ``topic`` (:func:`reference_graph`), wait up to
    ``timeout_s`` seconds until the graph at ``graph`` equals it, and return the last
    :class:`GraphDiff` and the number of Run nodes in the graph."""
    with reference_graph(graphs, bootstrap, topic) as reference, \
            closing(open_backend(graph)) as actual:
        wait_until(lambda: graph_diff(reference, actual).clean, timeout_s, step_s=1.0)
        diff = graph_diff(reference, actual)
        runs = int(actual.query("MATCH (r:Run) RETURN count(r) AS c")[0]["c"])
    return diff, runs


def _explain(missing: Counter[Any], extra: Counter[Any], limit: int = 40) -> list[Any]:
    """Name, for a few differing items, the properties that differ (``(key, ref, actual)``)."""
    extra_by_id = {item[:-1]: dict(item[-1]) for item in extra}
    out: list[Any] = []
    for item in list(missing)[:limit]:
        ident, ref_props = item[:-1], dict(item[-1])
        act_props = extra_by_id.get(ident)
        if act_props is None:
            out.append(("missing", ident))
            continue
        keys = sorted(set(ref_props) | set(act_props))
        out.append(("differs", ident, [(k, ref_props.get(k), act_props.get(k)) for k in keys
                                       if ref_props.get(k) != act_props.get(k)]))
    missing_ids = {item[:-1] for item in missing}
    out += [("extra", i) for i in list(extra_by_id) if i not in missing_ids][:limit]
    return out


def start_processor(settings: LineageSettings, data_dir: Path, module: str = "stream_processor",
                    name: str = "processor") -> ManagedProcess:
    """Start the processor process for ``settings``; ready when its metrics port answers."""
    return start_python_service(
        name, module, [], data_dir, ready=lambda: port_open(settings.processor.metrics_port),
        env=stack_env(settings),
    )


def start_sink(settings: LineageSettings, data_dir: Path, name: str = "sink",
               **env: str) -> ManagedProcess:
    """Start a sink process for ``settings`` (``env``: extra variables); ready when its
    metrics port answers."""
    return start_python_service(
        name, "graph_sink", [], data_dir, ready=lambda: port_open(settings.sink.metrics_port),
        env={**stack_env(settings), **env},
    )


def log_count(log_path: Path, needle: str) -> int:
    """How many lines of ``log_path`` contain ``needle``."""
    try:
        return sum(needle in line for line in log_path.read_text("utf-8", "replace").splitlines())
    except OSError:
        return 0


#: Every summary line of this session, shown again at the end of the run (see conftest).
REPORTED: list[str] = []


def report(scenario: str, *, lost: int, duplicated: int, skipped: int, **more: object) -> str:
    """Print and return the scenario's summary line (also listed in pytest's summary)."""
    extras = " ".join(f"{k}={v}" for k, v in more.items())
    line = (f"FAULT SCENARIO {scenario}: lost={lost} duplicated={duplicated} "
            f"skipped={skipped} {extras}").rstrip()
    print(line)
    REPORTED.append(line)
    return line


def graph_topic_states(settings: LineageSettings, examples: list[Any]) -> dict[str, list[str]]:
    """For the runs among ``examples`` (a :class:`GraphDiff`'s): each of the run's events in
    the events topic (``event TYPE @partition:offset``), then every record the processor
    published for the run on the graph topic, in order (``STATE first=.. last=..
    @partition:offset``). Tells an event never stitched from a record the sink lost."""
    runs = {str(ex[1][2]).removeprefix("run:") for ex in examples
            if ex[0] == "differs" and ex[1][1] == "Run"}
    out: dict[str, list[str]] = {}
    bootstrap = settings.kafka.bootstrap_servers
    for msg in read_topic(bootstrap, settings.topics.events):
        try:
            ev = CODEC.decode(msg.value() or b"")
        except DecodeError:
            continue
        if ev.run.runId in runs:
            out.setdefault(ev.run.runId, []).append(
                f"event {ev.eventType.value} t={ev.eventTime} @{msg.partition()}:{msg.offset()}")
    for msg in read_topic(bootstrap, settings.topics.graph):
        m = GRAPH_CODEC.decode(msg.value() or b"")
        for node in m.nodes:
            if node.label.value == "Run" and any(r in node.uid for r in runs):
                p = node.props
                out.setdefault(node.uid, []).append(
                    f"{p.get('state')} first={p.get('observedAt')} last={p.get('updatedAt')}"
                    f" @{msg.partition()}:{msg.offset()}")
    return out

