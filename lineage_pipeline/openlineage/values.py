"""Wire values shared by the OpenLineage conversions: times and JSON facet text.

OpenLineage writes times as ISO 8601 text, this project as epoch milliseconds (UTC). Facets
the typed model has no field for are kept as JSON text (facet name -> text) in the ``extra``
maps of :mod:`lineage_pipeline.events`.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def ms_to_iso(ms: int) -> str:
    """Return epoch milliseconds as ISO 8601 UTC text with milliseconds (``...Z``)."""
    dt = _EPOCH + timedelta(milliseconds=ms)
    return dt.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def iso_to_ms(text: str) -> int:
    """Return ISO 8601 text as epoch milliseconds (naive times are UTC; sub-ms floored).

    Raises ``ValueError`` for text that is no ISO 8601 date-time.
    """
    dt = datetime.fromisoformat(text.replace("z", "Z"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return (dt - _EPOCH) // timedelta(milliseconds=1)


def or_default(value: Any, default: Any) -> Any:
    """Return ``value``, or ``default`` when it is ``None`` (JSON ``null`` or absent)."""
    return default if value is None else value


def json_text(value: Any) -> str:
    """Return a facet value as compact JSON text (what the ``extra`` maps hold)."""
    return json.dumps(value, separators=(",", ":"), default=str)


def json_value(text: str) -> Any:
    """Return the JSON value of ``extra`` text; text that is no JSON is returned as is."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def merge_extras(target: dict[str, Any], extra: dict[str, str], skip_prefixes: bool) -> None:
    """Add the ``extra`` facets (name -> JSON text) to the facet object ``target`` (in place).

    A facet ``target`` already has is kept. With ``skip_prefixes`` the dataset-only keys
    (``inputFacets.*``, ``outputFacets.*``, ``columnLineage.dataset``) are left out: the
    caller places them elsewhere.
    """
    for name, text in extra.items():
        if skip_prefixes and (name.startswith(("inputFacets.", "outputFacets.")) or
                              name == "columnLineage.dataset"):
            continue
        target.setdefault(name, json_value(text))
