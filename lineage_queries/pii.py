"""PII view of the graph: each field's tags, propagated along column lineage, and its
statistics hidden unless the caller's role allows them (:mod:`lineage_pipeline.pii`).

Propagation is a read-time query (``pii_fields_of_version`` in ``queries/pii.cypher``): a
field's *effective* tags are its own ``tags`` plus those of every upstream field it derives
from through ``DERIVED_FROM`` hops that are all unmasked (``masking`` false), so a masking
transformation (OpenLineage ``Transformation.masking``) stops the propagation. Reading at
query time keeps the graph free of derived state: a late-arriving upstream tag applies at once.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from lineage_pipeline.errors import QueryError
from lineage_pipeline.graph.base import GraphBackend
from lineage_pipeline.graph.catalog import named_query
from lineage_pipeline.graph_model import bounded_uid
from lineage_pipeline.pii import PiiPolicy, current_policy
from lineage_queries.answers import FieldView, as_field_props

T = TypeVar("T")


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
        version (uids of long names computed as the sink stores them). Raises
        :class:`QueryError` when the dataset has no version in the graph."""
        if "@" in node:
            return bounded_uid(node)
        rows = self._run("pii_latest_version", dataset=bounded_uid(node))
        if not rows:
            raise QueryError(f"no dataset version of {node!r} in the graph")
        return str(rows[0]["uid"])

    def fields(self, node: str, role: str | None = None) -> list[FieldView]:
        """The fields of dataset version ``node`` (see :meth:`resolve_version`), sorted by
        name: each Field's properties plus ``effectiveTags`` (own + inherited, sorted) and
        ``sensitive`` (bool); statistics of sensitive fields are ``"<redacted>"`` unless
        ``role`` is allowed. Raises :class:`QueryError` for an unknown dataset."""
        version = self.resolve_version(node)
        found = [dict(row["field"]) for row in self._run("pii_fields_of_version",
                                                          version=version)]
        tags = self.effective_tags(str(f["uid"]) for f in found)
        out: list[FieldView] = []
        for field in found:
            effective = tags.get(str(field["uid"]), [])
            shown = as_field_props(self.policy.redact(field, effective, role))
            out.append({**shown, "effectiveTags": effective,
                        "sensitive": self.policy.is_sensitive(effective)})
        if not out:
            raise QueryError(f"dataset version {version!r} has no fields in the graph")
        return sorted(out, key=lambda f: str(f.get("name")))

    def effective_tags(self, uids: Iterable[str]) -> dict[str, list[str]]:
        """Return field uid -> its effective tags (own and inherited through unmasked column
        lineage, sorted) for the Field nodes among ``uids``."""
        wanted = sorted(set(uids))
        if not wanted:
            return {}
        out: dict[str, list[str]] = {}
        for row in self._run("pii_effective_tags", uids=wanted):
            tags = set(row["tags"] or [])
            for inherited in row["inherited"] or []:
                tags.update(inherited or [])
            out[str(row["uid"])] = sorted(tags)
        return out

    def redact_answer(self, data: T, role: str | None) -> T:
        """Hide the statistics of sensitive fields in a query answer unless ``role`` may see
        them, in place; return ``data``.

        ``data`` is any answer of :class:`~lineage_queries.api.LineageGraph` (Subgraph, run detail,
        impact...): every dict in it that is a Field (a node dict with ``label`` ``Field``, or
        a Field's properties with ``uid`` and ``versionUid``) is checked against the field's
        effective tags (:meth:`effective_tags`), as in :meth:`fields`.
        """
        if self.policy.may_see(role):
            return data
        found: list[tuple[str, dict[str, Any]]] = []
        stack: list[Any] = [data]
        while stack:
            item = stack.pop()
            if isinstance(item, dict):
                if item.get("label") == "Field" and isinstance(item.get("id"), str):
                    found.append((item["id"], item))
                elif isinstance(item.get("uid"), str) and "versionUid" in item:
                    found.append((item["uid"], item))
                stack.extend(item.values())
            elif isinstance(item, list | tuple):
                stack.extend(item)
        if not found:
            return data
        tags = self.effective_tags(uid for uid, _ in found)
        for uid, item in found:
            shown = self.policy.redact(item, tags.get(uid, ()), role)
            item.update(shown)
        return data
