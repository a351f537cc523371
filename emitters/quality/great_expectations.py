"""Great Expectations results as ``dataQualityAssertions`` (the ``great-expectations`` extra).

:func:`gx_assertions` reads a suite's validation result (GX 1.x
``ExpectationSuiteValidationResult``, or its ``to_json_dict()``) without importing Great
Expectations: one assertion per expectation, ``assertion`` = the expectation type
(``expect_column_values_to_be_between``), ``column`` = its ``column`` argument, ``severity``
= its configured severity (``critical``, ``warning``, ``info``), ``expected`` = its
arguments without ``column`` and ``batch_id``, ``actual`` = what GX observed
(``observed_value``, else ``unexpected_count`` of ``element_count`` with a few unexpected
values).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from emitters.quality import assertion
from lineage_pipeline.metrics import EMITTER_CAPTURE_ERRORS

__all__ = ["gx_assertions"]

log = logging.getLogger("emitters.quality")

#: Expectation arguments that are not the check's expectation.
_NOT_EXPECTED = frozenset({"column", "batch_id", "result_format", "catch_exceptions"})


def _as_dict(result: Any) -> Mapping[str, Any]:
    if isinstance(result, Mapping):
        return result
    to_json = getattr(result, "to_json_dict", None)
    if callable(to_json):
        out = to_json()
        if isinstance(out, Mapping):
            return out
    raise TypeError(f"not a Great Expectations validation result: {type(result).__name__}")


def _actual(outcome: Mapping[str, Any]) -> Any:
    if "observed_value" in outcome:
        return outcome["observed_value"]
    if "unexpected_count" in outcome:
        sample = list(outcome.get("partial_unexpected_list") or [])[:5]
        text = f"{outcome['unexpected_count']} of {outcome.get('element_count')} unexpected"
        return text + (f", e.g. {sample}" if sample else "")
    return None


def _one(row: Mapping[str, Any]) -> dict[str, Any]:
    config = row.get("expectation_config") or {}
    kind = str(config.get("type") or config.get("expectation_type") or "expectation")
    kwargs = dict(config.get("kwargs") or {})
    severity = config.get("severity")
    expected = {k: v for k, v in kwargs.items() if k not in _NOT_EXPECTED}
    return assertion(
        kind, bool(row.get("success")), column=kwargs.get("column"),
        severity=str(getattr(severity, "value", severity)) if severity else None,
        name=config.get("id"), description=config.get("description"),
        expected=expected or None, actual=_actual(row.get("result") or {}), params=expected,
    )


def gx_assertions(result: Any) -> list[dict[str, Any]]:
    """The ``dataQualityAssertions`` entries of a Great Expectations suite validation result
    (see the module docstring): a list of dicts, in the suite's order.

    Never raises into the job: an unreadable result is logged, counted in
    ``lineage_emitter_capture_errors_total{integration="great_expectations"}`` and gives
    ``[]``.
    """
    try:
        rows = _as_dict(result).get("results") or []
        return [_one(row) for row in rows if isinstance(row, Mapping)]
    except Exception as exc:  # the job goes on without the facet
        EMITTER_CAPTURE_ERRORS.labels("great_expectations").inc()
        log.warning("Great Expectations result not recorded: %s: %s", type(exc).__name__, exc)
        return []
