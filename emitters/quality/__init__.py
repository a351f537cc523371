"""Data-quality results as lineage: validation results on a run's datasets.

A validation library's results become the OpenLineage ``dataQualityAssertions`` facet
(https://openlineage.io/docs/spec/facets/dataset-facets/input-dataset-facets/data_quality_assertions)
of the dataset version they checked, one assertion per check and column:
``{"assertion", "success", "column", "severity", "name", "description", "expected",
"actual", "params"}`` (the spec's field names; ``assertion`` and ``success`` always set,
``column`` ``None`` for a whole-dataset check). The metrics side (``dataQualityMetrics``:
row count, nulls, distinct values, min, max per column) is the statistics the emitter already
computes for the same version (:mod:`emitters.facets`).

Use :meth:`emitters.run.RunContext.add_assertions` with the assertions of
:func:`~emitters.quality.great_expectations.gx_assertions` (Great Expectations, the
``great-expectations`` extra) or :func:`~emitters.quality.pandera.pandera_assertions`
(pandera, the ``pandera`` extra); :func:`assertion` builds one by hand.

On the wire the facet is a dataset facet ``extra`` of the event: ``inputFacets.
dataQualityAssertions`` on an input (where OpenLineage defines it), ``dataQualityAssertions``
on an output. The processor copies every assertion onto the ``Run`` node with the dataset
and version it checked (``qualityAssertions``), where ``lineage quality`` and root cause read
them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from lineage_pipeline.events import ASSERTIONS_FACET, INPUT_FACETS, Dataset

__all__ = ["ASSERTIONS_FACET", "INPUT_ASSERTIONS", "add_assertions", "assertion", "merge"]

#: The ``extra`` key of the facet on an input dataset (an OpenLineage input dataset facet).
INPUT_ASSERTIONS = INPUT_FACETS + ASSERTIONS_FACET
#: Longest text kept for ``expected`` / ``actual`` (characters; longer is cut with "...").
MAX_TEXT = 512


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = value if isinstance(value, str) else json.dumps(value, default=str, sort_keys=True)
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 3] + "..."


def assertion(kind: str, success: bool, *, column: str | None = None,
              severity: str | None = None, name: str | None = None,
              description: str | None = None, expected: Any = None, actual: Any = None,
              params: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """One assertion of the ``dataQualityAssertions`` facet (OpenLineage field names).

    ``kind``: the check's classification (``not_null``, ``in_range``,
    ``expect_column_values_to_be_between``...); ``success``: the check found no issue;
    ``expected`` / ``actual``: the threshold and the observed value, kept as text (JSON for
    non-strings, at most :data:`MAX_TEXT` characters); ``params``: the check's arguments
    (values that are not plain JSON become text). ``None`` fields are left out.
    """
    entry: dict[str, Any] = {"assertion": str(kind), "success": bool(success),
                             "column": column, "severity": severity, "name": name,
                             "description": description, "expected": _text(expected),
                             "actual": _text(actual)}
    if params:
        entry["params"] = json.loads(json.dumps(dict(params), default=str))
    return {k: v for k, v in entry.items() if v is not None}


def add_assertions(ds: Dataset, assertions: Mapping[tuple[str, str], list[dict[str, Any]]],
                   side: str) -> Dataset:
    """Add to ``ds`` (in place: the caller's copy of a declared dataset) the assertions
    recorded for its (namespace, name) in ``assertions``, after any it already carries;
    return ``ds``. ``side``: ``"input"`` or ``"output"`` (which facet key, see the module
    docstring)."""
    found = assertions.get((ds.namespace, ds.name))
    if not found:
        return ds
    key = INPUT_ASSERTIONS if side == "input" else ASSERTIONS_FACET
    before: list[Any] = []
    if key in ds.facets.extra:
        try:
            before = list(json.loads(ds.facets.extra[key]).get("assertions") or [])
        except (ValueError, AttributeError, TypeError):
            before = []
    ds.facets.extra[key] = json.dumps({"assertions": before + list(found)}, sort_keys=True)
    return ds


def merge(recorded: dict[tuple[str, str], list[dict[str, Any]]], ds: Dataset,
          new: Iterable[Mapping[str, Any]]) -> None:
    """Add assertions ``new`` for dataset ``ds`` to ``recorded`` (in place); each must carry
    ``assertion`` and ``success`` (``ValueError`` otherwise)."""
    rows = [dict(a) for a in new]
    for row in rows:
        if "assertion" not in row or not isinstance(row.get("success"), bool):
            raise ValueError(f"an assertion needs 'assertion' and a boolean 'success': {row!r}")
    recorded.setdefault((ds.namespace, ds.name), []).extend(rows)
