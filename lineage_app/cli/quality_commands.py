"""Data-quality and synthetic-data commands: ``lineage quality DATASET[@VERSION]`` (the
assertions recorded on a dataset's versions, :mod:`lineage_queries.quality`) and ``lineage
synthetic DATASET`` (a synthetic dataset's chain of custody and fidelity,
:mod:`lineage_queries.synthetic`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import typer

from lineage_app.cli.output import JsonOption, print_report

if TYPE_CHECKING:
    from lineage_queries.api import LineageGraph
    from lineage_queries.quality import QualityReport
    from lineage_queries.synthetic import SyntheticReport


def _print_quality(report: QualityReport) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    for version in report["versions"]:
        table = Table(title=f"{version['id']}: {version['failed']} failed, "
                            f"{version['passed']} passed")
        for col in ("check", "column", "result", "expected", "actual", "job"):
            table.add_column(col)
        for c in version["checks"]:
            table.add_row(str(c.get("assertion")), str(c.get("column") or "(dataset)"),
                          "[green]pass" if c.get("success") else "[red]FAIL",
                          str(c.get("expected") or ""), str(c.get("actual") or ""),
                          str(c.get("job") or ""))
        console.print(table)
        if version["downstreamModels"]:
            console.print("models downstream of the failed checks: "
                          + ", ".join(version["downstreamModels"]))
    console.print(("[red]" if report["failed"] else "[green]") + report["summary"])


def _print_synthetic(report: SyntheticReport) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    for version in report["versions"]:
        gen = version["generator"]
        digest = gen.get("digest") or {}
        console.print(f"[bold]{version['id']}[/bold] made by run {version['run']} of "
                      f"{version['job']} with {gen.get('model')} of {gen.get('library')} "
                      f"{gen.get('libraryVersion') or ''} ({digest.get('algorithm')} "
                      f"{str(digest.get('hex'))[:12]})")
        for seed in version["seeds"]:
            console.print(f"  seeded by {seed['id']}" + (
                f" <- {' <- '.join(seed['upstream'])}" if seed["upstream"] else ""))
        fid = version["fidelity"]
        table = Table(title="fidelity against the seed")
        for col in ("column", "metric", "value"):
            table.add_column(col)
        rows = [("(overall)", fid.get("overall") or {}),
                *sorted((fid.get("columns") or {}).items())]
        for column, metrics in rows:
            for name, value in sorted(metrics.items()):
                table.add_row(column, name, f"{value:.4g}" if isinstance(value, float)
                              else str(value))
        console.print(table)
    console.print(report["summary"])


def register(app: typer.Typer, graph_factory: Callable[[], LineageGraph]) -> None:
    """Mount ``quality`` and ``synthetic`` on ``app``."""

    @app.command()
    def quality(
        node: Annotated[str, typer.Argument(
            help="A dataset 'namespace:name' or one version 'namespace:name@version'.")],
        as_json: JsonOption = False,
    ) -> None:
        """Data-quality checks recorded on a dataset's versions (Great Expectations, pandera,
        any OpenLineage dataQualityAssertions facet), and the models downstream of a version
        that failed one; exits 1 when a check failed."""
        from lineage_queries.quality import quality as quality_of

        with graph_factory() as graph:
            report = quality_of(graph, node)
        print_report(report, as_json, _print_quality)
        if report["failed"]:
            raise typer.Exit(1)

    @app.command()
    def synthetic(
        dataset: Annotated[str, typer.Argument(
            help="A synthetic dataset 'namespace:name' (or one version '...@version').")],
        as_json: JsonOption = False,
    ) -> None:
        """A synthetic dataset's chain of custody: the generator run, its generator (library,
        model, version, parameters, digest), the real seed versions and their upstream, and
        the fidelity metrics against the seed."""
        from lineage_queries.synthetic import synthetic as synthetic_of

        with graph_factory() as graph:
            report = synthetic_of(graph, dataset)
        print_report(report, as_json, _print_synthetic)
