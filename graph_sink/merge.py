"""Merge an alias dataset into its canonical dataset in the graph (after an alias change).

When the alias table (``identity.aliases``) gains an entry after nodes were written, the graph
holds two datasets for one: the alias ``Dataset`` with its ``DatasetVersion``, ``Schema`` and
``Field`` nodes, and the canonical one (perhaps not yet written). :func:`merge_dataset` moves
everything onto the canonical nodes:

1. read the alias nodes: the ``Dataset`` ``uid = alias``, the ``DatasetVersion``, ``Schema``
   and ``Field`` nodes whose ``datasetUid`` is the alias; compute each one's canonical uid
   with the :mod:`lineage_pipeline.graph_model` uid helpers (``ns:name@version``,
   ``...#schema:<hash>``, ``...#column``);
2. upsert the canonical nodes: properties the canonical node already has win, the alias
   fills the gaps; ``namespace``/``name``/``datasetUid``/``schemaUid`` are rewritten;
   ``observedAt`` keeps the minimum and ``updatedAt`` the maximum of both;
3. re-point every relationship of every alias node to its canonical node (all outgoing
   relationships first, then the incoming ones), one fixed
   statement per (label, relationship type, direction) from the :class:`NodeLabel` and
   :class:`RelType` allow-lists (relationship properties copied, ``observedAt`` min,
   ``updatedAt`` max; a relationship between an alias node and its own canonical node is
   dropped; column lineage keeps one relationship per ``lineageUid``, its ``uid`` made anew
   from its new ends);
4. only after 2-3 succeeded, in a second batch: ``DETACH DELETE`` the alias nodes.

Plain Cypher both FalkorDB and Neo4j accept (no APOC), always parameterised. Idempotent: a
merge that failed half-way is finished by running it again; merging an alias that is gone is
a no-op.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lineage_pipeline.graph.base import GraphBackend, Statement
from lineage_pipeline.graph_model import (
    KEYED_RELATIONSHIPS,
    NodeLabel,
    RelType,
    column_uid,
    dataset_uid,
    keyed_relationship_uid_cypher,
    schema_uid,
    version_uid,
)

#: Labels of the nodes a dataset owns.
DATASET_LABELS = (NodeLabel.DATASET, NodeLabel.DATASET_VERSION, NodeLabel.SCHEMA,
                  NodeLabel.FIELD)
if KEYED_RELATIONSHIPS != {(RelType.DERIVED_FROM, NodeLabel.FIELD, NodeLabel.FIELD):
                           "lineageUid"}:
    raise RuntimeError("graph_sink.merge: merge keys out of step with KEYED_RELATIONSHIPS")

_TIMES = ("observedAt", "updatedAt")

_READ_DATASET = "MATCH (n:Dataset {uid: $uid}) RETURN n.uid AS uid, properties(n) AS props"
_READ_VERSIONS = (
    "MATCH (n:DatasetVersion) WHERE n.datasetUid = $uid "
    "RETURN n.uid AS uid, properties(n) AS props"
)
_READ_SCHEMAS = (
    "MATCH (n:Schema) WHERE n.datasetUid = $uid RETURN n.uid AS uid, properties(n) AS props"
)
_READ_FIELDS = (
    "MATCH (n:Field) WHERE n.datasetUid = $uid RETURN n.uid AS uid, properties(n) AS props"
)


def _read_existing(label: NodeLabel) -> str:
    return (
        "UNWIND $uids AS u\n"
        f"MATCH (n:{label.value} {{uid: u}})\n"
        "RETURN n.uid AS uid, properties(n) AS props"
    )


def _upsert(label: NodeLabel) -> str:
    return (
        "UNWIND $rows AS row\n"
        f"MERGE (n:{label.value} {{uid: row.uid}})\n"
        "SET n += row.props"
    )


def _min_max(var: str) -> str:
    return (
        f"SET s.observedAt = CASE WHEN so IS NULL THEN {var}o "
        f"WHEN {var}o IS NULL OR so <= {var}o THEN so ELSE {var}o END,\n"
        f"    s.updatedAt = CASE WHEN su IS NULL THEN {var}u "
        f"WHEN {var}u IS NULL OR su >= {var}u THEN su ELSE {var}u END"
    )


#: The re-pointed column lineage, merged on the uid of its new ends (``{t}`` left for
#: ``format``; the keyed type is checked against ``KEYED_RELATIONSHIPS`` above).
_LINEAGE = "coalesce(r.lineageUid, '')"  # a missing key counts as '', as in the sink
_KEYED_OUT = ("(y)-[s:{t} {{uid: "
              + keyed_relationship_uid_cypher(_LINEAGE, "y.uid", "m.uid") + "}}]->(m)")
_KEYED_IN = ("(m)-[s:{t} {{uid: "
             + keyed_relationship_uid_cypher(_LINEAGE, "m.uid", "y.uid") + "}}]->(y)")


def _repoint(label: NodeLabel, rel: RelType, outgoing: bool) -> str:
    """Statement moving ``rel`` relationships of alias nodes ``row.old`` to ``row.new``.

    Incoming relationships from other alias nodes (``$old_uids``) are skipped: the outgoing pass of
    their source has already re-created them from its canonical node."""
    pattern = "(x)-[r:{t}]->(m)" if outgoing else "(m)-[r:{t}]->(x)"
    keyed = rel is RelType.DERIVED_FROM and label is NodeLabel.FIELD  # one per lineageUid
    if keyed:
        merge = _KEYED_OUT if outgoing else _KEYED_IN
    else:
        merge = "(y)-[s:{t}]->(m)" if outgoing else "(m)-[s:{t}]->(y)"
    skip = "" if outgoing else " AND NOT m.uid IN $old_uids"
    clear = "SET r.uid = NULL\n" if keyed else ""
    return (
        "UNWIND $rows AS row\n"
        f"MATCH (x:{label.value} {{uid: row.old}})\n"
        f"MATCH {pattern.format(t=rel.value)}\n"
        f"WHERE m.uid <> row.new{skip}\n"
        f"MATCH (y:{label.value} {{uid: row.new}})\n"
        f"MERGE {merge.format(t=rel.value)}\n"
        "WITH r, s, r.observedAt AS ro, r.updatedAt AS ru, s.observedAt AS so, "
        "s.updatedAt AS su\n"
        # r's uid names the alias end and must not be copied over the one MERGE gave s (a
        # uniqueness constraint checks it at once); r goes with the alias node in step 4
        f"{clear}"
        "SET s += properties(r)\n"
        f"{_min_max('r')}"
    )


def _delete(label: NodeLabel) -> str:
    return f"UNWIND $uids AS u\nMATCH (n:{label.value} {{uid: u}})\nDETACH DELETE n"


#: The fixed statement texts, built once from the allow-lists.
READ_EXISTING = {label: _read_existing(label) for label in DATASET_LABELS}
UPSERT = {label: _upsert(label) for label in DATASET_LABELS}
REPOINT = {
    (label, rel, outgoing): _repoint(label, rel, outgoing)
    for label in DATASET_LABELS
    for rel in RelType
    for outgoing in (True, False)
}
DELETE = {label: _delete(label) for label in DATASET_LABELS}


@dataclass(frozen=True, slots=True)
class MergeSummary:
    """What :func:`merge_dataset` moved: alias -> canonical uid, and node counts per label
    (``Dataset``, ``DatasetVersion``, ``Schema``, ``Field``); all zero when the alias was not
    in the graph."""

    alias: str
    canonical: str
    datasets: int = 0
    versions: int = 0
    fields: int = 0
    schemas: int = 0

    @property
    def merged(self) -> bool:
        """``True`` when any alias node was found (and merged)."""
        return bool(self.datasets or self.versions or self.fields or self.schemas)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"alias": self.alias, "canonical": self.canonical, "datasets": self.datasets,
                "versions": self.versions, "schemas": self.schemas, "fields": self.fields}


def _combine(canonical: dict[str, Any] | None, alias: dict[str, Any],
             rewrite: dict[str, Any]) -> dict[str, Any]:
    """The canonical node's properties after the merge (see the module docstring)."""
    props = {k: v for k, v in alias.items() if k not in ("uid", *_TIMES) and v is not None}
    props.update(rewrite)
    existing = canonical or {}
    props.update({k: v for k, v in existing.items()
                  if k not in ("uid", *_TIMES, *rewrite) and v is not None})
    for key, pick in (("observedAt", min), ("updatedAt", max)):
        values = [v for v in (existing.get(key), alias.get(key)) if isinstance(v, int | float)]
        if values:
            props[key] = pick(values)
    return props


def merge_dataset(
    backend: GraphBackend, alias: str, namespace: str, name: str
) -> MergeSummary:
    """Merge dataset uid ``alias`` (with its versions and fields) into dataset
    ``namespace``/``name`` (see the module docstring).

    Returns what was moved. Raises :class:`~lineage_pipeline.errors.GraphUnavailable` /
    :class:`~lineage_pipeline.errors.GraphError` from the backend.
    """
    canonical = dataset_uid(namespace, name)
    if alias == canonical:
        return MergeSummary(alias, canonical)
    moves = _plan(backend, alias, canonical, namespace, name)
    if not any(moves.values()):
        return MergeSummary(alias, canonical)
    backend.write_batch(_upserts(backend, moves) + _repoints(moves))
    # second batch: only once every relationship has been re-pointed
    backend.write_batch([
        Statement(DELETE[label], {"uids": [old for old, _, _, _ in items]},
                  f"merge delete {label.value}")
        for label, items in moves.items() if items
    ])
    return MergeSummary(alias, canonical, len(moves[NodeLabel.DATASET]),
                        len(moves[NodeLabel.DATASET_VERSION]), len(moves[NodeLabel.FIELD]),
                        len(moves[NodeLabel.SCHEMA]))


#: label -> (alias uid, canonical uid, alias props, props to rewrite) of every node to move
Moves = dict[NodeLabel, list[tuple[str, str, dict[str, Any], dict[str, Any]]]]


def _plan(backend: GraphBackend, alias: str, canonical: str, namespace: str, name: str
          ) -> Moves:
    """Step 1: read the alias nodes and compute each one's canonical uid."""
    moves: Moves = {label: [] for label in DATASET_LABELS}
    for row in backend.query(_READ_DATASET, {"uid": alias}):
        moves[NodeLabel.DATASET].append(
            (row["uid"], canonical, row["props"], {"namespace": namespace, "name": name}))
    for row in backend.query(_READ_VERSIONS, {"uid": alias}):
        old, props = str(row["uid"]), row["props"]
        version = str(props.get("version") or old.rpartition("@")[2])
        rewrite = {"namespace": namespace, "name": name, "datasetUid": canonical,
                   "version": version}
        old_schema = props.get("schemaUid")
        if isinstance(old_schema, str) and "#schema:" in old_schema:
            rewrite["schemaUid"] = schema_uid(canonical, old_schema.rpartition("#schema:")[2])
        moves[NodeLabel.DATASET_VERSION].append(
            (old, version_uid(namespace, name, version), props, rewrite))
    for row in backend.query(_READ_SCHEMAS, {"uid": alias}):
        old, props = str(row["uid"]), row["props"]
        hash_ = str(props.get("hash") or old.rpartition("#schema:")[2])
        moves[NodeLabel.SCHEMA].append(
            (old, schema_uid(canonical, hash_), props, {"datasetUid": canonical}))
    for row in backend.query(_READ_FIELDS, {"uid": alias}):
        old, props = str(row["uid"]), row["props"]
        column = str(props.get("name") or old.rpartition("#")[2])
        moves[NodeLabel.FIELD].append(
            (old, column_uid(canonical, column), props, {"datasetUid": canonical}))
    return moves


def _upserts(backend: GraphBackend, moves: Moves) -> list[Statement]:
    """Step 2: upsert the canonical nodes (their own properties win; the alias fills gaps)."""
    statements: list[Statement] = []
    for label, items in moves.items():
        if not items:
            continue
        existing = {
            str(r["uid"]): r["props"]
            for r in backend.query(READ_EXISTING[label], {"uids": [new for _, new, _, _ in items]})
        }
        rows = [{"uid": new, "props": _combine(existing.get(new), props, rewrite)}
                for _, new, props, rewrite in items]
        statements.append(Statement(UPSERT[label], {"rows": rows}, f"merge upsert {label.value}"))
    return statements


def _repoints(moves: Moves) -> list[Statement]:
    """Step 3: re-point every relationship of every alias node to its canonical node."""
    statements: list[Statement] = []
    old_uids = [old for items in moves.values() for old, _, _, _ in items]
    # every outgoing pass before any incoming pass: a relationship between two alias nodes is first
    # re-created from the source's canonical node, then moved onto the target's
    for outgoing in (True, False):
        for label, items in moves.items():
            if not items:
                continue
            rows = [{"old": old, "new": new} for old, new, _, _ in items]
            for rel in RelType:
                statements.append(Statement(
                    REPOINT[(label, rel, outgoing)], {"rows": rows, "old_uids": old_uids},
                    f"merge {'out' if outgoing else 'in'} {label.value}-{rel.value}"))
    return statements


def dataset_uids_with_prefix(backend: GraphBackend, prefix: str) -> list[str]:
    """Return the uids of the ``Dataset`` nodes whose uid starts with ``prefix`` (sorted)."""
    rows = backend.query(
        "MATCH (n:Dataset) WHERE n.uid STARTS WITH $prefix RETURN n.uid AS uid",
        {"prefix": prefix},
    )
    return sorted(str(r["uid"]) for r in rows)
