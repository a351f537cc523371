"""The interface every graph backend implements, and the types it exchanges.

A backend knows how to talk to one graph server (connection, transactions, schema DDL,
error mapping). It never builds Cypher: the upsert statements come from
:mod:`graph_sink.statements` and the read queries from :mod:`lineage_pipeline.graph.catalog`,
and both are shared by every backend.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class Statement:
    """One parameterised Cypher statement: fixed ``cypher`` text, its ``params`` and a short
    ``name`` for error messages (e.g. ``upsert Run``)."""

    cypher: str
    params: Mapping[str, Any]
    name: str = ""


@dataclass(slots=True)
class BackendStats:
    """What a backend has sent to its server since it was opened.

    ``round_trips``: network request/response exchanges used by :meth:`GraphBackend.write_batch`
    (FalkorDB pipelines all statements of one call into one; Neo4j needs one per statement plus
    the commit). ``statements``: write statements executed; ``by_cypher``: the same, per
    statement text (lets tests count the statements of each mutation group). ``queries``: read
    queries answered by :meth:`GraphBackend.query`.
    """

    round_trips: int = 0
    statements: int = 0
    queries: int = 0
    by_cypher: Counter[str] = field(default_factory=Counter)

    def record_write(self, statements: Sequence[Statement], round_trips: int) -> None:
        """Count one :meth:`GraphBackend.write_batch` call."""
        self.round_trips += round_trips
        self.statements += len(statements)
        self.by_cypher.update(s.cypher for s in statements)


@dataclass(frozen=True, slots=True)
class WriteSummary:
    """Counters a server reported for one :meth:`GraphBackend.write_batch` call."""

    nodes_created: int = 0
    relationships_created: int = 0
    properties_set: int = 0


@runtime_checkable
class GraphBackend(Protocol):
    """A connection to one graph (a FalkorDB graph key or a Neo4j database).

    Construction does no network I/O; the first call connects. Every method raises
    :class:`~lineage_pipeline.errors.GraphUnavailable` (retryable) when the server cannot be
    reached or timed out, and :class:`~lineage_pipeline.errors.GraphError` for anything that
    will fail again unchanged (bad Cypher, rejected values, authentication).
    """

    #: ``"falkordb"`` or ``"neo4j"``.
    name: str
    #: Counters of what was sent (see :class:`BackendStats`).
    stats: BackendStats

    def query(self, cypher: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """Run a read-only query; return one dict per record, keyed by the RETURN column names.

        Values are plain Python (``None``, bool, int, float, str, list, dict); nodes and
        relationships, if returned, come back as dicts of their properties.
        """
        ...

    def write_batch(self, statements: Sequence[Statement]) -> WriteSummary:
        """Execute write ``statements`` in order (Neo4j: in one managed transaction)."""
        ...

    def ensure_schema(self) -> None:
        """Create the indexes and the uniqueness constraints on ``uid`` (idempotent)."""
        ...

    def close(self) -> None:
        """Release connections (idempotent)."""
        ...


def plain(value: Any) -> Any:
    """Return ``value`` with driver containers turned into plain dicts and lists."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def finite_or_none(value: Any) -> Any:
    """Return ``None`` for NaN and infinities (not storable in FalkorDB), else ``value``."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
