"""``lineage export --openlineage [RUN | JOB | --since TIME]``: runs as OpenLineage RunEvent
JSON, one event per line (:mod:`lineage_queries.export`), to stdout or ``--output FILE``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from lineage_app.cli.context import err_console, open_graph


def export(
    target: Annotated[str | None, typer.Argument(
        help="A run id, or a job 'namespace:name' (all its runs, oldest first).")] = None,
    openlineage: Annotated[bool, typer.Option(
        "--openlineage", help="Write OpenLineage RunEvent JSON (the only format).")] = False,
    since: Annotated[str | None, typer.Option(
        "--since", help="Every run whose latest event is at or after TIME (epoch ms or "
                        "ISO 8601).")] = None,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Write to FILE instead of stdout.")] = None,
) -> None:
    """Export runs from the graph as OpenLineage RunEvents (JSON lines): one RUN, every run
    of one JOB, or every run --since TIME."""
    from lineage_pipeline.errors import QueryError
    from lineage_pipeline.openlineage import to_openlineage_json
    from lineage_pipeline.timeparse import parse_time
    from lineage_queries.export import export_runs

    if not openlineage:
        raise QueryError("say the format: lineage export --openlineage ...")
    if (target is None) == (since is None):
        raise QueryError("export one RUN or JOB, or --since TIME (exactly one)")
    with open_graph() as graph:
        if since is not None:
            events = export_runs(graph, since=parse_time(since))
        elif graph.has_job(str(target)):
            events = export_runs(graph, job=target)
        else:
            events = export_runs(graph, run=target)
        out = output.open("w", encoding="utf-8") if output is not None else sys.stdout
        count = 0
        try:
            for event in events:
                out.write(to_openlineage_json(event) + "\n")
                count += 1
        finally:
            if output is not None:
                out.close()
    if output is not None:
        err_console.print(f"{count:,} events written to {output}")


def register(app: typer.Typer) -> None:
    """Mount ``export`` on ``app``."""
    app.command()(export)
