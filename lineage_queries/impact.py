"""``impact``: the blast radius of a change to a dataset, a dataset version or one column.

The answer is the downstream walk (:mod:`lineage_queries.walk`, ``depth`` hops, ``as_of``)
summarised per dataset, column and job. A dataset (no version) stands for every version it
has, so the answer is what reads that dataset at all, not one version's history. A column
is followed column by column (declared column lineage, else the column of the same name)
and, where it flows into an output without that column (a model, say), the output as a
whole counts, and everything made from it.

Counts: ``datasets`` by kind (``model``, ``features``, ``table``, ...), distinct ``columns``
(dataset + column name), ``jobs`` and ``runs``, excluding the root dataset itself. The
``summary`` sentence reads e.g. "impacts 2 models, 1 features, 2 tables, 1 metrics and 1
predictions dataset (7 datasets), 3 columns, 6 jobs".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lineage_pipeline.graph_model import DATASET_KINDS, NodeLabel
from lineage_queries.answers import (
    Impact,
    ImpactCounts,
    ImpactedColumn,
    ImpactedDataset,
    ImpactedJob,
)
from lineage_queries.shapes import dataset_of, node_kind
from lineage_queries.subgraph import to_subgraph
from lineage_queries.walk import Walk

if TYPE_CHECKING:
    from lineage_queries.api import LineageGraph


def impact(graph: LineageGraph, node: str, *, column: str | None = None, depth: int = 100,
           as_of: int | None = None) -> Impact:
    """Return what a change to ``node`` (optionally its ``column``) reaches downstream.

    ``node``: a dataset, dataset version, column (``...#column``), run or job NODE string.
    Returns::

        {"root": id, "column": name|None, "depth", "asOf",
         "summary": "impacts ...",
         "counts": {"datasets", "byKind": {kind: n}, "columns", "jobs", "runs", "versions"},
         "datasets": [{"id", "kind", "namespace", "name", "distance", "versions": n,
                       "columns": [names reached], "jobs": [producing jobs]}],
         "columns": [{"dataset", "column", "distance", "how": "declared"|"name"}],
         "jobs": [{"id", "distance", "runs": n}],
         "models": [model dataset ids],
         "subgraph": the downstream Subgraph}

    ``distance`` is the fewest hops from the root. Sorted by distance, then id. Raises
    :class:`QueryError` for an unknown node or column.
    """
    w = graph.walk(node, "downstream", depth, as_of=as_of, column=column)
    reach = _Reach(_root_dataset(w))
    roots = {w.root.uid}
    if w.root.label is NodeLabel.DATASET:
        roots |= {uid for uid, (_, _, d) in w.nodes.items() if d == 0}
    reach.collect(w, roots)
    dataset_list = reach.dataset_list()
    counts = reach.counts()
    return {
        "root": w.root.id,
        "column": w.root.column if w.root.column is not None else (
            w.root.props.get("name") if w.root.label is NodeLabel.FIELD else None),
        "depth": depth,
        "asOf": as_of,
        "summary": summary_text(counts),
        "counts": counts,
        "datasets": dataset_list,
        "columns": sorted(reach.columns.values(),
                          key=lambda c: (c["distance"], c["dataset"], c["column"])),
        "jobs": sorted(reach.jobs.values(), key=lambda j: (j["distance"], j["id"])),
        "models": [e["id"] for e in dataset_list if e["kind"] == "model"],
        "subgraph": to_subgraph(w),
    }


def _root_dataset(w: Walk) -> str | None:
    """The dataset the walk's root belongs to (its own versions and columns do not count)."""
    root = w.root
    if root.label is NodeLabel.DATASET:
        return root.uid
    if root.label is NodeLabel.DATASET_VERSION:
        return dataset_of(root.uid, root.props)
    if root.label is NodeLabel.FIELD:
        return str(root.props.get("datasetUid") or dataset_of(
            str(root.props.get("versionUid") or root.uid.rsplit("#", 1)[0])))
    return None


@dataclass
class _Dataset:
    """A reached dataset while collecting (columns and jobs as sets)."""

    id: str
    kind: str
    namespace: str | None
    name: str | None
    distance: int
    versions: int = 0
    columns: set[str] = field(default_factory=set)
    jobs: set[str] = field(default_factory=set)


@dataclass
class _Reach:
    """What the downstream walk reached, by dataset, job and column (root dataset left out)."""

    root_dataset: str | None
    datasets: dict[str, _Dataset] = field(default_factory=dict)
    jobs: dict[str, ImpactedJob] = field(default_factory=dict)
    columns: dict[tuple[str, str], ImpactedColumn] = field(default_factory=dict)
    run_ids: set[str] = field(default_factory=set)

    def collect(self, w: Walk, roots: set[str]) -> None:
        # downstream relationships run from the derived node to its source
        how = {derived: extra.get("inferred") or "declared"
               for (derived, _, ty), extra in w.relationships.items() if ty == "DERIVED_FROM"}
        for uid, (label, props, dist) in w.nodes.items():
            if uid in roots:
                continue
            if label is NodeLabel.DATASET_VERSION:
                self._version(w, uid, props, dist)
            elif label is NodeLabel.FIELD:
                self._column(props, dist, how.get(uid, "declared"))
            elif label is NodeLabel.RUN:
                self._run(uid, props, dist)
        for (ds, name) in self.columns:
            if ds in self.datasets:  # the walk adds every found column's version
                self.datasets[ds].columns.add(name)

    def _version(self, w: Walk, uid: str, props: dict[str, Any], dist: int) -> None:
        ds = dataset_of(uid, props)
        if ds == self.root_dataset:
            return
        entry = self.datasets.setdefault(ds, _Dataset(
            ds, node_kind(NodeLabel.DATASET_VERSION, props), props.get("namespace"),
            props.get("name"), dist))
        entry.versions += 1
        entry.distance = min(entry.distance, dist)
        producer = props.get("producedByRunId")
        if producer in w.nodes:
            job = w.nodes[producer][1].get("jobUid")
            if job:
                entry.jobs.add(job)

    def _column(self, props: dict[str, Any], dist: int, how: str) -> None:
        ds = str(props.get("datasetUid") or dataset_of(str(props.get("versionUid"))))
        if ds == self.root_dataset:
            return
        name = str(props.get("name"))
        col = self.columns.setdefault((ds, name), {"dataset": ds, "column": name,
                                                   "distance": dist, "how": how})
        col["distance"] = min(col["distance"], dist)

    def _run(self, uid: str, props: dict[str, Any], dist: int) -> None:
        self.run_ids.add(uid)
        job = props.get("jobUid")
        if job:
            entry = self.jobs.setdefault(job, {"id": job, "distance": dist, "runs": 0})
            entry["runs"] += 1
            entry["distance"] = min(entry["distance"], dist)

    def dataset_list(self) -> list[ImpactedDataset]:
        """The reached datasets (columns and jobs as sorted lists), nearest first."""
        out: list[ImpactedDataset] = [
            {"id": e.id, "kind": e.kind, "namespace": e.namespace, "name": e.name,
             "distance": e.distance, "versions": e.versions, "columns": sorted(e.columns),
             "jobs": sorted(e.jobs)}
            for e in self.datasets.values()]
        return sorted(out, key=lambda e: (e["distance"], e["id"]))

    def counts(self) -> ImpactCounts:
        by_kind: dict[str, int] = {}
        for entry in self.datasets.values():
            by_kind[entry.kind] = by_kind.get(entry.kind, 0) + 1
        return {
            "datasets": len(self.datasets),
            "byKind": dict(sorted(by_kind.items())),
            "columns": len(self.columns),
            "jobs": len(self.jobs),
            "runs": len(self.run_ids),
            "versions": sum(e.versions for e in self.datasets.values()),
        }


def _plural(n: int, word: str) -> str:
    if word in ("features", "metrics", "predictions"):
        return f"{n} {word}"
    return f"{n} {word}" + ("" if n == 1 else "s")


def summary_text(counts: ImpactCounts) -> str:
    """The one-line summary of an impact's ``counts`` (see the module docstring)."""
    by_kind: dict[str, int] = counts["byKind"]
    if not counts["datasets"] and not counts["jobs"]:
        return "impacts nothing downstream"
    order = [k for k in ("model", *DATASET_KINDS) if k in by_kind]
    order = list(dict.fromkeys(order + sorted(by_kind)))
    parts = [_plural(by_kind[k], k if k != "dataset" else "other dataset") for k in order]
    if len(parts) > 1:
        kinds = ", ".join(parts[:-1]) + " and " + parts[-1]
    else:
        kinds = parts[0] if parts else "no datasets"
    return (f"impacts {kinds} ({_plural(counts['datasets'], 'dataset')}), "
            f"{_plural(counts['columns'], 'column')}, {_plural(counts['jobs'], 'job')}")
