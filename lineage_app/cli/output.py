"""How a query command prints its answer: ``--format table|json|dot|png|svg|html``.

- ``table`` (default): rich tables and trees for people (:mod:`lineage_app.cli.views`);
- ``json`` (also ``--json``): the API's answer, for tools;
- ``dot``: Graphviz DOT of the answer's subgraph (to ``-o FILE`` or stdout);
- ``png``, ``svg``, ``html``: a picture of the subgraph written to ``-o FILE``
  (:mod:`lineage_app.render`; the HTML page pans and zooms and loads nothing).

Only :mod:`typer` is imported at start-up; rich, the renderers and Graphviz are imported
when an answer is printed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from lineage_pipeline.errors import QueryError

if TYPE_CHECKING:
    from rich.console import RenderableType

    from lineage_queries.shapes import Subgraph


class OutputFormat(StrEnum):
    """What a command prints or writes."""

    table = "table"
    json = "json"
    dot = "dot"
    png = "png"
    svg = "svg"
    html = "html"


JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for tools.")]
FormatOption = Annotated[OutputFormat | None, typer.Option(
    "--format", "-f", help="table (default), json, dot, png, svg or html.")]
OutputOption = Annotated[Path | None, typer.Option(
    "--output", "-o", help="Write to FILE (needed for png, svg and html).")]


def print_report(report: Any, as_json: bool, show: Callable[[Any], None]) -> None:
    """Print a report that has no picture (``check``, ``completeness``, ``quality``,
    ``synthetic``): its JSON with ``--json``, else ``show(report)`` (rich tables)."""
    if as_json:
        print(json.dumps(report, indent=2, default=str))
    else:
        show(report)


def emit(data: Any, subgraph: Subgraph, render: Callable[[], RenderableType], *,
         as_json: bool = False, fmt: OutputFormat | None = None, output: Path | None = None,
         title: str | None = None) -> None:
    """Print or write one answer in the chosen format (see the module docstring).

    Raises :class:`QueryError` when a picture format has no ``output`` file, and
    :class:`~lineage_pipeline.errors.ConfigError` when Graphviz is missing.
    """
    chosen = OutputFormat.json if as_json else (fmt or OutputFormat.table)
    if chosen is OutputFormat.table:
        from rich.console import Console

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
               f"{len(picture['relationships'])} relationships)")


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
    return {"nodes": nodes, "relationships": [dict(e) for e in sub["relationships"]]}
