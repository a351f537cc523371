"""Lineage completeness: how much of the pipelines' lineage the graph holds, per namespace
and overall (catalog queries ``completeness.cypher``).

Measures (each a share of a total, ``ratio`` in [0, 1], ``None`` when the total is 0):

- ``runs_with_inputs_and_outputs``: runs that read and wrote a dataset version, of every
  run with its own events (a run known only as a parent is left out), per job namespace;
- ``jobs_with_column_lineage``: jobs whose runs declared column lineage for an output, of
  every job with a run, per job namespace;
- ``datasets_with_owner`` / ``datasets_with_documentation``: datasets with an OpenLineage
  ``ownership`` / ``documentation`` facet, of every dataset, per dataset namespace.

The reference guides' target is more than 95 % of production pipelines with captured
lineage. The graph sink exports the ratios as ``lineage_completeness_ratio{measure,
namespace}`` (``namespace="*"``: overall), refreshed every ``sink.completeness_interval_s``;
``lineage completeness`` prints them. Each query reads every Run (or Dataset) node: seconds
on a graph of a million runs, which is why the sink refreshes them minutes apart.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypedDict

from lineage_pipeline.graph.catalog import run_query

if TYPE_CHECKING:
    from lineage_pipeline.graph.base import GraphBackend

#: The measures, in the order they are reported.
MEASURES = ("runs_with_inputs_and_outputs", "jobs_with_column_lineage", "datasets_with_owner",
            "datasets_with_documentation")
#: The ``namespace`` label value of the overall share.
OVERALL = "*"


class Share(TypedDict):
    """``count`` of ``total`` (``ratio``: count / total, ``None`` when total is 0)."""

    count: int
    total: int
    ratio: float | None


class CompletenessReport(TypedDict):
    """``lineage completeness``: every measure overall and per namespace, and a summary."""

    summary: str
    overall: dict[str, Share]
    namespaces: dict[str, dict[str, Share]]


def _share(count: int, total: int) -> Share:
    return {"count": count, "total": total, "ratio": round(count / total, 4) if total else None}


def completeness(backend: GraphBackend) -> CompletenessReport:
    """Every measure of the module docstring on the graph ``backend`` holds; raises the
    backend's :class:`~lineage_pipeline.errors.GraphError` when a query fails."""
    raw: dict[str, dict[str, list[int]]] = {m: {} for m in MEASURES}

    def add(measure: str, namespace: Any, count: Any, total: Any) -> None:
        entry = raw[measure].setdefault(str(namespace or ""), [0, 0])
        entry[0] += int(count or 0)
        entry[1] += int(total or 0)

    for row in run_query(backend, "completeness_runs"):
        add("runs_with_inputs_and_outputs", row["namespace"], row["count"], row["total"])
    for row in run_query(backend, "completeness_jobs"):
        add("jobs_with_column_lineage", row["namespace"], row["count"], row["total"])
    for row in run_query(backend, "completeness_datasets"):
        add("datasets_with_owner", row["namespace"], row["owned"], row["total"])
        add("datasets_with_documentation", row["namespace"], row["documented"], row["total"])
    overall = {m: _share(sum(c for c, _ in raw[m].values()), sum(t for _, t in raw[m].values()))
               for m in MEASURES}
    namespaces: dict[str, dict[str, Share]] = {}
    for measure in MEASURES:
        for namespace, (count, total) in sorted(raw[measure].items()):
            namespaces.setdefault(namespace, {})[measure] = _share(count, total)
    runs = overall["runs_with_inputs_and_outputs"]
    summary = (f"{runs['count']:,} of {runs['total']:,} runs have inputs and outputs"
               f" ({runs['ratio']:.0%})" if runs["ratio"] is not None else "no runs yet")
    return {"summary": summary, "overall": overall, "namespaces": namespaces}
