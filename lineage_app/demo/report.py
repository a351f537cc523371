"""The demo's answer: the chain from a bad metric down to the raw data version that changed.

The graph ranks the causes (:mod:`lineage_queries.rootcause`: a changed version whose producer
read unchanged inputs, or that no run produced, is a root); this module turns the first
data cause's chain into the tree the demo prints, with the digests before and after and the
columns whose statistics moved.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.tree import Tree

from lineage_pipeline.errors import QueryError
from lineage_queries.answers import RunDetail, RunSummary, VersionDetail
from lineage_queries.api import LineageGraph

EVALUATE_JOB = "demo:breast_cancer.evaluate"


@dataclass
class ColumnMove:
    """How far one column's statistics moved between two versions of a dataset."""

    column: str
    stat: str
    before: float
    after: float

    @property
    def relative(self) -> float:
        """Relative change ``|after - before| / max(|before|, 1e-12)``."""
        return abs(self.after - self.before) / max(abs(self.before), 1e-12)


@dataclass
class Link:
    """One step of the chain: a changed input version and the run that consumed it."""

    consumer_run: RunDetail
    dataset_uid: str | None
    kind: str
    bad_version: VersionDetail
    good_version: Mapping[str, Any] | None
    moves: list[ColumnMove] = field(default_factory=list)
    #: other inputs of the same run that changed too (the chain follows one of them)
    also_changed: list[str] = field(default_factory=list)


@dataclass
class Chain:
    """The root-cause chain: bad and good runs, metric values, links nearest first."""

    bad_run: RunDetail
    good_run: RunDetail
    metric: str
    links: list[Link]

    @property
    def root_version(self) -> Link | None:
        """The last (most upstream) changed version, or ``None`` if nothing changed."""
        return self.links[-1] if self.links else None


def wait_for_runs(
    graph: LineageGraph, job: str, count: int, timeout_s: float = 120.0
) -> list[RunSummary]:
    """Wait until ``job`` has ``count`` finished runs in the graph; return them, newest first.

    Raises :class:`QueryError` after ``timeout_s`` seconds, naming what arrived.
    """
    deadline = time.monotonic() + timeout_s
    runs: list[RunSummary] = []
    while time.monotonic() < deadline:
        if graph.has_job(job):
            runs = [r for r in graph.runs(job) if r["state"] in ("COMPLETE", "FAIL")]
            if len(runs) >= count:
                return runs
        time.sleep(0.5)
    raise QueryError(
        f"only {len(runs)} of {count} finished runs of {job} reached the graph in "
        f"{timeout_s:.0f} s; check `lineage status` and the processor and sink logs"
    )


def _moves(evidence: Mapping[str, Any]) -> list[ColumnMove]:
    """The columns whose statistics drifted, furthest first, from root-cause evidence."""
    moves = []
    for d in evidence.get("drift", []):
        before, after = d.get("before"), d.get("after")
        if isinstance(before, int | float) and isinstance(after, int | float):
            moves.append(
                ColumnMove(str(d["name"]), str(d.get("stat")), float(before), float(after))
            )
    return moves


def find_root_cause_chain(
    graph: LineageGraph, bad_run_id: str, good_run_id: str, metric: str = "accuracy"
) -> Chain:
    """Return the chain from ``bad_run_id`` down to the changed root version.

    Built on the graph's ranked root cause (:meth:`LineageGraph.root_cause` against
    ``good_run_id``): the chain of the first data cause, as links nearest first, each with
    the version read by the bad side, the baseline's version, the drifted columns and the
    other changed inputs of the same run. Raises :class:`QueryError` for unknown runs.
    """
    answer = graph.root_cause(bad_run_id, good_run_id)
    bad_run, good_run = graph.run(bad_run_id), graph.run(good_run_id)
    data_causes = [c for c in answer["candidates"] if c["type"] == "data"]
    if not data_causes:
        return Chain(bad_run, good_run, metric, [])
    changed: dict[str, Mapping[str, Any]] = {c["node"]: c["evidence"]
                                             for c in answer["candidates"]}
    changed.update({c["node"]: c["evidence"] for c in answer["consequences"]})
    path = list(reversed(data_causes[0]["chain"]))  # the bad run first, the cause last
    links = []
    for i, node in enumerate(path):
        if node["label"] != "DatasetVersion" or i == 0:
            continue
        consumer = graph.run(str(path[i - 1]["id"]))  # the run one step nearer the bad run
        read = next(v for v in consumer["inputs"] if v["id"] == node["id"])
        evidence = changed.get(node["id"], {})
        others = sorted(
            str(v["dataset"]) for v in consumer["inputs"]
            if v["id"] in changed and v["id"] != node["id"]
        )
        links.append(Link(consumer, read["dataset"], str(read["kind"]), read,
                          evidence.get("before"), _moves(evidence), others))
    return Chain(bad_run, good_run, metric, links)


def _short(version: Mapping[str, Any] | None) -> str:
    if version is None:
        return "(none)"
    digest = version.get("digest") or version.get("version") or "?"
    return str(digest)[:12]


def _algorithm(link: Link) -> str:
    return str(link.bad_version.get("digestAlgorithm") or "version")


def render_chain(console: Console, chain: Chain) -> None:
    """Print ``chain`` as a tree, from the metric down to the raw data version."""
    metric = chain.metric
    bad_value = (chain.bad_run.get("metrics") or {}).get(metric)
    good_value = (chain.good_run.get("metrics") or {}).get(metric)
    tree = Tree(
        f"[bold]{metric}[/bold] {good_value:.3f} -> [red]{bad_value:.3f}[/red]  "
        f"run {chain.bad_run['runId']} of {chain.bad_run.get('jobUid')} "
        f"(baseline {chain.good_run['runId']})"
        if isinstance(bad_value, float) and isinstance(good_value, float)
        else f"run {chain.bad_run['runId']}"
    )
    node = tree
    for i, link in enumerate(chain.links):
        is_root = i == len(chain.links) - 1
        label = "[bold red]raw data version[/bold red]" if is_root else f"[bold]{link.kind}[/bold]"
        node = node.add(
            f"{label} {link.dataset_uid}\n"
            f"{_algorithm(link)} {_short(link.good_version)} -> "
            f"[red]{_short(link.bad_version)}[/red]"
            f"  (read by {link.consumer_run.get('jobUid')})"
        )
        if link.also_changed:
            node.add("also changed as input of the same run: " + ", ".join(link.also_changed))
        if is_root:
            producer = link.bad_version.get("producedByRunId")
            outside = "no run in the graph: data that arrived from outside"
            node.add(f"generated by: {producer or outside}")
            for move in link.moves[:3]:
                node.add(
                    f"column [bold]'{move.column}'[/bold]: {move.stat} {move.before:.4g} -> "
                    f"[red]{move.after:.4g}[/red] ({move.relative:+.0%})"
                )
    if not chain.links:
        tree.add("no upstream input differs from the baseline run")
    console.print(tree)


__all__ = [
    "EVALUATE_JOB",
    "Chain",
    "ColumnMove",
    "Link",
    "QueryError",
    "find_root_cause_chain",
    "render_chain",
    "wait_for_runs",
]
