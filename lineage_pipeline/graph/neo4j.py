"""Neo4j backend: the official ``neo4j`` driver over Bolt (local default and production).

- Connection: ``GraphSettings.url`` (``bolt://``, ``bolt+s://``, ``neo4j://``, ``neo4j+s://``;
  the ``+s`` schemes turn TLS on, per the driver manual "Connection URI"), basic auth from
  ``username``/``password``, database ``name``, connection timeout and managed-transaction
  retry time ``timeout_s`` (each at most 5 s: :data:`CONNECT_TIMEOUT_S`,
  :data:`RETRY_TIME_S`). The driver object is created in the constructor, which does no
  network I/O (the driver connects on first use).
- TLS with a private CA: ``GraphSettings.ca_location`` (with a ``+s`` URL). The driver takes
  trust settings only with the plain schemes, so ``bolt+s://h`` becomes ``bolt://h`` with
  ``encrypted=True`` and ``trusted_certificates=TrustCustomCAs(ca_location)``: still
  encrypted, the certificate verified against that CA and the host name checked.
- Writes: every :meth:`Neo4jBackend.write_batch` call is one managed transaction
  (``session.execute_write``) running the statements in order; the driver retries it on
  transient errors and lost connections (driver manual, "Managed transactions").
- Reads: ``session.execute_read`` (routed to readers in a cluster).
- Schema: ``CREATE CONSTRAINT <name> IF NOT EXISTS FOR (n:Label) REQUIRE n.uid IS UNIQUE`` per
  label, and ``FOR ()-[r:TYPE]-() REQUIRE r.uid IS UNIQUE`` per keyed relationship type
  (Cypher manual, "Constraints"; the constraint brings its own index), run auto-commit.
- Errors: ``ServiceUnavailable``, ``SessionExpired`` and any error the driver classifies as
  retryable -> :class:`GraphUnavailable`; authentication and client errors, and parameters
  the driver cannot encode (e.g. an integer outside 64 bits) -> :class:`GraphError`. A server
  certificate that does not verify is a :class:`GraphError` naming ``graph.ca_location``
  (retrying cannot fix it); a server that hangs up during the Bolt handshake of an
  unencrypted URL is unavailable, with the hint that it may require TLS. Messages never
  contain the password.

``tests/test_graph_neo4j_backend.py`` runs it against a real Neo4j Community server.
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from lineage_pipeline.graph.lean_import import without_modules

# The driver imports numpy, pandas and pyarrow when they are installed (only for its
# DataFrame export and numpy parameters, which the project never uses): about 0.5 s of every
# CLI query. Not yet imported, they stay out of the driver; imported later, they work as usual.
with without_modules("numpy", "pandas", "pyarrow"):
    import neo4j
    from neo4j import WRITE_ACCESS, GraphDatabase, ManagedTransaction
    from neo4j.exceptions import (
        AuthError,
        DriverError,
        Neo4jError,
        ServiceUnavailable,
        SessionExpired,
    )

from lineage_pipeline.errors import GraphError, GraphUnavailable
from lineage_pipeline.graph.base import BackendStats, Statement, WriteSummary, plain
from lineage_pipeline.graph_model import KEYED_RELATIONSHIPS, NodeLabel, RelType
from lineage_pipeline.settings import GraphSettings

#: Upper bounds (seconds) of the driver's connection timeout and managed-transaction retry
#: time, whatever ``timeout_s`` says: the driver's own retries of a down server otherwise
#: take over a minute before the error surfaces.
CONNECT_TIMEOUT_S = 5.0
RETRY_TIME_S = 5.0

_URL_SCHEMES = ("bolt://", "bolt+s://", "bolt+ssc://", "neo4j://", "neo4j+s://", "neo4j+ssc://")


def _snake(label: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", label).lower()


#: Schema DDL per label (text from the NodeLabel allow-list, never from data).
CONSTRAINT_DDL: dict[NodeLabel, str] = {
    label: (
        f"CREATE CONSTRAINT lineage_{_snake(label.value)}_uid IF NOT EXISTS "
        f"FOR (n:{label.value}) REQUIRE n.uid IS UNIQUE"
    )
    for label in NodeLabel
}
#: Schema DDL per keyed relationship type (``KEYED_RELATIONSHIPS``): its ``uid`` unique, so a
#: MERGE finds the relationship by index (not by going through every relationship between its
#: two ends: column lineages between two fields accumulate).
RELATIONSHIP_CONSTRAINT_DDL: dict[RelType, str] = {
    rel: (
        f"CREATE CONSTRAINT lineage_rel_{rel.value}_uid "
        f"IF NOT EXISTS FOR ()-[r:{rel.value}]-() REQUIRE r.uid IS UNIQUE"
    )
    for rel in RelType if any(rel is keyed for keyed, _src, _dst in KEYED_RELATIONSHIPS)
}


def run_statements(tx: ManagedTransaction, statements: Sequence[Statement]) -> WriteSummary:
    """Transaction function of :meth:`Neo4jBackend.write_batch`: run ``statements`` in order.

    Consumes each result inside the transaction (a managed transaction function must not
    return a live result) and sums the server's counters.
    """
    created = rels = props = 0
    for st in statements:
        counters = tx.run(st.cypher, dict(st.params)).consume().counters
        created += counters.nodes_created
        rels += counters.relationships_created
        props += counters.properties_set
    return WriteSummary(created, rels, props)


def read_records(result: neo4j.Result) -> list[dict[str, Any]]:
    """Result transformer of :meth:`Neo4jBackend.query`: every record as a plain dict.

    Nodes and relationships (driver ``Mapping`` types) become dicts of their properties, as
    the backend interface promises; ``Record.data()`` would turn a relationship into a
    ``(start node, type, end node)`` tuple instead.
    """
    return [{key: plain(value) for key, value in zip(record.keys(), record, strict=True)}
            for record in result]


class Neo4jBackend:
    """A Neo4j database reached over Bolt. See the module docstring."""

    name = "neo4j"

    def __init__(self, settings: GraphSettings) -> None:
        if not settings.url.startswith(_URL_SCHEMES):
            raise GraphError(
                f"graph.url {settings.url!r} is not a Neo4j URL; use bolt://, neo4j:// or "
                "neo4j+s://host:7687"
            )
        self.settings = settings
        self.stats = BackendStats()
        auth = None
        if settings.username is not None:
            password = settings.password.get_secret_value() if settings.password else ""
            auth = neo4j.basic_auth(settings.username, password)
        url, tls = driver_target(settings)
        self._encrypted = bool(tls) or "+s" in settings.url.split("://", 1)[0]
        try:
            self.driver = GraphDatabase.driver(
                url,
                auth=auth,
                # a server that is down answers GraphUnavailable within seconds; the sink
                # retries with its own backoff and the CLI says the graph is down
                connection_timeout=min(settings.timeout_s, CONNECT_TIMEOUT_S),
                max_transaction_retry_time=min(settings.timeout_s, RETRY_TIME_S),
                user_agent="lineage-pipeline-graph-sink",
                # schema hints ("relationship type does not exist" on an empty graph) are noise
                notifications_min_severity="OFF",
                **tls,
            )
        except (ValueError, neo4j.exceptions.ConfigurationError) as exc:
            raise GraphError(f"invalid Neo4j configuration: {exc}") from exc

    def __repr__(self) -> str:
        return f"Neo4jBackend(url={self.settings.url!r}, database={self.settings.name!r})"

    def _session(self, access_mode: str) -> neo4j.Session:
        return self.driver.session(database=self.settings.name, default_access_mode=access_mode)

    def query(self, cypher: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """Run read-only ``cypher`` in a managed read transaction (``Driver.execute_query``,
        retried by the driver: one round trip fewer than a session's ``execute_read``, about
        1 ms of the 2.7 ms a small query took here)."""
        with _mapped_errors("query", self._encrypted):
            rows: list[dict[str, Any]] = self.driver.execute_query(
                cypher, dict(params or {}), database_=self.settings.name,
                routing_=neo4j.RoutingControl.READ, result_transformer_=read_records)
        self.stats.queries += 1
        return rows

    def write_batch(self, statements: Sequence[Statement]) -> WriteSummary:
        """Run ``statements`` in one managed write transaction (retried by the driver)."""
        if not statements:
            return WriteSummary()
        with _mapped_errors("write", self._encrypted), self._session(WRITE_ACCESS) as session:
            summary = session.execute_write(run_statements, list(statements))
        # one exchange per statement (RUN+PULL pipelined) plus BEGIN+COMMIT
        self.stats.record_write(statements, round_trips=len(statements) + 1)
        return summary

    def ensure_schema(self) -> None:
        """Create the ``uid`` uniqueness constraint of every label and of every keyed
        relationship type (``IF NOT EXISTS``)."""
        with _mapped_errors("create constraints", self._encrypted), \
                self._session(WRITE_ACCESS) as session:
            for ddl in [*CONSTRAINT_DDL.values(), *RELATIONSHIP_CONSTRAINT_DDL.values()]:
                session.run(ddl).consume()

    def close(self) -> None:
        """Close the driver and its connection pool (idempotent)."""
        self.driver.close()


def driver_target(settings: GraphSettings) -> tuple[str, dict[str, Any]]:
    """Return the URL and the TLS options to open the driver with.

    Without ``ca_location``: the URL as configured and no options. With it (``bolt+s://`` or
    ``neo4j+s://``, checked by :class:`GraphSettings`): the plain scheme plus ``encrypted``
    and ``trusted_certificates``, as the driver accepts trust settings only that way.
    """
    if settings.ca_location is None:
        return settings.url, {}
    scheme, _, rest = settings.url.partition("://")
    trust = neo4j.TrustCustomCAs(str(settings.ca_location))
    return f"{scheme.removesuffix('+s')}://{rest}", {"encrypted": True,
                                                     "trusted_certificates": trust}


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and the exceptions it was raised from or during, innermost last."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _unavailable(what: str, exc: DriverError, encrypted: bool) -> GraphError:
    """The error for a connection failure: untrusted certificate, or unavailable."""
    for cause in _causes(exc):
        if isinstance(cause, ssl.SSLCertVerificationError):
            reason = cause.verify_message or str(cause)
            return GraphError(
                f"Neo4j's TLS certificate is not trusted ({what}): {reason}; set "
                "graph.ca_location to the PEM file of the CA that signed it, and use the "
                "host name the certificate names in graph.url"
            )
    hint = ""
    if not encrypted and "handshake" in str(exc):
        hint = ("; the server closed the connection during the Bolt handshake: if it "
                "requires TLS, use bolt+s:// or neo4j+s://")
    return GraphUnavailable(f"Neo4j unavailable ({what}): {exc}{hint}")


@contextmanager
def _mapped_errors(what: str, encrypted: bool = True) -> Iterator[None]:
    """Translate driver errors into :class:`GraphUnavailable` / :class:`GraphError`.

    ``encrypted``: whether the connection uses TLS (for the hint of a refused handshake).
    """
    try:
        yield
    except AuthError as exc:
        raise GraphError(f"Neo4j refused the credentials ({what}): {exc.message}") from exc
    except (ServiceUnavailable, SessionExpired) as exc:
        raise _unavailable(what, exc, encrypted) from exc
    except Neo4jError as exc:
        if exc.is_retryable():
            raise GraphUnavailable(f"Neo4j transient error ({what}): {exc.code}") from exc
        raise GraphError(f"Neo4j rejected {what}: {exc.code}: {exc.message}") from exc
    except DriverError as exc:
        if exc.is_retryable():
            raise GraphUnavailable(f"Neo4j unavailable ({what}): {exc}") from exc
        raise GraphError(f"Neo4j driver error ({what}): {exc}") from exc
    except (ValueError, TypeError, OverflowError) as exc:  # PackStream: 64-bit integers
        raise GraphError(f"cannot encode parameters for {what}: {exc}") from exc
