"""``lineage upstream | downstream | runs | run``: lineage questions from the command line.

Mounted by the lead's CLI with :func:`register`::

    register(app, graph_factory)   # graph_factory() -> LineageGraph, called once per command

Each command prints a rich tree or table for people, or with ``--json`` the API's JSON
(:mod:`graph_sink.api` shapes) on stdout for tools. Errors are not caught here:
:class:`~lineage_pipeline.errors.QueryError` (unknown node, bad depth) and
:class:`~lineage_pipeline.errors.GraphUnavailable` reach the caller's error handling.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.tree import Tree

from graph_sink.api import LineageGraph, Subgraph

GraphFactory = Callable[[], LineageGraph]

DepthOption = Annotated[int, typer.Option("--depth", "-d", min=0, max=100,
                                          help="Lineage hops to follow (runs and versions).")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for tools.")]
NodeArgument = Annotated[str, typer.Argument(
    help="A run id, a dataset or job 'namespace:name' (local files: 'file:/abs/path'), "
         "or a dataset version 'namespace:name@version'.")]


def register(app: typer.Typer, graph_factory: GraphFactory) -> None:
    """Add ``upstream``, ``downstream``, ``runs`` and ``run`` to ``app``."""

    @app.command()
    def upstream(node: NodeArgument, depth: DepthOption = 10, as_json: JsonOption = False) -> None:
        """What NODE was made from: runs, jobs and dataset versions down to the raw data."""
        with graph_factory() as graph:
            sub = graph.upstream(node, depth)
        _emit(sub, as_json, lambda: render_subgraph(sub))

    @app.command()
    def downstream(
        node: NodeArgument, depth: DepthOption = 10, as_json: JsonOption = False
    ) -> None:
        """What was made from NODE: the runs that read it and everything they wrote."""
        with graph_factory() as graph:
            sub = graph.downstream(node, depth)
        _emit(sub, as_json, lambda: render_subgraph(sub))

    @app.command()
    def runs(
        job: Annotated[str, typer.Argument(help="A job 'namespace:name'.")],
        limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="Newest N runs.")] = 20,
        as_json: JsonOption = False,
    ) -> None:
        """The runs of JOB, newest first: state, times and metrics."""
        with graph_factory() as graph:
            rows = graph.runs(job, limit=limit)
        _emit(rows, as_json, lambda: render_runs(job, rows))

    @app.command("run")
    def run_details(
        run_id: Annotated[str, typer.Argument(help="A run id.")], as_json: JsonOption = False
    ) -> None:
        """Everything about one run: properties, inputs and outputs with column statistics."""
        with graph_factory() as graph:
            detail = graph.run(run_id)
        _emit(detail, as_json, lambda: render_run(detail))


def _emit(data: Any, as_json: bool, render: Callable[[], Any]) -> None:
    if as_json:
        typer.echo(json.dumps(data, indent=2, sort_keys=False, default=str))
    else:
        Console().print(render())


# -- rendering for people -------------------------------------------------------------------------
def fmt_time(ms: Any) -> str:
    """Format epoch milliseconds as ``YYYY-MM-DD HH:MM:SSZ`` (UTC); ``-`` when missing."""
    if not isinstance(ms, int | float):
        return "-"
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def fmt_duration(ms: Any) -> str:
    """Format a duration in milliseconds (``1.2 s``, ``3 min 4 s``); ``-`` when missing."""
    if not isinstance(ms, int | float):
        return "-"
    if ms < 60_000:
        return f"{ms / 1000:.1f} s"
    return f"{int(ms // 60_000)} min {int(ms % 60_000 // 1000)} s"


def _short(value: Any, n: int = 12) -> str:
    text = str(value) if value is not None else "-"
    return text if len(text) <= n else text[:n] + "…"


def node_label(node: dict[str, Any]) -> str:
    """One line describing a Subgraph node for people (rich markup)."""
    kind, label = node["kind"], node["label"]
    if label == "Run":
        state = node.get("state") or "?"
        colour = {"COMPLETE": "green", "FAIL": "red", "ABORT": "red"}.get(state, "yellow")
        job = node.get("job") or f"{node.get('namespace')}:{node.get('name')}"
        return (f"[bold]run[/bold] {job}  [dim]{node['id']}[/dim]  [{colour}]{state}[/{colour}]"
                f"  {fmt_time(node.get('startTime'))}")
    if label == "Job":
        return f"[bold]job[/bold] {node['id']}"
    if label == "DatasetVersion":
        digest = node.get("digest")
        extra = f"  digest {_short(digest)}" if digest else ""
        rows = node.get("rowCount")
        extra += f"  {rows} rows" if rows is not None else ""
        dataset = node.get("dataset") or f"{node.get('namespace')}:{node.get('name')}"
        return f"[cyan]{kind}[/cyan] {dataset} [dim]@{_short(node.get('version'), 16)}[/dim]{extra}"
    return f"[cyan]{kind}[/cyan] {node['id']}"


def render_subgraph(sub: Subgraph) -> Tree:
    """A tree from the root along the walk (upstream: towards inputs; downstream: outputs).

    A node reached a second time is shown once more, marked ``(see above)``, not expanded.
    """
    nodes = {n["id"]: n for n in sub["nodes"]}
    children: dict[str, list[str]] = {}
    upstream = sub["direction"] == "upstream"
    for e in sub["edges"]:
        if e["type"] in ("RUN_OF",):
            continue
        if e["type"] == "VERSION_OF":
            # a dataset root stands for its versions
            if e["to"] == sub["root"]:
                children.setdefault(e["to"], []).append(e["from"])
            continue
        parent, child = (e["to"], e["from"]) if upstream else (e["from"], e["to"])
        children.setdefault(parent, []).append(child)
    for e in sub["edges"]:
        if e["type"] == "RUN_OF" and e["to"] == sub["root"]:
            children.setdefault(e["to"], []).append(e["from"])
    title = (f"[bold]{sub['direction']}[/bold] of {sub['root']} (depth {sub['depth']}): "
             f"{len(sub['nodes'])} nodes, {len(sub['edges'])} edges")
    tree = Tree(title)
    seen: set[str] = set()

    def grow(branch: Tree, uid: str) -> None:
        node = nodes.get(uid)
        text = node_label(node) if node else uid
        if uid in seen:
            branch.add(text + " [dim](see above)[/dim]")
            return
        seen.add(uid)
        sub_branch = branch.add(text)
        for child in sorted(set(children.get(uid, []))):
            grow(sub_branch, child)

    grow(tree, sub["root"])
    return tree


def render_runs(job: str, rows: list[dict[str, Any]]) -> Table:
    """A table of run summaries (newest first)."""
    table = Table(title=f"runs of {job} (newest first)")
    for col in ("run id", "state", "started (UTC)", "duration", "metrics"):
        table.add_column(col)
    for r in rows:
        metrics = ", ".join(f"{k}={_num(v)}" for k, v in sorted(r["metrics"].items()))
        table.add_row(r["runId"], r["state"] or "-", fmt_time(r["startTime"]),
                      fmt_duration(r["durationMs"]), metrics or "-")
    if not rows:
        table.caption = "no runs recorded yet"
    return table


def render_run(detail: dict[str, Any]) -> Table:
    """A table of one run's properties, inputs and outputs."""
    table = Table(title=f"run {detail['runId']}", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value")
    job = detail.get("job") or {}
    table.add_row("job", str(job.get("uid", "-")))
    table.add_row("state", str(detail.get("state") or "-"))
    table.add_row("started (UTC)", fmt_time(detail.get("startTime")))
    table.add_row("duration", fmt_duration(detail.get("durationMs")))
    for key in ("parameters", "metrics"):
        value = detail.get(key)
        if isinstance(value, dict) and value:
            table.add_row(key, ", ".join(f"{k}={_num(v)}" for k, v in sorted(value.items())))
    for key in ("gitSha", "errorMessage", "parentRunId"):
        if detail.get(key):
            table.add_row(key, str(detail[key]))
    for role in ("inputs", "outputs"):
        for v in detail.get(role, []):
            table.add_row(role[:-1], node_label({**v, "label": "DatasetVersion"}))
    return table


def _num(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)
