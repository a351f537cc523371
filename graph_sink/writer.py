"""Batched, idempotent graph writes: group mutations, one ``UNWIND`` statement per group.

:meth:`GraphWriter.plan` turns a list of :class:`GraphMutations` into statements:

1. node upserts are grouped by label, relationship upserts by (type, from label, to label);
2. inside a group, upserts of the same node (``uid``) or relationship (``from``, ``to``) are folded
   into one row with the same rules the Cypher applies (``first`` = min of the mutations'
   ``observedAt``, ``last`` = max of their ``updatedAt``, props last-write-wins, Run.state
   terminal-wins). Besides saving work this keeps a statement free of duplicate keys, which
   FalkorDB 4.16 needs: a relationship MERGEd twice in one UNWIND whose SET reads the
   relationship crashes the server;
3. each group becomes ``ceil(rows / batch_size)`` statements chosen from
   :mod:`graph_sink.statements` (node groups first, then relationship groups); in a label
   with weak rules (``DatasetVersion``), the rows without weak props go to the statement
   without those rules (``NODE_UPSERT_STRONG``), the others to ``NODE_UPSERT``.

So N mutations take at most ``ceil(N / batch_size)`` statements per group (two groups for
``DatasetVersion``), and
:meth:`GraphWriter.write` sends them all in one :meth:`GraphBackend.write_batch` call.

Values the graph cannot store are dropped from ``props``: ``None`` (a null never erases a
stored value) and NaN/infinity (FalkorDB's parameter syntax has no literal for them; Neo4j
would store them, the two backends must agree). ``uid``, ``observedAt`` and ``updatedAt``
are never copied from ``props``: a mutation's ``observedAt`` and ``updatedAt`` are its
first and last observation (epoch ms), which the min / max rules fold in. Whatever
produced a record, its uids (and the uid-valued props :data:`UID_PROPS`) pass through
:func:`~lineage_pipeline.graph_model.bounded_uid` and its strings through
:func:`~lineage_pipeline.graph_model.graph_text`, both idempotent: no name can exceed an
index's key size or carry a character a driver cannot send.

Isolating refused records (:meth:`GraphWriter.write_isolating`): when the graph refuses a
write for good (a :class:`GraphError` that is not retryable), the records are split in halves
and each half written again, recursively, until every refused range is one record: the
others are written, and each refused record comes back as a :class:`Rejection` naming the
field at fault (:func:`diagnose`). With ``k`` bad records among ``n`` that takes about
``2k log2(n/k)`` writes instead of ``n``; the graph decides what is bad, so the rules of
either backend apply unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from graph_sink.refusals import RESERVED, diagnose
from graph_sink.retention import ErasureList
from graph_sink.statements import NODE_UPSERT, NODE_UPSERT_STRONG, RELATIONSHIP_UPSERT
from lineage_pipeline.errors import GraphError
from lineage_pipeline.graph.base import GraphBackend, Statement, WriteSummary
from lineage_pipeline.graph_model import (
    KEYED_RELATIONSHIPS,
    TERMINAL_STATES,
    WEAK_KEYS,
    GraphMutations,
    NodeLabel,
    PropValue,
    RelType,
    bounded_uid,
    graph_text,
    graph_value,
    keyed_relationship_uid,
)

#: Properties holding another node's uid (bounded like uids, so joins on them hold).
UID_PROPS = frozenset({"jobUid", "datasetUid", "versionUid"})


@dataclass(slots=True)
class _Row:
    """One distinct node or relationship of a batch, with its mutations folded together."""

    first: int | None = None
    last: int | None = None
    props: dict[str, PropValue] = field(default_factory=dict)
    state: str | None = None
    weak: dict[str, PropValue] = field(default_factory=dict)

    def fold(self, first: int | None, last: int | None, props: dict[str, PropValue], is_run: bool
             ) -> None:
        if first is not None:
            self.first = first if self.first is None else min(self.first, first)
        if last is not None:
            self.last = last if self.last is None else max(self.last, last)
        for key, value in props.items():
            if key in RESERVED or (is_run and key == "state"):
                continue
            clean = _storable(value)
            if key in UID_PROPS and isinstance(clean, str):
                clean = bounded_uid(clean)
            if clean is not None:
                self.props[key] = clean
        if is_run:
            new = props.get("state")
            if isinstance(new, str) and not (
                self.state in TERMINAL_STATES and new not in TERMINAL_STATES
            ):
                self.state = new


def _fold_weak(row: _Row, weak: dict[str, PropValue], allowed: tuple[str, ...]) -> None:
    """Fold a mutation's weak props into ``row``: the latest storable value of each allowed
    key wins, as writing them one after the other would (:mod:`graph_sink.statements`)."""
    for key, value in weak.items():
        clean = _storable(value) if key in allowed else None
        if key in UID_PROPS and isinstance(clean, str):
            clean = bounded_uid(clean)
        if clean is not None:
            row.weak[key] = clean


def _storable(value: PropValue) -> PropValue:
    """Return ``value`` as the graph stores it (strings through ``graph_text``), or ``None``
    (dropped) when it cannot be stored."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, list) and any(
        isinstance(v, float) and not math.isfinite(v) for v in value
    ):
        return None
    return graph_value(value)


def _times(props: dict[str, PropValue]) -> tuple[int | None, int | None]:
    """``(first, last)`` observation of a mutation (epoch ms): its ``observedAt`` and
    ``updatedAt`` props, ``None`` where absent or not a finite number (the graph keeps what it
    has). :mod:`lineage_pipeline.graph_record` writes ``updatedAt`` on runs only, and no time
    at all on content-addressed values (``Schema``, ``HAS_FIELD``, column lineage). A
    ``first`` absent beside a ``last`` is that ``last``; ``last`` is never below ``first``."""

    def number(key: str) -> int | None:
        value = props.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            return int(value)
        return None

    first, last = number("observedAt"), number("updatedAt")
    if first is None:
        return last, last
    return first, None if last is None else max(first, last)


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What one :meth:`GraphWriter.write` did.

    ``records``: mutation records written; ``mutations``: node + relationship upserts in them;
    ``node_rows``/``relationship_rows``: distinct nodes/relationships after folding;
    ``statements``: Cypher
    statements sent; ``summary``: the server's counters.
    """

    records: int
    mutations: int
    node_rows: int
    relationship_rows: int
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
        relationships: dict[tuple[RelType, NodeLabel, NodeLabel],
                            dict[tuple[str, str, str | None], _Row]] = {}
        count = 0
        for m in mutations:
            for n in m.nodes:
                count += 1
                row = nodes.setdefault(n.label, {}).setdefault(bounded_uid(n.uid), _Row())
                row.fold(*_times(n.props), n.props, n.label is NodeLabel.RUN)
                if n.weak:
                    _fold_weak(row, n.weak, WEAK_KEYS.get(n.label, ()))
            for e in m.relationships:
                count += 1
                group_key = (e.type, e.from_label, e.to_label)
                group = relationships.setdefault(group_key, {})
                ends = (bounded_uid(e.from_uid), bounded_uid(e.to_uid),
                        _relationship_key(group_key, e.props))
                erow = group.setdefault(ends, _Row())
                erow.fold(*_times(e.props), e.props, False)
        statements: list[Statement] = []
        for label in NodeLabel:  # fixed order: nodes first, by label
            group_rows = nodes.get(label)
            if group_rows:
                rows = [_node_row(uid, r, label) for uid, r in group_rows.items()]
                name = f"upsert {label.value}"
                if label in NODE_UPSERT_STRONG:
                    strong = [row for row in rows if "weak" not in row]
                    rows = [row for row in rows if "weak" in row]
                    statements += self._chunks(NODE_UPSERT_STRONG[label], strong, name)
                statements += self._chunks(NODE_UPSERT[label], rows, name)
        for key, relationship_rows in relationships.items():
            rel, src, dst = key
            rows = [_relationship_row(f, t, k, r) for (f, t, k), r in relationship_rows.items()]
            name = f"upsert ({src.value})-[{rel.value}]->({dst.value})"
            statements += self._chunks(RELATIONSHIP_UPSERT[key], rows, name)
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
        relationship_rows = sum(len(s.params["rows"]) for s in statements) - node_rows
        return WriteResult(len(mutations), count, node_rows, relationship_rows, len(statements),
                           summary)

    def write_isolating(
        self, mutations: Sequence[GraphMutations], attempt: Attempt | None = None
    ) -> IsolatedWrite:
        """Write ``mutations``; when the graph refuses, bisect down to the refused records.

        Every write (the whole batch first, then halves of refused ranges, left before right)
        goes through ``attempt(write)`` (default: called once; the sink passes its retry with
        backoff). A retryable error that ``attempt`` gives up on propagates: nothing is
        rejected because the graph was down. Returns the indexes written (in order) and one
        :class:`Rejection` per record the graph refused on its own.
        """
        run: Attempt = attempt if attempt is not None else _once
        result = IsolatedWrite()
        pending = [(0, len(mutations))] if mutations else []
        while pending:
            lo, hi = pending.pop()
            result.writes += 1
            try:
                run(partial(self.write, mutations[lo:hi]))
            except GraphError as exc:
                if exc.is_retryable():
                    raise
                if hi - lo == 1:
                    where, what = diagnose(mutations[lo], exc, self.backend.name)
                    result.rejected.append(Rejection(lo, where, what))
                else:
                    mid = (lo + hi) // 2
                    pending += [(mid, hi), (lo, mid)]
                continue
            result.written.extend(range(lo, hi))
        return result


#: Runs one write, e.g. with retries: ``attempt(write) -> write()``.
Attempt = Callable[[Callable[[], WriteResult]], WriteResult]


def _once(write: Callable[[], WriteResult]) -> WriteResult:
    return write()


@dataclass(frozen=True, slots=True)
class Rejection:
    """A record the graph refused on its own: its index in the batch, the field at fault
    (``Label.property``, ``Label.uid``, ``TYPE.property`` for a relationship) and what is wrong."""

    index: int
    field: str
    detail: str

    def reason(self) -> str:
        """Return the text of the DLQ ``detail`` header: the field first, then why (through
        ``graph_text``: a header value must be UTF-8)."""
        return graph_text(f"field {self.field}: {self.detail}")


@dataclass(slots=True)
class IsolatedWrite:
    """What :meth:`GraphWriter.write_isolating` did: ``written`` (indexes, in order),
    ``rejected`` records and ``writes`` (write calls made: 1 when nothing was refused)."""

    written: list[int] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    writes: int = 0


_NODE_TEXTS = frozenset(NODE_UPSERT.values()) | frozenset(NODE_UPSERT_STRONG.values())


def _relationship_key(group: tuple[RelType, NodeLabel, NodeLabel],
                      props: dict[str, PropValue]) -> str | None:
    """The merge key of a keyed relationship (:data:`KEYED_RELATIONSHIPS`; ``""`` when its
    props lack it), ``None`` for the others."""
    name = KEYED_RELATIONSHIPS.get(group)
    if name is None:
        return None
    value = props.get(name)
    return graph_text(value) if isinstance(value, str) else ""


def _node_row(uid: str, row: _Row, label: NodeLabel) -> dict[str, Any]:
    out: dict[str, Any] = {"uid": uid, "first": row.first, "last": row.last, "props": row.props}
    if label is NodeLabel.RUN:
        out["state"] = row.state
    if label in WEAK_KEYS:
        weak = {k: v for k, v in row.weak.items() if k not in row.props}
        if weak:  # else the row goes to NODE_UPSERT_STRONG, whose text reads no row.weak
            out["weak"] = weak
    return out


def _relationship_row(src: str, dst: str, key: str | None, row: _Row) -> dict[str, Any]:
    out = {"src": src, "dst": dst, "first": row.first, "last": row.last, "props": row.props}
    if key is not None:
        out["uid"] = keyed_relationship_uid(key, src, dst)
    return out
