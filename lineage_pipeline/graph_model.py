"""The lineage graph model shared by the processor, the sink and the queries.

Nodes (each has a unique, indexed ``uid`` property; labels from :class:`NodeLabel`):

========================  ==========================================  =====================
label                     uid                                         built by
========================  ==========================================  =====================
``Job``                   ``<namespace>:<name>``                      :func:`job_uid`
``Run``                   ``<runId>``                                 :func:`run_uid`
``Dataset``               ``<namespace>:<name>``                      :func:`dataset_uid`
``DatasetVersion``        ``<namespace>:<name>@<version>``            :func:`version_uid`
``Field``                 ``<namespace>:<name>@<version>#<column>``   :func:`field_uid`
========================  ==========================================  =====================

Relationships (:class:`RelType`), every one with ``observed_at`` (epoch ms, event time)::

    (Run)-[:RUN_OF]->(Job)
    (Run)-[:CHILD_OF]->(Run)
    (DatasetVersion)-[:CONSUMED_BY]->(Run)
    (Run)-[:GENERATED]->(DatasetVersion)
    (DatasetVersion)-[:VERSION_OF]->(Dataset)
    (DatasetVersion)-[:DERIVED_FROM {runId}]->(DatasetVersion)
    (DatasetVersion)-[:HAS_FIELD]->(Field)
    (Field)-[:DERIVED_FROM {runId, transformation, subtype}]->(Field)

ML artefacts are datasets with a ``kind`` (``table``, ``file``, ``model``, ``features``,
``predictions``, ``metrics``), so one traversal covers data and models. Labels and
relationship types are closed allow-lists: Cypher text is never built from data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class NodeLabel(str, Enum):
    """Allowed node labels."""

    JOB = "Job"
    RUN = "Run"
    DATASET = "Dataset"
    DATASET_VERSION = "DatasetVersion"
    FIELD = "Field"


class RelType(str, Enum):
    """Allowed relationship types."""

    RUN_OF = "RUN_OF"
    CHILD_OF = "CHILD_OF"
    CONSUMED_BY = "CONSUMED_BY"
    GENERATED = "GENERATED"
    VERSION_OF = "VERSION_OF"
    DERIVED_FROM = "DERIVED_FROM"
    HAS_FIELD = "HAS_FIELD"


#: Run states that are final; a stored terminal state is never replaced by a non-terminal one.
TERMINAL_STATES = ("COMPLETE", "FAIL", "ABORT")

#: Dataset kinds understood by the queries.
DATASET_KINDS = ("table", "file", "model", "features", "predictions", "metrics")


def job_uid(namespace: str, name: str) -> str:
    """Return the uid of job ``namespace``/``name``."""
    return f"{namespace}:{name}"


def run_uid(run_id: str) -> str:
    """Return the uid of run ``run_id`` (the run id itself)."""
    return run_id


def dataset_uid(namespace: str, name: str) -> str:
    """Return the uid of dataset ``namespace``/``name`` (names already normalised)."""
    return f"{namespace}:{name}"


def version_uid(namespace: str, name: str, version: str) -> str:
    """Return the uid of dataset ``namespace``/``name`` at ``version``."""
    return f"{namespace}:{name}@{version}"


def field_uid(version_uid_: str, column: str) -> str:
    """Return the uid of column ``column`` of the dataset version ``version_uid_``."""
    return f"{version_uid_}#{column}"


#: A property value the graph stores: scalars, or lists of strings / numbers.
PropValue = None | bool | int | float | str | list[str] | list[float]


@dataclass(slots=True)
class NodeUpsert:
    """Create or update node ``label``/``uid``, setting ``props`` (merged into existing)."""

    label: NodeLabel
    uid: str
    props: dict[str, PropValue] = field(default_factory=dict)


@dataclass(slots=True)
class EdgeUpsert:
    """Create or update one ``type`` relationship between two nodes (created if missing)."""

    type: RelType
    from_label: NodeLabel
    from_uid: str
    to_label: NodeLabel
    to_uid: str
    props: dict[str, PropValue] = field(default_factory=dict)


@dataclass(slots=True)
class GraphMutations:
    """The graph mutations derived from one lineage event; one record on ``lineage.graph``.

    ``event_time`` and ``published_at`` are epoch milliseconds; the sink measures
    event-to-graph latency from them.
    """

    source_event_id: str
    event_time: int
    published_at: int
    nodes: list[NodeUpsert] = field(default_factory=list)
    edges: list[EdgeUpsert] = field(default_factory=list)

    def to_record(self) -> dict[str, Any]:
        """Return the Avro record of ``schemas/graph_mutations.v1.avsc``."""
        return {
            "sourceEventId": self.source_event_id,
            "eventTime": self.event_time,
            "publishedAt": self.published_at,
            "nodes": [{"label": n.label.value, "uid": n.uid, "props": n.props} for n in self.nodes],
            "edges": [
                {
                    "type": e.type.value,
                    "fromLabel": e.from_label.value,
                    "fromUid": e.from_uid,
                    "toLabel": e.to_label.value,
                    "toUid": e.to_uid,
                    "props": e.props,
                }
                for e in self.edges
            ],
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> GraphMutations:
        """Build from an Avro record; raises ``ValueError``/``KeyError`` on a bad shape."""
        return cls(
            source_event_id=record["sourceEventId"],
            event_time=record["eventTime"],
            published_at=record["publishedAt"],
            nodes=[
                NodeUpsert(NodeLabel(n["label"]), n["uid"], dict(n["props"]))
                for n in record["nodes"]
            ],
            edges=[
                EdgeUpsert(
                    RelType(e["type"]),
                    NodeLabel(e["fromLabel"]),
                    e["fromUid"],
                    NodeLabel(e["toLabel"]),
                    e["toUid"],
                    dict(e["props"]),
                )
                for e in record["edges"]
            ],
        )
