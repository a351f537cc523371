"""Hostile names: any length, any Unicode, never crash or block the graph; a record the graph
refuses is isolated and dead-lettered with its field named, the rest written.

In process, on both backends (``any_graph``): the uid rule of
:mod:`lineage_pipeline.graph_model`; names of 5,000 and 100,000 characters with NUL, emoji,
right-to-left text and combining marks, mapped by the processor's mapping and written by the
sink's writer, found by their full names through the API; and
:meth:`GraphWriter.write_isolating` bisecting a batch down to its two refused records.

End to end on Neo4j (real broker, processor and sink processes, one stack for the module):
the same names go in as events and the ``lineage`` CLI finds them (an argument cannot hold
NUL: it gets U+FFFD, the documented replacement) as does the API (given the NUL itself); lone
surrogates never stop the processor; a burst of graph records with one that Neo4j refuses is
split by the sink: the good ones land, the bad one is in the DLQ naming its field.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from confluent_kafka import Producer
from pydantic import SecretStr

from graph_sink.testing import VersionSpec, legacy_mutations, run_mutations
from graph_sink.writer import GraphWriter, WriteResult
from lineage_app.localstack.processes import free_port, tail
from lineage_pipeline.codec import AvroCodec, EventCodec
from lineage_pipeline.errors import EventError, GraphUnavailable
from lineage_pipeline.events import LineageEvent
from lineage_pipeline.graph import GraphBackend, open_backend
from lineage_pipeline.graph_model import (
    DIGEST_MARK,
    MAX_UID_BYTES,
    GraphMutations,
    NodeLabel,
    bounded_uid,
    dataset_uid,
    field_uid,
    graph_text,
    job_uid,
    version_uid,
)
from lineage_pipeline.settings import GraphSettings
from lineage_queries.api import LineageGraph
from stream_processor.mapping import event_to_mutations
from tests.e2e_stack import (
    PipelineStack,
    lineage_json,
    pipeline_stack,
)
from tests.support.waiting import wait_for

if TYPE_CHECKING:
    from tests.conftest import GraphFactory

NS = "hostile"
#: Every kind of character the item names: emoji, right-to-left, combining marks, NUL.
SPICE = ("😀🧪\u202e\u05e9\u05dc\u05d5\u05dd \u0639\u0631\u0628\u064a\u202c"
         " e\u0301a\u0308\u0323 \x00 end")


def hostile(length: int, seed: str) -> str:
    """A name of ``length`` code points: ``seed``, every :data:`SPICE` character, then ASCII
    (so a 100,000-character name still fits one command-line argument, 128 KiB)."""
    core = f"{seed}-{SPICE}-"
    return core + "x" * (length - len(core))


JOB_5K = hostile(5_000, "job5k")
JOB_100K = hostile(100_000, "job100k")
DS_5K = hostile(5_000, "ds5k")
DS_100K = hostile(100_000, "ds100k")
COL_5K = hostile(5_000, "col5k")
COL_100K = hostile(100_000, "col100k")


def utf8(text: str) -> int:
    return len(text.encode("utf-8"))


def event(run_id: str, job: str, inputs: list[tuple[str, str, list[str]]],
          outputs: list[tuple[str, str, list[str]]], t: int) -> LineageEvent:
    """A COMPLETE event of ``run_id``; datasets as ``(name, version, columns)``."""
    def ds(name: str, version: str, columns: list[str]) -> dict[str, Any]:
        return {"namespace": NS, "name": name, "version": version,
                "facets": {"schema": [{"name": c, "type": "VARCHAR"} for c in columns]}}

    return LineageEvent.model_validate({
        "eventType": "COMPLETE", "eventTime": t, "producer": "tests/hostile",
        "run": {"runId": run_id}, "job": {"namespace": NS, "name": job},
        "inputs": [ds(*i) for i in inputs], "outputs": [ds(*o) for o in outputs]})


def two_runs(run_a: str, run_b: str) -> list[LineageEvent]:
    """``JOB_5K`` reads ``DS_5K`` (v1) and writes ``DS_100K`` (v2); ``JOB_100K`` reads it."""
    return [
        event(run_a, JOB_5K, [(DS_5K, "v1", [COL_5K, "plain"])],
              [(DS_100K, "v2", [COL_100K, "plain"])], 1_767_225_600_000),
        event(run_b, JOB_100K, [(DS_100K, "v2", [COL_100K])],
              [("plain_out", "v3", ["plain"])], 1_767_225_660_000),
    ]


# -- the uid rule --------------------------------------------------------------------------------
def test_uids_are_bounded_by_a_readable_prefix_and_a_digest_of_the_whole_name() -> None:
    assert dataset_uid(NS, "orders") == "hostile:orders"  # ordinary names: unchanged
    exact = "a" * (MAX_UID_BYTES - len("hostile:"))
    assert dataset_uid(NS, exact) == f"hostile:{exact}"  # 512 bytes: kept
    assert dataset_uid(NS, exact + "a") != f"hostile:{exact}a"  # 513: shortened
    for name in (DS_5K, DS_100K, "é" * 300, "😀" * 200):
        uid = dataset_uid(NS, name)
        full = graph_text(f"{NS}:{name}")
        assert utf8(uid) <= MAX_UID_BYTES
        head, mark, digest = uid.rpartition(DIGEST_MARK)
        assert mark and full.startswith(head) and utf8(head) > MAX_UID_BYTES - 80
        assert digest == hashlib.sha256(full.encode()).hexdigest()
        assert bounded_uid(uid) == uid, "idempotent: the sink may apply it again"
    # names that differ only past the prefix still get their own uids
    assert dataset_uid(NS, DS_100K) != dataset_uid(NS, DS_100K[:-1] + "y")
    long_version = version_uid(NS, DS_100K, "v2")
    assert utf8(field_uid(long_version, COL_100K)) <= MAX_UID_BYTES
    assert field_uid(version_uid(NS, "t", "1"), "c") == "hostile:t@1#c"


def test_nul_and_lone_surrogates_become_the_replacement_character() -> None:
    assert graph_text("a\x00b\ud800c\udfffd😀") == "a\ufffdb\ufffdc\ufffdd😀"
    assert job_uid(NS, "j\x00") == job_uid(NS, "j\ufffd") == "hostile:j\ufffd"
    assert graph_text(SPICE).encode("utf-8")  # encodable: every driver carries it


# -- the real backends, in process -----------------------------------------------------------------
def assert_found_by_name(graph: LineageGraph, run_a: str, run_b: str) -> None:
    """Every hostile name resolves through the API, given raw (NUL included) or normalised."""
    for name in (JOB_5K, graph_text(JOB_5K)):
        assert [r["runId"] for r in graph.runs(f"{NS}:{name}")] == [run_a]
    assert [r["runId"] for r in graph.runs(f"{NS}:{JOB_100K}")] == [run_b]
    up = graph.upstream(f"{NS}:{DS_100K}")
    root = next(n for n in up["nodes"] if n["id"] == up["root"])
    assert root["id"] == dataset_uid(NS, DS_100K) and root["name"] == graph_text(DS_100K)
    assert graph_text(DS_5K) in {n.get("name") for n in up["nodes"]}
    assert graph_text(JOB_5K) in {n.get("name") for n in up["nodes"]}
    # a column of a version whose uid is shortened: found through the version's uid
    for node, column in ((f"{NS}:{DS_100K}@v2", COL_100K), (f"{NS}:{DS_5K}@v1", COL_5K)):
        found = graph.resolve(f"{node}#{column}")
        assert found.label is NodeLabel.FIELD and found.props["name"] == graph_text(column)
    every_version = graph.resolve(f"{NS}:{DS_100K}#{COL_100K}")  # of every version
    assert every_version.label is NodeLabel.DATASET
    assert every_version.column == graph_text(COL_100K)
    walk = graph.upstream(f"{NS}:{DS_100K}@v2", column=COL_100K)
    assert walk["root"] == field_uid(version_uid(NS, DS_100K, "v2"), COL_100K)
    assert graph.resolve(dataset_uid(NS, DS_5K)).uid == dataset_uid(NS, DS_5K), "printed id"


def test_names_of_any_length_and_content_are_written_and_found_by_name(
    backend: GraphBackend,
) -> None:
    run_a, run_b = str(uuid.uuid4()), str(uuid.uuid4())
    records = [event_to_mutations(e, now_ms=1) for e in two_runs(run_a, run_b)]
    GraphWriter(backend).write(records)
    longest = backend.query("MATCH (n) RETURN max(size(n.uid)) AS uid")
    assert longest[0]["uid"] <= MAX_UID_BYTES
    assert_found_by_name(LineageGraph(backend), run_a, run_b)
    assert backend.query("RETURN 1 AS up") == [{"up": 1}], "the server is still up"


def hostile_records(count: int, prefix: str = "run") -> list[GraphMutations]:
    """``count`` runs ``<prefix>-<i>`` of one job with a hostile 5,000-character name, each
    writing its own dataset with a hostile 5,000-character name and column."""
    job = (NS, hostile(5_000, f"{prefix}-job"))
    out = []
    for i in range(count):
        spec = VersionSpec(NS, hostile(5_000, f"{prefix}-out{i}"), "v1",
                           fields={COL_5K: {"nullCount": i}})
        out.append(run_mutations(job, f"{prefix}-{i}", time_ms=1_000 * i, outputs=[spec]))
    return out


def test_a_refused_batch_is_bisected_down_to_its_bad_records(backend: GraphBackend) -> None:
    records = hostile_records(24)
    version = next(n for n in records[5].nodes if n.label.value == "DatasetVersion")
    version.props[""] = "an empty property name"  # neither backend stores it
    job = next(n for n in records[17].nodes if n.label.value == "Job")
    job.props["bad\x00name"] = 1  # nor a NUL in a property name
    attempts: list[int] = []

    def attempt(write: Callable[[], WriteResult]) -> WriteResult:
        attempts.append(1)
        return write()

    result = GraphWriter(backend).write_isolating(records, attempt=attempt)

    assert result.written == [i for i in range(24) if i not in (5, 17)]
    assert [(r.index, r.field) for r in result.rejected] == [
        (5, "DatasetVersion.props['']"), (17, "Job.props['bad\\x00name']")]
    assert all(r.reason().startswith(f"field {r.field}: ") for r in result.rejected)
    assert "graph: " in result.rejected[0].detail
    assert result.writes == len(attempts) < 24, "fewer writes than record by record"
    runs = {r["uid"] for r in backend.query("MATCH (r:Run) RETURN r.uid AS uid")}
    written = {f"run-{i}" for i in result.written}
    if backend.name == "neo4j":  # one transaction per write: a refused record leaves nothing
        assert runs == written
    else:  # FalkorDB has no transactions: statements of a refused write before it may stay
        assert written <= runs
    assert backend.query("RETURN 1 AS up") == [{"up": 1}]


@pytest.mark.parametrize("kind", ["neo4j", "falkordb"])
def test_a_graph_that_is_down_is_retried_not_rejected(kind: str) -> None:
    port = free_port()  # nobody listens: GraphUnavailable, the retryable kind
    if kind == "neo4j":
        settings = GraphSettings(backend="neo4j", url=f"bolt://127.0.0.1:{port}",
                                 username="neo4j", password=SecretStr("unused"), timeout_s=1.0)
    else:
        settings = GraphSettings(backend="falkordb", url=f"redis://127.0.0.1:{port}",
                                 name="down", timeout_s=1.0)
    down = open_backend(settings)
    calls: list[int] = []

    def attempt(write: Callable[[], WriteResult]) -> WriteResult:
        calls.append(1)
        return write()

    try:
        with pytest.raises(GraphUnavailable):
            GraphWriter(down).write_isolating(hostile_records(4), attempt=attempt)
    finally:
        down.close()
    assert calls == [1], "no bisecting: the whole batch waits for the graph"


# -- end to end: broker, processor and sink processes, Neo4j -----------------------------------
@dataclass
class Hostile:
    """The module's stack and the two runs it was sent."""

    stack: PipelineStack
    run_a: str
    run_b: str


def publish(stack: PipelineStack, topic: str, values: list[tuple[bytes, bytes]]) -> None:
    """Produce ``(key, value)`` pairs in one burst (one produce request) and wait for acks."""
    producer = Producer({"bootstrap.servers": stack.settings.kafka.bootstrap_servers,
                         "linger.ms": 200})
    for key, value in values:
        producer.produce(topic, key=key, value=value)
    assert producer.flush(30) == 0


def runs_in_graph(backend: GraphBackend, run_ids: list[str]) -> int:
    rows = backend.query("MATCH (r:Run) WHERE r.uid IN $ids AND r.state = 'COMPLETE' "
                         "RETURN count(r) AS n", {"ids": run_ids})
    return int(rows[0]["n"])


@pytest.fixture(scope="module")
def hostile_stack(kafka_broker: str, graphs: GraphFactory,
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hostile]:
    root: Path = tmp_path_factory.mktemp("hostile")
    extra = {"LINEAGE_PROCESSOR__BATCH_TIMEOUT_S": "0.02"}
    with graphs.fresh("neo4j") as graph, \
            pipeline_stack(kafka_broker, graph, root / "stack", extra) as stack:
        run_a, run_b = str(uuid.uuid4()), str(uuid.uuid4())
        codec = EventCodec()
        publish(stack, stack.settings.topics.events,
                [(e.partition_key(), codec.encode(e)) for e in two_runs(run_a, run_b)])
        backend = open_backend(graph)
        try:
            wait_for(lambda: runs_in_graph(backend, [run_a, run_b]) == 2,
                     "both runs with hostile names in the graph", timeout_s=120)
        finally:
            backend.close()
        yield Hostile(stack, run_a, run_b)


def alive(stack: PipelineStack) -> None:
    for proc in (stack.processor, stack.sink):
        assert proc.alive(), tail(proc.log_path, 40)


@pytest.mark.slow
def test_hostile_names_land_and_the_cli_and_api_find_them_by_name(hostile_stack: Hostile) -> None:
    stack, run_a, run_b = hostile_stack.stack, hostile_stack.run_a, hostile_stack.run_b
    arg = graph_text  # an argument cannot hold NUL: the CLI is given the documented replacement
    runs = lineage_json(stack, "runs", f"{NS}:{arg(JOB_5K)}")
    assert isinstance(runs, list) and [r["runId"] for r in runs] == [run_a]
    runs = lineage_json(stack, "runs", f"{NS}:{arg(JOB_100K)}")
    assert isinstance(runs, list) and [r["runId"] for r in runs] == [run_b]
    up = lineage_json(stack, "upstream", f"{NS}:{arg(DS_100K)}")
    assert isinstance(up, dict)
    root = next(n for n in up["nodes"] if n["id"] == up["root"])
    assert root["name"] == graph_text(DS_100K) and root["id"] == dataset_uid(NS, DS_100K)
    assert run_a in {n["id"] for n in up["nodes"]}
    column = lineage_json(stack, "upstream", f"{NS}:{arg(DS_100K)}@v2", "--column",
                          arg(COL_100K))
    assert isinstance(column, dict)
    assert column["root"] == field_uid(version_uid(NS, DS_100K, "v2"), COL_100K)
    fields = lineage_json(stack, "fields", f"{NS}:{arg(DS_5K)}")
    assert isinstance(fields, list)
    assert sorted(f["name"] for f in fields) == sorted([graph_text(COL_5K), "plain"])

    backend = open_backend(stack.settings.graph)
    try:
        assert_found_by_name(LineageGraph(backend), run_a, run_b)
        assert backend.query("RETURN 1 AS up") == [{"up": 1}], "Neo4j is still up"
    finally:
        backend.close()
    alive(stack)


@pytest.mark.slow
def test_lone_surrogates_never_stop_the_processor(hostile_stack: Hostile) -> None:
    """The Avro encoder refuses lone surrogates (the emitter cannot send them); OpenLineage
    JSON escapes them (``\\ud800``), so that path is the one to try: the event is written with
    U+FFFD in their place (found by the name as sent), and the next event still lands."""
    stack = hostile_stack.stack
    with pytest.raises(EventError):
        EventCodec().encode(event("r", "lone\ud800", [], [], 1))
    surrogate_run, next_run = str(uuid.uuid4()), str(uuid.uuid4())

    def openlineage(run_id: str, job: str, dataset: str) -> bytes:
        return json.dumps({
            "eventType": "COMPLETE", "eventTime": "2026-01-01T00:00:05Z",
            "producer": "https://example.com/hostile", "run": {"runId": run_id},
            "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
            "job": {"namespace": NS, "name": job}, "inputs": [],
            "outputs": [{"namespace": NS, "name": dataset}]}).encode()  # ensure_ascii: \ud800

    topic = stack.settings.topics.openlineage
    publish(stack, topic, [(b"k", openlineage(surrogate_run, "lone\ud800job", "ds\udc00x")),
                           (b"k", openlineage(next_run, "after", "plain_after"))])
    backend = open_backend(stack.settings.graph)
    try:
        wait_for(lambda: runs_in_graph(backend, [next_run]) == 1, "the next event in the graph",
                 timeout_s=60)
        assert runs_in_graph(backend, [surrogate_run]) == 1, lineage_json(stack, "dlq", "list")
        job = LineageGraph(backend).resolve(f"{NS}:lone\ud800job")
        assert job.props["name"] == "lone\ufffdjob"
        assert LineageGraph(backend).resolve(f"{NS}:ds\udc00x").props["name"] == "ds\ufffdx"
    finally:
        backend.close()
    alive(stack)


@pytest.mark.slow
def test_a_batch_with_one_record_neo4j_refuses_is_split_and_the_record_dead_lettered(
    hostile_stack: Hostile,
) -> None:
    """Another producer (or an older processor) puts graph records on the topic; one carries
    a property with an empty name, which the Avro schema allows (a map key) and Neo4j does not
    (``TokenNameError``). Sent in one burst, the records reach the sink as one batch."""
    stack = hostile_stack.stack
    prefix = f"split{uuid.uuid4().hex[:8]}"
    records = hostile_records(8, prefix)
    run_ids = [f"{prefix}-{i}" for i in range(8)]
    bad = next(n for n in records[3].nodes if n.label.value == "DatasetVersion")
    bad.props[""] = "refused"
    codec = AvroCodec("graph_mutations")
    topic = stack.settings.topics.graph
    publish(stack, topic, [(r.encode(), codec.encode(legacy_mutations(m).to_record()))
                           for r, m in zip(run_ids, records, strict=True)])
    good = [r for i, r in enumerate(run_ids) if i != 3]

    def dead_letter() -> dict[str, Any] | None:
        dead = lineage_json(stack, "dlq", "list", "--reason", "graph_rejected")
        assert isinstance(dead, list)
        return next((d for d in dead if d["source_topic"] == topic), None)

    found = wait_for(dead_letter, "the refused record in the DLQ", timeout_s=60)
    assert isinstance(found, dict)
    assert found["detail"].startswith("field DatasetVersion.props['']: empty property name")
    assert "TokenNameError" in found["detail"]
    backend = open_backend(stack.settings.graph)
    try:
        wait_for(lambda: runs_in_graph(backend, good) == len(good), "the good records")
        assert runs_in_graph(backend, [run_ids[3]]) == 0, "the refused record is not written"
        assert backend.query("RETURN 1 AS up") == [{"up": 1}]
    finally:
        backend.close()
    log = stack.sink.log_path.read_text("utf-8", "replace")
    split = re.search(r"graph refused a batch of (\d+) records; bisected in \d+ writes: "
                      r"1 refused", log)
    assert split is not None and int(split.group(1)) > 1, tail(stack.sink.log_path)
    alive(stack)
