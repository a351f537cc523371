"""``lineage synthetic DATASET``: a synthetic dataset's chain of custody and fidelity.

For each version of the dataset made by a generator run (a run carrying the
``syntheticGenerator`` facet, recorded by :func:`emitters.synthetic.record_generation`):
the run and its job, the generator (library and version, model class, parameters, digest of
the fitted generator), the seed versions the run read and what is upstream of each seed (the
real data behind the synthetic data), and the fidelity metrics against the seed
(``syntheticFidelity``: per column Wasserstein distance or total variation, overall MMD and
classifier two-sample AUC).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, TypedDict

from lineage_pipeline.errors import NotFoundError
from lineage_pipeline.graph_model import NodeLabel
from lineage_queries.quality import dataset_or_version
from lineage_queries.shapes import as_dict

if TYPE_CHECKING:
    from lineage_queries.api import LineageGraph

__all__ = ["SyntheticReport", "SyntheticVersion", "synthetic"]

#: Most generator runs read per query (newest first).
MAX_RUNS = 200
#: How far upstream of a seed the chain of custody goes (hops).
SEED_DEPTH = 20


class Seed(TypedDict):
    """A seed version and the dataset versions upstream of it (nearest first)."""

    id: str
    upstream: list[str]


class SyntheticVersion(TypedDict):
    """One synthetic version and how it was made."""

    id: str
    version: str
    observedAt: int | None
    run: str
    job: str | None
    time: int | None
    generator: dict[str, Any]
    fidelity: dict[str, Any]
    seeds: list[Seed]


class SyntheticReport(TypedDict):
    """``lineage synthetic``'s answer: ``versions`` newest first."""

    dataset: str
    summary: str
    versions: list[SyntheticVersion]


def _facet(extra: Any, name: str) -> dict[str, Any]:
    """Facet ``name`` of a run's ``extraFacets`` (JSON text of name -> JSON text)."""
    try:
        facets = json.loads(extra) if isinstance(extra, str) else extra
        value = as_dict(facets).get(name)
        return as_dict(json.loads(value) if isinstance(value, str) else value)
    except ValueError:
        return {}


def _upstream(graph: LineageGraph, seed: str) -> list[str]:
    """The dataset versions upstream of version ``seed``, nearest first."""
    nodes = graph.upstream(seed, SEED_DEPTH)["nodes"]
    return [str(n["id"]) for n in nodes
            if n.get("label") == NodeLabel.DATASET_VERSION.value and n["id"] != seed]


def synthetic(graph: LineageGraph, node: str) -> SyntheticReport:
    """The generator runs behind dataset ``node`` (or one version of it); see the module
    docstring. Raises :class:`QueryError` for an unknown node, one that is not a dataset,
    or a dataset no generator run produced."""
    dataset, version = dataset_or_version(graph, node)
    out: list[SyntheticVersion] = []
    for row in graph.query("synthetic_runs", dataset=dataset, version=version, limit=MAX_RUNS):
        generator = _facet(row["extraFacets"], "syntheticGenerator")
        if not generator:
            continue
        seeds = sorted(str(s) for s in row["seeds"] or [])
        out.append({"id": str(row["uid"]), "version": str(row["version"]),
                    "observedAt": row["observedAt"], "run": str(row["run"]),
                    "job": row["job"], "time": row["startTime"], "generator": generator,
                    "fidelity": _facet(row["extraFacets"], "syntheticFidelity"),
                    "seeds": [{"id": s, "upstream": _upstream(graph, s)} for s in seeds]})
    if not out:
        raise NotFoundError(
            f"no generator run produced {node!r}: a synthetic dataset's run records its "
            "generator with emitters.synthetic.record_generation (the syntheticGenerator "
            "run facet)")
    real = sorted({u for v in out for s in v["seeds"] for u in [s["id"], *s["upstream"]]})
    return {"dataset": dataset, "versions": out,
            "summary": f"{len(out)} synthetic versions from {len(real)} real dataset "
                       "versions upstream"}
