"""Parse the ``--as-of TIME`` of the lineage commands into epoch milliseconds.

Accepted: epoch milliseconds (``1714567890123``), epoch seconds with a fraction
(``1714567890.5``), or ISO 8601 (``2024-05-01``, ``2024-05-01T12:00``,
``2024-05-01T12:00:00.250Z``, ``2024-05-01T14:00:00+02:00``; Python's
:meth:`datetime.fromisoformat`). A time without a zone is UTC.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from lineage_pipeline.errors import QueryError

_INT = re.compile(r"^\d+$")
_FLOAT = re.compile(r"^\d+\.\d*$")


def parse_time(text: str) -> int:
    """Return ``text`` (see the module docstring) as epoch milliseconds.

    Raises :class:`QueryError` for anything else.
    """
    value = text.strip()
    if _INT.match(value):
        return int(value)
    if _FLOAT.match(value):
        return round(float(value) * 1000)
    try:
        when = datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        raise QueryError(
            f"cannot read time {text!r}: give epoch milliseconds (1714567890123) or ISO 8601 "
            "(2024-05-01T12:00:00Z)"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return round(when.timestamp() * 1000)
