"""The lineage query commands: ``upstream``, ``downstream``, ``runs``, ``run``, ``impact``,
``diff``, ``root-cause``, ``trained-on``, ``inputs``, ``freshness``, ``check`` and
``completeness`` (:mod:`lineage_app.cli.governance_commands`), ``quality`` and ``synthetic``
(:mod:`lineage_app.cli.quality_commands`).

Mounted by :mod:`lineage_app.cli.app` with :func:`register`::

    register(app, graph_factory)   # graph_factory() -> LineageGraph, called once per command

Every command answers through :class:`~lineage_queries.api.LineageGraph` and prints by
``--format`` (``-f``): table, json, dot, png, svg or html (:mod:`lineage_app.cli.output`).
The query layer, the renderers and the settings are imported inside the commands, so
``lineage --help`` does not load them.

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

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from lineage_app.cli import governance_commands, quality_commands
from lineage_app.cli.output import FormatOption, JsonOption, OutputOption, emit
from lineage_queries.compare import DRIFT_THRESHOLD
from lineage_queries.walk import MAX_DEPTH

if TYPE_CHECKING:
    from lineage_pipeline.freshness import FreshnessPolicy
    from lineage_queries.answers import Node, Relationship, RunSummary, Subgraph
    from lineage_queries.api import LineageGraph

GraphFactory = Callable[[], "LineageGraph"]
T = TypeVar("T")
PolicyFactory = Callable[[], "FreshnessPolicy"]

DepthOption = Annotated[int, typer.Option("--depth", "-d", min=0, max=MAX_DEPTH,
                                          help="Lineage hops to follow (runs and versions).")]
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
SinceOption = Annotated[str | None, typer.Option(
    "--since", help="Only runs that ran at or after TIME (a time window with --until).")]
UntilOption = Annotated[str | None, typer.Option(
    "--until", help="Only runs that ran at or before TIME (the graph as of TIME).")]
GranularityOption = Annotated[str, typer.Option(
    "--granularity", "-g", help="run (default), application (child runs into their parent), "
                                "job (runs into their job) or dataset (dataset to dataset).")]


def _walk(graph: LineageGraph, direction: str, node: str, depth: int, *, kind: list[str] | None,
          as_of: str | None, column: str | None, since: str | None, until: str | None,
          granularity: str) -> Subgraph:
    """An upstream or downstream walk in a time window at a granularity
    (:func:`lineage_queries.granularity.windowed_walk`)."""
    from lineage_queries.granularity import windowed_walk

    return windowed_walk(graph, direction, node, depth, kinds=kind, as_of=_time(as_of),
                         column=column, since=_time(since), until=_time(until),
                         granularity=granularity)


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
    _walk_commands(app, graph_factory)
    _run_commands(app, graph_factory)
    _cause_commands(app, graph_factory)
    _model_commands(app, graph_factory)
    _freshness_command(app, graph_factory, policy_factory or _load_policy)
    governance_commands.register(app, graph_factory)
    quality_commands.register(app, graph_factory)


def _walk_commands(app: typer.Typer, graph_factory: GraphFactory) -> None:
    """``upstream`` and ``downstream``: lineage walks from one node."""

    @app.command()
    def upstream(
        node: NodeArgument, depth: DepthOption = 10, kind: KindOption = None,
        as_of: AsOfOption = None, column: ColumnOption = None, since: SinceOption = None,
        until: UntilOption = None, granularity: GranularityOption = "run",
        as_json: JsonOption = False, fmt: FormatOption = None, output: OutputOption = None,
    ) -> None:
        """What NODE was made from: runs, jobs, dataset versions and columns, to the raw data."""
        from lineage_app.cli import views

        with graph_factory() as graph:
            sub = shown_to_caller(graph, _walk(
                graph, "upstream", node, depth, kind=kind, as_of=as_of, column=column,
                since=since, until=until, granularity=granularity))
        emit(sub, sub, lambda: views.render_subgraph(sub), as_json=as_json, fmt=fmt,
             output=output, title=f"upstream of {sub['root']}")

    @app.command()
    def downstream(
        node: NodeArgument, depth: DepthOption = 10, kind: KindOption = None,
        as_of: AsOfOption = None, column: ColumnOption = None, since: SinceOption = None,
        until: UntilOption = None, granularity: GranularityOption = "run",
        as_json: JsonOption = False, fmt: FormatOption = None, output: OutputOption = None,
    ) -> None:
        """What was made from NODE: the runs that read it and everything they wrote."""
        from lineage_app.cli import views

        with graph_factory() as graph:
            sub = shown_to_caller(graph, _walk(
                graph, "downstream", node, depth, kind=kind, as_of=as_of, column=column,
                since=since, until=until, granularity=granularity))
        emit(sub, sub, lambda: views.render_subgraph(sub), as_json=as_json, fmt=fmt,
             output=output, title=f"downstream of {sub['root']}")


def _run_commands(app: typer.Typer, graph_factory: GraphFactory) -> None:
    """``runs``, ``run`` and ``diff``: runs of a job, one run, two runs compared."""

    @app.command()
    def runs(
        job: Annotated[str, typer.Argument(help="A job 'namespace:name'.")],
        limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="Newest N runs.")] = 20,
        as_json: JsonOption = False, fmt: FormatOption = None, output: OutputOption = None,
    ) -> None:
        """The runs of JOB, newest first: state, times and metrics."""
        from lineage_app.cli import views

        with graph_factory() as graph:
            rows = graph.runs(job, limit=limit)
        emit(rows, _runs_picture(job, rows), lambda: views.render_runs(job, rows),
             as_json=as_json, fmt=fmt, output=output, title=f"runs of {job}")

    @app.command("run")
    def run_details(run_id: RunArgument, as_json: JsonOption = False,
                    fmt: FormatOption = None, output: OutputOption = None) -> None:
        """Everything about one run: properties, inputs and outputs with column statistics."""
        from lineage_app.cli import views
        from lineage_queries.shapes import runs_subgraph

        with graph_factory() as graph:
            detail = shown_to_caller(graph, graph.run(run_id))
        emit(detail, runs_subgraph([detail], set()), lambda: views.render_run(detail),
             as_json=as_json, fmt=fmt, output=output, title=f"run {run_id}")

    @app.command()
    def diff(run_a: Annotated[str, typer.Argument(help="The earlier (good) run id.")],
             run_b: Annotated[str, typer.Argument(help="The later (bad) run id.")],
             as_json: JsonOption = False, fmt: FormatOption = None,
             output: OutputOption = None) -> None:
        """What differs between two runs: input versions (digest, schema, column statistics),
        code version, parameters, environment and metrics."""
        from lineage_app.cli import views

        with graph_factory() as graph:
            answer = graph.diff_runs(run_a, run_b)
        emit(answer, answer["subgraph"], lambda: views.render_diff(answer), as_json=as_json,
             fmt=fmt, output=output, title=f"diff {run_a} -> {run_b}")


def _cause_commands(app: typer.Typer, graph_factory: GraphFactory) -> None:
    """Causes and effects of a change: ``root-cause`` and ``impact``."""

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
        from lineage_app.cli import views

        with graph_factory() as graph:
            answer = graph.root_cause(run_id, baseline, metric=metric,
                                      higher_is_better=not lower_is_better,
                                      drift_threshold=drift_threshold)
        emit(answer, answer["subgraph"], lambda: views.render_root_cause(answer),
             as_json=as_json, fmt=fmt, output=output, title=f"root cause of run {run_id}")

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
        from lineage_app.cli import views

        with graph_factory() as graph:
            answer = shown_to_caller(
                graph, graph.impact(node, column=column, depth=depth, as_of=_time(as_of)))
        emit(answer, answer["subgraph"], lambda: views.render_impact(answer), as_json=as_json,
             fmt=fmt, output=output, title=f"impact of {answer['root']}: {answer['summary']}")


def _model_commands(app: typer.Typer, graph_factory: GraphFactory) -> None:
    """Models and their data: ``trained-on`` and ``inputs``."""

    @app.command("trained-on")
    def trained_on(
        node: Annotated[str, typer.Argument(
            help="A dataset version 'namespace:name@version' (a dataset: any version).")],
        as_of: AsOfOption = None, as_json: JsonOption = False, fmt: FormatOption = None,
        output: OutputOption = None,
    ) -> None:
        """Which models were trained on this data, directly or through derived data."""
        from lineage_app.cli import views

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
        from lineage_app.cli import views

        with graph_factory() as graph:
            answer = graph.model_inputs(model)
        emit(answer, answer["subgraph"], lambda: views.render_inputs(answer), as_json=as_json,
             fmt=fmt, output=output, title=f"inputs of {answer['model']['id']}")


def _freshness_command(app: typer.Typer, graph_factory: GraphFactory,
                       policy_of: PolicyFactory) -> None:
    """``freshness``: stale datasets against their SLA, with the upstream cause."""

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
        from lineage_app.cli import views

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
    from lineage_pipeline.timeparse import parse_time

    return parse_time(text) if text is not None else None


def _runs_picture(job: str, rows: list[RunSummary]) -> Subgraph:
    namespace, _, name = job.partition(":")
    nodes: list[Node] = [{"id": job, "label": "Job", "kind": "job", "namespace": namespace,
                          "name": name, "version": None, "depth": 0}]
    relationships: list[Relationship] = []
    for r in rows:
        nodes.append({"id": r["runId"], "label": "Run", "kind": "run", "namespace": namespace,
                      "name": name, "version": None, "depth": 1, "job": job,
                      "state": r["state"], "startTime": r["startTime"]})
        relationships.append({"from": r["runId"], "to": job, "type": "RUN_OF"})
    return {"root": job, "direction": "upstream", "depth": 1, "nodes": nodes,
            "relationships": relationships}
