"""``lineage quality DATASET[@VERSION]``: the data-quality assertions recorded on a
dataset's versions, and what a failed one reaches downstream.

Assertions come from the runs that read or wrote each version (their ``qualityAssertions``
property: :mod:`stream_processor.quality`; emitted by :mod:`emitters.quality` from Great
Expectations or pandera, or by any OpenLineage producer's ``dataQualityAssertions`` facet).
For a version with a failed assertion the answer lists the models downstream of it (its
impact, :func:`lineage_queries.impact.impact`): the models trained or scored on data that
failed a check.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, TypedDict

from lineage_pipeline.errors import QueryError
from lineage_pipeline.graph_model import NodeLabel

if TYPE_CHECKING:
    from lineage_queries.api import LineageGraph

__all__ = ["QualityReport", "VersionQuality", "dataset_or_version", "failed_checks", "quality"]

#: Most runs with assertions read per query (newest first).
MAX_RUNS = 500


class VersionQuality(TypedDict):
    """One dataset version: its checks (each an OpenLineage assertion plus ``run``, ``job``,
    ``role`` (input/output of that run) and ``time``, the run's start, epoch ms), counts, and
    ``downstreamModels`` (model version uids; empty unless a check failed)."""

    id: str
    version: str
    observedAt: int | None
    passed: int
    failed: int
    checks: list[dict[str, Any]]
    downstreamModels: list[str]


class QualityReport(TypedDict):
    """``lineage quality``'s answer: ``versions`` newest first."""

    node: str
    dataset: str
    summary: str
    passed: int
    failed: int
    versions: list[VersionQuality]


def failed_checks(assertions: Any, dataset: str, version: str | None) -> list[dict[str, Any]]:
    """The failed rows of a run's ``qualityAssertions`` (parsed list or JSON text) about
    ``dataset`` (uid) at ``version`` (any version when ``None``)."""
    return [a for a in _rows(assertions) if a.get("dataset") == dataset
            and (version is None or a.get("version") == version) and a.get("success") is False]


def _rows(assertions: Any) -> list[dict[str, Any]]:
    if isinstance(assertions, str):
        try:
            assertions = json.loads(assertions)
        except ValueError:
            return []
    return [a for a in assertions if isinstance(a, dict)] if isinstance(assertions, list) else []


def dataset_or_version(graph: LineageGraph, node: str) -> tuple[str, str | None]:
    """(dataset uid, version uid or ``None``) of NODE, a dataset or one of its versions.
    Raises :class:`QueryError` for an unknown node or another kind of node."""
    found = graph.resolve(node)
    if found.label is NodeLabel.DATASET_VERSION:
        return str(found.props.get("datasetUid")), found.uid
    if found.label is NodeLabel.DATASET:
        return found.uid, None
    raise QueryError(f"{node!r} is a {found.label.value}: give a dataset or a dataset version "
                     "(namespace:name or namespace:name@version)")


def quality(graph: LineageGraph, node: str) -> QualityReport:
    """The assertions on dataset ``node`` (all its versions) or on one version
    (``namespace:name@version``), newest version first; see the module docstring. Raises
    :class:`QueryError` for an unknown node or one that is not a dataset or version."""
    dataset, version_uid = dataset_or_version(graph, node)
    versions: dict[str, VersionQuality] = {}
    for row in graph.query("quality_runs", dataset=dataset, version=version_uid,
                           limit=MAX_RUNS):
        entry = versions.setdefault(str(row["uid"]), {
            "id": str(row["uid"]), "version": str(row["version"]),
            "observedAt": row["observedAt"], "passed": 0, "failed": 0, "checks": [],
            "downstreamModels": []})
        for a in _rows(row["assertions"]):
            if a.get("dataset") != dataset or a.get("version") != entry["version"]:
                continue
            check = {k: v for k, v in a.items() if k not in ("dataset", "version")}
            entry["checks"].append({**check, "run": row["run"], "job": row["job"],
                                    "time": row["startTime"]})
            entry["failed" if a.get("success") is False else "passed"] += 1
    ordered = sorted(versions.values(), key=lambda v: (-(v["observedAt"] or 0), v["id"]))
    for entry in ordered:
        if entry["failed"]:
            entry["downstreamModels"] = list(graph.impact(entry["id"])["models"])
    failed = sum(v["failed"] for v in ordered)
    passed = sum(v["passed"] for v in ordered)
    bad = [v for v in ordered if v["failed"]]
    summary = (f"{failed} of {failed + passed} checks failed on {len(bad)} of {len(ordered)} "
               f"versions; {len({m for v in bad for m in v['downstreamModels']})} models "
               "downstream of a failed check" if failed else
               f"{passed} checks passed on {len(ordered)} versions" if ordered else
               "no data-quality checks recorded on this dataset")
    return {"node": version_uid or dataset, "dataset": dataset, "summary": summary,
            "passed": passed, "failed": failed, "versions": ordered}
