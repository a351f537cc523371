"""pandera validation as ``dataQualityAssertions`` (the ``pandera`` extra).

:func:`pandera_assertions` validates a pandas DataFrame against a ``DataFrameSchema`` with
``lazy=True`` (every failure collected, none raised) and returns one assertion per declared
check: per column its data type (``dtype``), ``not_nullable`` when nulls are refused,
``unique`` when duplicates are, and each ``Check`` (``assertion`` = the check's name such as
``in_range``, ``expected`` = its statistics); the schema's own checks with ``column``
``None``. A failure pandera reports that no declared check names (a missing column, a
coercion error) is an assertion of its own, failed; the declared checks of a missing column
fail with ``actual`` "column missing". ``actual`` of another failed check: the number of
failing values and up to five of them.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any

from emitters.quality import assertion
from lineage_pipeline.metrics import EMITTER_CAPTURE_ERRORS

__all__ = ["pandera_assertions"]

log = logging.getLogger("emitters.quality")

_Key = tuple[str | None, str]
#: pandera's check name for a declared column the frame lacks (the failing value: its name).
_MISSING = "column_in_dataframe"


def _failures(schema: Any, frame: Any) -> dict[_Key, list[Any]]:
    """(column or None, check text) -> failing values, from a lazy validation."""
    from pandera.errors import SchemaErrors

    out: dict[_Key, list[Any]] = defaultdict(list)
    try:
        schema.validate(frame, lazy=True)
    except SchemaErrors as exc:
        cases = exc.failure_cases
        for column, check, value in zip(cases["column"], cases["check"], cases["failure_case"],
                                        strict=True):
            col = None if column is None or column != column else str(column)
            out[(col, str(check))].append(value)
    return out


def _declared(schema: Any) -> list[tuple[_Key, dict[str, Any]]]:
    """Every check the schema declares: its failure key and assertion fields."""
    checks: list[tuple[_Key, dict[str, Any]]] = []
    for name, col in schema.columns.items():
        column = str(name)
        if col.dtype is not None:
            checks.append(((column, f"dtype('{col.dtype}')"),
                           {"kind": "dtype", "expected": str(col.dtype)}))
        if not col.nullable:
            checks.append(((column, "not_nullable"), {"kind": "not_nullable"}))
        if col.unique:
            checks.append(((column, "field_uniqueness"), {"kind": "unique"}))
        for check in col.checks:
            checks.append(((column, str(check.error or check.name)),
                           {"kind": str(check.name), "expected": dict(check.statistics or {})
                            or None, "description": check.description}))
    for check in schema.checks:
        checks.append(((None, str(check.error or check.name)),
                       {"kind": str(check.name), "expected": dict(check.statistics or {})
                        or None, "description": check.description}))
    return checks


def _actual(values: list[Any]) -> str:
    return f"{len(values)} failing, e.g. {[_plain(v) for v in values[:5]]}"


def _plain(value: Any) -> Any:
    item = getattr(value, "item", None)
    return item() if callable(item) else value


def pandera_assertions(schema: Any, frame: Any) -> list[dict[str, Any]]:
    """Validate DataFrame ``frame`` with pandera ``schema`` and return its
    ``dataQualityAssertions`` entries (see the module docstring). Raises nothing into the
    job: a schema pandera cannot run is logged, counted in
    ``lineage_emitter_capture_errors_total{integration="pandera"}`` and gives ``[]``."""
    try:
        failures = _failures(schema, frame)
        missing = {str(v) for (_c, check), values in failures.items()
                   if check == _MISSING for v in values}
        out = []
        seen: set[_Key] = set()
        for key, fields in _declared(schema):
            seen.add(key)
            failed = failures.get(key, [])
            expected = fields.get("expected")
            absent = key[0] in missing
            out.append(assertion(fields["kind"], not failed and not absent, column=key[0],
                                 severity="error", name=key[1],
                                 description=fields.get("description"), expected=expected,
                                 actual="column missing" if absent else
                                 _actual(failed) if failed else None,
                                 params=expected if isinstance(expected, dict) else None))
        for key, failed in failures.items():
            if key not in seen:
                column = str(failed[0]) if key[1] == _MISSING and failed else key[0]
                out.append(assertion(key[1], False, column=column, severity="error",
                                     name=key[1], actual=_actual(failed)))
        return out
    except Exception as exc:  # the job goes on without the facet
        EMITTER_CAPTURE_ERRORS.labels("pandera").inc()
        log.warning("pandera validation not recorded: %s: %s", type(exc).__name__, exc)
        return []
