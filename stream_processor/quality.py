"""Data-quality assertions of a run's datasets, as one ``Run`` node property.

Every ``dataQualityAssertions`` facet on the run's datasets (OpenLineage's input dataset
facet, ``inputFacets.dataQualityAssertions``, or the same facet among an output's dataset
facets; see :mod:`emitters.quality`) becomes rows of the run's ``qualityAssertions``
property, a JSON list in the datasets' order (inputs, then outputs, by uid)::

    [{"dataset": dataset uid, "version": version checked, "role": "input" | "output",
      "assertion", "success", "column", "severity", "name", "description", "expected",
      "actual", "params"}]   # the spec's assertion fields; absent ones left out

The rows sit on the run that checked the version: the runs reading or writing a version are
one hop from it, so ``lineage quality`` and root cause find them without a node per
assertion. An output not published yet (a run that only STARTed) has no version: its
assertions wait for it. A facet that is not the spec's shape is skipped (it stays whole
among the dataset's facets).
"""

from __future__ import annotations

import json
from typing import Any

from lineage_pipeline.events import ASSERTIONS_FACET, INPUT_FACETS, OUTPUT_FACETS
from lineage_pipeline.graph_model import dataset_uid
from stream_processor.stitch import DatasetState, RunState
from stream_processor.versions import input_version, output_version

__all__ = ["ASSERTION_KEYS", "quality_assertions"]

#: The ``extra`` keys that carry the facet.
ASSERTION_KEYS = (INPUT_FACETS + ASSERTIONS_FACET, ASSERTIONS_FACET,
                  OUTPUT_FACETS + ASSERTIONS_FACET)


def _assertions(ds: DatasetState) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for key in ASSERTION_KEYS:
        reg = ds.extra.get(key)
        if reg is None or not isinstance(reg.v, str):
            continue
        try:
            rows = json.loads(reg.v).get("assertions")
        except (ValueError, AttributeError):
            continue
        if isinstance(rows, list):
            out.extend(r for r in rows if isinstance(r, dict) and "assertion" in r
                       and isinstance(r.get("success"), bool))
    return out


def quality_assertions(state: RunState) -> str | None:
    """The ``qualityAssertions`` JSON text of stitched run ``state`` (see the module
    docstring), or ``None`` when its datasets carry no assertion."""
    rows: list[dict[str, Any]] = []
    sides = (("input", state.inputs), ("output", state.outputs))
    for role, datasets in sides:
        for _key, ds in sorted(datasets.items()):
            found = _assertions(ds)
            if not found:
                continue
            version = input_version(ds) if role == "input" else output_version(ds, state)
            if version is None:
                continue
            uid = dataset_uid(ds.namespace, ds.name)
            rows.extend({**a, "dataset": uid, "version": version, "role": role} for a in found)
    if not rows:
        return None
    return json.dumps(rows, sort_keys=True, separators=(",", ":"))
