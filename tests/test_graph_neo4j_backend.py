"""Neo4j backend against a real Neo4j Community server (``graph_settings``: a leased, wiped
server of ``tests/graph_servers.py``): schema constraints, managed transactions, reads and
the mapping of driver errors to :class:`GraphError` / :class:`GraphUnavailable`.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

import neo4j
import pytest
from neo4j import ManagedTransaction
from pydantic import SecretStr

from graph_sink.statements import NODE_UPSERT
from graph_sink.testing import counts
from graph_sink.writer import GraphWriter
from lineage_app.localstack.processes import free_port
from lineage_pipeline.errors import GraphError, GraphUnavailable
from lineage_pipeline.graph import WriteSummary, open_backend
from lineage_pipeline.graph import neo4j as neo4j_backend
from lineage_pipeline.graph.base import Statement
from lineage_pipeline.graph.neo4j import CONSTRAINT_DDL, Neo4jBackend
from lineage_pipeline.graph_model import GraphMutations, NodeLabel, NodeUpsert
from lineage_pipeline.settings import GraphSettings
from tests.support.waiting import wait_for


def _open(settings: GraphSettings) -> Neo4jBackend:
    backend = open_backend(settings)
    assert isinstance(backend, Neo4jBackend)
    return backend


@pytest.fixture
def backend(graph_settings: GraphSettings) -> Iterator[Neo4jBackend]:
    b = _open(graph_settings)
    b.ensure_schema()
    yield b
    b.close()


@pytest.fixture
def attempts(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the calls of the write transaction function (one per attempt the driver makes)."""
    calls: list[int] = []
    real = neo4j_backend.run_statements

    def counting(tx: ManagedTransaction, statements: Sequence[Statement]) -> WriteSummary:
        calls.append(len(statements))
        return real(tx, statements)

    monkeypatch.setattr(neo4j_backend, "run_statements", counting)
    return calls


def _uid_constraints(backend: Neo4jBackend) -> dict[str, tuple[str, str]]:
    """``constraint name -> (label, state of its index)`` of the unique constraints on uid."""
    states = {r["name"]: r["state"] for r in backend.query(
        "SHOW INDEXES YIELD name, state RETURN name, state")}
    rows = backend.query(
        "SHOW CONSTRAINTS YIELD name, type, labelsOrTypes, properties, ownedIndex "
        "WHERE type = 'UNIQUENESS' AND properties = ['uid'] "
        "RETURN name, labelsOrTypes[0] AS label, ownedIndex AS idx")
    return {r["name"]: (r["label"], states.get(r["idx"], "missing")) for r in rows}


def _drop_constraints(settings: GraphSettings) -> None:
    password = settings.password.get_secret_value() if settings.password else ""
    with neo4j.GraphDatabase.driver(settings.url, auth=("neo4j", password)) as driver:
        for name in (m.group(1) for m in (re.search(r"CONSTRAINT (\S+)", d)
                                          for d in CONSTRAINT_DDL.values()) if m):
            driver.execute_query(f"DROP CONSTRAINT {name} IF EXISTS", database_=settings.name)


# -- schema -----------------------------------------------------------------------------------
def test_constraint_ddl_is_one_idempotent_unique_constraint_per_label() -> None:
    assert set(CONSTRAINT_DDL) == set(NodeLabel)
    for label, ddl in CONSTRAINT_DDL.items():
        assert re.fullmatch(
            rf"CREATE CONSTRAINT lineage_[a-z_]+_uid IF NOT EXISTS "
            rf"FOR \(n:{label.value}\) REQUIRE n\.uid IS UNIQUE", ddl), ddl
    assert CONSTRAINT_DDL[NodeLabel.DATASET_VERSION].startswith(
        "CREATE CONSTRAINT lineage_dataset_version_uid ")


def test_ensure_schema_creates_online_constraints_and_is_idempotent(
    graph_settings: GraphSettings,
) -> None:
    _drop_constraints(graph_settings)  # the leased server may keep an earlier test's schema
    backend = _open(graph_settings)
    try:
        assert _uid_constraints(backend) == {}
        backend.ensure_schema()
        created = _uid_constraints(backend)
        assert created == {f"lineage_{re.sub(r'(?<!^)(?=[A-Z])', '_', lbl.value).lower()}_uid":
                           (lbl.value, "ONLINE") for lbl in NodeLabel}
        backend.ensure_schema()
        assert _uid_constraints(backend) == created
        keyed = backend.query("SHOW CONSTRAINTS YIELD name, type, labelsOrTypes, properties "
                              "WHERE type = 'RELATIONSHIP_UNIQUENESS' RETURN name, "
                              "labelsOrTypes[0] AS type, properties")
        assert {"name": "lineage_rel_DERIVED_FROM_uid", "type": "DERIVED_FROM",
                "properties": ["uid"]} in keyed
        GraphWriter(backend).write([GraphMutations("e", 1, 1,
                                                   [NodeUpsert(NodeLabel.JOB, "a", {})])])
        with pytest.raises(GraphError, match="ConstraintValidationFailed") as dup:
            backend.write_batch([Statement("CREATE (:Job {uid: 'a'})", {}, "duplicate")])
        assert not dup.value.is_retryable()
    finally:
        backend.close()


def test_ensure_schema_over_duplicate_uids_is_a_graph_error(graph_settings: GraphSettings) -> None:
    _drop_constraints(graph_settings)
    backend = _open(graph_settings)
    try:
        backend.write_batch([Statement("CREATE (:Run {uid: 'r'}), (:Run {uid: 'r'})", {}, "dup")])
        with pytest.raises(GraphError) as err:
            backend.ensure_schema()
        assert not err.value.is_retryable()
        assert "lineage_run_uid" not in _uid_constraints(backend)
        backend.write_batch([Statement("MATCH (n:Run) DETACH DELETE n", {}, "clean")])
        backend.ensure_schema()
        assert len(_uid_constraints(backend)) == len(NodeLabel)
    finally:
        backend.close()


# -- connection settings ----------------------------------------------------------------------
def test_auth_comes_from_settings_and_the_secret_stays_out_of_repr(
    backend: Neo4jBackend, graph_settings: GraphSettings,
) -> None:
    assert graph_settings.password is not None
    secret = graph_settings.password.get_secret_value()
    assert secret not in repr(backend) and secret not in repr(graph_settings)
    assert backend.query("SHOW CURRENT USER YIELD user RETURN user") == [{"user": "neo4j"}]


def test_a_wrong_password_is_a_clear_graph_error_and_not_retried(
    backend: Neo4jBackend, graph_settings: GraphSettings,
) -> None:
    wrong = "wrong-" + secrets.token_hex(8)
    bad = _open(graph_settings.model_copy(update={"password": SecretStr(wrong),
                                                  "timeout_s": 10.0}))
    started = time.monotonic()
    try:
        with pytest.raises(GraphError) as err:  # one attempt: Neo4j locks a user out after 3
            bad.query("RETURN 1 AS one")
    finally:
        bad.close()
    assert time.monotonic() - started < 10.0, "an authentication failure is not retried"
    assert type(err.value) is GraphError and not err.value.is_retryable()
    message = str(err.value)
    assert message.startswith("Neo4j refused the credentials (query): "), message
    assert "unauthorized" in message.lower() and wrong not in message
    assert backend.query("RETURN 1 AS one") == [{"one": 1}], "the right password still works"


@pytest.mark.parametrize(("url", "encrypted"), [
    ("neo4j+s://graph.example.com:7687", True), ("bolt+s://graph.example.com", True),
    ("neo4j://graph.example.com:7687", False), ("bolt://127.0.0.1:7687", False),
])
def test_tls_follows_the_url_scheme(url: str, encrypted: bool) -> None:
    backend = _open(GraphSettings(backend="neo4j", url=url, username="u",
                                  password=SecretStr("p")))
    assert backend.driver.encrypted is encrypted  # no connection made
    backend.close()


def test_a_redis_url_is_refused_for_neo4j() -> None:
    with pytest.raises(GraphError, match="not a Neo4j URL"):
        open_backend(GraphSettings(backend="neo4j", url="redis://127.0.0.1:6379"))


# -- managed transactions ---------------------------------------------------------------------
def test_write_batch_is_one_transaction_of_the_shared_cypher_in_order(
    backend: Neo4jBackend, attempts: list[int],
) -> None:
    m = GraphMutations("e", 5, 5, [
        NodeUpsert(NodeLabel.JOB, "ns:j", {"name": "j", "observedAt": 5}),
        NodeUpsert(NodeLabel.RUN, "r1", {"state": "START", "observedAt": 5}),
    ])
    writer = GraphWriter(backend, batch_size=10)
    statements, _ = writer.plan([m])
    assert [s.cypher for s in statements] == [NODE_UPSERT[NodeLabel.JOB],
                                              NODE_UPSERT[NodeLabel.RUN]]
    result = writer.write([m])
    assert attempts == [2], "both statements ran in one transaction function call"
    # the server's counters: uid, observedAt and name / state of each node, and updatedAt,
    # left null here (no later observation): Neo4j 5.26 counted that SET to null in some
    # runs here and not in others, so both counts are right
    assert result.summary.nodes_created == 2
    assert result.summary.properties_set in (6, 8)
    stored = backend.query("MATCH (n) WHERE n.uid IN ['ns:j', 'r1'] "
                           "RETURN n.uid AS uid, properties(n) AS p ORDER BY uid")
    assert [r["p"] for r in stored] == [{"uid": "ns:j", "observedAt": 5, "name": "j"},
                                        {"uid": "r1", "observedAt": 5, "state": "START"}]
    assert (backend.stats.statements, backend.stats.round_trips) == (2, 3)
    # later statements of a batch see the earlier ones' writes (same transaction, in order)
    backend.write_batch([
        Statement("MERGE (:Job {uid: 'ns:k'})", {}, "create"),
        Statement("MATCH (j:Job {uid: 'ns:k'}) MATCH (r:Run {uid: 'r1'}) "
                  "MERGE (r)-[:RUN_OF]->(j)", {}, "link"),
    ])
    assert counts(backend) == {"Job": 2, "Run": 1, "RUN_OF": 1}


def test_a_failing_statement_rolls_back_the_whole_batch(
    backend: Neo4jBackend, attempts: list[int],
) -> None:
    GraphWriter(backend).write([GraphMutations("e", 1, 1, [NodeUpsert(NodeLabel.JOB, "a", {})])])
    attempts.clear()
    with pytest.raises(GraphError) as err:
        backend.write_batch([
            Statement("CREATE (:Job {uid: 'b'})", {}, "first"),
            Statement("CREATE (:Job {uid: 'a'})", {}, "duplicate"),  # constraint violation
        ])
    assert "Neo.ClientError.Schema.ConstraintValidationFailed" in str(err.value)
    assert counts(backend) == {"Job": 1}, "the first statement was rolled back too"
    with pytest.raises(GraphError) as syntax:
        backend.write_batch([Statement("CREATE (:Job {uid: 'c'})", {}, "ok"),
                             Statement("MERGE (n:Job {uid: 'd'}) SET n.x = ", {}, "bad")])
    assert not syntax.value.is_retryable()
    assert "Neo.ClientError.Statement.SyntaxError" in str(syntax.value)
    assert counts(backend) == {"Job": 1}
    assert attempts == [2, 2], "client errors are not retried by the driver"


def test_query_is_a_read_transaction_returning_plain_values(backend: Neo4jBackend) -> None:
    backend.write_batch([Statement(
        "CREATE (:Job {uid: $id, tags: ['a', 'b'], n: 3})-[:RUN_OF {w: 1.5}]->(:Run {uid: 'x'})",
        {"id": "r1"}, "seed")])
    rows = backend.query(
        "MATCH (j:Job {uid: $id})-[r]->(x) RETURN j, r, j.uid AS uid, properties(j) AS props, "
        "{k: [1, 2], none: null, rel: r} AS map, [x] AS nodes, x.missing AS missing",
        {"id": "r1"})
    job = {"uid": "r1", "tags": ["a", "b"], "n": 3}
    # nodes and relationships, even nested, come back as dicts of their properties
    assert rows == [{"j": job, "r": {"w": 1.5}, "uid": "r1", "props": job,
                     "map": {"k": [1, 2], "none": None, "rel": {"w": 1.5}},
                     "nodes": [{"uid": "x"}], "missing": None}]
    assert all(type(v) in (dict, list, str, type(None)) for v in rows[0].values())
    assert type(rows[0]["r"]) is dict and type(rows[0]["nodes"][0]) is dict
    assert backend.query("MATCH (n:Nothing) RETURN n") == []
    with pytest.raises(GraphError, match="AccessMode") as refused:
        backend.query("CREATE (:Job {uid: 'written by a read'})")
    assert not refused.value.is_retryable()
    assert counts(backend) == {"Job": 1, "Run": 1, "RUN_OF": 1}


def test_invalid_cypher_is_a_graph_error_naming_the_neo4j_code(backend: Neo4jBackend) -> None:
    with pytest.raises(GraphError) as err:
        backend.query("MATCH (n RETURN n")
    assert type(err.value) is GraphError and not err.value.is_retryable()
    assert str(err.value).startswith("Neo4j rejected query: Neo.ClientError.Statement.SyntaxError")


def test_an_integer_outside_64_bits_is_a_graph_error(backend: Neo4jBackend) -> None:
    with pytest.raises(GraphError, match="cannot encode parameters") as err:
        backend.write_batch([Statement("CREATE (:Job {uid: 'big', n: $n})", {"n": 2**70}, "big")])
    assert not err.value.is_retryable()
    assert counts(backend) == {}


def test_a_deadlock_is_retried_by_the_driver_inside_the_write(
    backend: Neo4jBackend, graph_settings: GraphSettings, attempts: list[int],
) -> None:
    """A real deadlock: another transaction holds n1 and then asks for n2, which the batch
    holds while it waits for n1. Neo4j aborts the younger transaction (the batch) with a
    TransientError; the driver runs the batch again and it commits."""
    backend.write_batch([Statement("CREATE (:Job {uid: 'n1'}), (:Job {uid: 'n2'})", {}, "seed")])
    attempts.clear()
    password = graph_settings.password.get_secret_value() if graph_settings.password else ""
    failures: list[BaseException] = []

    def batch() -> None:
        try:
            backend.write_batch([Statement("MATCH (n:Job {uid: 'n2'}) SET n.a = 1", {}, "a2"),
                                 Statement("MATCH (n:Job {uid: 'n1'}) SET n.a = 1", {}, "a1")])
        except BaseException as exc:  # handed to the test
            failures.append(exc)

    with neo4j.GraphDatabase.driver(graph_settings.url, auth=("neo4j", password)) as driver, \
            driver.session(database=graph_settings.name) as session:
        other = session.begin_transaction()
        other.run("MATCH (n:Job {uid: 'n1'}) SET n.b = 1").consume()
        thread = threading.Thread(target=batch, daemon=True)
        thread.start()

        def blocked() -> bool:
            rows = driver.execute_query("SHOW TRANSACTIONS YIELD status RETURN status",
                                        database_=graph_settings.name).records
            return any(str(r["status"]).startswith("Blocked") for r in rows)

        wait_for(blocked, "the batch to wait for the lock on n1", timeout_s=30)
        other.run("MATCH (n:Job {uid: 'n2'}) SET n.b = 1").consume()  # closes the cycle
        other.commit()
        thread.join(60)
    assert not thread.is_alive() and not failures, failures
    assert attempts == [2, 2], "the deadlocked attempt was rolled back and run again"
    rows = backend.query("MATCH (n:Job) RETURN n.uid AS uid, n.a AS a, n.b AS b ORDER BY uid")
    assert rows == [{"uid": "n1", "a": 1, "b": 1}, {"uid": "n2", "a": 1, "b": 1}]


def test_a_server_nobody_listens_on_is_graph_unavailable() -> None:
    backend = _open(GraphSettings(backend="neo4j", url=f"bolt://127.0.0.1:{free_port()}",
                                  username="neo4j", password=SecretStr("unused"), timeout_s=1.0))
    calls: list[tuple[str, Any]] = [
        ("query", lambda: backend.query("RETURN 1")),
        ("write", lambda: backend.write_batch([Statement("RETURN 1", {}, "one")])),
        ("create constraints", backend.ensure_schema),
    ]
    try:
        for what, call in calls:
            with pytest.raises(GraphUnavailable) as err:
                call()
            assert err.value.is_retryable(), what
            assert str(err.value).startswith(f"Neo4j unavailable ({what}): "), str(err.value)
    finally:
        backend.close()
