"""Batched, idempotent graph writes: group mutations, one ``UNWIND`` statement per group.

:meth:`GraphWriter.plan` turns a list of :class:`GraphMutations` into statements:

1. node upserts are grouped by label, edge upserts by (type, from label, to label);
2. inside a group, upserts of the same node (``uid``) or edge (``from``, ``to``) are folded
   into one row with the same rules the Cypher applies (``first`` = min observed_at, ``last``
   = max, props last-write-wins, Run.state terminal-wins). Besides saving work this keeps a
   statement free of duplicate keys, which FalkorDB 4.16 needs: a relationship MERGEd twice
   in one UNWIND whose SET reads the relationship crashes the server;
3. each group becomes ``ceil(rows / batch_size)`` statements chosen from
   :mod:`graph_sink.statements` (node groups first, then edge groups).

So N mutations take at most ``ceil(N / batch_size)`` statements per group, and
:meth:`GraphWriter.write` sends them all in one :meth:`GraphBackend.write_batch` call.

Values the graph cannot store are dropped from ``props``: ``None`` (a null never erases a
stored value) and NaN/infinity (FalkorDB's parameter syntax has no literal for them; Neo4j
would store them, the two backends must agree). ``uid``, ``observed_at`` and ``updated_at``
are never taken from ``props``: they follow their own rules.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from graph_sink.backends.base import GraphBackend, Statement, WriteSummary
from graph_sink.retention import ErasureList
from graph_sink.statements import EDGE_UPSERT, NODE_UPSERT
from lineage_pipeline.graph_model import (
    TERMINAL_STATES,
    GraphMutations,
    NodeLabel,
    PropValue,
    RelType,
)

#: Properties the writer manages itself; never copied from a mutation's ``props``.
RESERVED = frozenset({"uid", "observed_at", "updated_at"})


@dataclass(slots=True)
class _Row:
    """One distinct node or edge of a batch, with its mutations folded together."""

    first: int | None = None
    last: int | None = None
    props: dict[str, PropValue] = field(default_factory=dict)
    state: str | None = None

    def fold(self, observed: int | None, props: dict[str, PropValue], is_run: bool) -> None:
        if observed is not None:
            self.first = observed if self.first is None else min(self.first, observed)
            self.last = observed if self.last is None else max(self.last, observed)
        for key, value in props.items():
            if key in RESERVED or (is_run and key == "state"):
                continue
            clean = _storable(value)
            if clean is not None:
                self.props[key] = clean
        if is_run:
            new = props.get("state")
            if isinstance(new, str) and not (
                self.state in TERMINAL_STATES and new not in TERMINAL_STATES
            ):
                self.state = new


def _storable(value: PropValue) -> PropValue:
    """Return ``value`` if the graph can store it, else ``None`` (dropped)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, list) and any(
        isinstance(v, float) and not math.isfinite(v) for v in value
    ):
        return None
    return value


def _observed(props: dict[str, PropValue], fallback: int) -> int:
    value = props.get("observed_at")
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return int(value)
    return fallback


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What one :meth:`GraphWriter.write` did.

    ``records``: mutation records written; ``mutations``: node + edge upserts in them;
    ``node_rows``/``edge_rows``: distinct nodes/edges after folding; ``statements``: Cypher
    statements sent; ``summary``: the server's counters.
    """

    records: int
    mutations: int
    node_rows: int
    edge_rows: int
    statements: int
    summary: WriteSummary


class GraphWriter:
    """Write :class:`GraphMutations` to a backend in grouped ``UNWIND ... MERGE`` batches.

    ``batch_size``: the most rows one statement carries (``sink.batch_size``);
    ``erasures``: when given, statistics of erased datasets' fields are dropped before every
    write, so a replay cannot restore them (:mod:`graph_sink.retention`; the sink passes one).
    """

    def __init__(self, backend: GraphBackend, batch_size: int = 5000, *,
                 erasures: ErasureList | None = None) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        self.backend = backend
        self.batch_size = batch_size
        self.erasures = erasures

    def plan(self, mutations: Iterable[GraphMutations]) -> tuple[list[Statement], int]:
        """Return the statements writing ``mutations`` and the number of upserts they hold."""
        nodes: dict[NodeLabel, dict[str, _Row]] = {}
        edges: dict[tuple[RelType, NodeLabel, NodeLabel], dict[tuple[str, str], _Row]] = {}
        count = 0
        for m in mutations:
            for n in m.nodes:
                count += 1
                row = nodes.setdefault(n.label, {}).setdefault(n.uid, _Row())
                row.fold(_observed(n.props, m.event_time), n.props, n.label is NodeLabel.RUN)
            for e in m.edges:
                count += 1
                group = edges.setdefault((e.type, e.from_label, e.to_label), {})
                erow = group.setdefault((e.from_uid, e.to_uid), _Row())
                erow.fold(_observed(e.props, m.event_time), e.props, False)
        statements: list[Statement] = []
        for label in NodeLabel:  # fixed order: nodes first, by label
            group_rows = nodes.get(label)
            if group_rows:
                rows = [_node_row(uid, r, label) for uid, r in group_rows.items()]
                statements += self._chunks(NODE_UPSERT[label], rows, f"upsert {label.value}")
        for key, edge_rows in edges.items():
            rel, src, dst = key
            rows = [_edge_row(f, t, r) for (f, t), r in edge_rows.items()]
            name = f"upsert ({src.value})-[{rel.value}]->({dst.value})"
            statements += self._chunks(EDGE_UPSERT[key], rows, name)
        return statements, count

    def _chunks(self, cypher: str, rows: list[dict[str, Any]], name: str) -> list[Statement]:
        size = self.batch_size
        return [
            Statement(cypher, {"rows": rows[i : i + size]}, name)
            for i in range(0, len(rows), size)
        ]

    def write(self, mutations: Sequence[GraphMutations]) -> WriteResult:
        """Write ``mutations`` with one :meth:`GraphBackend.write_batch` call.

        Raises :class:`~lineage_pipeline.errors.GraphUnavailable` (retry the same call later:
        the writes are idempotent) or :class:`~lineage_pipeline.errors.GraphError`.
        """
        if self.erasures is not None:
            mutations = self.erasures.scrub(mutations)
        statements, count = self.plan(mutations)
        summary = self.backend.write_batch(statements)
        node_rows = sum(len(s.params["rows"]) for s in statements if s.cypher in _NODE_TEXTS)
        edge_rows = sum(len(s.params["rows"]) for s in statements) - node_rows
        return WriteResult(len(mutations), count, node_rows, edge_rows, len(statements), summary)


_NODE_TEXTS = frozenset(NODE_UPSERT.values())


def _node_row(uid: str, row: _Row, label: NodeLabel) -> dict[str, Any]:
    out: dict[str, Any] = {"uid": uid, "first": row.first, "last": row.last, "props": row.props}
    if label is NodeLabel.RUN:
        out["state"] = row.state
    return out


def _edge_row(src: str, dst: str, row: _Row) -> dict[str, Any]:
    return {"src": src, "dst": dst, "first": row.first, "last": row.last, "props": row.props}
