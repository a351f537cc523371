"""Answer shapes: graph property maps, subgraph nodes and relationships, runs.

:class:`~lineage_queries.api.LineageGraph` returns these; the ``lineage`` CLI prints the same
objects with ``--json`` and renders them for people (:mod:`lineage_app.cli.views`). They are
documented, key by key, in ``docs/queries.md``. Times are epoch milliseconds unless a key
ends in ``S`` (seconds); ids are graph uids (:mod:`lineage_pipeline.graph_model`).

Property maps read from the graph (a run's every property, a Field's statistics) stay open:
:class:`RunProps` and :class:`FieldProps` name the properties the sink writes
(``docs/contracts.md``), and :func:`as_run_props` / :func:`as_field_props` are the one place a
map read from the graph becomes one of them.

No ``from __future__ import annotations`` in this package: the annotations are evaluated when
the classes are made, so ``__required_keys__`` and ``__optional_keys__`` see ``NotRequired``
(``tests/test_query_answer_shapes.py`` checks answers against them).
"""

from typing import Any, NotRequired, TypedDict, cast

#: A statistic of a column: a number, text (min/max of text columns), or ``"<redacted>"``.
Stat = int | float | str | None


# -- graph property maps ---------------------------------------------------------------------
class FieldProps(TypedDict, total=False):
    """A column of one dataset version as answers show it: the dataset's Field node (name,
    tags), its type in the version's schema, and its statistics from the version's
    ``columnStats``."""

    uid: str
    name: str
    type: str | None
    versionUid: str
    datasetUid: str
    tags: list[str] | None
    nullCount: Stat
    distinctCount: Stat
    min: Stat
    max: Stat
    mean: Stat
    observedAt: int | None
    updatedAt: int | None


class RunProps(TypedDict, total=False):
    """A Run node's stored properties, JSON-text ones parsed (``docs/contracts.md``)."""

    uid: str
    runId: str
    jobUid: str | None
    state: str | None
    startTime: int | None
    endTime: int | None
    producer: str | None
    nominalStartTime: int | None
    nominalEndTime: int | None
    gitSha: str | None
    gitDirty: bool | None
    repository: str | None
    branch: str | None
    entryPoint: str | None
    parameters: dict[str, Any] | None
    metrics: dict[str, Any] | None
    environment: dict[str, Any] | None
    errorMessage: str | None
    stackTrace: str | None
    programmingLanguage: str | None
    parentRunId: str | None
    rootRunId: str | None
    extraFacets: dict[str, Any] | None
    observedAt: int | None
    updatedAt: int | None


def as_field_props(props: dict[str, Any]) -> FieldProps:
    """A Field's property map as read from the graph, typed (no copy, no check)."""
    return cast(FieldProps, props)


def as_run_props(props: dict[str, Any]) -> RunProps:
    """A Run's property map as read from the graph (JSON parsed), typed (no copy)."""
    return cast(RunProps, props)


# -- subgraphs -------------------------------------------------------------------------------
class NodeIdentity(TypedDict):
    """What every node of an answer starts with: graph ``id`` (uid), ``label``, ``kind``,
    ``namespace`` / ``name`` / ``version`` (when the label has them) and walk ``depth``."""

    id: str
    label: str
    kind: str
    namespace: str | None
    name: str | None
    version: str | None
    depth: int


class Node(NodeIdentity):
    """One node of a :class:`Subgraph`. The first seven keys are always there; the others
    by ``label`` (Job: ``jobType``, ``integration``, ``processingType``; Run: ``job``,
    ``runId``, ``state``, ``startTime``, ``endTime``, ``parentRunId``; DatasetVersion:
    ``dataset``, ``digestAlgorithm``, ``digest``, ``rowCount``, ``bytes``,
    ``producedByRunId``; Field: ``dataset``, ``type`` and the statistics) and by answer
    (``changed``, ``rank``, ``stale``, ``overdueS``, ``datasetUid``)."""

    job: NotRequired[str | None]
    dataset: NotRequired[str | None]
    jobType: NotRequired[str | None]
    integration: NotRequired[str | None]
    processingType: NotRequired[str | None]
    runId: NotRequired[str | None]
    state: NotRequired[str | None]
    #: a Job node that stands for runs (``lineage_queries.granularity``, ``job``): how many
    runs: NotRequired[int]
    startTime: NotRequired[int | None]
    endTime: NotRequired[int | None]
    parentRunId: NotRequired[str | None]
    digestAlgorithm: NotRequired[str | None]
    digest: NotRequired[str | None]
    rowCount: NotRequired[int | None]
    bytes: NotRequired[int | None]
    producedByRunId: NotRequired[str | None]
    type: NotRequired[str | None]
    nullCount: NotRequired[Stat]
    distinctCount: NotRequired[Stat]
    min: NotRequired[Stat]
    max: NotRequired[Stat]
    mean: NotRequired[Stat]
    observedAt: NotRequired[int | None]
    updatedAt: NotRequired[int | None]
    datasetUid: NotRequired[str]
    changed: NotRequired[bool]
    rank: NotRequired[int]
    stale: NotRequired[bool]
    overdueS: NotRequired[float | None]


class RelationshipProps(TypedDict, total=False):
    """The extra keys of a relationship: column hops (``runId``, ``transformation`` when declared,
    ``inferred`` = ``"name"``/``"dataset"`` when followed by name), bridges of a ``kinds``
    filter (``collapsed``, ``hops``)."""

    runId: str | None
    transformation: str | None
    inferred: str
    collapsed: bool
    hops: int


#: One relationship of a :class:`Subgraph` (stored direction); ``from`` is a keyword, hence
#: this form.
Relationship = TypedDict("Relationship", {
    "from": str, "to": str, "type": str,
    "runId": NotRequired[str | None], "transformation": NotRequired[str | None],
    "inferred": NotRequired[str], "collapsed": NotRequired[bool], "hops": NotRequired[int],
})


class Subgraph(TypedDict):
    """Nodes and relationships of an answer (``upstream``/``downstream``, and every
    ``subgraph``)."""

    root: str
    direction: str
    depth: int
    column: NotRequired[str]
    kinds: NotRequired[list[str]]
    nodes: list[Node]
    relationships: list[Relationship]
    asOf: NotRequired[int]
    #: ``lineage_queries.granularity``: the time window asked (epoch ms, ``None``: open) and
    #: the granularity when not ``run``
    window: NotRequired[dict[str, int | None]]
    granularity: NotRequired[str]


# -- runs ------------------------------------------------------------------------------------
class RunSummary(TypedDict):
    """A run in one line (``runs`` items, and every ``run`` of the other answers)."""

    runId: str
    job: str | None
    state: str | None
    startTime: int | None
    endTime: int | None
    durationMs: int | None
    nominalStartTime: int | None
    metrics: dict[str, Any]
    parameters: dict[str, Any]
    gitSha: str | None
    errorMessage: str | None
    parentRunId: str | None
    observedAt: int | None
    updatedAt: int | None


class BaselineRun(RunSummary):
    """The run a bad run is compared with: why it was chosen (``"given"`` when passed)."""

    reason: str
    warning: NotRequired[str]


class VersionDetail(NodeIdentity):
    """An input or output of :class:`RunDetail`: the DatasetVersion node, its dataset, its
    ``schema`` (``[{"name", "type"}]``) and its ``fields`` (Field properties by name)."""

    dataset: str | None
    digestAlgorithm: str | None
    digest: str | None
    rowCount: int | None
    bytes: int | None
    producedByRunId: str | None
    observedAt: int | None
    updatedAt: int | None
    datasetUid: str
    schema: list[dict[str, Any]] | None
    fields: list[FieldProps]


class RunDetail(RunProps):
    """One run in full (``lineage run``): every stored property plus the keys below."""

    job: dict[str, Any] | None  # the Job node's properties
    durationMs: int | None
    inputs: list[VersionDetail]
    outputs: list[VersionDetail]
    children: list[str]
