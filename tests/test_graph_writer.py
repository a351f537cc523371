"""Batched idempotent graph writes on real servers, once per backend (``any_graph``: Neo4j
and FalkorDB): property rules, round trips, schema, error mapping."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import pytest
from pydantic import SecretStr

from graph_sink.statements import NODE_UPSERT, RELATIONSHIP_UPSERT
from graph_sink.testing import VersionSpec, counts, run_mutations, snapshot
from graph_sink.writer import GraphWriter
from lineage_app.localstack.processes import free_port
from lineage_pipeline.errors import GraphError, GraphUnavailable
from lineage_pipeline.graph import GraphBackend, open_backend
from lineage_pipeline.graph.base import Statement
from lineage_pipeline.graph_model import (
    GraphMutations,
    NodeLabel,
    NodeUpsert,
    RelationshipUpsert,
    RelType,
)
from lineage_pipeline.settings import GraphSettings
from tests.graph_servers import falkordb_settings

if TYPE_CHECKING:
    from tests.conftest import GraphFactory


def _down(backend: str) -> GraphBackend:
    """A backend of kind ``backend`` pointed at a loopback port nobody listens on."""
    port = free_port()
    if backend == "neo4j":
        settings = GraphSettings(backend="neo4j", url=f"bolt://127.0.0.1:{port}",
                                 username="neo4j", password=SecretStr("unused"), timeout_s=1.0)
    else:
        settings = falkordb_settings(port).model_copy(update={"timeout_s": 1.0})
    return open_backend(settings)


def _uid_constraints(backend: GraphBackend) -> list[tuple[str, str]]:
    """``(label, state)`` of every unique constraint on ``uid`` alone, as the server lists
    them (Neo4j: ``SHOW CONSTRAINTS`` and the state of the index backing each one)."""
    if backend.name == "falkordb":
        rows = backend.query("CALL db.constraints()")
        return sorted((r["label"], r["status"]) for r in rows
                      if r["type"] == "UNIQUE" and r["properties"] == ["uid"])
    rows = backend.query(
        "SHOW CONSTRAINTS YIELD type, labelsOrTypes, properties, ownedIndex "
        "WHERE type = 'UNIQUENESS' AND properties = ['uid'] "
        "RETURN labelsOrTypes[0] AS label, ownedIndex AS idx")
    states = {r["name"]: r["state"] for r in backend.query(
        "SHOW INDEXES YIELD name, state RETURN name, state")}
    return sorted((r["label"], "OPERATIONAL" if states.get(r["idx"]) == "ONLINE"
                   else str(states.get(r["idx"]))) for r in rows)


def _pipeline() -> list[GraphMutations]:
    """Two deliveries of a three-step pipeline (ingest -> train -> evaluate)."""
    out = []
    for n, t in ((1, 1_000_000), (2, 2_000_000)):
        landing = VersionSpec("file", "/data/landing.csv", f"d{n}", digest=f"land{n}",
                              fields={"radius": {"mean": 16.0 * n, "nullCount": 0}})
        raw = VersionSpec("file", "/data/raw.parquet", f"r{n}", digest=f"raw{n}",
                          fields={"radius": {"mean": 16.0 * n, "nullCount": 0}})
        model = VersionSpec("file", "/data/model.pkl", f"m{n}", kind="model", digest=f"mod{n}")
        out.append(run_mutations(("demo", "ingest"), f"ingest-{n}", time_ms=t,
                                 inputs=[landing], outputs=[raw]))
        out.append(run_mutations(("demo", "train"), f"train-{n}", time_ms=t + 10_000,
                                 inputs=[raw], outputs=[model], metrics={"loss": 0.1 * n}))
    return out


def _node(backend: GraphBackend, label: str, uid: str) -> dict[str, object]:
    rows = backend.query(f"MATCH (n:{label} {{uid: $uid}}) RETURN properties(n) AS p", {"uid": uid})
    assert len(rows) == 1, rows
    return rows[0]["p"]  # type: ignore[no-any-return]


def test_schema_has_unique_uid_constraint_per_label_and_is_idempotent(
    backend: GraphBackend,
) -> None:
    first = _uid_constraints(backend)
    backend.ensure_schema()  # second time: no error, nothing added
    assert _uid_constraints(backend) == first == sorted(
        (label.value, "OPERATIONAL") for label in NodeLabel)


def test_writing_the_same_mutations_twice_gives_identical_counts(backend: GraphBackend) -> None:
    writer = GraphWriter(backend, batch_size=7)
    mutations = _pipeline()
    writer.write(mutations)
    once = (counts(backend), snapshot(backend))
    writer.write(mutations)
    for m in mutations:  # and once more, record by record
        writer.write([m])
    assert (counts(backend), snapshot(backend)) == once
    assert once[0] == {  # one schema per dataset with columns, written once
        "Job": 2, "Run": 4, "Dataset": 3, "DatasetVersion": 6, "Schema": 2, "Field": 2,
        "RUN_OF": 4, "CONSUMED_BY": 4, "GENERATED": 4, "VERSION_OF": 6, "HAS_FIELD": 2,
    }


def test_arrival_order_does_not_matter(
    backend: GraphBackend, any_graph: GraphSettings, graphs: GraphFactory,
) -> None:
    mutations = _pipeline()
    GraphWriter(backend).write(mutations)
    # a second graph alive at the same time (Neo4j: a second server)
    with graphs.fresh(any_graph.backend) as second:
        other = open_backend(second)
        try:
            other.ensure_schema()
            writer = GraphWriter(other, batch_size=3)
            # relationships of every record first (bare endpoint nodes), then the nodes, newest
            # first
            for m in reversed(mutations):
                writer.write([GraphMutations(m.source_event_id, m.event_time, m.published_at,
                                             [], m.relationships)])
            for m in reversed(mutations):
                writer.write([GraphMutations(m.source_event_id, m.event_time, m.published_at,
                                             m.nodes, [])])
            assert snapshot(other) == snapshot(backend)
        finally:
            other.close()


def _run(uid: str, state: str, t: int, **props: object) -> GraphMutations:
    node = NodeUpsert(NodeLabel.RUN, uid, {"state": state, "observedAt": t, **props})  # type: ignore[dict-item]
    return GraphMutations(f"e-{uid}-{state}-{t}", t, t, [node], [])


@pytest.mark.parametrize("same_batch", [False, True])
def test_run_state_terminal_wins(backend: GraphBackend, same_batch: bool) -> None:
    writer = GraphWriter(backend)
    sequences = {
        "r1": ["START", "COMPLETE", "RUNNING"],  # late RUNNING after COMPLETE
        "r2": ["COMPLETE", "START"],             # START arrives last
        "r3": ["START", "RUNNING"],              # no terminal yet: newest wins
        "r4": ["RUNNING", "FAIL", "STALE"],      # STALE never hides FAIL
        "r5": ["COMPLETE", "FAIL"],              # terminal after terminal: newest wins
    }
    batch = [_run(uid, s, 100 + i) for uid, states in sequences.items()
             for i, s in enumerate(states)]
    if same_batch:
        writer.write(batch)
    else:
        for m in batch:
            writer.write([m])
    states = {uid: _node(backend, "Run", uid)["state"] for uid in sequences}
    assert states == {"r1": "COMPLETE", "r2": "COMPLETE", "r3": "RUNNING", "r4": "FAIL",
                      "r5": "FAIL"}


@pytest.mark.parametrize("same_batch", [False, True])
def test_observed_at_is_the_first_observation_and_updated_at_the_last(
    backend: GraphBackend, same_batch: bool
) -> None:
    def rec(t: int) -> GraphMutations:
        return GraphMutations(f"e{t}", t, t,
                              [NodeUpsert(NodeLabel.JOB, "ns:j",
                                          {"observedAt": t, "updatedAt": t})],
                              [RelationshipUpsert(RelType.RUN_OF, NodeLabel.RUN, "run",
                                                  NodeLabel.JOB, "ns:j",
                                                  {"observedAt": t, "updatedAt": t})])

    batch = [rec(200), rec(100), rec(300), rec(150)]
    writer = GraphWriter(backend)
    if same_batch:
        writer.write(batch)  # the same relationship four times in one statement, folded
    else:
        for m in batch:
            writer.write([m])
    job = _node(backend, "Job", "ns:j")
    assert (job["observedAt"], job["updatedAt"]) == (100, 300)
    relationship = backend.query("MATCH (:Run)-[r:RUN_OF]->(:Job) RETURN properties(r) AS p")
    assert [(e["p"]["observedAt"], e["p"]["updatedAt"]) for e in relationship] == [(100, 300)]
    # the run node exists only as a bare endpoint: no times of its own
    assert _node(backend, "Run", "run") == {"uid": "run"}


@pytest.mark.parametrize("order", [(0, 1, 2), (2, 1, 0), (1, 2, 0)])
def test_updated_at_is_the_latest_of_the_records_last_observations(
    backend: GraphBackend, order: tuple[int, ...]
) -> None:
    """A record's ``updatedAt`` is its element's last observation (a replayed, partial run
    state can be published after a fuller one): the graph keeps the max in any order."""
    times = [(200, 250), (100, 120), (150, 400)]
    writer = GraphWriter(backend)
    for i in order:
        first, last = times[i]
        writer.write([GraphMutations(f"e{i}", first, first, [NodeUpsert(
            NodeLabel.JOB, "ns:j", {"observedAt": first, "updatedAt": last})])])
    job = _node(backend, "Job", "ns:j")
    assert (job["observedAt"], job["updatedAt"]) == (100, 400)


def test_null_and_non_finite_values_never_erase_stored_ones(backend: GraphBackend) -> None:
    writer = GraphWriter(backend)
    uid = "file:/x@1"
    writer.write([GraphMutations("a", 1, 1, [NodeUpsert(
        NodeLabel.DATASET_VERSION, uid, {"rowCount": 5, "digest": "abc", "observedAt": 1})])])
    writer.write([GraphMutations("b", 2, 2, [NodeUpsert(
        NodeLabel.DATASET_VERSION, uid,
        {"rowCount": None, "digest": "abd", "bytes": math.nan, "observedAt": 2,
         "uid": "hijack", "updatedAt": math.inf})])])
    assert _node(backend, "DatasetVersion", uid) == {
        "uid": uid, "rowCount": 5, "digest": "abd", "observedAt": 1}
    writer.write([GraphMutations("c", 3, 3, [NodeUpsert(
        NodeLabel.DATASET_VERSION, uid, {"observedAt": 3, "updatedAt": 3})])])
    writer.write([GraphMutations("d", 4, 4, [NodeUpsert(
        NodeLabel.DATASET_VERSION, uid, {"observedAt": 4})])])  # no last: keeps the stored one
    assert _node(backend, "DatasetVersion", uid) == {
        "uid": uid, "rowCount": 5, "digest": "abd", "observedAt": 1, "updatedAt": 3}


def test_n_mutations_take_at_most_ceil_n_over_batch_size_statements_per_group(
    backend: GraphBackend,
) -> None:
    """Regression check that batching is in effect (counted by the backend, not timed)."""
    n, batch_size = 23, 5
    mutations = [
        GraphMutations(f"e{i}", i, i,
                       [NodeUpsert(NodeLabel.RUN, f"run-{i}",
                                   {"state": "COMPLETE", "observedAt": i}),
                        NodeUpsert(NodeLabel.JOB, f"ns:job-{i}", {"observedAt": i})],
                       [RelationshipUpsert(RelType.RUN_OF, NodeLabel.RUN, f"run-{i}", NodeLabel.JOB,
                                   f"ns:job-{i}", {"observedAt": i})])
        for i in range(n)
    ]
    before = backend.stats.round_trips
    GraphWriter(backend, batch_size=batch_size).write(mutations)
    bound = math.ceil(n / batch_size)
    per_group = backend.stats.by_cypher
    groups = {
        "Run": per_group[NODE_UPSERT[NodeLabel.RUN]],
        "Job": per_group[NODE_UPSERT[NodeLabel.JOB]],
        "RUN_OF": per_group[RELATIONSHIP_UPSERT[(RelType.RUN_OF, NodeLabel.RUN, NodeLabel.JOB)]],
    }
    assert groups == {"Run": bound, "Job": bound, "RUN_OF": bound}
    assert sum(per_group.values()) == 3 * bound
    # FalkorDB: one pipelined request; Neo4j: one per statement plus the commit
    expected = 1 if backend.name == "falkordb" else 3 * bound + 1
    assert backend.stats.round_trips - before == expected
    assert counts(backend) == {"Run": n, "Job": n, "RUN_OF": n}


def test_nodes_and_relationships_are_read_back_as_property_dicts(backend: GraphBackend) -> None:
    GraphWriter(backend).write([GraphMutations("e", 7, 7, [
        NodeUpsert(NodeLabel.JOB, "ns:j", {"name": "j", "observedAt": 7})], [
        RelationshipUpsert(RelType.RUN_OF, NodeLabel.RUN, "r", NodeLabel.JOB, "ns:j",
                   {"observedAt": 7})])])
    rows = backend.query("MATCH (r:Run)-[e:RUN_OF]->(j:Job) "
                         "RETURN r, e, j, [j] AS js, {rel: e} AS m")
    job = {"uid": "ns:j", "name": "j", "observedAt": 7}  # no updatedAt given, none stored
    rel = {"observedAt": 7}
    assert rows == [{"r": {"uid": "r"}, "e": rel, "j": job, "js": [job], "m": {"rel": rel}}]


def test_cypher_text_never_contains_data(backend: GraphBackend) -> None:
    evil = "x'}) DETACH DELETE n //"
    m = GraphMutations("e", 1, 1,
                       [NodeUpsert(NodeLabel.JOB, evil, {"name": evil, "observedAt": 1})],
                       [RelationshipUpsert(RelType.RUN_OF, NodeLabel.RUN, evil, NodeLabel.JOB, evil,
                                   {"observedAt": 1})])
    writer = GraphWriter(backend)
    statements, _ = writer.plan([m])
    fixed = set(NODE_UPSERT.values()) | set(RELATIONSHIP_UPSERT.values())
    assert all(s.cypher in fixed and evil not in s.cypher for s in statements)
    writer.write([m])
    assert _node(backend, "Job", evil)["name"] == evil


def test_unreachable_server_is_retryable_and_bad_cypher_is_not(backend: GraphBackend) -> None:
    down = _down(backend.name)
    try:
        with pytest.raises(GraphUnavailable) as unavailable:
            down.query("RETURN 1")
        assert unavailable.value.is_retryable()
        with pytest.raises(GraphUnavailable):
            GraphWriter(down).write(_pipeline())
    finally:
        down.close()
    with pytest.raises(GraphError) as bad:
        backend.query("MATCH (n RETURN n")
    assert not bad.value.is_retryable()
    with pytest.raises(GraphError) as refused:  # a write in a read-only query
        backend.query("CREATE (:Job {uid: 'x'})")
    assert not refused.value.is_retryable()
    assert counts(backend) == {}, "the refused write left nothing behind"


def test_unique_constraint_rejects_a_duplicate_uid(backend: GraphBackend) -> None:
    GraphWriter(backend).write([GraphMutations("e", 1, 1, [NodeUpsert(NodeLabel.JOB, "ns:a", {})])])
    with pytest.raises(GraphError, match=r"(?i)unique|already exists") as dup:
        backend.write_batch([Statement("CREATE (:Job {uid: 'ns:a'})", {}, "duplicate")])
    assert not dup.value.is_retryable()
    assert counts(backend) == {"Job": 1}
