"""Pure comparisons behind ``diff_runs`` and ``changed_upstream``: schemas, column statistics,
property maps. No graph access here.

Relative change of a statistic (used to rank how far a column moved)::

    rel(before, after) = |after - before| / |before|     if before != 0
                       = |after - before|                if before == 0

so a column switched from centimetres to millimetres moves by 9.0 (x10), and a null count
going from 0 to 12 moves by 12. Only numeric statistics are compared; ``min``/``max`` of
text columns are ignored.

The *drift* of a column (:func:`column_drift`, what root cause compares with its threshold)
scales each move by the column's own spread, so float noise around zero (a standardised
feature whose mean goes from -5e-16 to -2e-16) does not count as a move::

    drift(stat) = |after - before| / max(|before|, max_before - min_before, 1e-12)
                                                             for mean, min, max
    drift(nullCount) = |after - before| / max(before, 1)

and a column's drift is the largest over its statistics (cm -> mm: ``max`` 36 -> 360 over a
spread of 28 gives 9.0).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from lineage_queries.answers import (
    ColumnChange,
    DriftedColumn,
    SchemaChanges,
    StatChange,
    ValueChange,
)

#: Statistics whose relative change ranks how far a column moved.
MOVE_STATS = ("mean", "min", "max", "nullCount")
#: Statistics reported per column in a diff.
DIFF_STATS = ("mean", "min", "max", "nullCount", "distinctCount")
#: A relative change at or below this is float noise, not a move.
TOLERANCE = 1e-9
#: Default drift threshold (relative to a column's spread; 0.1 = 10 %).
DRIFT_THRESHOLD = 0.1
#: Statistics whose move is scaled by the column's spread in :func:`column_drift`.
SPREAD_STATS = ("mean", "min", "max")
#: Smallest denominator of a drift.
_EPS = 1e-12


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def relative_change(before: Any, after: Any) -> float | None:
    """Return the relative change from ``before`` to ``after`` (see module doc), or ``None``
    when either is not a finite number."""
    b, a = _number(before), _number(after)
    if b is None or a is None:
        return None
    return abs(a - b) / abs(b) if b != 0 else abs(a - b)


def schema_changes(
    before: Iterable[Mapping[str, Any]], after: Iterable[Mapping[str, Any]]
) -> SchemaChanges:
    """Compare two column lists (``[{"name", "type"}, ...]``).

    Returns ``{"added": [name...], "removed": [name...], "retyped": [{"name", "before",
    "after"}...]}``, each sorted by name.
    """
    b = {str(f.get("name")): f.get("type") for f in before}
    a = {str(f.get("name")): f.get("type") for f in after}
    return {
        "added": sorted(set(a) - set(b)),
        "removed": sorted(set(b) - set(a)),
        "retyped": [
            {"name": n, "before": b[n], "after": a[n]}
            for n in sorted(set(a) & set(b))
            if b[n] != a[n] and b[n] is not None and a[n] is not None
        ],
    }


def column_changes(
    before: Iterable[Mapping[str, Any]], after: Iterable[Mapping[str, Any]]
) -> list[ColumnChange]:
    """Return the columns present on both sides whose statistics moved, furthest first.

    ``before``/``after``: Field property maps (``name``, ``type``, ``mean``, ``min``, ``max``,
    ``nullCount``, ``distinctCount``). Each result::

        {"name", "type", "moved": max relative change over MOVE_STATS, "stat": the statistic
         that moved most, "drift": column_drift(...) (relative to the column's spread),
         "stats": {stat: {"before", "after", "delta", "relativeChange"}}}

    ``stats`` lists every DIFF_STATS entry with a value on either side. Sorted by ``moved``
    descending, then name.
    """
    b = {str(f.get("name")): f for f in before}
    a = {str(f.get("name")): f for f in after}
    out: list[ColumnChange] = []
    for name in sorted(set(a) & set(b)):
        stats: dict[str, StatChange] = {}
        moved, moved_stat = 0.0, None
        for stat in DIFF_STATS:
            vb, va = b[name].get(stat), a[name].get(stat)
            if vb is None and va is None:
                continue
            rel = relative_change(vb, va)
            nb, na = _number(vb), _number(va)
            stats[stat] = {
                "before": vb,
                "after": va,
                "delta": (na - nb) if nb is not None and na is not None else None,
                "relativeChange": rel,
            }
            if stat in MOVE_STATS and rel is not None and rel > moved:
                moved, moved_stat = rel, stat
        if moved > TOLERANCE:
            drift, _ = column_drift(b[name], a[name])
            out.append(
                {
                    "name": name,
                    "type": a[name].get("type") or b[name].get("type"),
                    "moved": moved,
                    "stat": moved_stat,
                    "drift": drift,
                    "stats": stats,
                }
            )
    out.sort(key=lambda c: (-c["moved"], c["name"]))
    return out


def column_drift(
    before: Mapping[str, Any], after: Mapping[str, Any]
) -> tuple[float, str | None]:
    """Return ``(drift, statistic)``: how far one column moved relative to its spread (see
    the module docstring) and the statistic that moved most (``None`` when nothing is
    comparable). ``before``/``after``: Field property maps of the same column."""
    lo, hi = _number(before.get("min")), _number(before.get("max"))
    spread = (hi - lo) if lo is not None and hi is not None else 0.0
    best, best_stat = 0.0, None
    for stat in (*SPREAD_STATS, "nullCount"):
        vb, va = _number(before.get(stat)), _number(after.get(stat))
        if vb is None or va is None:
            continue
        if stat == "nullCount":
            value = abs(va - vb) / max(vb, 1.0)
        else:
            value = abs(va - vb) / max(abs(vb), spread, _EPS)
        if best_stat is None or value > best:
            best, best_stat = value, stat
    return best, best_stat


def drifted_columns(
    before: Iterable[Mapping[str, Any]], after: Iterable[Mapping[str, Any]], threshold: float
) -> list[DriftedColumn]:
    """Return the columns on both sides whose :func:`column_drift` exceeds ``threshold``,
    furthest first: ``{"name", "drift", "stat", "before", "after"}`` (the statistic's two
    values)."""
    b = {str(f.get("name")): f for f in before}
    a = {str(f.get("name")): f for f in after}
    out: list[DriftedColumn] = []
    for name in sorted(set(a) & set(b)):
        drift, stat = column_drift(b[name], a[name])
        if stat is not None and drift > threshold:
            out.append({"name": name, "drift": drift, "stat": stat,
                        "before": b[name].get(stat), "after": a[name].get(stat)})
    out.sort(key=lambda c: (-c["drift"], c["name"]))
    return out


def dict_diff(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None
              ) -> dict[str, ValueChange]:
    """Return ``{key: {"before", "after"}}`` for every key whose value differs (sorted keys).

    Numeric pairs also get ``"delta"`` (after - before).
    """
    b, a = before or {}, after or {}
    out: dict[str, ValueChange] = {}
    for key in sorted(set(b) | set(a)):
        if b.get(key) == a.get(key):
            continue
        entry: ValueChange = {"before": b.get(key), "after": a.get(key)}
        nb, na = _number(b.get(key)), _number(a.get(key))
        if nb is not None and na is not None:
            entry["delta"] = na - nb
        out[key] = entry
    return out
