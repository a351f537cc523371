"""Pure comparisons behind ``diff_runs`` and ``changed_upstream``: schemas, column statistics,
property maps. No graph access here.

Relative change of a statistic (used to rank how far a column moved)::

    rel(before, after) = |after - before| / |before|     if before != 0
                       = |after - before|                if before == 0

so a column switched from centimetres to millimetres moves by 9.0 (x10), and a null count
going from 0 to 12 moves by 12. Only numeric statistics are compared; ``min``/``max`` of
text columns are ignored.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

#: Statistics whose relative change ranks how far a column moved.
MOVE_STATS = ("mean", "min", "max", "nullCount")
#: Statistics reported per column in a diff.
DIFF_STATS = ("mean", "min", "max", "nullCount", "distinctCount")
#: A relative change at or below this is float noise, not a move.
TOLERANCE = 1e-9


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
) -> dict[str, Any]:
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
) -> list[dict[str, Any]]:
    """Return the columns present on both sides whose statistics moved, furthest first.

    ``before``/``after``: Field property maps (``name``, ``type``, ``mean``, ``min``, ``max``,
    ``nullCount``, ``distinctCount``). Each result::

        {"name", "type", "moved": max relative change over MOVE_STATS, "stat": the statistic
         that moved most, "stats": {stat: {"before", "after", "delta", "relativeChange"}}}

    ``stats`` lists every DIFF_STATS entry with a value on either side. Sorted by ``moved``
    descending, then name.
    """
    b = {str(f.get("name")): f for f in before}
    a = {str(f.get("name")): f for f in after}
    out: list[dict[str, Any]] = []
    for name in sorted(set(a) & set(b)):
        stats: dict[str, dict[str, Any]] = {}
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
            out.append(
                {
                    "name": name,
                    "type": a[name].get("type") or b[name].get("type"),
                    "moved": moved,
                    "stat": moved_stat,
                    "stats": stats,
                }
            )
    out.sort(key=lambda c: (-c["moved"], c["name"]))
    return out


def dict_diff(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> dict[str, Any]:
    """Return ``{key: {"before", "after"}}`` for every key whose value differs (sorted keys).

    Numeric pairs also get ``"delta"`` (after - before).
    """
    b, a = before or {}, after or {}
    out: dict[str, Any] = {}
    for key in sorted(set(b) | set(a)):
        if b.get(key) == a.get(key):
            continue
        entry: dict[str, Any] = {"before": b.get(key), "after": a.get(key)}
        nb, na = _number(b.get(key)), _number(a.get(key))
        if nb is not None and na is not None:
            entry["delta"] = na - nb
        out[key] = entry
    return out
