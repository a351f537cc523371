"""Lineage over a time window and at a chosen granularity: reshaping an upstream or
downstream ``Subgraph`` (:mod:`lineage_queries.subgraph`).

Time window (:func:`within`): only runs that ran in ``[since, until]`` (epoch ms) stay -- a
run ran in the window when it started at or before ``until`` and ended at or after
``since`` (a run still open counts as running) -- and only what is still linked to the root
through the kept runs. The walk itself is asked ``as_of=until``, so nothing first observed
after the window shows.

Granularity (:func:`at_granularity`), from the finest:

- ``run`` (default): the walk as it is;
- ``application``: a child run (a Spark action, a task of a DAG) folds into its parent run
  when the parent is in the answer: its inputs and outputs become the parent's;
- ``job``: every run folds into its job (one ``Job`` node per job, ``runs``: how many runs
  it stands for);
- ``dataset``: runs and jobs go, and dataset versions fold into their dataset: what is left
  is dataset-to-dataset lineage, a ``DERIVED_FROM`` relationship (``collapsed: true``) from
  each dataset to each dataset it was made from.

Relationships keep the stored direction; folding never leaves a node linked to itself.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any, cast

from lineage_pipeline.errors import QueryError
from lineage_pipeline.graph_model import NodeLabel, RelType
from lineage_queries.answers import Node, Relationship, Subgraph

if TYPE_CHECKING:
    from lineage_queries.api import LineageGraph

__all__ = ["GRANULARITIES", "at_granularity", "reshape", "windowed_walk", "within"]

#: The granularities, finest first.
GRANULARITIES = ("run", "application", "job", "dataset")
_RUN, _JOB = NodeLabel.RUN.value, NodeLabel.JOB.value
_VERSION, _DATASET = NodeLabel.DATASET_VERSION.value, NodeLabel.DATASET.value
#: Relationships from a node to what it belongs to (a version's dataset, a run's job).
_ATTACHING = frozenset({RelType.VERSION_OF.value, RelType.RUN_OF.value})


def _ran_in(node: Node, since: int | None, until: int | None) -> bool:
    start, end = node.get("startTime"), node.get("endTime")
    if until is not None and isinstance(start, int) and start > until:
        return False
    return not (since is not None and isinstance(end, int) and end < since)


def _linked(sub: Subgraph, keep: set[str]) -> set[str]:
    """The nodes of ``keep`` linked to the root through lineage relationships among them. A
    dataset (``VERSION_OF``) or job (``RUN_OF``) links only the root to its versions or runs;
    otherwise it stays when one of its kept versions or runs does, and links nothing (a
    dataset's other versions are not lineage of each other)."""
    roots = {sub["root"], sub["root"].split("#", 1)[0]}  # a column walk's root is its field
    edges: dict[str, set[str]] = defaultdict(set)
    attached: dict[str, set[str]] = defaultdict(set)
    for r in sub["relationships"]:
        a, b = r["from"], r["to"]
        if a not in keep or b not in keep:
            continue
        if r["type"] in _ATTACHING and not roots & {a, b}:
            attached[a].add(b)
            continue
        edges[a].add(b)
        edges[b].add(a)
    seen, todo = set(roots), list(roots)
    while todo:
        for nxt in edges[todo.pop()] - seen:
            seen.add(nxt)
            todo.append(nxt)
    return (seen | {d for uid in seen for d in attached[uid]}) & keep


def within(sub: Subgraph, since: int | None, until: int | None) -> Subgraph:
    """``sub`` with only the runs that ran in ``[since, until]`` (epoch ms; ``None``: open)
    and what they still link to the root; see the module docstring."""
    if since is None and until is None:
        return sub
    keep = _linked(sub, {n["id"] for n in sub["nodes"]
                         if n["label"] != _RUN or _ran_in(n, since, until)})
    return cast(Subgraph, {
        **sub, "nodes": [n for n in sub["nodes"] if n["id"] in keep],
        "relationships": [r for r in sub["relationships"]
                          if r["from"] in keep and r["to"] in keep],
        "window": {"since": since, "until": until}})


def _fold(sub: Subgraph, into: dict[str, str], added: list[Node]) -> Subgraph:
    """Replace every node id in ``into`` by its target (targets not in ``sub`` come from
    ``added``); drop self-links and duplicates."""
    nodes = [n for n in sub["nodes"] if n["id"] not in into]
    have = {n["id"] for n in nodes}
    nodes += [n for n in added if n["id"] not in have]
    rels: dict[tuple[str, str, str], Relationship] = {}
    for r in sub["relationships"]:
        a, b = into.get(r["from"], r["from"]), into.get(r["to"], r["to"])
        if a != b:
            rels.setdefault((a, b, r["type"]), cast(Relationship, {**r, "from": a, "to": b}))
    return cast(Subgraph, {**sub, "nodes": nodes, "relationships": [
        rels[k] for k in sorted(rels)]})


def _application(sub: Subgraph) -> Subgraph:
    ids = {n["id"] for n in sub["nodes"]}
    parent = {n["id"]: str(n.get("parentRunId")) for n in sub["nodes"]
              if n["label"] == _RUN and n.get("parentRunId")}

    def top(uid: str) -> str:
        seen = {uid}
        while parent.get(uid) in ids and parent[uid] not in seen:
            uid = parent[uid]
            seen.add(uid)
        return uid

    into = {uid: top(uid) for uid in parent if top(uid) != uid}
    return _fold(sub, into, [])


def _jobs(sub: Subgraph) -> Subgraph:
    into: dict[str, str] = {}
    jobs: dict[str, dict[str, Any]] = {}
    for n in sub["nodes"]:
        if n["label"] == _RUN and n.get("job") and n["id"] != sub["root"]:
            job = str(n.get("job"))
            into[n["id"]] = job
            j = jobs.setdefault(job, {"id": job, "label": _JOB, "kind": "job",
                                      "namespace": n.get("namespace"), "name": n.get("name"),
                                      "version": None, "depth": n["depth"], "runs": 0})
            j["depth"] = min(j["depth"], n["depth"])
            j["runs"] += 1
    out = _fold(sub, into, [cast(Node, j) for j in jobs.values()])
    for n in out["nodes"]:
        if n["id"] in jobs:
            cast(dict[str, Any], n)["runs"] = jobs[n["id"]]["runs"]
    return out


def _datasets(sub: Subgraph) -> Subgraph:
    """Dataset-to-dataset lineage (see the module docstring)."""
    by_id = {n["id"]: n for n in sub["nodes"]}
    ds_of = {uid: str(n.get("dataset") or uid) for uid, n in by_id.items()
             if n["label"] == _VERSION}
    made_from: dict[str, set[str]] = defaultdict(set)  # run -> input versions
    for r in sub["relationships"]:
        if r["type"] == RelType.CONSUMED_BY.value:
            made_from[r["to"]].add(r["from"])
    links: set[tuple[str, str]] = set()
    for r in sub["relationships"]:
        if r["type"] == RelType.GENERATED.value:
            for src in made_from.get(r["from"], ()):
                a, b = ds_of.get(r["to"], r["to"]), ds_of.get(src, src)
                if a != b:
                    links.add((a, b))
    nodes: dict[str, Node] = {}
    for uid, n in by_id.items():
        if n["label"] in (_RUN, _JOB):
            continue
        key = ds_of.get(uid, uid)
        if key not in nodes:
            nodes[key] = cast(Node, {**n, "id": key, "label": _DATASET if uid in ds_of
                                     else n["label"], "version": None})
        nodes[key]["depth"] = min(nodes[key]["depth"], n["depth"])
    rels = [cast(Relationship, {"from": a, "to": b, "type": RelType.DERIVED_FROM.value,
                                "collapsed": True, "hops": 2}) for a, b in sorted(links)]
    root = ds_of.get(sub["root"], sub["root"])
    return cast(Subgraph, {**sub, "root": root, "nodes": sorted(
        nodes.values(), key=lambda n: (n["id"] != root, n["depth"], n["id"])),
        "relationships": rels})


def at_granularity(sub: Subgraph, granularity: str) -> Subgraph:
    """``sub`` at ``granularity`` (one of :data:`GRANULARITIES`; see the module docstring).
    Raises :class:`QueryError` for another value."""
    if granularity not in GRANULARITIES:
        raise QueryError(f"granularity is one of {', '.join(GRANULARITIES)}, "
                         f"not {granularity!r}")
    if granularity == "run":
        return sub
    folded = {"application": _application, "job": lambda s: _jobs(_application(s)),
              "dataset": _datasets}[granularity](sub)
    return cast(Subgraph, {**folded, "granularity": granularity})


def reshape(sub: Subgraph, *, since: int | None = None, until: int | None = None,
            granularity: str = "run") -> Subgraph:
    """:func:`within` then :func:`at_granularity`."""
    return at_granularity(within(sub, since, until), granularity)


def windowed_walk(graph: LineageGraph, direction: str, node: str, depth: int, *,
                  kinds: list[str] | None = None, as_of: int | None = None,
                  column: str | None = None, since: int | None = None,
                  until: int | None = None, granularity: str = "run") -> Subgraph:
    """The ``upstream`` or ``downstream`` (``direction``) walk of ``node`` in the window
    ``[since, until]`` (epoch ms) at ``granularity``: the graph as of ``until`` when that is
    earlier than ``as_of``, then :func:`reshape`. Raises :class:`QueryError` as the walk
    and :func:`at_granularity` do."""
    if until is not None and (as_of is None or until < as_of):
        as_of = until
    walk = graph.upstream if direction == "upstream" else graph.downstream
    sub = walk(node, depth, as_of=as_of, kinds=kinds, column=column)
    return reshape(sub, since=since, until=until, granularity=granularity)
