"""The lineage graph model shared by the processor, the sink and the queries.

Nodes (each has a unique, indexed ``uid`` property; labels from :class:`NodeLabel`):

========================  ==============================================  =================
label                     uid                                             built by
========================  ==============================================  =================
``Job``                   ``<namespace>:<name>``                          :func:`job_uid`
``Run``                   ``<runId>``                                     :func:`run_uid`
``Dataset``               ``<namespace>:<name>``                          :func:`dataset_uid`
``DatasetVersion``        ``<namespace>:<name>@<version>``                :func:`version_uid`
``Schema``                ``<dataset uid>#schema:<schema hash>``          :func:`schema_uid`
``Field``                 ``<dataset uid>#<column>``                      :func:`column_uid`
========================  ==============================================  =================

The graph is written by what changed (content-addressed): a schema is a node per dataset and
schema hash (:func:`schema_hash`) with its columns (``Field``, one per dataset column, shared
by every schema of the dataset) hanging off it; a version points at its schema by
``schemaUid`` and holds its column statistics compactly (``columnStats``, JSON text). Column
lineage is written once per job, output dataset and lineage hash (:func:`lineage_uid`) as
``DERIVED_FROM`` relationships between Fields keyed by ``lineageUid``; the ``GENERATED``
relationship of each output version names the lineage its run applied. Version-to-version
lineage is derived through runs (CONSUMED_BY, GENERATED) at query time. A column of one
version, as answers show it, is the pair (version, column): :func:`field_uid` of the version
uid and the column.

Every uid is the text of that column passed through :func:`bounded_uid`, which is the
identity for the ordinary case and otherwise applies two documented rules:

1. *text the drivers cannot carry* (:func:`graph_text`): NUL (FalkorDB reads a query as a C
   string, a NUL ends it) and lone surrogates (no UTF-8 form: neither Bolt nor RESP can send
   them) become U+FFFD. The same rule applies to every string property the processor and the
   sink write, so both backends store the same text;
2. *bounded length*: a uid longer than :data:`MAX_UID_BYTES` (512) UTF-8 bytes becomes
   ``<prefix>…sha256=<64 hex digits>``: the longest prefix (whole code points) that keeps the
   uid within 512 bytes, the marker :data:`DIGEST_MARK`, and the SHA-256 of the whole
   normalised text. Neo4j's range index behind the ``uid`` constraint refuses values over
   ~8 KB and FalkorDB 4.16 crashed on a 5,000-character uniquely indexed value; 512 bytes
   keeps every backend far from both. The full name stays in the node's ``name`` (and
   ``version``) property, which is not indexed.

The rule is idempotent (a bounded uid is returned unchanged), so the sink may apply it again
to any record and the query layer applies it to the name it is given: ``bounded_uid(NODE)``
finds the node whatever the name's length. A Field's uid is built from its dataset's
(bounded) uid, so ``column_uid(dataset_uid(...), column)`` is what the queries compute too.

Times (epoch ms; :mod:`lineage_pipeline.graph_record` says why): every node and relationship
carries ``observedAt``, the earliest eventTime that showed it, except the content-addressed
values ``Schema``, ``HAS_FIELD`` and column-lineage ``DERIVED_FROM``, which have none; only
``Run`` (with its ``RUN_OF`` and ``CHILD_OF``) also carries ``updatedAt``, the run's latest
eventTime. Property names are camelCase,
like OpenLineage's (``runId``, ``startTime``, ``datasetUid``, ...); the node key ``uid`` is
the one exception. Earlier versions wrote a few in snake_case: :data:`LEGACY_PROPERTY_NAMES`
maps them to today's names, :meth:`GraphMutations.from_record` translates records still on
the graph topic and ``lineage migrate`` (:mod:`graph_sink.migrate`) renames them
in a stored graph. Relationships
(:class:`RelType`)::

    (Run)-[:RUN_OF]->(Job)
    (Run)-[:CHILD_OF]->(Run)
    (DatasetVersion)-[:CONSUMED_BY]->(Run)
    (Run)-[:GENERATED {lineageUid}]->(DatasetVersion)
    (DatasetVersion)-[:VERSION_OF]->(Dataset)
    (Schema)-[:HAS_FIELD {type, position}]->(Field)
    (Field)-[:DERIVED_FROM {lineageUid, jobUid, transformation, subtype, masking}]->(Field)

ML artefacts are datasets with a ``kind`` (``table``, ``file``, ``model``, ``features``,
``predictions``, ``metrics``), so one traversal covers data and models. Labels and
relationship types are closed allow-lists: Cypher text is never built from data.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class NodeLabel(str, Enum):
    """Allowed node labels."""

    JOB = "Job"
    RUN = "Run"
    DATASET = "Dataset"
    DATASET_VERSION = "DatasetVersion"
    SCHEMA = "Schema"
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


#: Longest uid in UTF-8 bytes; :func:`bounded_uid` shortens longer ones.
MAX_UID_BYTES = 512
#: Between the readable prefix and the SHA-256 hex digest of a shortened uid.
DIGEST_MARK = "\u2026sha256="
#: The prefix of a facet's property on Dataset and Job nodes (``facet_<name>``: JSON text).
FACET_PREFIX = "facet_"
#: What :func:`graph_text` puts in place of a code point no graph driver carries.
REPLACEMENT = "\ufffd"
_UNCARRIED = re.compile("[\x00\ud800-\udfff]")
_DIGEST_BYTES = len(DIGEST_MARK.encode()) + 64


class ReplacedCount:
    """How many characters :func:`graph_text` replaced in this process (``count``), so a
    caller can tell whether building something replaced any: the processor flags a run
    whose graph record needed it (:mod:`stream_processor.mapping`)."""

    count = 0


def graph_text(text: str) -> str:
    """Return ``text`` with NUL and lone surrogates replaced by U+FFFD (see the module
    docstring: the one rule for text a graph driver cannot carry), counted in
    :class:`ReplacedCount`; others are unchanged."""
    if text.isascii() and "\x00" not in text:
        return text
    carried, replaced = _UNCARRIED.subn(REPLACEMENT, text)
    ReplacedCount.count += replaced
    return carried


def bounded_uid(raw: str) -> str:
    """Return the uid of the node whose full uid text is ``raw``: :func:`graph_text` of it,
    shortened to ``<prefix>…sha256=<hex>`` when over :data:`MAX_UID_BYTES` UTF-8 bytes.

    Idempotent, deterministic and injective up to SHA-256 collisions among long texts.
    """
    text = graph_text(raw)
    if len(text) * 4 <= MAX_UID_BYTES:  # at most 4 bytes a code point: short enough
        return text
    data = text.encode("utf-8")
    if len(data) <= MAX_UID_BYTES:
        return text
    prefix = data[: MAX_UID_BYTES - _DIGEST_BYTES].decode("utf-8", "ignore")
    return prefix + DIGEST_MARK + hashlib.sha256(data).hexdigest()


def job_uid(namespace: str, name: str) -> str:
    """Return the uid of job ``namespace``/``name``: ``<namespace>:<name>``, bounded."""
    return bounded_uid(f"{namespace}:{name}")


def run_uid(run_id: str) -> str:
    """Return the uid of run ``run_id`` (the run id itself, bounded)."""
    return bounded_uid(run_id)


def dataset_uid(namespace: str, name: str) -> str:
    """Return the uid of dataset ``namespace``/``name`` (names already normalised):
    ``<namespace>:<name>``, bounded."""
    return bounded_uid(f"{namespace}:{name}")


def version_uid(namespace: str, name: str, version: str) -> str:
    """Return the uid of dataset ``namespace``/``name`` at ``version``:
    ``<namespace>:<name>@<version>``, bounded."""
    return bounded_uid(f"{namespace}:{name}@{version}")


def field_uid(owner_uid: str, column: str) -> str:
    """Return ``<owner uid>#<column>``, bounded: with a dataset uid the uid of the ``Field``
    node of that column (:func:`column_uid`); with a version uid the id answers give one
    column of that version (a (version, column) pair, no node of its own)."""
    return bounded_uid(f"{owner_uid}#{column}")


def column_uid(dataset_uid_: str, column: str) -> str:
    """Return the uid of the ``Field`` node of column ``column`` of the dataset whose uid is
    ``dataset_uid_``: ``<dataset uid>#<column>``, bounded."""
    return field_uid(dataset_uid_, column)


def schema_uid(dataset_uid_: str, schema_hash_: str) -> str:
    """Return the uid of the ``Schema`` node of the dataset whose uid is ``dataset_uid_`` with
    hash ``schema_hash_`` (:func:`schema_hash`): ``<dataset uid>#schema:<hash>``, bounded."""
    return bounded_uid(f"{dataset_uid_}#schema:{schema_hash_}")


def _digest(parts: Any, hex_chars: int) -> str:
    text = json.dumps(parts, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:hex_chars]


#: A schema column as hashed and stored: ``(name, type or None, sorted tags)``.
SchemaColumn = tuple[str, str | None, tuple[str, ...]]


def schema_hash(columns: Iterable[SchemaColumn]) -> str:
    """Return the content hash of a schema: the first 16 hex digits (64 bits) of the SHA-256
    of the JSON list of its columns in order, each ``[name, type, tags]``. Two schemas of one
    dataset share a hash exactly when they list the same columns, types and tags in the same
    order."""
    return _digest([[name, type_, list(tags)] for name, type_, tags in columns], 16)


#: One column lineage pair as hashed and stored: ``(output column, input dataset uid, input
#: column, transformation, subtype, masking)``.
LineagePairKey = tuple[str, str, str, str | None, str | None, bool]


def lineage_uid(job_uid_: str, output_dataset_uid: str, pairs: Iterable[LineagePairKey],
                descriptions: Iterable[str] = ()) -> str:
    """Return the uid of the column lineage one job declares for one output dataset:
    ``lineage:<32 hex digits>``, the first 128 bits of the SHA-256 of the JSON of the job
    uid, the output dataset uid and the sorted pairs (and the sorted transformation
    ``descriptions`` when there are any: a lineage without descriptions keeps the uid it had
    before they were kept). Runs of the job that declare the same lineage share it, so it is
    written once (``lineageUid`` on ``DERIVED_FROM`` and on the output's ``GENERATED``)."""
    described = sorted(descriptions)
    return "lineage:" + _digest([job_uid_, output_dataset_uid, sorted(
        pairs, key=lambda p: tuple("" if v is None else str(v) for v in p))]
        + ([described] if described else []), 32)


#: Snake_case property names earlier versions wrote -> today's camelCase name. The one table
#: of the rename: the sink translates old graph records with it (:func:`current_props`) and
#: ``lineage migrate`` renames stored properties with it.
LEGACY_PROPERTY_NAMES: dict[str, str] = {
    "observed_at": "observedAt",
    "updated_at": "updatedAt",
    "job_uid": "jobUid",
    "dataset_uid": "datasetUid",
    "version_uid": "versionUid",
}
_LEGACY_KEYS = frozenset(LEGACY_PROPERTY_NAMES)


#: A property value the graph stores: scalars, or lists of strings / numbers.
PropValue = None | bool | int | float | str | list[str] | list[float]


def graph_value(value: PropValue) -> PropValue:
    """Return property ``value`` with :func:`graph_text` applied to its strings (list items
    included); other values are returned unchanged."""
    if isinstance(value, str):
        return graph_text(value)
    if isinstance(value, list):
        items: list[Any] = [graph_text(v) if isinstance(v, str) else v for v in value]
        return items
    return value


def current_props(props: dict[str, Any]) -> dict[str, Any]:
    """Return a copy of property map ``props`` with the names of :data:`LEGACY_PROPERTY_NAMES`
    replaced by today's; when a map carries both names of one property, today's wins."""
    if _LEGACY_KEYS.isdisjoint(props):
        return dict(props)
    out = {LEGACY_PROPERTY_NAMES.get(k, k): v for k, v in props.items() if k in _LEGACY_KEYS}
    out.update((k, v) for k, v in props.items() if k not in _LEGACY_KEYS)
    return out


#: Per label, the properties a *weak* upsert may carry (:attr:`NodeUpsert.weak`): what a
#: consumer run knows of a version it read, stored only where the graph has no value yet, so a
#: producer's values win whatever the order the records arrive in.
WEAK_KEYS: dict[NodeLabel, tuple[str, ...]] = {
    NodeLabel.DATASET_VERSION: ("kind", "digestAlgorithm", "digest", "rowCount", "bytes",
                                "schemaUid", "columnStats"),
}

#: Relationships merged on a key property besides their two ends: two Fields may be linked
#: by several column lineages (one per job, output and lineage hash). Each such relationship
#: has its own ``uid`` (:func:`keyed_relationship_uid`), unique in the graph (Neo4j: a
#: relationship uniqueness constraint), so a write finds it by index instead of going through
#: every relationship between its two ends.
KEYED_RELATIONSHIPS: dict[tuple[RelType, NodeLabel, NodeLabel], str] = {
    (RelType.DERIVED_FROM, NodeLabel.FIELD, NodeLabel.FIELD): "lineageUid",
}


def _escaped(uid: str) -> str:
    return uid.replace("\\", "\\\\").replace("|", "\\|")


def keyed_relationship_uid(key: str, from_uid: str, to_uid: str) -> str:
    """The ``uid`` of the keyed relationship (:data:`KEYED_RELATIONSHIPS`) with key value
    ``key`` from node ``from_uid`` to node ``to_uid``: ``key|from|to``, each part with ``\\``
    and ``|`` escaped by a backslash, so two relationships share a uid only when they share
    key and ends. At most about 2.1 KB (uids are bounded to 512 bytes). The same text in
    Cypher: :func:`keyed_relationship_uid_cypher`."""
    return f"{_escaped(key)}|{_escaped(from_uid)}|{_escaped(to_uid)}"


def keyed_relationship_uid_cypher(key: str, from_uid: str, to_uid: str) -> str:
    """The Cypher expression of :func:`keyed_relationship_uid` over the Cypher expressions
    ``key``, ``from_uid`` and ``to_uid`` (e.g. ``r.lineageUid``, ``a.uid``, ``b.uid``):
    plain ``replace`` and ``+``, which Neo4j and FalkorDB both have."""
    def esc(expr: str) -> str:
        return f"replace(replace({expr}, '\\\\', '\\\\\\\\'), '|', '\\\\|')"

    return f"{esc(key)} + '|' + {esc(from_uid)} + '|' + {esc(to_uid)}"


@dataclass(slots=True)
class NodeUpsert:
    """Create or update node ``label``/``uid``, setting ``props`` (merged into existing) and
    each of ``weak`` (keys of :data:`WEAK_KEYS`) only where the node has no value yet."""

    label: NodeLabel
    uid: str
    props: dict[str, PropValue] = field(default_factory=dict)
    weak: dict[str, PropValue] = field(default_factory=dict)


@dataclass(slots=True)
class RelationshipUpsert:
    """Create or update one ``type`` relationship between two nodes (created if missing)."""

    type: RelType
    from_label: NodeLabel
    from_uid: str
    to_label: NodeLabel
    to_uid: str
    props: dict[str, PropValue] = field(default_factory=dict)


@dataclass(slots=True)
class GraphMutations:
    """Node and relationship upserts: what one graph record expands to
    (:func:`lineage_pipeline.graph_record.expand`), or one record of the older
    ``graph_mutations`` family on ``lineage.graph``.

    ``event_time`` and ``published_at`` are epoch milliseconds; the sink measures
    event-to-graph latency from them.
    """

    source_event_id: str
    event_time: int
    published_at: int
    nodes: list[NodeUpsert] = field(default_factory=list)
    relationships: list[RelationshipUpsert] = field(default_factory=list)

    def to_record(self) -> dict[str, Any]:
        """Return the Avro record of ``schemas/graph_mutations.v1.avsc``."""
        return {
            "sourceEventId": self.source_event_id,
            "eventTime": self.event_time,
            "publishedAt": self.published_at,
            "nodes": [{"label": n.label.value, "uid": n.uid, "props": n.props} for n in self.nodes],
            "edges": [  # the v1 wire name of the relationships
                {
                    "type": e.type.value,
                    "fromLabel": e.from_label.value,
                    "fromUid": e.from_uid,
                    "toLabel": e.to_label.value,
                    "toUid": e.to_uid,
                    "props": e.props,
                }
                for e in self.relationships
            ],
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> GraphMutations:
        """Build from an Avro record; raises ``ValueError``/``KeyError`` on a bad shape.

        Property names an earlier version wrote are translated (:func:`current_props`), so
        records already on the graph topic are stored under today's names."""
        return cls(
            source_event_id=record["sourceEventId"],
            event_time=record["eventTime"],
            published_at=record["publishedAt"],
            nodes=[
                NodeUpsert(NodeLabel(n["label"]), n["uid"], current_props(n["props"]))
                for n in record["nodes"]
            ],
            relationships=[
                RelationshipUpsert(
                    RelType(e["type"]),
                    NodeLabel(e["fromLabel"]),
                    e["fromUid"],
                    NodeLabel(e["toLabel"]),
                    e["toUid"],
                    current_props(e["props"]),
                )
                for e in record["edges"]
            ],
        )
