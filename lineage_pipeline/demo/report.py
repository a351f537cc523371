"""The demo's answer: the chain from a bad metric down to the raw data version that changed.

Walks upstream from the bad run and the good (baseline) run in step: at each run, the
inputs are paired by dataset; an input whose version differs is followed to the run that
generated it, on both sides, until a changed version has no generating run (data that
arrived from outside) or its generating runs read identical inputs. That version is the
root; its columns are ranked by how far their statistics moved.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.tree import Tree

from graph_sink.api import LineageGraph
from lineage_pipeline.errors import QueryError

EVALUATE_JOB = "demo:breast_cancer.evaluate"
_STATS = ("mean", "min", "max", "nullCount")


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

    consumer_run: dict[str, Any]
    dataset_uid: str
    kind: str
    bad_version: dict[str, Any]
    good_version: dict[str, Any] | None
    moves: list[ColumnMove] = field(default_factory=list)
    #: other inputs of the same run that changed too (the chain follows one of them)
    also_changed: list[str] = field(default_factory=list)


@dataclass
class Chain:
    """The root-cause chain: bad and good runs, metric values, links nearest first."""

    bad_run: dict[str, Any]
    good_run: dict[str, Any]
    metric: str
    links: list[Link]

    @property
    def root_version(self) -> Link | None:
        """The last (most upstream) changed version, or ``None`` if nothing changed."""
        return self.links[-1] if self.links else None


def wait_for_runs(
    graph: LineageGraph, job: str, count: int, timeout_s: float = 120.0
) -> list[dict[str, Any]]:
    """Wait until ``job`` has ``count`` finished runs in the graph; return them, newest first.

    Raises :class:`QueryError` after ``timeout_s`` seconds, naming what arrived.
    """
    deadline = time.monotonic() + timeout_s
    runs: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        if graph.has_job(job):
            runs = [r for r in graph.runs(job) if r.get("state") in ("COMPLETE", "FAIL")]
            if len(runs) >= count:
                return runs
        time.sleep(0.5)
    raise QueryError(
        f"only {len(runs)} of {count} finished runs of {job} reached the graph in "
        f"{timeout_s:.0f} s; check `lineage status` and the processor and sink logs"
    )


def column_moves(bad: dict[str, Any], good: dict[str, Any] | None) -> list[ColumnMove]:
    """Return the statistics moves between two versions' fields, largest first."""
    if good is None:
        return []
    before = {f["name"]: f for f in good.get("fields", [])}
    moves = []
    for fld in bad.get("fields", []):
        old = before.get(fld["name"])
        if old is None:
            continue
        for stat in _STATS:
            a, b = old.get(stat), fld.get(stat)
            if isinstance(a, int | float) and isinstance(b, int | float) and a != b:
                moves.append(ColumnMove(fld["name"], stat, float(a), float(b)))
    moves.sort(key=lambda m: m.relative, reverse=True)
    return moves


def _by_dataset(versions: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {v["dataset"]: v for v in versions}


def find_root_cause_chain(
    graph: LineageGraph, bad_run_id: str, good_run_id: str, metric: str = "accuracy"
) -> Chain:
    """Return the chain from ``bad_run_id`` down to the changed root version.

    At each step the changed input that leads deepest is followed (ties: the path whose
    root columns moved most, then its own columns, then the dataset name); the other
    changed inputs of that run are listed in ``also_changed``. Raises
    :class:`QueryError` for unknown runs.
    """
    bad_run, good_run = graph.run(bad_run_id), graph.run(good_run_id)

    def walk(bad: dict[str, Any], good: dict[str, Any], depth: int) -> list[Link]:
        if depth > 20:
            return []
        good_inputs = _by_dataset(good.get("inputs", []))
        paths: list[list[Link]] = []
        for version in bad.get("inputs", []):
            before = good_inputs.get(version["dataset"])
            if before is not None and before.get("version") == version.get("version"):
                continue
            link = Link(bad, version["dataset"], str(version.get("kind")), version, before,
                        column_moves(version, before))
            path = [link]
            producer = version.get("producedByRunId")
            baseline = (before or {}).get("producedByRunId")
            if producer and baseline and producer != baseline:
                path += walk(graph.run(producer), graph.run(baseline), depth + 1)
            paths.append(path)
        if not paths:
            return []

        def rank(path: list[Link]) -> tuple[int, float, float, str]:
            root_move = path[-1].moves[0].relative if path[-1].moves else 0.0
            own_move = path[0].moves[0].relative if path[0].moves else 0.0
            return (len(path), root_move, own_move, path[0].dataset_uid)

        paths.sort(key=rank, reverse=True)
        best = paths[0]
        best[0].also_changed = sorted(p[0].dataset_uid for p in paths[1:])
        return best
    return Chain(bad_run, good_run, metric, walk(bad_run, good_run, 0))


def _short(version: dict[str, Any] | None) -> str:
    if version is None:
        return "(none)"
    digest = version.get("digest") or version.get("version") or "?"
    return str(digest)[:12]


def _algorithm(link: Link) -> str:
    return str(link.bad_version.get("digestAlgorithm") or "version")


def render_chain(console: Console, chain: Chain) -> None:
    """Print ``chain`` as a tree, from the metric down to the raw data version."""
    metric = chain.metric
    bad_value = chain.bad_run.get("metrics", {}).get(metric)
    good_value = chain.good_run.get("metrics", {}).get(metric)
    tree = Tree(
        f"[bold]{metric}[/bold] {good_value:.3f} -> [red]{bad_value:.3f}[/red]  "
        f"run {chain.bad_run['runId']} of {chain.bad_run.get('job_uid')} "
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
            f"  (read by {link.consumer_run.get('job_uid')})"
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
    "column_moves",
    "find_root_cause_chain",
    "render_chain",
    "wait_for_runs",
]
