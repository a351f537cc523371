"""The ``uid`` of keyed relationships written before they had one (``lineage migrate``).

The column-lineage ``DERIVED_FROM`` between two ``Field`` nodes is merged on its own ``uid``
(:func:`~lineage_pipeline.graph_model.keyed_relationship_uid`: lineage uid and both ends,
unique in the graph). A graph written by an earlier version holds such relationships without
one; the sink would then write a second relationship beside each one it writes again. This
module counts them and gives each its uid, computed in Cypher from the relationship and its
ends (:func:`~lineage_pipeline.graph_model.keyed_relationship_uid_cypher`, the same text the
sink computes), ``batch_size`` relationships per write transaction. Idempotent: the pages
pick relationships without a uid only.
"""

from __future__ import annotations

from lineage_pipeline.graph.base import GraphBackend, Statement
from lineage_pipeline.graph_model import (
    KEYED_RELATIONSHIPS,
    NodeLabel,
    RelType,
    keyed_relationship_uid_cypher,
)

if KEYED_RELATIONSHIPS != {(RelType.DERIVED_FROM, NodeLabel.FIELD, NodeLabel.FIELD):
                           "lineageUid"}:
    raise RuntimeError("graph_sink.relationship_uids: out of step with KEYED_RELATIONSHIPS")


#: The uid of ``r`` from ``a`` to ``b`` (a missing key counts as ``''``, as in the sink).
_UID = keyed_relationship_uid_cypher("coalesce(r.lineageUid, '')", "a.uid", "b.uid")
#: Column lineage without a uid, counted.
COUNT_MISSING = ("MATCH (a:Field)-[r:DERIVED_FROM]->(b:Field)\nWHERE r.uid IS NULL\n"
                 "RETURN count(r) AS n")
#: Give up to ``$limit`` of them their uid.
FILL_MISSING = ("MATCH (a:Field)-[r:DERIVED_FROM]->(b:Field)\nWHERE r.uid IS NULL\n"
                f"WITH a, r, b LIMIT $limit\nSET r.uid = {_UID}")


def count_missing(backend: GraphBackend) -> int:
    """Keyed relationships without a ``uid`` (read only). Raises the backend's
    :class:`~lineage_pipeline.errors.GraphError` / ``GraphUnavailable``."""
    return int(backend.query(COUNT_MISSING)[0]["n"])


def fill_missing(backend: GraphBackend, batch_size: int) -> tuple[int, int]:
    """Give every keyed relationship without a ``uid`` its uid; return ``(relationships
    given one, write transactions)``. Raises :class:`ValueError` when ``batch_size`` < 1 and
    the backend's errors (pages written before an error keep their uids)."""
    if batch_size < 1:
        raise ValueError(f"batch size must be at least 1, got {batch_size}")
    filled = transactions = 0
    left = count_missing(backend)
    while left:
        backend.write_batch([Statement(FILL_MISSING, {"limit": batch_size}, "migrate uid")])
        transactions += 1
        now = count_missing(backend)
        if now >= left:  # nothing changed (a sink of an earlier version writing): stop
            break
        filled += left - now
        left = now
    return filled, transactions
