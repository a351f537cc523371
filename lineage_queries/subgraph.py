"""A walk (:class:`lineage_queries.walk.Walk`) as the Subgraph JSON answers give.

:func:`to_subgraph` turns a walk into the Subgraph JSON; with ``kinds`` only the root and
nodes of those kinds stay, and nodes the filter hides are bridged: two kept nodes linked
through hidden ones get a ``DERIVED_FROM`` relationship (``collapsed: true``, ``hops``), from
the derived node to the one it derives from.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NotRequired, TypedDict

from lineage_pipeline.graph_model import NodeLabel, RelType
from lineage_queries.answers import Node, Relationship, RelationshipProps, Subgraph
from lineage_queries.shapes import node_dict
from lineage_queries.walk import Walk

_ORDER = list(NodeLabel)


def node_list(w: Walk, keep: Iterable[str] | None = None) -> list[Node]:
    """The walk's node dicts (all, or those in ``keep``): root first, then by depth, label,
    id. Runs get their job's namespace and name."""
    wanted = set(keep) if keep is not None else None
    out = []
    for uid, (label, props, depth) in w.nodes.items():
        if wanted is not None and uid not in wanted:
            continue
        d = node_dict(label, uid, props, depth)
        if label is NodeLabel.RUN:
            job = w.nodes.get(d.get("job") or "")
            if job is not None:
                d["namespace"], d["name"] = job[1].get("namespace"), job[1].get("name")
        out.append(d)
    out.sort(key=lambda n: (n["id"] != w.root.uid, n["depth"],
                            _ORDER.index(NodeLabel(n["label"])), n["id"]))
    return out


def relationship_list(
    relationships: dict[tuple[str, str, str], RelationshipProps],
) -> list[Relationship]:
    """Relationship dicts ``{"from", "to", "type", ...extra}`` sorted by from, to, type."""
    return [{"from": f, "to": t, "type": ty, **extra}
            for (f, t, ty), extra in sorted(relationships.items())]


def to_subgraph(w: Walk, kinds: Iterable[str] | None = None) -> Subgraph:
    """Return the Subgraph JSON of walk ``w`` (see :mod:`lineage_queries.api`), keeping only the
    root and nodes whose ``kind`` is in ``kinds`` when given (hidden nodes bridged)."""
    head: _Head = {"root": w.root.id, "direction": w.direction, "depth": w.depth}
    if w.root.column is not None:
        head["column"] = w.root.column
    if kinds is None:
        return {**head, "nodes": node_list(w), "relationships": relationship_list(w.relationships)}
    wanted = set(kinds)
    head["kinds"] = sorted(wanted)
    nodes = node_list(w)
    keep = {n["id"] for n in nodes if n["kind"] in wanted or n["id"] == w.root.uid}
    relationships = {k: v for k, v in w.relationships.items() if k[0] in keep and k[1] in keep}
    for src in sorted(keep):
        for dst, hops in _bridges(w, src, keep).items():
            derived, source = (src, dst) if w.direction == "upstream" else (dst, src)
            key = (derived, source, RelType.DERIVED_FROM.value)
            if key not in relationships:
                relationships[key] = {"collapsed": True, "hops": hops}
    return {**head, "nodes": [n for n in nodes if n["id"] in keep],
            "relationships": relationship_list(relationships)}


class _Head(TypedDict):
    """The keys of a Subgraph before its nodes and relationships (the JSON's key order)."""

    root: str
    direction: str
    depth: int
    column: NotRequired[str]
    kinds: NotRequired[list[str]]
    asOf: NotRequired[int]
    window: NotRequired[dict[str, int | None]]
    granularity: NotRequired[str]


def _bridges(w: Walk, start: str, keep: set[str]) -> dict[str, int]:
    """Kept nodes reachable from ``start`` along the walk through hidden nodes only, with
    the number of hops (at least 2: a direct relationship is not a bridge)."""
    found: dict[str, int] = {}
    seen = {start}
    frontier = [start]
    hops = 0
    while frontier:
        hops += 1
        nxt = []
        for uid in frontier:
            for dst in sorted(w.flow.get(uid, ())):
                if dst in seen:
                    continue
                seen.add(dst)
                if dst in keep:
                    if hops > 1:
                        found.setdefault(dst, hops)
                else:
                    nxt.append(dst)
        frontier = nxt
    return found
