"""The answer of ``root_cause``: ranked candidates with their chains, the changed versions
that are consequences, and the chains as a Subgraph."""

from __future__ import annotations

import itertools

from lineage_queries.answers import (
    Candidate,
    CandidateDraft,
    ChainNode,
    Consequence,
    Node,
    RelationshipProps,
    Subgraph,
)
from lineage_queries.rootcause.evidence import data_summary
from lineage_queries.rootcause.state import WalkState
from lineage_queries.subgraph import relationship_list

_SEVERITY = {"high": 0, "medium": 1, "low": 2}


def chain_node(st: WalkState, uid: str, cands: dict[str, Candidate]) -> ChainNode:
    """A small node dict of a chain: a run, a changed version, or a candidate's own node."""
    if uid in st.runs:
        r = st.runs[uid]
        return {"id": uid, "label": "Run", "kind": "run", "job": r.job,
                "state": r.props.get("state")}
    if uid in st.changes:
        c = st.changes[uid]
        return {"id": uid, "label": "DatasetVersion", "kind": c.props.get("kind") or "dataset",
                "dataset": c.dataset, "digest": c.props.get("digest")}
    cand = cands.get(uid)
    if cand is None:
        return {"id": uid, "label": "Run", "kind": "run", "job": None, "run": None,
                "dataset": None}
    return {"id": uid, "label": cand["label"], "kind": cand["type"], "job": cand.get("job"),
            "run": cand.get("run"), "dataset": cand.get("dataset")}


def _checked(c: CandidateDraft) -> int:
    """0 for a candidate with failed data-quality checks (ranked first within its
    severity), else 1."""
    evidence = c.get("evidence")
    return 0 if isinstance(evidence, dict) and evidence.get("quality") else 1


def ranked(candidates: list[CandidateDraft]) -> list[Candidate]:
    """The candidates ranked (``rank`` first; ``chain`` filled in by the caller)."""
    ordered = sorted(candidates, key=lambda c: (_SEVERITY[c["severity"]], _checked(c),
                                                c["distance"], -c["score"], c["node"]))
    return [{"rank": i, **c, "chain": []} for i, c in enumerate(ordered, start=1)]


def consequences(st: WalkState, roots: set[str]) -> list[Consequence]:
    """Changed versions that are not roots, with the roots that explain them."""
    memo: dict[str, set[str]] = {}

    def causes(uid: str, stack: frozenset[str]) -> set[str]:
        if uid in roots:
            return {uid}
        if uid in memo:
            return memo[uid]
        found: set[str] = set()
        c = st.changes.get(uid)
        if c is not None and c.producer is not None and uid not in stack:
            for sub in st.run_causes.get(str(c.producer["uid"]), []):
                found |= causes(sub, stack | {uid})
        memo[uid] = found
        return found

    out: list[Consequence] = []
    for c in sorted(st.changes.values(), key=lambda c: (c.distance, c.uid)):
        if c.uid in roots or c.evidence is None:
            continue
        out.append({
            "node": c.uid, "dataset": c.dataset, "kind": c.props.get("kind") or "dataset",
            "distance": c.distance,
            "summary": data_summary(c, f"because its producer {(c.producer or {}).get('job')} "
                                        "read changed inputs"),
            "evidence": c.evidence, "causedBy": sorted(causes(c.uid, frozenset())),
        })
    return out


def subgraph(st: WalkState, root: str, candidates: list[Candidate]) -> Subgraph:
    """The chains of every candidate as a Subgraph (versions, runs, run-level causes)."""
    nodes: dict[str, Node] = {}
    relationships: set[tuple[str, str, str]] = set()
    for cand in candidates:
        chain = cand["chain"]
        for i, info in enumerate(chain):
            node = _picture_node(st, info, len(chain) - 1 - i)
            if info["id"] == cand["node"]:
                node["rank"] = cand["rank"]
            nodes.setdefault(info["id"], node)
        ids = [c["id"] for c in chain]
        for a, b in itertools.pairwise(ids):
            if a in st.changes and b in st.runs:
                relationships.add((a, b, "CONSUMED_BY"))
            elif a in st.runs and b in st.changes:
                relationships.add((a, b, "GENERATED"))
            else:  # a run-level cause, a failed run or a structural change -> its run
                relationships.add((b, a, "DERIVED_FROM"))
    ordered = sorted(nodes.values(), key=lambda n: (n["id"] != root, n["depth"], n["id"]))
    relationship_dicts = relationship_list(dict.fromkeys(relationships, RelationshipProps()))
    return {"root": root, "direction": "upstream",
            "depth": max((n["depth"] for n in ordered), default=0), "nodes": ordered,
            "relationships": relationship_dicts}


def _picture_node(st: WalkState, info: ChainNode, depth: int) -> Node:
    uid = info["id"]
    if uid in st.runs:
        r = st.runs[uid]
        namespace, _, name = (r.job or ":").partition(":")
        return {"id": uid, "label": "Run", "kind": "run", "namespace": namespace, "name": name,
                "version": None, "depth": depth, "job": r.job, "state": r.props.get("state"),
                "runId": uid}
    if uid in st.changes:
        c = st.changes[uid]
        return {"id": uid, "label": "DatasetVersion", "kind": info["kind"],
                "namespace": c.props.get("namespace"), "name": c.props.get("name"),
                "version": c.props.get("version"), "depth": depth, "dataset": c.dataset,
                "digest": c.props.get("digest")}
    return {"id": uid, "label": info["label"], "kind": info["kind"], "namespace": None,
            "name": info.get("dataset") or info["kind"], "version": None, "depth": depth,
            "job": info.get("job"), "state": info["kind"]}
