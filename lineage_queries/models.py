"""Models and their data: ``trained_on`` (which models were made from this data) and
``model_inputs`` (every input digest and parameter behind a model).

A *model* is a dataset version of kind ``model``; the run that GENERATED it trained it. Both
answers are walks (:mod:`lineage_queries.walk`) to any depth, so "trained on" is transitive: a
model trained on features computed from a raw file was trained on that raw file too.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from lineage_pipeline.errors import NotFoundError, QueryError
from lineage_pipeline.graph_model import NodeLabel
from lineage_queries.answers import (
    ModelInput,
    ModelInputs,
    ModelRun,
    RunSummary,
    Subgraph,
    TrainedModel,
    TrainedOn,
)
from lineage_queries.shapes import dataset_of, node_kind, parse_json_props, run_summary
from lineage_queries.subgraph import to_subgraph
from lineage_queries.walk import ResolvedNode, Walk

if TYPE_CHECKING:
    from lineage_queries.api import LineageGraph

#: The deepest walk (hops) of these queries.
DEPTH = 100
#: Shortest digest prefix accepted (hex characters).
MIN_PREFIX = 6
_HEX = re.compile(r"^[0-9a-fA-F]+$")


def trained_on(graph: LineageGraph, node: str, *, as_of: int | None = None) -> TrainedOn:
    """Return the models made, directly or transitively, from ``node`` (usually a dataset
    version ``namespace:name@version``; a dataset means any of its versions).

    Returns::

        {"root": id, "asOf", "summary": "2 models trained on ...",
         "models": [{"id": version uid, "dataset", "version", "digest", "distance",
                     "run": {run summary of the run that generated it}}],
         "subgraph": the paths from the root to the models}

    Sorted by distance, then id. Raises :class:`QueryError` for an unknown node.
    """
    w = graph.walk(node, "downstream", DEPTH, as_of=as_of)
    found: list[tuple[str, str]] = []  # (model version, the run that generated it)
    seen: set[str] = set()
    for (src, dst, rel) in sorted(w.relationships):
        if rel != "GENERATED" or dst not in w.nodes or dst in seen:
            continue
        label, props, _ = w.nodes[dst]
        if label is not NodeLabel.DATASET_VERSION or node_kind(label, props) != "model":
            continue
        seen.add(dst)
        found.append((dst, src))
    full = run_props(graph, [run for _, run in found])
    models: list[TrainedModel] = []
    for dst, src in found:
        _, props, dist = w.nodes[dst]
        trainer = full.get(src) or w.nodes[src][1]
        models.append({
            "id": dst, "dataset": dataset_of(dst, props), "version": props.get("version"),
            "digest": props.get("digest"), "distance": dist,
            "run": run_summary(trainer, trainer.get("jobUid")),
        })
    models.sort(key=lambda m: (m["distance"], m["id"]))
    n = len(models)
    return {
        "root": w.root.id,
        "asOf": as_of,
        "summary": f"{n} model{'s' if n != 1 else ''} trained on {w.root.id}",
        "models": models,
        "subgraph": paths_to(w, {m["id"] for m in models}),
    }


def find_model(graph: LineageGraph, model: str) -> ResolvedNode:
    """Return the model version ``model`` names: a dataset version id, a dataset id (its
    latest version), a content digest, or a unique digest prefix (at least 6 hex digits).

    Raises :class:`QueryError` when nothing or several versions match.
    """
    try:
        node = graph.resolve(model)
    except QueryError:
        node = None
    if node is not None:
        if node.label is NodeLabel.DATASET:
            rows = graph.query("latest_version", dataset=node.uid)
            if not rows:
                raise NotFoundError(f"dataset {node.uid!r} has no versions")
            return ResolvedNode(NodeLabel.DATASET_VERSION, rows[0]["uid"], rows[0]["props"])
        if node.label is NodeLabel.DATASET_VERSION:
            return node
        raise QueryError(f"{model!r} is a {node.label.value}, not a model version or digest")
    digest = model.split(":", 1)[1] if model.lower().startswith("sha256:") else model
    rows = graph.query("versions_by_digest", digest=digest.lower(), limit=10)
    if not rows and len(digest) >= MIN_PREFIX and _HEX.match(digest):
        rows = graph.query("versions_by_digest_prefix", prefix=digest.lower(), limit=10)
    if not rows:
        raise NotFoundError(
            f"no dataset version with id or digest {model!r}; give a model version "
            "'namespace:name@version', a model dataset 'namespace:name' or a sha256 digest "
            f"(or a unique prefix of at least {MIN_PREFIX} hex digits)")
    chosen = [r for r in rows if node_kind(NodeLabel.DATASET_VERSION, r["props"]) == "model"]
    chosen = chosen or rows
    if len(chosen) > 1:
        raise QueryError(f"{model!r} matches several versions: "
                         + ", ".join(r["uid"] for r in chosen) + "; give the version id")
    return ResolvedNode(NodeLabel.DATASET_VERSION, chosen[0]["uid"], chosen[0]["props"])


def model_inputs(graph: LineageGraph, model: str) -> ModelInputs:
    """Return every input and parameter behind a model version (see :func:`find_model`).

    Returns::

        {"model": {"id", "dataset", "kind", "version", "digest", "producedBy": run summary},
         "inputs": [{"id", "dataset", "kind", "version", "digestAlgorithm", "digest",
                     "rowCount", "distance", "producedBy": run id|None}],
         "sources": [ids of inputs no run in the graph produced (the raw data)],
         "runs": [{run summary + "distance", "gitSha", "environment"}],
         "parameters": {job: {name: value}} (the run nearest the model per job),
         "subgraph": the upstream Subgraph}

    Sorted by distance, then id. Raises :class:`QueryError` when the model is not found.
    """
    root = find_model(graph, model)
    w = graph.walk(root, "upstream", DEPTH)
    generated = {dst: src for (src, dst, rel) in w.relationships if rel == "GENERATED"}
    full = run_props(graph, w.of_label(NodeLabel.RUN))
    inputs: list[ModelInput] = []
    runs: list[ModelRun] = []
    for uid, (label, props, dist) in w.nodes.items():
        if label is NodeLabel.DATASET_VERSION and uid != root.uid:
            inputs.append({
                "id": uid, "dataset": dataset_of(uid, props),
                "kind": node_kind(label, props), "version": props.get("version"),
                "digestAlgorithm": props.get("digestAlgorithm"), "digest": props.get("digest"),
                "rowCount": props.get("rowCount"), "distance": dist,
                "producedBy": generated.get(uid),
            })
        elif label is NodeLabel.RUN:
            props = full.get(uid) or props
            parsed = parse_json_props(props)
            runs.append({**run_summary(props, props.get("jobUid")), "distance": dist,
                         "environment": parsed.get("environment")})
    inputs.sort(key=lambda i: (i["distance"], i["id"]))
    runs.sort(key=lambda r: (r["distance"], str(r["runId"])))
    parameters: dict[str, dict[str, Any]] = {}
    for r in runs:
        parameters.setdefault(str(r["job"]), r["parameters"])
    producer = generated.get(root.uid)
    produced_by: RunSummary | None = None
    if producer is not None:
        p = full.get(producer) or w.nodes[producer][1]
        produced_by = run_summary(p, p.get("jobUid"))
    return {
        "model": {"id": root.uid, "dataset": dataset_of(root.uid, root.props),
                  "kind": node_kind(NodeLabel.DATASET_VERSION, root.props),
                  "version": root.props.get("version"), "digest": root.props.get("digest"),
                  "producedBy": produced_by},
        "inputs": inputs,
        "sources": [i["id"] for i in inputs if i["producedBy"] is None],
        "runs": runs,
        "parameters": parameters,
        "subgraph": to_subgraph(w),
    }


def run_props(graph: LineageGraph, uids: list[str]) -> dict[str, dict[str, Any]]:
    """Every property of each run in ``uids`` (walks carry only a projection)."""
    if not uids:
        return {}
    return {row["uid"]: dict(row["props"]) for row in
            graph.query("runs_props", uids=sorted(set(uids)))}


def paths_to(w: Walk, targets: set[str]) -> Subgraph:
    """The Subgraph of walk ``w`` cut to the nodes on some path from the root to one of
    ``targets`` (plus their jobs and datasets)."""
    reverse: dict[str, set[str]] = {}
    for src, dsts in w.flow.items():
        for dst in dsts:
            reverse.setdefault(dst, set()).add(src)
    keep = set(targets)
    stack = list(targets)
    while stack:
        for src in reverse.get(stack.pop(), ()):
            if src not in keep:
                keep.add(src)
                stack.append(src)
    keep.add(w.root.uid)
    attached = {dst for (src, dst, rel) in w.relationships
                if rel in ("RUN_OF", "VERSION_OF") and src in keep}
    keep |= attached
    sub = to_subgraph(w)
    sub["nodes"] = [n for n in sub["nodes"] if n["id"] in keep]
    sub["relationships"] = [e for e in sub["relationships"]
                            if e["from"] in keep and e["to"] in keep]
    return sub
