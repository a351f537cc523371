"""The fixed upsert statements, one per node label and one per (type, from label, to label).

Generated once at import from the :class:`NodeLabel` and :class:`RelType` allow-lists; the
writer only ever picks one of these texts and passes the data as the ``$rows`` parameter.
Every statement is ``UNWIND $rows AS row MERGE ... SET ...`` and works unchanged on FalkorDB
and Neo4j.

Row shapes (built by :mod:`graph_sink.writer`, one row per distinct node or relationship)::

    node: {"uid": str, "first": int|None, "last": int|None, "props": {...}}
          (+ "state": str|None for Run, + "weak": {...} for labels with WEAK_KEYS when
          not empty: rows without go to NODE_UPSERT_STRONG)
    relationship: {"src": str, "dst": str, "first": int|None, "last": int|None, "props": {...}}
          (+ "uid": str for the KEYED_RELATIONSHIPS, merged on it: keyed_relationship_uid)

Property rules (the graph-properties contract):

- ``observedAt`` keeps the smallest observation (``first``), ``updatedAt`` the largest
  (``last``); a missing value on either side never wins.
- ``Run.state``: a stored terminal state (COMPLETE, FAIL, ABORT) is never replaced by a
  non-terminal one; otherwise the newer write wins.
- *weak* properties (:data:`~lineage_pipeline.graph_model.WEAK_KEYS`, what a run knows of a
  version it read), set before ``row.props``: until a producer wrote the version
  (``producedByRunId``) the latest reader's non-null value wins; after, a reader only fills
  what the producer left empty. So a producer's value wins in any order, and a reader's
  last publication (its final state) decides among its own;
- every other property: ``SET n += row.props`` (last write wins).
- a relationship MERGEs its two endpoint nodes by ``uid`` first, creating bare nodes when
  missing, so
  the order in which nodes and relationships arrive does not matter.
"""

from __future__ import annotations

from lineage_pipeline.graph_model import (
    KEYED_RELATIONSHIPS,
    TERMINAL_STATES,
    WEAK_KEYS,
    NodeLabel,
    RelType,
)

_TERMINAL = "[" + ", ".join(f"'{s}'" for s in TERMINAL_STATES) + "]"


def _time_rules(var: str) -> str:
    return (
        f"SET {var}.observedAt = CASE WHEN row.first IS NULL OR ({var}.observedAt IS NOT NULL "
        f"AND {var}.observedAt <= row.first) THEN {var}.observedAt ELSE row.first END,\n"
        f"    {var}.updatedAt = CASE WHEN row.last IS NULL OR ({var}.updatedAt IS NOT NULL "
        f"AND {var}.updatedAt >= row.last) THEN {var}.updatedAt ELSE row.last END"
    )


_STATE_RULE = (
    ",\n    n.state = CASE WHEN row.state IS NULL THEN n.state "
    f"WHEN n.state IN {_TERMINAL} AND NOT row.state IN {_TERMINAL} THEN n.state "
    "ELSE row.state END"
)


def _weak_rule(key: str) -> str:
    return (f",\n    n.{key} = CASE WHEN n.producedByRunId IS NULL "
            f"THEN coalesce(row.weak.{key}, n.{key}) ELSE coalesce(n.{key}, row.weak.{key}) END")


#: The weak rule of every key of ``WEAK_KEYS[DatasetVersion]``, written out here (Cypher text
#: is never built from data; the import-time check below keeps the two lists equal).
_WEAK_VERSION = "".join(_weak_rule(key) for key in (
    "kind", "digestAlgorithm", "digest", "rowCount", "bytes", "schemaUid", "columnStats"))
if set(WEAK_KEYS) != {NodeLabel.DATASET_VERSION} or not all(
        f"n.{key} = " in _WEAK_VERSION for key in WEAK_KEYS[NodeLabel.DATASET_VERSION]):
    raise RuntimeError("graph_sink.statements: weak rules out of step with WEAK_KEYS")
#: The merge key of the column-lineage ``DERIVED_FROM`` (``KEYED_RELATIONSHIPS``): its own
#: ``uid`` (``keyed_relationship_uid`` of lineageUid and ends), found by index on Neo4j.
_LINEAGE_KEY = " {uid: row.uid}"
if KEYED_RELATIONSHIPS != {(RelType.DERIVED_FROM, NodeLabel.FIELD, NodeLabel.FIELD):
                           "lineageUid"}:
    raise RuntimeError("graph_sink.statements: merge keys out of step with "
                       "KEYED_RELATIONSHIPS")


def _node_cypher(label: NodeLabel, with_weak: bool = True) -> str:
    state = _STATE_RULE if label is NodeLabel.RUN else ""
    weak = _WEAK_VERSION if label is NodeLabel.DATASET_VERSION and with_weak else ""
    return (
        "UNWIND $rows AS row\n"
        f"MERGE (n:{label.value} {{uid: row.uid}})\n"
        f"{_time_rules('n')}{state}{weak}\n"
        "SET n += row.props"
    )


def _relationship_cypher(rel: RelType, src: NodeLabel, dst: NodeLabel) -> str:
    keyed = _LINEAGE_KEY if (rel is RelType.DERIVED_FROM and src is NodeLabel.FIELD
                             and dst is NodeLabel.FIELD) else ""
    return (
        "UNWIND $rows AS row\n"
        f"MERGE (a:{src.value} {{uid: row.src}})\n"
        f"MERGE (b:{dst.value} {{uid: row.dst}})\n"
        f"MERGE (a)-[r:{rel.value}{keyed}]->(b)\n"
        f"{_time_rules('r')}\n"
        "SET r += row.props"
    )


#: ``label -> UNWIND ... MERGE`` statement text.
NODE_UPSERT: dict[NodeLabel, str] = {label: _node_cypher(label) for label in NodeLabel}

#: ``label -> UNWIND ... MERGE`` without the weak rules, for the labels that have them: the
#: statement of rows without weak props (a version its producer writes). The weak rules of
#: an empty ``row.weak`` set each key to its own value; on Neo4j that is a property write per
#: key and row all the same (28 database hits a produced version's row, 18 without them).
NODE_UPSERT_STRONG: dict[NodeLabel, str] = {
    label: _node_cypher(label, with_weak=False) for label in NodeLabel if label in WEAK_KEYS}

#: ``(type, from label, to label) -> UNWIND ... MERGE`` statement text.
RELATIONSHIP_UPSERT: dict[tuple[RelType, NodeLabel, NodeLabel], str] = {
    (rel, src, dst): _relationship_cypher(rel, src, dst)
    for rel in RelType
    for src in NodeLabel
    for dst in NodeLabel
}
