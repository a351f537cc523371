"""Builds the node and relationship upserts of one graph record
(:mod:`stream_processor.mapping`)."""

from __future__ import annotations

from lineage_pipeline.graph_model import (
    NodeLabel,
    NodeUpsert,
    PropValue,
    RelationshipUpsert,
    RelType,
    graph_value,
)

#: How repeats of a node or relationship in one record fold their times.
_TIME_PICK = {"observedAt": min, "updatedAt": max}


def times(first: int, last: int) -> dict[str, PropValue]:
    """The time props of an element first / last observed at ``first`` / ``last`` (epoch ms)."""
    return {"observedAt": first, "updatedAt": last}


class MutationBuilder:
    """Collects the node and relationship upserts of one graph record, merging repeats of the same
    node (label, uid) or relationship (type, from uid, to uid): props last-write-wins, except
    ``observedAt`` (min) and ``updatedAt`` (max). Every value goes through
    :func:`~lineage_pipeline.graph_model.graph_value`."""

    def __init__(self) -> None:
        self.nodes: dict[tuple[NodeLabel, str], NodeUpsert] = {}
        self.relationships: dict[tuple[RelType, str, str], RelationshipUpsert] = {}

    @staticmethod
    def _merge_props(into: dict[str, PropValue], props: dict[str, PropValue]) -> None:
        for key, value in props.items():
            old = into.get(key)
            if key in _TIME_PICK and isinstance(old, int) and isinstance(value, int):
                into[key] = _TIME_PICK[key](old, value)
            else:
                into[key] = value

    def node(self, label: NodeLabel, uid: str, props: dict[str, PropValue]) -> None:
        props = {k: graph_value(v) for k, v in props.items()}
        existing = self.nodes.get((label, uid))
        if existing is None:
            self.nodes[(label, uid)] = NodeUpsert(label, uid, dict(props))
        else:
            self._merge_props(existing.props, props)

    def relationship(
        self,
        rel: RelType,
        src: tuple[NodeLabel, str],
        dst: tuple[NodeLabel, str],
        props: dict[str, PropValue],
    ) -> None:
        key = (rel, src[1], dst[1])
        props = {k: graph_value(v) for k, v in props.items()}
        existing = self.relationships.get(key)
        if existing is None:
            self.relationships[key] = RelationshipUpsert(rel, src[0], src[1], dst[0], dst[1],
                                                         dict(props))
        else:
            self._merge_props(existing.props, props)
