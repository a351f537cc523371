"""The lineage query commands: ``upstream``, ``downstream``, ``runs``, ``run``, ``impact``,
``diff``, ``root-cause``, ``trained-on``, ``inputs`` and ``freshness``.

Mounted by the lead's CLI with :func:`register`::

    register(app, graph_factory)   # graph_factory() -> LineageGraph, called once per command

Every command answers through :class:`~lineage_queries.api.LineageGraph` and prints, by
``--format`` (``-f``):

- ``table`` (default): rich tables and trees for people (:mod:`lineage_app.cli.views`);
- ``json`` (also ``--json``): the API's answer, for tools;
- ``dot``: Graphviz DOT of the answer's subgraph (to ``-o FILE`` or stdout);
- ``png``, ``svg``, ``html``: a picture of the subgraph written to ``-o FILE``
  (:mod:`lineage_app.render`; the HTML page pans and zooms and loads nothing).

NODE strings: a run id; a dataset or job ``namespace:name`` (local files ``file:/abs/path``
or just ``/abs/path``); a dataset version ``namespace:name@version``; a column
``namespace:name[@version]#column`` (or ``--column NAME``: dataset names may hold ``#``).
``--as-of TIME``: epoch milliseconds or ISO 8601 (:mod:`lineage_pipeline.timeparse`).
``upstream``, ``downstream``, ``run`` and ``impact`` hide the statistics of PII-tagged
fields unless ``$LINEAGE_ROLE`` may see them (:func:`shown_to_caller`).

Errors are not caught here: :class:`~lineage_pipeline.errors.QueryError` (unknown node, bad
option value), :class:`~lineage_pipeline.errors.ConfigError` (Graphviz missing) and
:class:`~lineage_pipeline.errors.GraphUnavailable` reach the caller's error handling.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console, RenderableType

from lineage_app.cli import views
from lineage_app.cli.views import (  # noqa: F401 - re-exported: the renderers used to live here
    fmt_duration,
    fmt_time,
    node_label,
    render_run,
    render_runs,
    render_subgraph,
)
from lineage_pipeline.errors import QueryError
from lineage_pipeline.freshness import FreshnessPolicy
from lineage_pipeline.timeparse import parse_time
from lineage_queries.api import MAX_DEPTH, LineageGraph, runs_subgraph
from lineage_queries.rootcause import DRIFT_THRESHOLD
from lineage_queries.shapes import Subgraph

GraphFactory = Callable[[], LineageGraph]
T = TypeVar("T")
PolicyFactory = Callable[[], FreshnessPolicy]


class OutputFormat(StrEnum):
    """What a command prints or writes."""

    table = "table"
    json = "json"
    dot = "dot"
    png = "png"
    svg = "svg"
    html = "html"


DepthOption = Annotated[int, typer.Option("--depth", "-d", min=0, max=MAX_DEPTH,
                                          help="Lineage hops to follow (runs and versions).")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for tools.")]
FormatOption = Annotated[OutputFormat | None, typer.Option(
    "--format", "-f", help="table (default), json, dot, png, svg or html.")]
OutputOption = Annotated[Path | None, typer.Option(
    "--output", "-o", help="Write to FILE (needed for png, svg and html).")]
AsOfOption = Annotated[str | None, typer.Option(
    "--as-of", help="Answer from the graph as it was at TIME (epoch ms or ISO 8601).")]
KindOption = Annotated[list[str] | None, typer.Option(
    "--kind", "-k", help="Keep only nodes of this kind (repeatable): model, features, table, "
                         "file, predictions, metrics, dataset, run, job, field.")]
ColumnOption = Annotated[str | None, typer.Option(
    "--column", "-c", help="A column of the dataset or version (same as NODE#COLUMN).")]
NodeArgument = Annotated[str, typer.Argument(
    help="A run id, a dataset or job 'namespace:name' (local files: 'file:/abs/path'), a "
         "dataset version 'namespace:name@version' or a column 'namespace:name[@version]#col'.")]
RunArgument = Annotated[str, typer.Argument(help="A run id.")]


def _load_policy() -> FreshnessPolicy:
    from lineage_pipeline.settings import load_settings

    return load_settings().freshness


def register(app: typer.Typer, graph_factory: GraphFactory,
             policy_factory: PolicyFactory | None = None) -> None:
    """Add the lineage query commands to ``app``.

    ``graph_factory`` opens the graph (once per command, closed after it);
    ``policy_factory`` returns the freshness policy (default: the ``freshness`` section of
    the settings).
    """
    policy_of = policy_factory or _load_policy

    @app.command()
    def upstream(
        node: NodeArgument, depth: DepthOption = 10, kind: KindOption = None,
        as_of: AsOfOption = None, column: ColumnOption = None, as_json: JsonOption = False,
        fmt: FormatOption = None, output: OutputOption = None,
    ) -> None:
        """What NODE was made from: runs, jobs, dataset versions and columns, to the raw data."""
        with graph_factory() as graph:
            sub = shown_to_caller(graph, graph.upstream(node, depth, as_of=_time(as_of),
                                                        kinds=kind, column=column))
        emit(sub, sub, lambda: views.render_subgraph(sub), as_json=as_json, fmt=fmt,
             output=output, title=f"upstream of {sub['root']}")

    @app.command()
    def downstream(
        node: NodeArgument, depth: DepthOption = 10, kind: KindOption = None,
        as_of: AsOfOption = None, column: ColumnOption = None, as_json: JsonOption = False,
        fmt: FormatOption = None, output: OutputOption = None,
    ) -> None:
        """What was made from NODE: the runs that read it and everything they wrote."""
        with graph_factory() as graph:
            sub = shown_to_caller(graph, graph.downstream(node, depth, as_of=_time(as_of),
                                                          kinds=kind, column=column))
        emit(sub, sub, lambda: views.render_subgraph(sub), as_json=as_json, fmt=fmt,
             output=output, title=f"downstream of {sub['root']}")

    @app.command()
    def runs(
        job: Annotated[str, typer.Argument(help="A job 'namespace:name'.")],
        limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="Newest N runs.")] = 20,
        as_json: JsonOption = False, fmt: FormatOption = None, output: OutputOption = None,
    ) -> None:
        """The runs of JOB, newest first: state, times and metrics."""
        with graph_factory() as graph:
            rows = graph.runs(job, limit=limit)
        emit(rows, _runs_picture(job, rows), lambda: views.render_runs(job, rows),
             as_json=as_json, fmt=fmt, output=output, title=f"runs of {job}")

    @app.command("run")
    def run_details(run_id: RunArgument, as_json: JsonOption = False,
                    fmt: FormatOption = None, output: OutputOption = None) -> None:
        """Everything about one run: properties, inputs and outputs with column statistics."""
        with graph_factory() as graph:
            detail = shown_to_caller(graph, graph.run(run_id))
        emit(detail, _run_picture(detail), lambda: views.render_run(detail), as_json=as_json,
             fmt=fmt, output=output, title=f"run {run_id}")

    @app.command()
    def impact(
        node: Annotated[str, typer.Argument(
            help="A dataset 'namespace:name', a version 'namespace:name@version' or a column "
                 "'namespace:name[@version]#column' (or --column).")],
        column: ColumnOption = None, depth: DepthOption = MAX_DEPTH, as_of: AsOfOption = None,
        as_json: JsonOption = False, fmt: FormatOption = None, output: OutputOption = None,
    ) -> None:
        """The blast radius of a change to a dataset or column: datasets, columns, jobs and
        models downstream, with counts."""
        with graph_factory() as graph:
            answer = shown_to_caller(
                graph, graph.impact(node, column=column, depth=depth, as_of=_time(as_of)))
        emit(answer, answer["subgraph"], lambda: views.render_impact(answer), as_json=as_json,
             fmt=fmt, output=output, title=f"impact of {answer['root']}: {answer['summary']}")

    @app.command()
    def diff(run_a: Annotated[str, typer.Argument(help="The earlier (good) run id.")],
             run_b: Annotated[str, typer.Argument(help="The later (bad) run id.")],
             as_json: JsonOption = False, fmt: FormatOption = None,
             output: OutputOption = None) -> None:
        """What differs between two runs: input versions (digest, schema, column statistics),
        code version, parameters, environment and metrics."""
        with graph_factory() as graph:
            answer = graph.diff_runs(run_a, run_b)
        emit(answer, answer["subgraph"], lambda: views.render_diff(answer), as_json=as_json,
             fmt=fmt, output=output, title=f"diff {run_a} -> {run_b}")

    @app.command("root-cause")
    def root_cause(
        run_id: Annotated[str, typer.Argument(help="The bad run id.")],
        baseline: Annotated[str | None, typer.Option(
            "--baseline", "-b", help="Compare with this run (default: the job's last "
                                     "COMPLETE run before it).")] = None,
        metric: Annotated[str | None, typer.Option(
            "--metric", "-m", help="Default baseline: the last COMPLETE run with a better "
                                   "value of this metric.")] = None,
        lower_is_better: Annotated[bool, typer.Option(
            "--lower-is-better", help="The metric improves downwards (a loss).")] = False,
        drift_threshold: Annotated[float, typer.Option(
            "--drift-threshold", min=0.0, help="Column drift (relative to its spread) that "
                                               "counts as a change.")] = DRIFT_THRESHOLD,
        as_json: JsonOption = False, fmt: FormatOption = None, output: OutputOption = None,
    ) -> None:
        """Why RUN went wrong: walks its lineage against a good baseline run and ranks the
        candidate causes (changed data, schema, drift, code, parameters, failed upstream
        runs), root causes first, each with its evidence and chain."""
        with graph_factory() as graph:
            answer = graph.root_cause(run_id, baseline, metric=metric,
                                      higher_is_better=not lower_is_better,
                                      drift_threshold=drift_threshold)
        emit(answer, answer["subgraph"], lambda: views.render_root_cause(answer),
             as_json=as_json, fmt=fmt, output=output, title=f"root cause of run {run_id}")

    @app.command("trained-on")
    def trained_on(
        node: Annotated[str, typer.Argument(
            help="A dataset version 'namespace:name@version' (a dataset: any version).")],
        as_of: AsOfOption = None, as_json: JsonOption = False, fmt: FormatOption = None,
        output: OutputOption = None,
    ) -> None:
        """Which models were trained on this data, directly or through derived data."""
        with graph_factory() as graph:
            answer = graph.trained_on(node, as_of=_time(as_of))
        emit(answer, answer["subgraph"], lambda: views.render_trained_on(answer),
             as_json=as_json, fmt=fmt, output=output, title=answer["summary"])

    @app.command()
    def inputs(
        model: Annotated[str, typer.Argument(
            help="A model's digest (or a unique prefix), version 'namespace:name@version' or "
                 "dataset 'namespace:name' (its latest version).")],
        as_json: JsonOption = False, fmt: FormatOption = None, output: OutputOption = None,
    ) -> None:
        """Every input digest and parameter behind a model, transitively."""
        with graph_factory() as graph:
            answer = graph.model_inputs(model)
        emit(answer, answer["subgraph"], lambda: views.render_inputs(answer), as_json=as_json,
             fmt=fmt, output=output, title=f"inputs of {answer['model']['id']}")

    @app.command()
    def freshness(
        as_of: AsOfOption = None,
        show_all: Annotated[bool, typer.Option(
            "--all", help="Also list fresh datasets and those without a known interval.")
        ] = False,
        as_json: JsonOption = False, fmt: FormatOption = None, output: OutputOption = None,
    ) -> None:
        """Datasets whose last write is older than their expected interval (configured or
        learned), with the upstream cause when a job failed or stopped."""
        policy = policy_of()
        with graph_factory() as graph:
            answer = graph.freshness(policy, as_of=_time(as_of), include_fresh=show_all)
        emit(answer, answer["subgraph"], lambda: views.render_freshness(answer),
             as_json=as_json, fmt=fmt, output=output, title=answer["summary"])


def shown_to_caller(graph: LineageGraph, answer: T) -> T:
    """Return ``answer`` with the statistics of PII-tagged fields (own or inherited tags)
    hidden unless the caller's role, ``$LINEAGE_ROLE``, may see them
    (:mod:`lineage_queries.pii`)."""
    from lineage_queries.pii import PiiView

    return PiiView(graph.backend).redact_answer(answer, os.environ.get("LINEAGE_ROLE"))


def _time(text: str | None) -> int | None:
    return parse_time(text) if text is not None else None


# -- output ---
def emit(data: Any, subgraph: Subgraph, render: Callable[[], RenderableType], *,
         as_json: bool = False, fmt: OutputFormat | None = None, output: Path | None = None,
         title: str | None = None) -> None:
    """Print or write one answer in the chosen format (see the module docstring).

    Raises :class:`QueryError` when a picture format has no ``output`` file, and
    :class:`~lineage_pipeline.errors.ConfigError` when Graphviz is missing.
    """
    chosen = OutputFormat.json if as_json else (fmt or OutputFormat.table)
    if chosen is OutputFormat.table:
        if output is not None:
            with output.open("w", encoding="utf-8") as fh:
                Console(file=fh, width=160).print(render())
        else:
            Console().print(render())
        return
    if chosen is OutputFormat.json:
        _write_text(json.dumps(data, indent=2, default=str), output)
        return
    from lineage_app import render as pictures

    picture = to_picture(subgraph)
    if chosen is OutputFormat.dot:
        _write_text(pictures.to_dot(picture, title).source, output)
        return
    if output is None:
        raise QueryError(f"--format {chosen.value} writes a file: give it with -o FILE")
    pictures.render(picture, chosen.value, output, title)
    typer.echo(f"wrote {output} ({chosen.value}: {len(picture['nodes'])} nodes, "
               f"{len(picture['edges'])} edges)")


def _write_text(text: str, output: Path | None) -> None:
    if output is None:
        typer.echo(text)
    else:
        output.write_text(text + "\n", "utf-8")
        typer.echo(f"wrote {output}")


def to_picture(sub: Subgraph) -> dict[str, list[dict[str, Any]]]:
    """The Subgraph as :mod:`lineage_app.render` reads it: ``kind`` is the graph label
    there (what picks the shape), so each node's own kind moves to ``datasetKind``; ranked
    root-cause candidates get ``[cause #N]`` in their name."""
    nodes = []
    for n in sub.get("nodes", []):
        p = dict(n)
        p["kind"], p["datasetKind"] = n["label"], n["kind"]
        if n.get("rank") is not None:
            p["name"] = f"{n.get('name') or n['id']} [cause #{n['rank']}]"
        nodes.append(p)
    return {"nodes": nodes, "edges": list(sub.get("edges", []))}


def _runs_picture(job: str, rows: list[dict[str, Any]]) -> Subgraph:
    namespace, _, name = job.partition(":")
    nodes = [{"id": job, "label": "Job", "kind": "job", "namespace": namespace, "name": name,
              "version": None, "depth": 0}]
    edges = []
    for r in rows:
        nodes.append({"id": r["runId"], "label": "Run", "kind": "run", "namespace": namespace,
                      "name": name, "version": None, "depth": 1, "job": job,
                      "state": r["state"], "startTime": r["startTime"]})
        edges.append({"from": r["runId"], "to": job, "type": "RUN_OF"})
    return {"root": job, "direction": "upstream", "depth": 1, "nodes": nodes, "edges": edges}


def _run_picture(detail: dict[str, Any]) -> Subgraph:
    return runs_subgraph([detail], set())
