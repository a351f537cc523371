"""PII classification of columns: tags, configured patterns, and who may see what.

Sources of a column's classification tags (all end up in the ``tags`` property of its
``Field`` node, a sorted list of strings):

1. the emitter: :attr:`lineage_pipeline.events.SchemaField.tags`;
2. an OpenLineage ``tags`` dataset facet (``TagsDatasetFacet``, entries with a ``field``),
   which :mod:`lineage_pipeline.openlineage` maps onto the same ``SchemaField.tags``;
3. configured patterns: :class:`PiiPolicy.patterns`, tag -> regular expression matched
   (``re.search``) against the column name, e.g. ``{"pii.email": "(?i)e-?mail"}``.

A tag is *sensitive* when it equals one of :attr:`PiiPolicy.sensitive` or starts with one of
them followed by ``.`` (default ``["pii"]``: ``pii``, ``pii.email``, ...). Tags propagate
downstream along column lineage (``Field-[:DERIVED_FROM]->Field``) and stop at a
transformation with OpenLineage ``masking: true`` — see :mod:`lineage_queries.pii`.

Settings come from the environment (``LINEAGE_PII_PATTERNS`` as JSON,
``LINEAGE_PII_SENSITIVE`` as JSON list, ``LINEAGE_PII_ROLES_ALLOWED`` as JSON list of roles
that may read statistics of sensitive fields; default ``["privacy-officer"]``). A separate
``LINEAGE_PII_`` prefix keeps them out of :class:`~lineage_pipeline.settings.LineageSettings`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import cache
from typing import Any

from pydantic import ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from lineage_pipeline.errors import ConfigError

#: Field statistics hidden from callers whose role does not allow sensitive data.
STAT_KEYS = ("nullCount", "distinctCount", "min", "max", "mean")
#: What a hidden statistic reads as.
REDACTED = "<redacted>"


class PiiPolicy(BaseSettings):
    """Classification patterns, sensitive tag prefixes and roles allowed to see their stats."""

    model_config = SettingsConfigDict(env_prefix="LINEAGE_PII_", extra="ignore")

    patterns: dict[str, str] = {}
    sensitive: list[str] = ["pii"]
    roles_allowed: list[str] = ["privacy-officer"]

    @field_validator("patterns")
    @classmethod
    def _compiles(cls, value: dict[str, str]) -> dict[str, str]:
        for tag, pattern in value.items():
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"pattern of tag {tag!r} is not a regular expression: {exc}"
                                 ) from exc
        return value

    def classify(self, column: str, tags: Iterable[str] = ()) -> list[str]:
        """Return the sorted, de-duplicated tags of ``column``: ``tags`` plus every configured
        tag whose pattern matches the column name."""
        out = set(tags)
        out.update(tag for tag, pattern in self.patterns.items() if re.search(pattern, column))
        return sorted(out)

    def is_sensitive(self, tags: Iterable[str]) -> bool:
        """``True`` when one of ``tags`` is a sensitive tag (see the module docstring)."""
        return any(t == s or t.startswith(s + ".") for t in tags for s in self.sensitive)

    def may_see(self, role: str | None) -> bool:
        """``True`` when ``role`` may read statistics of sensitive fields."""
        return role is not None and role in self.roles_allowed

    def redact(self, field: Mapping[str, Any], tags: Iterable[str], role: str | None
               ) -> dict[str, Any]:
        """Return ``field`` (a Field node's properties) with its statistics replaced by
        :data:`REDACTED` when ``tags`` are sensitive and ``role`` may not see them."""
        out = dict(field)
        if self.is_sensitive(tags) and not self.may_see(role):
            for key in STAT_KEYS:
                if out.get(key) is not None:
                    out[key] = REDACTED
        return out


@cache
def current_policy() -> PiiPolicy:
    """The policy from the environment, read once per process.

    Raises :class:`ConfigError` when a variable is malformed.
    """
    try:
        return PiiPolicy()
    except ValidationError as exc:
        raise ConfigError(f"PII settings (LINEAGE_PII_*): {exc}") from exc
