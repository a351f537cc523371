"""PII view of the graph: each field's tags, propagated along column lineage, and its
statistics hidden unless the caller's role allows them (:mod:`lineage_pipeline.pii`).

Propagation is read at query time (``queries/pii.cypher``): a field's *effective* tags are
the tags of its dataset column (``Field``) plus those of every upstream column it derives
from through ``DERIVED_FROM`` hops each with at least one unmasked lineage (``masking``
false), at most :data:`MAX_HOPS` hops, walked breadth first; so a masking transformation
(OpenLineage ``Transformation.masking``) stops the propagation. Reading at
query time keeps the graph free of derived state: a late-arriving upstream tag applies at once.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import Any, TypeVar

from lineage_pipeline.errors import NotFoundError
from lineage_pipeline.graph.base import GraphBackend
from lineage_pipeline.graph.catalog import named_query
from lineage_pipeline.graph_model import bounded_uid, column_uid
from lineage_pipeline.pii import PiiPolicy, current_policy
from lineage_queries.answers import FieldProps, FieldView, as_field_props
from lineage_queries.shapes import version_fields

T = TypeVar("T")
#: Most column-lineage hops a tag travels downstream.
MAX_HOPS = 10


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
            raise NotFoundError(f"no dataset version of {node!r} in the graph")
        return str(rows[0]["uid"])

    def fields(self, node: str, role: str | None = None) -> list[FieldView]:
        """The fields of dataset version ``node`` (see :meth:`resolve_version`), sorted by
        name: each field's properties plus ``effectiveTags`` (own + inherited, sorted) and
        ``sensitive`` (bool); statistics of sensitive fields are ``"<redacted>"`` unless
        ``role`` is allowed. Raises :class:`QueryError` for an unknown dataset."""
        version = self.resolve_version(node)
        found: list[FieldProps] = []
        for row in self._run("pii_fields_of_version", version=version):
            found = version_fields(version, row["version"], row["columns"])
        tags = self.effective_tags((str(f["uid"]), str(f["datasetUid"]), str(f["name"]))
                                   for f in found)
        out: list[FieldView] = []
        for field in found:
            effective = tags.get(str(field["uid"]), [])
            shown = as_field_props(self.policy.redact(field, effective, role))
            out.append({**shown, "effectiveTags": effective,
                        "sensitive": self.policy.is_sensitive(effective)})
        if not out:
            raise NotFoundError(f"dataset version {version!r} has no fields in the graph")
        return sorted(out, key=lambda f: str(f.get("name")))

    def effective_tags(self, columns: Iterable[tuple[str, str, str]]) -> dict[str, list[str]]:
        """Return key -> effective tags (own and inherited through unmasked column lineage,
        at most :data:`MAX_HOPS` hops, sorted) for ``columns``: ``(key, dataset uid, column
        name)`` triples; the key is the caller's (e.g. a field's answer id)."""
        keys: dict[str, list[str]] = {}
        for key, dataset, name in columns:
            keys.setdefault(column_uid(dataset, name), []).append(key)
        if not keys:
            return {}
        own = {str(r["uid"]): set(r["tags"] or ()) for r in self._run(
            "pii_field_tags", uids=sorted(keys))}
        inherited = self._inherited(sorted(keys))
        out: dict[str, list[str]] = {}
        for uid, wanted in keys.items():
            tags = sorted(own.get(uid, set()) | inherited.get(uid, set()))
            for key in wanted:
                out[key] = tags
        return out

    def _inherited(self, uids: list[str]) -> dict[str, set[str]]:
        """Field uid -> the tags of the columns upstream of it through unmasked lineage
        (breadth first, each column expanded once, at most :data:`MAX_HOPS` hops)."""
        tags: dict[str, set[str]] = {}
        frontier, seen = set(uids), set(uids)
        sources: dict[str, set[str]] = {}
        for _ in range(MAX_HOPS):
            if not frontier:
                break
            rows = self._run("pii_unmasked_sources", uids=sorted(frontier))
            nxt: set[str] = set()
            for row in rows:
                src = str(row["src"])
                sources.setdefault(str(row["uid"]), set()).add(src)
                tags[src] = set(row["tags"] or ())
                if src not in seen:
                    seen.add(src)
                    nxt.add(src)
            frontier = nxt
        out: dict[str, set[str]] = {}
        for root in uids:
            found: set[str] = set()
            todo, visited = deque([(root, 0)]), {root}
            while todo:  # breadth first: each column at its fewest hops
                uid, hops = todo.popleft()
                if hops == MAX_HOPS:
                    continue
                for src in sources.get(uid, ()):
                    found |= tags.get(src, set())
                    if src not in visited:
                        visited.add(src)
                        todo.append((src, hops + 1))
            out[root] = found
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
        found: list[tuple[str, str, str, dict[str, Any]]] = []
        stack: list[Any] = [data]
        while stack:
            item = stack.pop()
            if isinstance(item, dict):
                if item.get("label") == "Field" and isinstance(item.get("id"), str):
                    found.append((item["id"], str(item.get("dataset")), str(item.get("name")),
                                  item))
                elif isinstance(item.get("uid"), str) and "versionUid" in item:
                    found.append((item["uid"], str(item.get("datasetUid")),
                                  str(item.get("name")), item))
                stack.extend(item.values())
            elif isinstance(item, list | tuple):
                stack.extend(item)
        if not found:
            return data
        tags = self.effective_tags((uid, ds, name) for uid, ds, name, _ in found)
        for uid, _ds, _name, item in found:
            shown = self.policy.redact(item, tags.get(uid, ()), role)
            item.update(shown)
        return data
