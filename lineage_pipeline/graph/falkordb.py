"""FalkorDB backend: the ``falkordb`` client over RESP (the local default and CI).

- Connection: ``GraphSettings.url`` (``redis://``, ``rediss://``, ``falkor://``, ``falkors://``),
  ``username``/``password`` from the settings, socket timeouts of ``timeout_s``. Opened on
  first use, never in the constructor.
- Writes: all statements of one :meth:`FalkorDBBackend.write_batch` call go to the server in
  one RESP pipeline (one network round trip); each is a ``GRAPH.QUERY`` with the parameters in
  the ``CYPHER name=value ...`` header the client library builds (FalkorDB docs,
  "Parameterized queries"). FalkorDB has no multi-statement transactions; the upserts are
  idempotent, so a batch that fails half-way is simply written again.
- Reads: ``GRAPH.RO_QUERY`` (the server rejects writes in them).
- Schema: per label ``CREATE INDEX FOR (n:Label) ON (n.uid)`` plus
  ``GRAPH.CONSTRAINT CREATE ... UNIQUE NODE Label PROPERTIES 1 uid`` through the client's
  ``create_node_unique_constraint`` (FalkorDB docs, "Constraints"); both tolerate existing ones.
- Errors: connection refused/reset, timeouts and a server still loading its AOF ->
  :class:`GraphUnavailable`; anything the server rejects -> :class:`GraphError`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import redis
from falkordb import FalkorDB, Graph
from falkordb.edge import Edge
from falkordb.helpers import stringify_param_value
from falkordb.node import Node
from falkordb.query_result import QueryResult

from lineage_pipeline.errors import GraphError, GraphUnavailable
from lineage_pipeline.graph.base import BackendStats, Statement, WriteSummary
from lineage_pipeline.graph_model import NodeLabel
from lineage_pipeline.settings import GraphSettings

log = logging.getLogger(__name__)

_URL_SCHEMES = ("redis://", "rediss://", "falkor://", "falkors://", "unix://")

#: Schema DDL per label (text from the NodeLabel allow-list, never from data).
INDEX_DDL: dict[NodeLabel, str] = {
    label: f"CREATE INDEX FOR (n:{label.value}) ON (n.uid)" for label in NodeLabel
}


class FalkorDBBackend:
    """A FalkorDB graph (``GraphSettings.name`` is the graph key). See the module docstring."""

    name = "falkordb"

    def __init__(self, settings: GraphSettings) -> None:
        if not settings.url.startswith(_URL_SCHEMES):
            raise GraphError(
                f"graph.url {settings.url!r} is not a FalkorDB URL; use redis://host:port "
                "(or rediss://, falkor://, falkors://)"
            )
        self.settings = settings
        self.stats = BackendStats()
        self._db: FalkorDB | None = None
        self._graph: Graph | None = None

    def __repr__(self) -> str:
        return f"FalkorDBBackend(url={_redact(self.settings.url)!r}, graph={self.settings.name!r})"

    # -- connection --------------------------------------------------------------------------
    def _connect(self) -> Graph:
        if self._graph is None:
            s = self.settings
            with _mapped_errors("connect to FalkorDB at " + _redact(s.url)):
                self._db = FalkorDB.from_url(
                    s.url,
                    username=s.username,
                    password=s.password.get_secret_value() if s.password else None,
                    socket_timeout=s.timeout_s,
                    socket_connect_timeout=min(s.timeout_s, 5.0),
                )
            self._graph = self._db.select_graph(s.name)
        return self._graph

    def close(self) -> None:
        """Close the connection pool (idempotent)."""
        if self._db is not None:
            try:
                self._db.close()
            except redis.RedisError:  # closing a dead connection: nothing to release
                pass
        self._db = None
        self._graph = None

    # -- reads ------------------------------------------------------------------------------
    def query(self, cypher: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """Run read-only ``cypher`` (``GRAPH.RO_QUERY``); return one dict per record."""
        graph = self._connect()
        with _mapped_errors("query"):
            result = graph.ro_query(cypher, dict(params) if params else None)
        self.stats.queries += 1
        names = [h[1] for h in result.header]
        return [
            {n: _value(v) for n, v in zip(names, row, strict=True)} for row in result.result_set
        ]

    # -- writes -----------------------------------------------------------------------------
    def write_batch(self, statements: Sequence[Statement]) -> WriteSummary:
        """Send every statement in one RESP pipeline; raise on the first failed one."""
        if not statements:
            return WriteSummary()
        graph = self._connect()
        assert self._db is not None
        with _mapped_errors("write"):
            pipe = self._db.connection.pipeline(transaction=False)
            for st in statements:
                pipe.execute_command(
                    "GRAPH.QUERY", graph.name, _params_header(st.params) + st.cypher, "--compact"
                )
            replies = pipe.execute(raise_on_error=False)
        self.stats.record_write(statements, round_trips=1)
        created = rels = props = 0
        for st, reply in zip(statements, replies, strict=True):
            with _mapped_errors(f"write {st.name or 'statement'}"):
                if isinstance(reply, Exception):
                    raise reply
                result = QueryResult(graph, reply)
            created += int(result.nodes_created)
            rels += int(result.relationships_created)
            props += int(result.properties_set)
        return WriteSummary(created, rels, props)

    # -- schema -----------------------------------------------------------------------------
    def ensure_schema(self, wait_s: float = 10.0) -> None:
        """Create the ``uid`` index and unique constraint of every label; wait until active.

        Raises :class:`GraphError` when a constraint fails (duplicate uids already stored).
        """
        graph = self._connect()
        existing = self._uid_constraints(graph)
        for label, ddl in INDEX_DDL.items():
            if label.value in existing:  # skip: a refused command still lands in the AOF
                continue
            with _mapped_errors("create index"), _tolerating("already indexed"):
                graph.query(ddl)
            with _mapped_errors("create constraint"), _tolerating("already exists"):
                graph.create_node_unique_constraint(label.value, "uid")
        deadline = time.monotonic() + wait_s
        while True:
            states = self._uid_constraints(graph)
            failed = [lbl for lbl, st in states.items() if st == "FAILED"]
            if failed:
                raise GraphError(f"unique constraint on uid failed for {failed}: duplicate uids")
            if all(states.get(lbl.value) == "OPERATIONAL" for lbl in NodeLabel):
                return
            if time.monotonic() > deadline:
                log.warning("uid constraints still pending after %.0f s: %s", wait_s, states)
                return
            time.sleep(0.05)

    @staticmethod
    def _uid_constraints(graph: Graph) -> dict[str, str]:
        """Return ``label -> status`` of the unique constraints on ``uid``."""
        with _mapped_errors("list constraints"):
            rows = graph.query("CALL db.constraints()").result_set
        return {row[1]: row[4] for row in rows if row[0] == "UNIQUE" and row[2] == ["uid"]}


def _params_header(params: Mapping[str, Any]) -> str:
    """Return the ``CYPHER k=v ...`` prefix (the encoding of ``Graph._build_params_header``)."""
    if not params:
        return ""
    return "CYPHER " + " ".join(f"{k}={stringify_param_value(v)}" for k, v in params.items()) + " "


def _value(value: Any) -> Any:
    """Plain Python for a reply value: nodes and relationships, also inside lists and maps,
    become dicts of their properties (as the Neo4j backend returns them)."""
    if isinstance(value, Node | Edge):
        return _value(value.properties)
    if isinstance(value, Mapping):
        return {str(k): _value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_value(v) for v in value]
    return value


def _redact(url: str) -> str:
    """Return ``url`` without a password (``redis://user:secret@h`` -> ``redis://user:***@h``)."""
    scheme, sep, rest = url.partition("://")
    if "@" not in rest:
        return url
    creds, _, host = rest.rpartition("@")
    user = creds.split(":", 1)[0]
    return f"{scheme}{sep}{user}:***@{host}"


@contextmanager
def _tolerating(fragment: str) -> Iterator[None]:
    try:
        yield
    except redis.ResponseError as exc:
        if fragment not in str(exc):
            raise


@contextmanager
def _mapped_errors(what: str) -> Iterator[None]:
    """Translate client errors into :class:`GraphUnavailable` / :class:`GraphError`."""
    try:
        yield
    except (redis.exceptions.AuthenticationError, redis.exceptions.AuthorizationError) as exc:
        # subclasses of redis.ConnectionError, but retrying will not fix a wrong password
        raise GraphError(f"FalkorDB refused the credentials ({what}): {exc}") from exc
    except (redis.ConnectionError, redis.TimeoutError, ConnectionError, TimeoutError) as exc:
        # redis.BusyLoadingError (AOF still loading) is a redis.ConnectionError.
        raise GraphUnavailable(f"FalkorDB unavailable ({what}): {exc}") from exc
    except redis.RedisError as exc:
        raise GraphError(f"FalkorDB rejected {what}: {exc}") from exc
    except (ValueError, TypeError) as exc:
        raise GraphError(f"cannot encode parameters for {what}: {exc}") from exc
