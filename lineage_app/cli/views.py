"""Rich renderings of every query answer, for people (the CLI's default ``table`` format).

Each ``render_*`` takes the API's answer, typed by its shape (:mod:`lineage_queries.answers`;
the same object ``--json`` prints), and returns a rich renderable (a Tree, a Table or a Group
of them). No graph access here.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from rich.console import Group, RenderableType
from rich.markup import escape
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from lineage_queries.answers import (
    FreshnessReport,
    Impact,
    ModelInputs,
    RootCause,
    RunDetail,
    RunDiff,
    RunSummary,
    Subgraph,
    TrainedOn,
    ValueChange,
    VersionChange,
)
from lineage_queries.shapes import short

_STATE_COLOUR = {"COMPLETE": "green", "FAIL": "red", "ABORT": "red", "STALE": "red"}
_SEVERITY_COLOUR = {"high": "red", "medium": "yellow", "low": "dim"}


def fmt_time(ms: Any) -> str:
    """Format epoch milliseconds as ``YYYY-MM-DD HH:MM:SSZ`` (UTC); ``-`` when missing."""
    if not isinstance(ms, int | float):
        return "-"
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def fmt_duration(ms: Any) -> str:
    """Format a duration in milliseconds (``1.2 s``, ``3 min 4 s``, ``2 h 5 min``); ``-``
    when missing."""
    if not isinstance(ms, int | float):
        return "-"
    if ms < 60_000:
        return f"{ms / 1000:.1f} s"
    if ms < 3_600_000:
        return f"{int(ms // 60_000)} min {int(ms % 60_000 // 1000)} s"
    return f"{int(ms // 3_600_000)} h {int(ms % 3_600_000 // 60_000)} min"


def num(v: Any) -> str:
    """A value for a table cell: floats with 4 significant digits."""
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _state(state: Any) -> str:
    colour = _STATE_COLOUR.get(str(state), "yellow")
    return f"[{colour}]{escape(str(state or '?'))}[/{colour}]"


# -- subgraphs ---
def node_label(node: Mapping[str, Any]) -> str:
    """One line describing a Subgraph node for people (rich markup)."""
    kind, label = node["kind"], node["label"]
    if label == "Run":
        job = node.get("job") or f"{node.get('namespace')}:{node.get('name')}"
        return (f"[bold]run[/bold] {escape(str(job))}  [dim]{escape(node['id'])}[/dim]  "
                f"{_state(node.get('state'))}  {fmt_time(node.get('startTime'))}")
    if label == "Job":
        return f"[bold]job[/bold] {escape(node['id'])}"
    if label == "DatasetVersion":
        digest = node.get("digest")
        extra = f"  digest {short(digest)}" if digest else ""
        rows = node.get("rowCount")
        extra += f"  {rows} rows" if rows is not None else ""
        dataset = node.get("dataset") or f"{node.get('namespace')}:{node.get('name')}"
        return (f"[cyan]{escape(str(kind))}[/cyan] {escape(str(dataset))} "
                f"[dim]@{escape(short(node.get('version'), 16))}[/dim]{extra}")
    if label == "Field":
        dataset = node.get("dataset") or "?"
        version = str(node.get("version") or "").rsplit("@", 1)[-1]
        return (f"[cyan]column[/cyan] [bold]{escape(str(node.get('name')))}[/bold] of "
                f"{escape(str(dataset))} [dim]@{escape(short(version, 16))}[/dim]")
    return f"[cyan]{escape(str(kind))}[/cyan] {escape(node['id'])}"


def _start(sub: Subgraph) -> str:
    """The node a tree starts from: the root, or for a dataset column its dataset."""
    root = str(sub["root"])
    column = sub.get("column")
    if column and root.endswith(f"#{column}") and root not in {n["id"] for n in sub["nodes"]}:
        return root[: -len(column) - 1]
    return root


def _tree_children(sub: Subgraph) -> dict[str, list[tuple[str, str]]]:
    """parent -> [(child, note)] along the walk (upstream: towards inputs)."""
    root = _start(sub)
    upstream = sub["direction"] == "upstream"
    depth0 = {n["id"] for n in sub["nodes"] if n.get("depth") == 0}
    jobs = {n["id"]: n.get("job") for n in sub["nodes"] if n["label"] == "Run"}
    children: dict[str, list[tuple[str, str]]] = {}
    for e in sub["relationships"]:
        a, b, ty = e["from"], e["to"], e["type"]
        note = ""
        if ty in ("VERSION_OF", "RUN_OF"):
            if b == root:  # a dataset or job root stands for its versions or runs
                children.setdefault(b, []).append((a, ""))
            continue
        if ty == "HAS_FIELD":
            if a in depth0 and b in depth0:  # a dataset column root: version -> column
                children.setdefault(a, []).append((b, ""))
            continue
        if ty == "DERIVED_FROM":
            if e.get("collapsed"):
                note = f" [dim]({e.get('hops')} hops)[/dim]"
            elif e.get("runId"):
                how = " by name" if e.get("inferred") == "name" else (
                    " as a whole" if e.get("inferred") == "dataset" else "")
                run_id = e.get("runId") or ""
                note = (f" [dim](via {escape(str(jobs.get(run_id) or run_id))}"
                        f"{how})[/dim]")
            parent, child = (a, b) if upstream else (b, a)
        else:
            parent, child = (b, a) if upstream else (a, b)
        children.setdefault(parent, []).append((child, note))
    return children


def render_subgraph(sub: Subgraph) -> Tree:
    """A tree from the root along the walk (upstream: towards inputs; downstream: outputs).

    A node reached a second time is shown once more, marked ``(see above)``, not expanded.
    """
    nodes = {n["id"]: n for n in sub["nodes"]}
    children = _tree_children(sub)
    kinds = f", kinds {', '.join(sub['kinds'])}" if sub.get("kinds") else ""
    as_of = f", as of {fmt_time(sub['asOf'])}" if sub.get("asOf") is not None else ""
    title = (f"[bold]{sub['direction']}[/bold] of {escape(sub['root'])} (depth {sub['depth']}"
             f"{kinds}{as_of}): {len(sub['nodes'])} nodes, "
             f"{len(sub['relationships'])} relationships")
    tree = Tree(title)
    seen: set[str] = set()

    def grow(branch: Tree, uid: str, note: str) -> None:
        node = nodes.get(uid)
        text = (node_label(node) if node else escape(uid)) + note
        if uid in seen:
            branch.add(text + " [dim](see above)[/dim]")
            return
        seen.add(uid)
        sub_branch = branch.add(text)
        for child, child_note in sorted(set(children.get(uid, []))):
            grow(sub_branch, child, child_note)

    grow(tree, _start(sub), "")
    return tree


# -- runs ---
def render_runs(job: str, rows: list[RunSummary]) -> Table:
    """A table of run summaries (newest first)."""
    table = Table(title=f"runs of {escape(job)} (newest first)")
    for col in ("run id", "state", "started (UTC)", "duration", "metrics"):
        table.add_column(col)
    for r in rows:
        metrics = ", ".join(f"{k}={num(v)}" for k, v in sorted(r["metrics"].items()))
        table.add_row(r["runId"], _state(r["state"]), fmt_time(r["startTime"]),
                      fmt_duration(r["durationMs"]), escape(metrics) or "-")
    if not rows:
        table.caption = "no runs recorded yet"
    return table


def render_run(detail: RunDetail) -> Table:
    """A table of one run's properties, inputs and outputs."""
    table = Table(title=f"run {escape(detail['runId'])}", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value")
    job = detail.get("job") or {}
    table.add_row("job", escape(str(job.get("uid", "-"))))
    table.add_row("state", _state(detail.get("state")))
    table.add_row("started (UTC)", fmt_time(detail.get("startTime")))
    table.add_row("duration", fmt_duration(detail.get("durationMs")))
    for key in ("parameters", "metrics"):
        value = detail.get(key)
        if isinstance(value, dict) and value:
            table.add_row(key, escape(", ".join(f"{k}={num(v)}" for k, v in sorted(value.items()))))
    props: Mapping[str, Any] = detail
    for key in ("gitSha", "errorMessage", "parentRunId"):
        if props.get(key):
            table.add_row(key, escape(str(props[key])))
    for role, versions in (("input", detail["inputs"]), ("output", detail["outputs"])):
        for v in versions:
            table.add_row(role, node_label({**v, "label": "DatasetVersion"}))
    return table


# -- impact ---
def render_impact(answer: Impact) -> Group:
    """The impact summary, the impacted datasets and the jobs."""
    what = escape(answer["root"])
    head = Text.from_markup(f"[bold]impact of {what}[/bold]: {escape(answer['summary'])}")
    datasets = Table(title="impacted datasets (nearest first)")
    for col in ("hops", "kind", "dataset", "versions", "columns reached", "written by"):
        datasets.add_column(col)
    for d in answer["datasets"]:
        datasets.add_row(str(d["distance"]), escape(str(d["kind"])), escape(d["id"]),
                         str(d["versions"]), escape(", ".join(d["columns"])) or "-",
                         escape(", ".join(d["jobs"])) or "-")
    jobs = Table(title="impacted jobs")
    for col in ("hops", "job", "runs"):
        jobs.add_column(col)
    for j in answer["jobs"]:
        jobs.add_row(str(j["distance"]), escape(j["id"]), str(j["runs"]))
    return Group(head, datasets, jobs)


# -- diff ---
def _kv_table(title: str, diff: dict[str, ValueChange]) -> Table:
    table = Table(title=title)
    for col in ("key", "before", "after", "delta"):
        table.add_column(col)
    for key, d in diff.items():
        delta = d.get("delta")
        table.add_row(escape(key), escape(num(d["before"])), escape(num(d["after"])),
                      num(delta) if delta is not None else "")
    return table


def _version_table(title: str, entries: list[VersionChange]) -> Table:
    table = Table(title=title)
    for col in ("dataset", "status", "digest before -> after", "schema", "columns moved"):
        table.add_column(col)
    for e in entries:
        before: Mapping[str, Any] = e["before"] or {}
        after: Mapping[str, Any] = e["after"] or {}
        schema = e["schema"]
        parts = [f"+{c}" for c in schema["added"]] + [f"-{c}" for c in schema["removed"]]
        parts += [f"{r['name']}: {r['before']}->{r['after']}" for r in schema["retyped"]]
        moved = [f"{c['name']} {c['stat']} {num(c['stats'][c['stat'] or '']['before'])}->"
                 f"{num(c['stats'][c['stat'] or '']['after'])}"
                 for c in sorted(e["columns"], key=lambda c: -c.get("drift", c["moved"]))[:3]]
        table.add_row(escape(e["dataset"]), e["status"],
                      f"{short(before.get('digest') or before.get('version'))} -> "
                      f"{short(after.get('digest') or after.get('version'))}",
                      escape(", ".join(parts)) or "-", escape("; ".join(moved)) or "-")
    return table


def render_diff(answer: RunDiff) -> Group:
    """Two runs side by side: changed inputs/outputs, parameters, metrics, code, env."""
    a, b = answer["runA"], answer["runB"]
    head = Text.from_markup(
        f"[bold]diff[/bold] run {escape(str(a['runId']))} ({escape(str(a['job']))}, "
        f"{_state(a['state'])}, {fmt_time(a['startTime'])}) -> run {escape(str(b['runId']))} "
        f"({escape(str(b['job']))}, {_state(b['state'])}, {fmt_time(b['startTime'])})"
        + ("" if answer["sameJob"] else "  [yellow](different jobs)[/yellow]"))
    parts: list[RenderableType] = [head]
    parts.append(_version_table("inputs that differ", answer["inputs"]) if answer["inputs"]
                 else Text("inputs: all the same versions"))
    if answer["unchangedInputs"]:
        parts.append(Text("unchanged inputs: " + ", ".join(answer["unchangedInputs"])))
    if answer["outputs"]:
        parts.append(_version_table("outputs that differ", answer["outputs"]))
    for key in ("parameters", "metrics", "code", "environment"):
        if answer[key]:
            parts.append(_kv_table(key, answer[key]))
        else:
            parts.append(Text(f"{key}: same"))
    return Group(*parts)


# -- root cause ---
def render_root_cause(answer: RootCause) -> Group:
    """The ranked candidates, the chain of the top one, and the consequences."""
    run, base = answer["run"], answer["baseline"]
    head = Text.from_markup(
        f"[bold]root cause[/bold] of run {escape(str(run['runId']))} of "
        f"{escape(str(run['job']))} ({_state(run['state'])}) against baseline "
        f"{escape(str(base['runId']))} [dim]({escape(str(base.get('reason')))})[/dim]")
    parts: list[RenderableType] = [head]
    for key, d in answer["metrics"].items():
        parts.append(Text.from_markup(
            f"  metric [bold]{escape(key)}[/bold]: {num(d['before'])} -> [red]{num(d['after'])}"
            "[/red]"))
    table = Table(title="candidate causes (most likely first)")
    for col in ("rank", "severity", "type", "where", "hops", "evidence"):
        table.add_column(col)
    for c in answer["candidates"]:
        colour = _SEVERITY_COLOUR[c["severity"]]
        where = c.get("dataset") or c.get("job") or c["node"]
        table.add_row(str(c["rank"]), f"[{colour}]{c['severity']}[/{colour}]", c["type"],
                      escape(str(where)), str(c["distance"]), escape(c["summary"]))
    if not answer["candidates"]:
        table.caption = "nothing upstream differs from the baseline"
    parts.append(table)
    if answer["candidates"]:
        top = answer["candidates"][0]
        tree = Tree(f"[bold]chain of cause #1[/bold] down to run {escape(str(run['runId']))}")
        branch = tree
        for step in top["chain"]:
            if step["label"] == "Run" and step["kind"] == "run":
                text = f"run {escape(str(step['job']))} [dim]{escape(step['id'])}[/dim]"
            elif step["label"] == "DatasetVersion":
                text = (f"[cyan]{escape(str(step['kind']))}[/cyan] "
                        f"{escape(str(step.get('dataset') or step['id']))} "
                        f"[dim]{short(step.get('digest'))}[/dim]")
            else:
                text = f"{escape(str(step['kind']))} {escape(step['id'])}"
            branch = branch.add(text)
        parts.append(tree)
    if answer["consequences"]:
        cons = Table(title="consequences (changed because of the causes above)")
        for col in ("hops", "dataset", "caused by"):
            cons.add_column(col)
        for q in answer["consequences"]:
            cons.add_row(str(q["distance"]), escape(q["dataset"]),
                         escape(", ".join(q["causedBy"])) or "-")
        parts.append(cons)
    return Group(*parts)


# -- models ---
def render_trained_on(answer: TrainedOn) -> Table:
    """The models made from a dataset version."""
    table = Table(title=escape(answer["summary"]))
    for col in ("hops", "model", "digest", "trained by run", "job", "state", "started (UTC)"):
        table.add_column(col)
    for m in answer["models"]:
        r = m["run"]
        table.add_row(str(m["distance"]), escape(m["dataset"]), short(m["digest"]),
                      escape(str(r["runId"])), escape(str(r["job"])), _state(r["state"]),
                      fmt_time(r["startTime"]))
    return table


def render_inputs(answer: ModelInputs) -> Group:
    """Every input digest and parameter behind a model."""
    m = answer["model"]
    by: Mapping[str, Any] = m["producedBy"] or {}
    head = Text.from_markup(
        f"[bold]model[/bold] {escape(m['id'])} (digest {short(m['digest'], 16)}), trained by "
        f"run {escape(str(by.get('runId', '-')))} of {escape(str(by.get('job', '-')))}")
    inputs = Table(title="inputs (nearest first)")
    for col in ("hops", "kind", "dataset", "digest", "rows", "made by run"):
        inputs.add_column(col)
    for i in answer["inputs"]:
        inputs.add_row(str(i["distance"]), escape(i["kind"]), escape(i["dataset"]),
                       short(i["digest"] or i["version"], 16), num(i["rowCount"] or "-"),
                       escape(str(i["producedBy"] or "(source)")))
    runs = Table(title="runs and parameters")
    for col in ("hops", "job", "run", "state", "parameters", "git"):
        runs.add_column(col)
    for r in answer["runs"]:
        params = ", ".join(f"{k}={num(v)}" for k, v in sorted(r["parameters"].items()))
        runs.add_row(str(r["distance"]), escape(str(r["job"])), escape(str(r["runId"])),
                     _state(r["state"]), escape(params) or "-", short(r["gitSha"]))
    return Group(head, inputs, runs)


# -- freshness ---
def _seconds(s: Any) -> str:
    return fmt_duration(s * 1000) if isinstance(s, int | float) else "-"


def render_freshness(answer: FreshnessReport) -> Table:
    """Stale (and with ``--all`` fresh) datasets with their causes."""
    table = Table(title=f"freshness as of {fmt_time(answer['asOf'])}: "
                        f"{escape(answer['summary'])}")
    for col in ("dataset", "kind", "last write (UTC)", "age", "expected", "overdue", "cause"):
        table.add_column(col)
    for row in answer["stale"] + answer.get("fresh", []):
        cause = row["cause"]
        source = f" ({row['intervalSource']})" if row["intervalSource"] else ""
        stale = row in answer["stale"]
        table.add_row(
            ("[red]" if stale else "[green]") + escape(row["dataset"]) + ("[/red]" if stale
                                                                         else "[/green]"),
            escape(str(row["kind"])), fmt_time(row["lastWrite"]), _seconds(row["ageS"]),
            _seconds(row["expectedIntervalS"]) + source,
            _seconds(row["overdueS"]) if stale else "-",
            escape(cause["summary"]) if cause else "-")
    return table
