"""PII view of the graph: each field's tags, propagated along column lineage, and its
statistics hidden unless the caller's role allows them (:mod:`lineage_pipeline.pii`).

Propagation is a read-time query (``pii_fields_of_version`` in ``queries/pii.cypher``): a
field's *effective* tags are its own ``tags`` plus those of every upstream field it derives
from through ``DERIVED_FROM`` hops that are all unmasked (``masking`` false), so a masking
transformation (OpenLineage ``Transformation.masking``) stops the propagation. Reading at
query time keeps the graph free of derived state: a late-arriving upstream tag applies at once.
"""

from __future__ import annotations

from typing import Any

from graph_sink.backends.base import GraphBackend
from graph_sink.catalog import named_query
from lineage_pipeline.errors import QueryError
from lineage_pipeline.pii import PiiPolicy, current_policy


class PiiView:
    """Fields of dataset versions with effective tags and role-dependent statistics.

    ``backend``: an open graph; ``policy``: default :func:`current_policy` (environment).
    """

    def __init__(self, backend: GraphBackend, policy: PiiPolicy | None = None) -> None:
        self.backend = backend
        self.policy = policy or current_policy()

    def _run(self, name: str, **params: Any) -> list[dict[str, Any]]:
        return self.backend.query(named_query(name).text, params)

    def resolve_version(self, node: str) -> str:
        """``namespace:name@version`` -> that version uid; ``namespace:name`` -> its newest
        version. Raises :class:`QueryError` when the dataset has no version in the graph."""
        if "@" in node:
            return node
        rows = self._run("pii_latest_version", dataset=node)
        if not rows:
            raise QueryError(f"no dataset version of {node!r} in the graph")
        return str(rows[0]["uid"])

    def fields(self, node: str, role: str | None = None) -> list[dict[str, Any]]:
        """The fields of dataset version ``node`` (see :meth:`resolve_version`), sorted by
        name: each Field's properties plus ``effective_tags`` (own + inherited, sorted) and
        ``sensitive`` (bool); statistics of sensitive fields are ``"<redacted>"`` unless
        ``role`` is allowed. Raises :class:`QueryError` for an unknown dataset."""
        version = self.resolve_version(node)
        out = []
        for row in self._run("pii_fields_of_version", version=version):
            field = dict(row["field"])
            tags = set(field.get("tags") or [])
            for inherited in row["inherited"] or []:
                tags.update(inherited or [])
            effective = sorted(tags)
            shown = self.policy.redact(field, effective, role)
            shown["effective_tags"] = effective
            shown["sensitive"] = self.policy.is_sensitive(effective)
            out.append(shown)
        if not out:
            raise QueryError(f"dataset version {version!r} has no fields in the graph")
        return sorted(out, key=lambda f: str(f.get("name")))
