"""Graph servers for the tests: Neo4j servers leased one graph at a time, FalkorDB graph keys.

Neo4j Community holds one database, so a test (or a module) that needs a graph of its own
leases a whole server: :meth:`Neo4jPool.lease` wipes a server nobody holds (or starts one
more) and yields :class:`GraphSettings` for it; the lease ends with the test or module.
Two graphs alive at once (a sink's graph and a reference graph) are two servers.
FalkorDB graphs are keys on one server: a fresh key is a fresh graph.
"""

from __future__ import annotations

import secrets
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from lineage_app.localstack.neo4j_server import DEFAULT_DATABASE, await_neo4j, start_neo4j
from lineage_app.localstack.processes import ManagedProcess
from lineage_pipeline.settings import GraphSettings


@dataclass
class _Server:
    proc: ManagedProcess
    password: str
    ready: bool = False
    leased: bool = False


@dataclass
class Neo4jPool:
    """Neo4j servers under ``root``, each leased to one holder at a time."""

    root: Path
    heap_mb: int = 512
    servers: list[_Server] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def prestart(self, count: int) -> None:
        """Launch ``count`` servers now without waiting (they start beside other fixtures)."""
        for _ in range(count):
            self._launch()

    def _launch(self) -> _Server:
        password = secrets.token_urlsafe(16)
        proc = start_neo4j(self.root / f"neo4j-{len(self.servers)}", password=password,
                           heap_mb=self.heap_mb, wait=False)
        server = _Server(proc, password)
        self.servers.append(server)
        return server

    @contextmanager
    def lease(self) -> Iterator[GraphSettings]:
        """Yield settings for an empty graph on a server held until the block ends."""
        with self._lock:
            server = next((s for s in self.servers if not s.leased), None) or self._launch()
            server.leased = True
        try:
            if not server.ready:
                await_neo4j(server.proc, server.password)
                server.ready = True
            settings = settings_of(server)
            wipe(settings)
            yield settings
        finally:
            server.leased = False

    def stop(self) -> None:
        """Stop every server by pid."""
        for server in self.servers:
            server.proc.stop(30)


def settings_of(server: _Server) -> GraphSettings:
    """Return the graph settings of ``server``."""
    return GraphSettings(backend="neo4j", url=f"bolt://127.0.0.1:{server.proc.port}",
                         name=DEFAULT_DATABASE, username="neo4j",
                         password=server.password, timeout_s=30.0)  # type: ignore[arg-type]


def wipe(settings: GraphSettings) -> None:
    """Delete every node and relationship of the Neo4j graph ``settings`` names."""
    import neo4j

    password = settings.password.get_secret_value() if settings.password else ""
    with neo4j.GraphDatabase.driver(settings.url, auth=(settings.username or "neo4j", password),
                                    notifications_min_severity="OFF") as driver:
        with driver.session(database=settings.name) as session:
            session.run("MATCH (n) CALL { WITH n DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS"
                        ).consume()


def falkordb_settings(port: int, name: str | None = None) -> GraphSettings:
    """Return settings for a FalkorDB graph key on ``port`` (a fresh key by default)."""
    return GraphSettings(backend="falkordb", url=f"redis://127.0.0.1:{port}",
                         name=name or f"test_{uuid.uuid4().hex[:12]}")


def graph_env(settings: GraphSettings) -> dict[str, str]:
    """Return the ``LINEAGE_GRAPH__*`` variables that point a child process at ``settings``."""
    env = {
        "LINEAGE_GRAPH__BACKEND": settings.backend,
        "LINEAGE_GRAPH__URL": settings.url,
        "LINEAGE_GRAPH__NAME": settings.name,
    }
    if settings.username:
        env["LINEAGE_GRAPH__USERNAME"] = settings.username
    if settings.password is not None:
        env["LINEAGE_GRAPH__PASSWORD"] = settings.password.get_secret_value()
    return env
