"""Rename the snake_case properties earlier versions stored to today's camelCase names
(``lineage migrate``).

The rename table is :data:`lineage_pipeline.graph_model.LEGACY_PROPERTY_NAMES` (e.g.
``observed_at -> observedAt``, ``job_uid -> jobUid``); the sink translates old records on the
graph topic with the same table, this module renames what a graph already stores.

How (plain Cypher FalkorDB and Neo4j share, every statement built once at import from the
fixed rename table and the :class:`NodeLabel` / :class:`RelType` allow-lists, never from
input; only values are parameters):

1. count, per old property, the nodes of each label and the relationships of each type that
   carry it (``count(n.observed_at)``: one scan per label and per relationship type);
2. unless ``dry_run`` and when anything was counted: walk the nodes of every label in ``uid``
   order, ``batch_size`` uids a page (a read on the ``uid`` index: each node is visited once),
   and rename in one write transaction per page (Neo4j: one managed transaction; FalkorDB: one
   pipeline of idempotent statements) the node's old properties and those of the
   relationships anchored at it, two statements per old property (copy, then remove). A
   relationship is anchored at the end with few of them (:data:`ANCHOR`: a Run's inputs, a
   Field's schema, ...), so a page writes about ``batch_size`` nodes and a bounded number
   of relationships;
3. count again: what is left (normally nothing; a writer of an earlier version still running
   would leave some: run it again once it is stopped);
4. give the keyed relationships written before they had one their ``uid``
   (:mod:`graph_sink.relationship_uids`).

Renaming ``old`` to ``new`` on one element: ``new`` takes the old value when it has none;
when both are stored (a graph written by both versions), ``observedAt`` keeps the smaller and
``updatedAt`` the larger (the sink's own rules), any other keeps today's value; ``old`` is
removed. Elements without an old property are not touched, so the migration is idempotent: a
second run counts nothing and writes nothing, and a run that failed half-way is finished by
running it again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from graph_sink import relationship_uids
from lineage_pipeline.graph.base import GraphBackend, Statement
from lineage_pipeline.graph_model import LEGACY_PROPERTY_NAMES, NodeLabel, RelType

#: Nodes per page (one write transaction) unless told otherwise.
DEFAULT_BATCH_SIZE = 10_000

#: ``old -> new`` property names, in a fixed order (the aliases ``p0``, ``p1``, ... follow it).
RENAMES: tuple[tuple[str, str], ...] = tuple(LEGACY_PROPERTY_NAMES.items())

#: How a stored today's value and an old value combine when an element has both.
_PICK: dict[str, Literal["min", "max"]] = {"observedAt": "min", "updatedAt": "max"}

#: Per relationship type, the end whose node the relationship is renamed with: ``"out"`` =
#: its start node, ``"in"`` = its end node; the end with few relationships of that type.
ANCHOR: dict[RelType, Literal["out", "in"]] = {
    RelType.RUN_OF: "out",  # a run's job
    RelType.CHILD_OF: "out",  # a run's parent
    RelType.CONSUMED_BY: "in",  # a run's inputs (a version may have many readers)
    RelType.GENERATED: "out",  # a run's outputs
    RelType.VERSION_OF: "out",  # a version's dataset
    RelType.DERIVED_FROM: "out",  # a field's sources (a version's, in graphs of old)
    RelType.HAS_FIELD: "in",  # a field's schema (a schema may have many fields)
}

#: ``{old property: {label or relationship type: count}}``; only counts above zero appear.
Counts = dict[str, dict[str, int]]


def _count_columns(var: str) -> str:
    """``count(<var>.<old>) AS p<i>`` for every old name (non-null values are counted)."""
    return ", ".join(f"count({var}.{old}) AS p{i}" for i, (old, _) in enumerate(RENAMES))


def _count_nodes(label: NodeLabel) -> str:
    return f"MATCH (n:{label.value}) RETURN {_count_columns('n')}"


def _count_relationships(rel: RelType) -> str:
    return f"MATCH ()-[r:{rel.value}]->() RETURN {_count_columns('r')}"


def _rename(var: str, old: str, new: str) -> tuple[str, str]:
    """``(copy, drop)`` statement tails for ``var`` (bound by the caller's MATCH): ``copy``
    gives ``new`` the old value (see the module docstring), ``drop`` removes ``old``.

    Two statements, one property each: FalkorDB 4.16 removes the wrong attributes when one
    query removes several (or sets and removes in one SET clause) of a node."""
    cur = f"{var}.{new}"
    pick = _PICK.get(new)
    if pick is None:
        value = f"coalesce({cur}, o)"
    else:
        better = "<" if pick == "min" else ">"
        value = f"CASE WHEN {cur} IS NULL OR o {better} {cur} THEN o ELSE {cur} END"
    where = f"WHERE {var}.{old} IS NOT NULL\n"
    return (f"{where}WITH {var}, {var}.{old} AS o\nSET {cur} = {value}",
            f"{where}SET {var}.{old} = NULL")


def _headed(head: str, var: str) -> dict[str, tuple[str, str]]:
    """``old -> (copy, drop)`` for every old name, each after ``head`` (which binds ``var``)."""
    out: dict[str, tuple[str, str]] = {}
    for old, new in RENAMES:
        copy, drop = _rename(var, old, new)
        out[old] = (head + copy, head + drop)
    return out


def _node_renames(label: NodeLabel) -> dict[str, tuple[str, str]]:
    return _headed(f"UNWIND $uids AS u\nMATCH (n:{label.value} {{uid: u}})\n", "n")


def _arrow(rel: RelType) -> str:
    """The relationship pattern seen from its anchor (:data:`ANCHOR`)."""
    return f"-[r:{rel.value}]->()" if ANCHOR[rel] == "out" else f"<-[r:{rel.value}]-()"


def _relationship_renames(label: NodeLabel, rel: RelType) -> dict[str, tuple[str, str]]:
    return _headed(f"UNWIND $uids AS u\nMATCH (a:{label.value} {{uid: u}}){_arrow(rel)}\n",
                   "r")


def _page(label: NodeLabel, first: bool) -> str:
    # a range predicate on uid in both (``>= ''`` matches every uid) lets the uid index give
    # the order, so a page is an index seek, not a scan and sort of the label
    where = "n.uid >= ''" if first else "n.uid > $after"
    return (f"MATCH (n:{label.value})\nWHERE {where}\n"
            "RETURN n.uid AS uid ORDER BY n.uid LIMIT $limit")


#: The fixed statement texts, built once at import from the allow-lists and the rename table.
COUNT_NODES = {label: _count_nodes(label) for label in NodeLabel}
COUNT_RELATIONSHIPS = {rel: _count_relationships(rel) for rel in RelType}
#: ``label -> {old: (copy, drop)}``: rename ``old`` on the nodes of a page.
RENAME_NODES = {label: _node_renames(label) for label in NodeLabel}
#: ``(anchor label, type) -> {old: (copy, drop)}``: rename ``old`` on the relationships of
#: that type anchored at the nodes of a page (:data:`ANCHOR`).
RENAME_RELATIONSHIPS = {(label, rel): _relationship_renames(label, rel)
                        for label in NodeLabel for rel in RelType}
PAGE_UIDS = {(label, first): _page(label, first) for label in NodeLabel for first in (True, False)}


@dataclass(frozen=True, slots=True)
class LegacyCounts:
    """Elements carrying old property names: ``nodes`` per label, ``relationships`` per type
    (both :data:`Counts`)."""

    nodes: Counts = field(default_factory=dict)
    relationships: Counts = field(default_factory=dict)

    @property
    def total(self) -> int:
        """Old properties counted (an element with two old properties counts twice)."""
        return sum(n for counts in (self.nodes, self.relationships)
                   for per in counts.values() for n in per.values())

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``{old: {"new": name, "nodes": {label: n}, "relationships": {type: n}}}``
        for every old property counted."""
        olds = [old for old, _ in RENAMES if old in self.nodes or old in self.relationships]
        return {old: {"new": LEGACY_PROPERTY_NAMES[old], "nodes": self.nodes.get(old, {}),
                      "relationships": self.relationships.get(old, {})} for old in olds}


@dataclass(frozen=True, slots=True)
class MigrationReport:
    """What :func:`migrate` found and did.

    ``before``: old properties counted first; ``left``: counted after the rename (equal to
    ``before`` for a dry run, normally empty otherwise); ``transactions``: write transactions
    (pages) used; ``batch_size``: nodes per page.
    """

    dry_run: bool
    batch_size: int
    before: LegacyCounts
    left: LegacyCounts
    transactions: int = 0
    #: Keyed relationships found without their ``uid`` / given one
    #: (:mod:`graph_sink.relationship_uids`).
    missing_uids: int = 0
    filled_uids: int = 0

    @property
    def renamed(self) -> int:
        """Old properties renamed (0 for a dry run)."""
        return 0 if self.dry_run else self.before.total - self.left.total

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``{"dryRun", "batchSize", "transactions", "renamed", "found": ...,
        "left": ...}`` (``found`` / ``left`` as :meth:`LegacyCounts.to_dict`)."""
        return {"dryRun": self.dry_run, "batchSize": self.batch_size,
                "transactions": self.transactions, "renamed": self.renamed,
                "found": self.before.to_dict(), "left": self.left.to_dict(),
                "relationshipUids": {"missing": self.missing_uids,
                                     "filled": self.filled_uids}}


def _tally(rows: list[dict[str, Any]], name: str, into: Counts) -> None:
    row = rows[0] if rows else {}
    for i, (old, _) in enumerate(RENAMES):
        n = int(row.get(f"p{i}") or 0)
        if n:
            into.setdefault(old, {})[name] = n


def count_legacy(backend: GraphBackend) -> LegacyCounts:
    """Count the nodes and relationships carrying each old property name (read only).

    Raises :class:`~lineage_pipeline.errors.GraphUnavailable` /
    :class:`~lineage_pipeline.errors.GraphError` from the backend.
    """
    nodes: Counts = {}
    relationships: Counts = {}
    for label, cypher in COUNT_NODES.items():
        _tally(backend.query(cypher), label.value, nodes)
    for rel, cypher in COUNT_RELATIONSHIPS.items():
        _tally(backend.query(cypher), rel.value, relationships)
    return LegacyCounts(nodes, relationships)


def _uid_pages(backend: GraphBackend, label: NodeLabel, size: int) -> Iterable[list[str]]:
    """The uids of every ``label`` node in ascending order, ``size`` at a time."""
    after: str | None = None
    while True:
        rows = backend.query(PAGE_UIDS[(label, after is None)], {"after": after, "limit": size})
        uids = [str(r["uid"]) for r in rows]
        if not uids:
            return
        yield uids
        if len(uids) < size:
            return
        after = uids[-1]


def _plan(found: LegacyCounts) -> dict[NodeLabel, list[Statement]]:
    """Per label, the statements a page of its nodes needs (params left empty): copy then
    drop each old property its nodes carry, and each one relationships of a type carry (on
    those anchored at the page)."""
    plan: dict[NodeLabel, list[Statement]] = {}
    for label in NodeLabel:
        pairs = [(RENAME_NODES[label][old], f"{label.value}.{old}")
                 for old, _ in RENAMES if label.value in found.nodes.get(old, {})]
        pairs += [(RENAME_RELATIONSHIPS[(label, rel)][old],
                   f"{label.value} {ANCHOR[rel]} {rel.value}.{old}")
                  for rel in RelType for old, _ in RENAMES
                  if rel.value in found.relationships.get(old, {})]
        statements = [Statement(cypher, {}, f"migrate {step} {name}")
                      for texts, name in pairs for step, cypher in zip(("copy", "drop"), texts,
                                                                        strict=True)]
        if statements:
            plan[label] = statements
    return plan


def migrate(backend: GraphBackend, *, batch_size: int = DEFAULT_BATCH_SIZE,
            dry_run: bool = False) -> MigrationReport:
    """Rename the old property names stored in ``backend``'s graph (see the module
    docstring); with ``dry_run`` only count them.

    Returns the :class:`MigrationReport`. Raises :class:`ValueError` when ``batch_size`` < 1,
    :class:`~lineage_pipeline.errors.GraphUnavailable` /
    :class:`~lineage_pipeline.errors.GraphError` from the backend (pages written before the
    error stay renamed; running again finishes the migration).
    """
    if batch_size < 1:
        raise ValueError(f"batch size must be at least 1, got {batch_size}")
    before = count_legacy(backend)
    missing = relationship_uids.count_missing(backend)
    if dry_run or not (before.total or missing):
        return MigrationReport(dry_run, batch_size, before, before, missing_uids=missing)
    transactions = 0
    for label, statements in _plan(before).items():
        for uids in _uid_pages(backend, label, batch_size):
            backend.write_batch([Statement(s.cypher, {"uids": uids}, s.name)
                                 for s in statements])
            transactions += 1
    left = count_legacy(backend) if before.total else before
    filled, pages = relationship_uids.fill_missing(backend, batch_size)
    return MigrationReport(dry_run, batch_size, before, left, transactions + pages, missing,
                           filled)
