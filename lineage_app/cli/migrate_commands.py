"""``lineage migrate``: rename the snake_case properties a graph written by an earlier version
stores (``observed_at``, ``job_uid``, ...) to today's camelCase names, and give column-lineage
relationships written before they had one their ``uid``; in place and in batches
(:mod:`graph_sink.migrate`). Idempotent: a second run finds nothing to do."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from lineage_app.cli.context import console, err_console, settings


def _lines(found: dict[str, dict[str, object]]) -> list[str]:
    """One line per old property: ``old -> new: N nodes (Label n, ...), M relationships``."""
    out = []
    for old, entry in found.items():
        parts = []
        for kind in ("nodes", "relationships"):
            per = entry[kind]
            assert isinstance(per, dict)
            detail = ", ".join(f"{name} {n:,}" for name, n in sorted(per.items()))
            parts.append(f"{sum(per.values()):,} {kind}" + (f" ({detail})" if detail else ""))
        out.append(f"  {old} -> {entry['new']}: " + ", ".join(parts))
    return out


def migrate(
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Only count the nodes and relationships per old property.")] = False,
    batch_size: Annotated[int, typer.Option(
        "--batch-size", min=1, help="Nodes per write transaction.")] = 10_000,
    as_json: Annotated[bool, typer.Option("--json", help="JSON for tools.")] = False,
) -> None:
    """Bring a graph written by an earlier version up to date: old snake_case properties
    renamed to camelCase, column-lineage relationships given their uid."""
    from graph_sink.migrate import migrate as migrate_graph
    from lineage_pipeline.graph import open_backend

    backend = open_backend(settings().graph)
    try:
        report = migrate_graph(backend, batch_size=batch_size, dry_run=dry_run)
    finally:
        backend.close()
    data = report.to_dict()
    if as_json:
        print(json.dumps(data, indent=2))
        return
    if not report.before.total and not report.missing_uids:
        console.print("nothing to migrate: no old property names in the graph, and every "
                      "column-lineage relationship has its uid")
        return
    if report.missing_uids:
        console.print(f"{'would give' if dry_run else 'gave'} "
                      f"{report.missing_uids if dry_run else report.filled_uids:,} "
                      "column-lineage relationships (written before they had one) their uid")
    if report.before.total:
        console.print("would rename:" if dry_run else "renamed:")
        for line in _lines(data["found"]):
            console.print(line, markup=False, highlight=False)
    if dry_run:
        return
    console.print(f"{report.renamed:,} properties renamed; {report.transactions:,} "
                  f"transactions of up to {batch_size:,} nodes or relationships")
    if report.left.total:
        err_console.print(f"[yellow]{report.left.total:,} old properties are left[/yellow] "
                          "(written meanwhile: is a sink of an earlier version still running?); "
                          "run `lineage migrate` again once it is stopped:")
        for line in _lines(data["left"]):
            err_console.print(line, markup=False, highlight=False)


def register(app: typer.Typer) -> None:
    """Mount ``migrate`` on ``app``."""
    app.command()(migrate)
