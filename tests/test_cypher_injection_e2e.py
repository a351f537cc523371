"""Hostile names through the real path: emitter SDK -> Kafka -> processor and sink processes ->
Neo4j -> the ``lineage`` CLI as a process.

The fast property test (:mod:`tests.test_cypher_injection`) runs hundreds of generated names
through the processor's logic in-process; this module sends a handful of hand-picked ones
(built from the same :data:`~tests.test_cypher_injection.HOSTILE_PIECES`) through the whole
pipeline, one :func:`~tests.e2e_stack.pipeline_stack` for the module:

- a canary run is written into the graph before anything, and a ``:Canary`` node (a label
  the pipeline never writes or reads: what an injected ``MATCH (n) DETACH DELETE n`` or
  ``SET`` would reach first) in the same database, Neo4j Community's only one;
- one run with plain names and three runs whose job name, dataset namespaces and names,
  column names and parameter keys and values are hostile (quotes, backticks, ``\\u0060``
  written both as the character and as text, ``}) DETACH DELETE n //``, Cypher keywords,
  newlines, tabs, unicode) are emitted with :func:`emitters.batch.job_run` and a Kafka
  transport pointed at the session broker;
- every name comes back verbatim from ``lineage run``, ``runs``, ``upstream``,
  ``downstream`` and ``fields``; the CLI finds each hostile dataset by its name;
- the graph holds exactly the canary plus four runs' worth of nodes per label and
  relationships per type, the canary run and the ``:Canary`` node are unchanged, and nothing
  went to the DLQ.

Dataset names and namespaces avoid ``:`` and ``@`` (the separators of the CLI's
``namespace:name@version`` syntax) and leading or trailing blanks (trimmed by the naming
spec's normalisation); namespaces also avoid a trailing ``/``. Columns, job names and
parameters have no such limits.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from emitters.batch import job_run
from emitters.client import LineageClient
from graph_sink.testing import VersionSpec, counts, run_mutations, snapshot
from graph_sink.writer import GraphWriter
from lineage_pipeline.events import ColumnLineageField, InputField, Transformation
from lineage_pipeline.graph import GraphBackend, Statement, open_backend
from lineage_pipeline.graph_model import NodeLabel, RelType
from tests.conftest import GraphFactory
from tests.e2e_stack import (
    PipelineStack,
    lineage_json,
    pipeline_stack,
)
from tests.support.waiting import wait_for
from tests.test_cypher_injection import HOSTILE_PIECES

pytestmark = pytest.mark.slow

JOB_NAMESPACE = "inj"
#: Hand-picked hostile strings: (job, input ns, input name, output ns, output name,
#: column 1, column 2, parameter key, parameter value) per run.
HOSTILE_RUNS: list[tuple[str, ...]] = [
    (
        "x'}) MATCH (n) DETACH DELETE n //",
        'ns"}) DETACH DELETE n WITH 1 AS x',
        "x`) DETACH DELETE n //",
        "ns\u0060 UNION MATCH (m) SET m.uid = 'pwned'",
        'x"}) DETACH DELETE n //',
        "c'`\"{}$rows",
        "MATCH (n) DETACH DELETE n",
        "k'\"`}{$x",
        "v\n}) DETACH DELETE n //\\",
    ),
    (
        "CALL db.labels() YIELD label RETURN label //",
        "ns\\u0060 text\\",
        "x\\u0060` OR 1=1 --",
        "名前 é 🔥 \u202e rtl",
        "x\nCREATE (:Evil {a: 1})\ny",
        "col\nwith\nnewlines",
        "c\u2028 line separator \t tab",
        "SET n.x = 1",
        "$rows} UNWIND $rows AS r MERGE (e:Evil) //",
    ),
    (
        "x" + "".join(HOSTILE_PIECES[:12]) + "x",
        "ns" + "".join(p for p in HOSTILE_PIECES[12:] if p.strip() == p).replace(":", "") + "x",
        "x" + "".join(HOSTILE_PIECES[::-1]).replace(":", "") + "x",
        "ns ' OR 1=1 -- } RETURN 1 x",
        "x{uid: 'y'}]->(z) CALL db.idx //",
        "x:y@z#w",
        "`",
        "",
        "\\",
    ),
]
PLAIN_RUN = ("job", "inns", "in", "outns", "out", "a", "b", "k", "v")
#: A node beside the pipeline's, in the same database: no statement of the pipeline names it.
CANARY_LABEL = "Canary"
CANARY_NODE = {"uid": "still-here", "note": "written before any hostile name arrived"}


@dataclass
class SentRun:
    """One run sent through the pipeline and the names it used."""

    run_id: str
    job: str
    src: tuple[str, str]
    dst: tuple[str, str]
    columns: tuple[str, str]
    params: dict[str, str]

    @property
    def job_uid(self) -> str:
        return f"{JOB_NAMESPACE}:{self.job}"

    @property
    def src_uid(self) -> str:
        return f"{self.src[0]}:{self.src[1]}"

    @property
    def dst_uid(self) -> str:
        return f"{self.dst[0]}:{self.dst[1]}"


@dataclass
class Injected:
    """The module's stack, the runs sent, and the canary state taken before."""

    stack: PipelineStack
    backend: GraphBackend
    runs: list[SentRun]
    canary: dict[str, Any]
    canary_uids: set[str]
    canary_counts: dict[str, int]


def per_run_shape() -> dict[str, int]:
    """Nodes per label and relationships per type of one run as sent here: a job, a run,
    an input and an output dataset with one version and one schema of two columns each, and
    column lineage from each output column to the input column of the same position."""
    return {
        NodeLabel.JOB.value: 1, NodeLabel.RUN.value: 1, NodeLabel.DATASET.value: 2,
        NodeLabel.DATASET_VERSION.value: 2, NodeLabel.SCHEMA.value: 2,
        NodeLabel.FIELD.value: 4,
        RelType.RUN_OF.value: 1, RelType.CONSUMED_BY.value: 1, RelType.GENERATED.value: 1,
        RelType.VERSION_OF.value: 2, RelType.HAS_FIELD.value: 4,
        RelType.DERIVED_FROM.value: 2,  # field -> field
    }


def emit_run(client: LineageClient, names: tuple[str, ...]) -> SentRun:
    """Run one batch job with the emitter SDK using ``names`` (see :data:`HOSTILE_RUNS`)."""
    job, src_ns, src, dst_ns, dst, col1, col2, key, value = names
    frame = pd.DataFrame({col1: [1.0, 2.0, 3.0], col2: ["a", "b", "b"]})
    with job_run(job, JOB_NAMESPACE, client=client, parameters={key: value}) as run:
        run.input_dataframe(frame, src, namespace=src_ns)
        out = run.output_dataframe(frame.iloc[::-1], dst, namespace=dst_ns)
        assert out is not None
        out.facets.columnLineage = [
            ColumnLineageField(field=c, inputFields=[InputField(
                namespace=src_ns, name=src, field=c,
                transformations=[Transformation(type="DIRECT", subtype="IDENTITY")])])
            for c in (col1, col2)
        ]
    return SentRun(run.run_id, job, (src_ns, src), (dst_ns, dst), (col1, col2), {key: value})


def write_canary(backend: GraphBackend) -> None:
    """Write a canary run and a :data:`CANARY_LABEL` node into the pipeline's graph."""
    spec = VersionSpec("canary", "table", "v1", fields={"c": {"nullCount": 0}})
    backend.ensure_schema()
    GraphWriter(backend).write([run_mutations(("canary", "job"), "canary-run", time_ms=1_000,
                                              outputs=[spec], parameters={"p": "q"})])
    backend.write_batch([Statement(f"CREATE (:{CANARY_LABEL} {{uid: $uid, note: $note}})",
                                   CANARY_NODE, "canary")])


@pytest.fixture(scope="module")
def injected(kafka_broker: str, graphs: GraphFactory,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[Injected]:
    root: Path = tmp_path_factory.mktemp("cypher-injection-e2e")
    extra = {"LINEAGE_PROCESSOR__BATCH_TIMEOUT_S": "0.02"}
    with graphs.fresh("neo4j") as graph, \
            pipeline_stack(kafka_broker, graph, root / "stack", extra) as stack:
        backend = open_backend(stack.settings.graph)
        try:
            write_canary(backend)
            canary = snapshot(backend)
            canary_uids = {uid for _, uid, _ in canary["nodes"]}
            canary_counts = counts(backend)
            client = LineageClient.from_config(
                data_dir=str(root / "emitter"),
                kafka={"bootstrap_servers": stack.settings.kafka.bootstrap_servers},
                topics={"events": stack.settings.topics.events})
            try:
                runs = [emit_run(client, names) for names in [PLAIN_RUN, *HOSTILE_RUNS]]
                assert client.flush(30.0) == 0, "every event reached the broker"
            finally:
                client.close()

            def complete() -> bool:
                rows = backend.query("MATCH (r:Run) WHERE r.uid IN $ids AND r.state = $s "
                                     "RETURN count(r) AS n",
                                     {"ids": [r.run_id for r in runs], "s": "COMPLETE"})
                return bool(rows[0]["n"] == len(runs))

            wait_for(complete, "every run COMPLETE in the graph", timeout_s=90)
            yield Injected(stack, backend, runs, canary, canary_uids, canary_counts)
        finally:
            backend.close()


def expected_counts(data: Injected) -> dict[str, int]:
    """The canary's counts plus one :func:`per_run_shape` per run sent."""
    out = dict(data.canary_counts)
    for key, n in per_run_shape().items():
        out[key] = out.get(key, 0) + n * len(data.runs)
    return out


def test_graph_has_exactly_the_sent_runs_and_the_canary_survives(injected: Injected) -> None:
    want = expected_counts(injected)

    def settled() -> bool:
        return counts(injected.backend) == want

    try:
        wait_for(settled, "the graph's counts to reach the expected shape", timeout_s=30)
    except AssertionError:
        assert counts(injected.backend) == want  # shows the difference
    assert set(want) - {CANARY_LABEL} <= {x.value for x in NodeLabel} | {x.value for x in RelType}

    now = snapshot(injected.backend)
    uids = injected.canary_uids
    assert {
        "nodes": [n for n in now["nodes"] if n[1] in uids],
        "relationships": [e for e in now["relationships"] if e[1] in uids and e[2] in uids],
    } == injected.canary, "the canary run is unchanged"
    rows = injected.backend.query(f"MATCH (c:{CANARY_LABEL}) RETURN properties(c) AS props")
    assert [r["props"] for r in rows] == [CANARY_NODE], "the node outside the model is untouched"

    dead = lineage_json(injected.stack, "dlq", "list")
    assert isinstance(dead, list)
    assert [d for d in dead
            if d.get("source_topic") == injected.stack.settings.topics.events] == []


def test_names_are_stored_verbatim(injected: Injected) -> None:
    backend = injected.backend
    runs = injected.runs
    jobs = backend.query("MATCH (j:Job) WHERE j.namespace = $ns RETURN j.name AS name",
                         {"ns": JOB_NAMESPACE})
    assert sorted(r["name"] for r in jobs) == sorted(r.job for r in runs)
    datasets = backend.query("MATCH (d:Dataset) WHERE d.namespace <> $c "
                             "RETURN d.namespace AS ns, d.name AS name", {"c": "canary"})
    assert sorted((r["ns"], r["name"]) for r in datasets) == sorted(
        [r.src for r in runs] + [r.dst for r in runs])
    fields = backend.query("MATCH (f:Field) WHERE f.datasetUid IN $ds "
                           "RETURN f.datasetUid AS ds, f.name AS name",
                           {"ds": [r.dst_uid for r in runs]})
    assert sorted((r["ds"], r["name"]) for r in fields) == sorted(
        (r.dst_uid, c) for r in runs for c in r.columns)


@pytest.mark.parametrize("index", range(len(HOSTILE_RUNS)))
def test_cli_finds_hostile_names_and_returns_them_verbatim(injected: Injected,
                                                           index: int) -> None:
    sent = injected.runs[index + 1]
    stack = injected.stack

    detail = lineage_json(stack, "run", sent.run_id)
    assert isinstance(detail, dict)
    assert detail["job"]["name"] == sent.job and detail["job"]["namespace"] == JOB_NAMESPACE
    assert detail["parameters"] == sent.params
    assert [(v["namespace"], v["name"]) for v in detail["inputs"]] == [sent.src]
    assert [(v["namespace"], v["name"]) for v in detail["outputs"]] == [sent.dst]
    assert sorted(f["name"] for f in detail["outputs"][0]["fields"]) == sorted(sent.columns)

    listed = lineage_json(stack, "runs", sent.job_uid)
    assert isinstance(listed, list)
    assert [(r["runId"], r["parameters"]) for r in listed] == [(sent.run_id, sent.params)]

    up = lineage_json(stack, "upstream", sent.dst_uid)
    assert isinstance(up, dict)
    found = {(n["label"], n.get("namespace"), n.get("name")) for n in up["nodes"]}
    assert ("Dataset", *sent.dst) in found or ("DatasetVersion", *sent.dst) in found
    assert ("DatasetVersion", *sent.src) in found, found
    assert any(n["label"] == "Run" and n["id"] == sent.run_id for n in up["nodes"])

    down = lineage_json(stack, "downstream", sent.src_uid)
    assert isinstance(down, dict)
    assert ("DatasetVersion", *sent.dst) in {
        (n["label"], n.get("namespace"), n.get("name")) for n in down["nodes"]}

    col = sent.columns[0]
    column_up = lineage_json(stack, "upstream", sent.dst_uid, "--column", col)
    assert isinstance(column_up, dict)
    assert {(n.get("dataset"), n.get("name")) for n in column_up["nodes"]
            if n["label"] == "Field"} >= {(sent.dst_uid, col), (sent.src_uid, col)}

    fields = lineage_json(stack, "fields", sent.dst_uid)
    assert isinstance(fields, list)
    assert sorted(f["name"] for f in fields) == sorted(sent.columns)
