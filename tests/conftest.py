"""Shared fixtures: real services on free loopback ports, stopped by pid afterwards.

- ``kafka_broker``: Apache Kafka, KRaft single node, log on disk (session-scoped); yields its
  bootstrap string.
- ``graphs``: the session's graph servers (:class:`GraphFactory`): ``graphs.fresh("neo4j")``
  or ``graphs.fresh("falkordb")`` is a context manager yielding settings of an empty graph.
- ``graph_settings``: an empty Neo4j graph for one test.
- ``any_graph``: an empty graph for one test, once per backend (``BACKENDS``); ``backend``:
  the open backend of it, schema made.
- ``falkordb_server`` / ``graph_name``: the FalkorDB server's port and a fresh graph key.
- ``topic_names``: fresh topic names per test (``lineage.events`` etc. with a suffix).
"""

from __future__ import annotations

import signal
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest

from lineage_app.localstack.kafka_server import start_kafka
from lineage_app.localstack.processes import ManagedProcess, start_falkordb
from lineage_pipeline.graph import GraphBackend, open_backend
from lineage_pipeline.settings import GraphSettings, TopicSettings
from tests.graph_servers import Neo4jPool, falkordb_settings

#: Graph backends the query suites run on (parametrised).
BACKENDS = ("neo4j", "falkordb")


class GraphFactory:
    """The session's graph servers: a pool of Neo4j servers and one FalkorDB server,
    each started on first use."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.neo4j = Neo4jPool(root / "neo4j")
        self._falkordb: ManagedProcess | None = None

    def falkordb_port(self) -> int:
        """Return the FalkorDB server's port, starting it on first use."""
        if self._falkordb is None:
            self._falkordb = start_falkordb(self.root)
        return self._falkordb.port

    def fresh(self, backend: str = "neo4j") -> AbstractContextManager[GraphSettings]:
        """Return a context manager yielding settings of an empty graph on ``backend``."""
        if backend == "neo4j":
            return self.neo4j.lease()
        return self._falkordb_graph()

    @contextmanager
    def _falkordb_graph(self) -> Iterator[GraphSettings]:
        yield falkordb_settings(self.falkordb_port())

    def stop(self) -> None:
        """Stop every server started, by pid."""
        self.neo4j.stop()
        if self._falkordb is not None:
            self._falkordb.stop()


@pytest.fixture
def started() -> Iterator[list[ManagedProcess]]:
    """Processes a test starts; each is stopped by pid at the end, whatever happened."""
    procs: list[ManagedProcess] = []
    yield procs
    for proc in reversed(procs):  # the last started first (clients before their servers)
        if proc.alive():  # never signal a reaped pid: it may belong to someone else by now
            proc.stop(30)


@pytest.fixture(scope="session")
def stack_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("stack")


@pytest.fixture(scope="session")
def graphs(stack_dir: Path) -> Iterator[GraphFactory]:
    factory = GraphFactory(stack_dir)
    factory.neo4j.prestart(2)  # two graphs alive at once is common (a test's and a module's)
    try:
        yield factory
    finally:
        factory.stop()


@pytest.fixture(scope="session")
def kafka_broker(stack_dir: Path, graphs: GraphFactory) -> Iterator[str]:
    # ``graphs`` first: the Neo4j servers start while Kafka does
    proc = start_kafka(stack_dir)
    try:
        yield f"127.0.0.1:{proc.port}"
    finally:
        proc.stop(30)


@pytest.fixture
def graph_settings(graphs: GraphFactory) -> Iterator[GraphSettings]:
    with graphs.fresh("neo4j") as settings:
        yield settings


@pytest.fixture(params=BACKENDS)
def any_graph(request: pytest.FixtureRequest, graphs: GraphFactory) -> Iterator[GraphSettings]:
    with graphs.fresh(request.param) as settings:
        yield settings


@pytest.fixture
def backend(any_graph: GraphSettings) -> Iterator[GraphBackend]:
    """An open backend with its schema on a fresh graph of each backend (parametrised); a
    test module may define its own ``backend``."""
    b = open_backend(any_graph)
    b.ensure_schema()
    yield b
    b.close()


@pytest.fixture(scope="session")
def falkordb_server(graphs: GraphFactory) -> int:
    return graphs.falkordb_port()


@pytest.fixture
def graph_name() -> str:
    return f"test_{uuid.uuid4().hex[:12]}"


@pytest.fixture
def topic_names() -> TopicSettings:
    suffix = uuid.uuid4().hex[:8]
    return TopicSettings(
        events=f"lineage.events.{suffix}",
        openlineage=f"openlineage.events.{suffix}",
        graph=f"lineage.graph.{suffix}",
        dlq=f"lineage.dlq.{suffix}",
        partitions=1,
    )


_QUERY_TESTS_BY_BACKEND: Counter[str] = Counter()


def _interrupted(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def pytest_configure(config: pytest.Config) -> None:
    """SIGTERM (a CI timeout, ``kill``) ends the session like Ctrl-C: pytest then runs the
    fixtures' teardown, so the session's Kafka and Neo4j servers are stopped, not orphaned."""
    signal.signal(signal.SIGTERM, _interrupted)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Count passed backend-parametrised graph tests per backend (printed at the end)."""
    if report.when == "call" and report.passed and "[" in report.nodeid:
        for backend in BACKENDS:
            if f"[{backend}" in report.nodeid or f"-{backend}]" in report.nodeid \
                    or f"-{backend}-" in report.nodeid:
                _QUERY_TESTS_BY_BACKEND[backend] += 1


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print how many graph tests (queries, writes) passed on each graph backend."""
    if _QUERY_TESTS_BY_BACKEND:
        terminalreporter.section("graph tests per backend (queries and writes)")
        for backend in BACKENDS:
            terminalreporter.write_line(f"{backend}: {_QUERY_TESTS_BY_BACKEND[backend]} passed")
