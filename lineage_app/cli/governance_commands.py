"""Governance commands: ``lineage check DATASET --drop COL | --rename A=B | --type COL=T |
--schema FILE``, what a proposed schema change would break downstream
(:mod:`lineage_queries.check`; exits 1 when anything breaks, so a CI job can run it before a
change ships, ``docs/queries.md``), and ``lineage completeness``, how much of the lineage is
captured (:mod:`lineage_pipeline.graph.completeness`)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from lineage_app.cli.output import JsonOption, print_report

if TYPE_CHECKING:
    from lineage_pipeline.graph.completeness import CompletenessReport
    from lineage_queries.api import LineageGraph
    from lineage_queries.check import Change, CheckReport


def _pairs(values: list[str] | None, option: str) -> list[tuple[str, str]]:
    from lineage_pipeline.errors import QueryError

    out = []
    for value in values or []:
        left, sep, right = value.rpartition("=")
        if not sep or not left or not right:
            raise QueryError(f"{option} takes COLUMN=VALUE, got {value!r}")
        out.append((left, right))
    return out


def _changes(graph: LineageGraph, dataset: str, drop: list[str] | None,
             rename: list[str] | None, retype: list[str] | None,
             schema: Path | None) -> list[Change]:
    from lineage_pipeline.errors import QueryError
    from lineage_queries.check import current_columns, schema_changes, schema_columns

    if not (drop or rename or retype or schema):
        raise QueryError("nothing to check: give --drop, --rename, --type or --schema")
    changes: list[Change] = [{"column": c, "change": "drop", "detail": None}
                             for c in drop or []]
    changes += [{"column": a, "change": "rename", "detail": b}
                for a, b in _pairs(rename, "--rename")]
    changes += [{"column": c, "change": "type", "detail": t}
                for c, t in _pairs(retype, "--type")]
    if schema is not None:
        try:
            doc = json.loads(schema.read_text("utf-8"))
        except (OSError, ValueError) as exc:
            raise QueryError(f"cannot read the proposed schema {schema}: {exc}") from exc
        changes += schema_changes(current_columns(graph, dataset), schema_columns(doc))
    return changes


def _print(report: CheckReport) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"lineage check of {report['dataset']}")
    for col in ("change", "column", "verdict", "models", "datasets", "jobs", "runs"):
        table.add_column(col)
    for c in report["changes"]:
        change = c["change"] + (f" -> {c['detail']}" if c["detail"] else "")
        verdict = "BREAKS" if c["breaks"] else ("changes" if c["datasets"] else "harmless")
        table.add_row(change, c["column"], verdict, "\n".join(c["models"]),
                      "\n".join(f"{d['id']} ({d['kind']})" for d in c["datasets"]),
                      "\n".join(c["jobs"]), "\n".join(c["runs"]))
    console = Console()
    console.print(table)
    console.print(("[red]" if report["breaks"] else "[green]") + report["summary"])


def _print_completeness(report: CompletenessReport) -> None:
    from rich.console import Console
    from rich.table import Table

    from lineage_pipeline.graph.completeness import MEASURES, OVERALL

    table = Table(title="lineage completeness")
    table.add_column("namespace")
    for measure in MEASURES:
        table.add_column(measure.replace("_", " "), justify="right")
    rows = [(OVERALL, report["overall"]), *report["namespaces"].items()]
    for namespace, shares in rows:
        cells = []
        for measure in MEASURES:
            share = shares.get(measure)
            cells.append("-" if share is None or share["ratio"] is None else
                         f"{share['ratio']:.0%} ({share['count']:,}/{share['total']:,})")
        table.add_row("all" if namespace == OVERALL else namespace, *cells)
    console = Console()
    console.print(table)
    console.print(report["summary"])


def register(app: typer.Typer, graph_factory: Callable[[], LineageGraph]) -> None:
    """Mount ``check`` and ``completeness`` on ``app``."""

    @app.command()
    def completeness(
        as_json: JsonOption = False,
    ) -> None:
        """How much lineage is captured: runs with inputs and outputs, jobs with column
        lineage, datasets with an owner and with documentation; overall and per namespace."""
        from lineage_pipeline.graph.completeness import completeness as measure

        with graph_factory() as graph:
            report = measure(graph.backend)
        print_report(report, as_json, _print_completeness)

    @app.command()
    def check(
        dataset: Annotated[str, typer.Argument(help="The dataset 'namespace:name' to change.")],
        drop: Annotated[list[str] | None, typer.Option(
            "--drop", help="A column removed (repeatable).")] = None,
        rename: Annotated[list[str] | None, typer.Option(
            "--rename", help="A column renamed, OLD=NEW (repeatable).")] = None,
        retype: Annotated[list[str] | None, typer.Option(
            "--type", help="A column's new type, COLUMN=TYPE (repeatable).")] = None,
        schema: Annotated[Path | None, typer.Option(
            "--schema", help="A proposed schema: Avro record (.avsc) or JSON Schema.")] = None,
        as_json: JsonOption = False,
    ) -> None:
        """Would this schema change break anything downstream? Lists the columns, datasets,
        jobs, models and runs each changed column reaches; exits 1 when a change breaks
        something (a dropped or renamed column that is read), else 0."""
        from lineage_queries.check import check as check_changes

        with graph_factory() as graph:
            report = check_changes(graph, dataset,
                                   _changes(graph, dataset, drop, rename, retype, schema))
        print_report(report, as_json, _print)
        if report["breaks"]:
            raise typer.Exit(1)
