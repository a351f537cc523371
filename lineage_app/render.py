"""Pictures of a lineage subgraph: Graphviz DOT, PNG/SVG, and a self-contained HTML page.

Input is the Subgraph JSON every query returns::

    {"nodes": [{"id", "kind", "namespace", "name", "version", ...}],
     "relationships": [{"from", "to", "type"}]}

DOT comes from the ``graphviz`` package; PNG and SVG need Graphviz's ``dot`` program
(Debian package ``graphviz``; ``make test`` installs it). The HTML page embeds the SVG and a
few lines of script for panning (drag) and zooming (wheel); it loads nothing from the
network.
"""

from __future__ import annotations

import html
import shutil
from pathlib import Path
from typing import Any

import graphviz

from lineage_pipeline.errors import ConfigError

Subgraph = dict[str, list[dict[str, Any]]]

_STYLE = {
    "Job": {"shape": "box", "style": "rounded,filled", "fillcolor": "#e8eefc"},
    "Run": {"shape": "box", "style": "filled", "fillcolor": "#fff4d6"},
    "Dataset": {"shape": "cylinder", "style": "filled", "fillcolor": "#e3f5e1"},
    "DatasetVersion": {"shape": "note", "style": "filled", "fillcolor": "#f0f0f0"},
    "Field": {"shape": "ellipse", "style": "filled", "fillcolor": "#fbe7ef"},
}
_STATE_COLOR = {"FAIL": "#f8c9c4", "ABORT": "#f8c9c4", "STALE": "#dddddd"}


def _graph_label(node: dict[str, Any]) -> str:
    """The node's graph label: ``label`` in query answers (``kind`` is then the dataset
    kind, e.g. ``model``), else ``kind``."""
    return str(node.get("label") or node.get("kind") or "")


def node_label(node: dict[str, Any]) -> str:
    """Return the human label of one node (what a person reads in the picture)."""
    kind = _graph_label(node)
    name = str(node.get("name") or node.get("id"))
    short = name.rsplit("/", 1)[-1] if "/" in name else name
    if kind == "Run":
        job = str(node.get("job") or "").split(":", 1)[-1]
        return f"run {str(node.get('id'))[:8]}\n{job}\n{node.get('state') or ''}".strip()
    if kind == "DatasetVersion":
        version = str(node.get("version") or "")[:12]
        return f"{short}\n@{version}"
    if kind == "Field":
        return f"{node.get('name')}"
    if kind == "Dataset":
        return f"{short}\n({node.get('namespace')})"
    return short


def to_dot(sub: Subgraph, title: str | None = None) -> graphviz.Digraph:
    """Return the Graphviz digraph of ``sub`` (left to right, one style per node kind)."""
    dot = graphviz.Digraph("lineage", graph_attr={"rankdir": "LR", "fontsize": "10"},
                           node_attr={"fontname": "Helvetica", "fontsize": "10"},
                           edge_attr={"fontname": "Helvetica", "fontsize": "8"})
    if title:
        dot.attr(label=title, labelloc="t")
    # node ids hold ':' which DOT reads as a port: name nodes n0, n1, ... instead
    names: dict[str, str] = {}
    for node in sub.get("nodes", []):
        names[str(node["id"])] = f"n{len(names)}"
        style = dict(_STYLE.get(_graph_label(node), {}))
        if _graph_label(node) == "Run" and node.get("state") in _STATE_COLOR:
            style["fillcolor"] = _STATE_COLOR[str(node["state"])]
        dot.node(names[str(node["id"])], node_label(node), tooltip=str(node["id"]), **style)
    for relationship in sub.get("relationships", []):
        tail, head = names.get(str(relationship["from"])), names.get(str(relationship["to"]))
        if tail and head:
            dot.edge(tail, head, label=str(relationship.get("type", "")))
    return dot


def _require_dot() -> None:
    if shutil.which("dot") is None:
        raise ConfigError(
            "Graphviz's `dot` program is not installed; install it (Debian: apt-get install "
            "graphviz) or use --format dot/json/html"
        )


def render(sub: Subgraph, fmt: str, path: Path, title: str | None = None) -> Path:
    """Write ``sub`` to ``path`` as ``fmt`` (``dot``, ``png``, ``svg`` or ``html``).

    Raises :class:`ConfigError` for an unknown format or a missing ``dot`` program.
    """
    dot = to_dot(sub, title)
    if fmt == "dot":
        path.write_text(dot.source, "utf-8")
    elif fmt in ("png", "svg"):
        _require_dot()
        path.write_bytes(dot.pipe(format=fmt))
    elif fmt == "html":
        _require_dot()
        svg = dot.pipe(format="svg").decode("utf-8")
        path.write_text(to_html(svg, title or "lineage"), "utf-8")
    else:
        raise ConfigError(f"unknown format {fmt!r}: use table, json, dot, png, svg or html")
    return path


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ margin: 0; font-family: Helvetica, sans-serif; }}
header {{ padding: 6px 10px; background: #223; color: #fff; font-size: 14px; }}
#view {{ width: 100vw; height: calc(100vh - 32px); overflow: hidden; cursor: grab; }}
#view svg {{ transform-origin: 0 0; }}
</style></head>
<body><header>{title} &mdash; drag to pan, wheel to zoom, double-click to reset</header>
<div id="view">{svg}</div>
<script>
(function () {{
  var view = document.getElementById("view"), svg = view.querySelector("svg");
  var s = 1, x = 0, y = 0, drag = null;
  function apply() {{
    svg.style.transform = "translate(" + x + "px," + y + "px) scale(" + s + ")";
  }}
  view.addEventListener("wheel", function (e) {{
    e.preventDefault();
    var r = view.getBoundingClientRect(), mx = e.clientX - r.left, my = e.clientY - r.top;
    var k = e.deltaY < 0 ? 1.15 : 1 / 1.15;
    x = mx - (mx - x) * k; y = my - (my - y) * k; s *= k; apply();
  }}, {{ passive: false }});
  view.addEventListener("mousedown", function (e) {{ drag = [e.clientX - x, e.clientY - y]; }});
  window.addEventListener("mousemove", function (e) {{
    if (drag) {{ x = e.clientX - drag[0]; y = e.clientY - drag[1]; apply(); }}
  }});
  window.addEventListener("mouseup", function () {{ drag = null; }});
  view.addEventListener("dblclick", function () {{ s = 1; x = 0; y = 0; apply(); }});
}})();
</script></body></html>
"""


def to_html(svg: str, title: str) -> str:
    """Return a self-contained HTML page showing ``svg`` with pan and zoom."""
    start = svg.find("<svg")
    return _PAGE.format(title=html.escape(title), svg=svg[start:] if start >= 0 else svg)
