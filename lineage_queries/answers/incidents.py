"""Answer shapes of the incident questions: ``root_cause``, ``impact``, ``trained_on``,
``model_inputs``, ``freshness``, and the PII view of fields."""


from collections.abc import Mapping
from typing import Any, NotRequired, TypedDict

from lineage_queries.answers.base import BaselineRun, FieldProps, RunSummary, Subgraph
from lineage_queries.answers.compare import (
    DriftedColumn,
    SchemaChanges,
    ValueChange,
    VersionRef,
)


# -- root cause ------------------------------------------------------------------------------
class RunRef(TypedDict):
    run: str | None
    job: str | None
    state: str | None


class RowCountChange(TypedDict):
    before: Any
    after: Any
    relativeChange: float


class DataEvidence(TypedDict):
    """Why a changed version is a candidate (or a consequence)."""

    before: VersionRef
    after: VersionRef
    schema: SchemaChanges
    drift: list[DriftedColumn]
    producer: RunRef | None
    baselineProducer: RunRef | None
    rowCount: NotRequired[RowCountChange]
    #: the data-quality checks that failed on the changed version (assertion, column,
    #: expected, actual, severity, run, job): :mod:`lineage_queries.quality`
    quality: NotRequired[list[dict[str, Any]]]


class InputEvidence(TypedDict):
    """``input_added`` / ``input_removed``: the run that reads (or stopped reading)."""

    run: str


class FailedProducerEvidence(TypedDict):
    version: str
    producer: RunRef | None


class UpstreamFailureEvidence(TypedDict):
    failedRun: RunSummary
    readVersion: str


#: The evidence of a candidate, by its ``type``: ``data`` :class:`DataEvidence`;
#: ``input_added``/``input_removed`` :class:`InputEvidence`; ``failed_producer``
#: :class:`FailedProducerEvidence`; ``upstream_failure`` :class:`UpstreamFailureEvidence`;
#: ``code``/``parameters``/``environment`` ``{key: ValueChange}`` plus ``"baselineRun"`` (run
#: id). Read-only here: one of those shapes, which the candidate's ``type`` tells apart.
Evidence = Mapping[str, Any]


class ChainNode(TypedDict):
    """A step of a candidate's chain: a run, a changed version, or the candidate itself."""

    id: str
    label: str
    kind: str
    job: NotRequired[str | None]
    state: NotRequired[str | None]
    dataset: NotRequired[str | None]
    digest: NotRequired[str | None]
    run: NotRequired[str | None]


class CandidateDraft(TypedDict):
    """A candidate cause as the walk finds it (before ``rank`` and ``chain``)."""

    type: str
    severity: str
    node: str
    label: str
    run: NotRequired[str]
    job: NotRequired[str | None]
    dataset: NotRequired[str]
    kind: NotRequired[str]
    distance: int
    score: float
    summary: str
    evidence: Evidence


class Candidate(CandidateDraft):
    """A ranked candidate cause of ``root_cause`` with its chain down to the bad run."""

    rank: int
    chain: list[ChainNode]


class Consequence(TypedDict):
    """A changed version explained by the candidates (``causedBy``: their nodes)."""

    node: str
    dataset: str
    kind: str
    distance: int
    summary: str
    evidence: DataEvidence
    causedBy: list[str]


class RootCause(TypedDict):
    """``lineage root-cause RUN``."""

    run: RunSummary
    baseline: BaselineRun
    metrics: dict[str, ValueChange]
    driftThreshold: float
    candidates: list[Candidate]
    consequences: list[Consequence]
    subgraph: Subgraph


# -- impact ----------------------------------------------------------------------------------
class ImpactCounts(TypedDict):
    """Distinct datasets (and by kind), columns, jobs, runs and versions reached."""

    datasets: int
    byKind: dict[str, int]
    columns: int
    jobs: int
    runs: int
    versions: int


class ImpactedDataset(TypedDict):
    id: str
    kind: str
    namespace: str | None
    name: str | None
    distance: int
    versions: int
    columns: list[str]
    jobs: list[str]


class ImpactedColumn(TypedDict):
    dataset: str
    column: str
    distance: int
    how: str


class ImpactedJob(TypedDict):
    id: str
    distance: int
    runs: int


class Impact(TypedDict):
    """``lineage impact DATASET[#column]``."""

    root: str
    column: str | None
    depth: int
    asOf: int | None
    summary: str
    counts: ImpactCounts
    datasets: list[ImpactedDataset]
    columns: list[ImpactedColumn]
    jobs: list[ImpactedJob]
    models: list[str]
    subgraph: Subgraph


# -- models ----------------------------------------------------------------------------------
class TrainedModel(TypedDict):
    """A model version made from the root, and the run that trained it."""

    id: str
    dataset: str
    version: str | None
    digest: str | None
    distance: int
    run: RunSummary


class TrainedOn(TypedDict):
    """``lineage trained-on DATASET@VERSION``."""

    root: str
    asOf: int | None
    summary: str
    models: list[TrainedModel]
    subgraph: Subgraph


class ModelRef(TypedDict):
    id: str
    dataset: str
    kind: str
    version: str | None
    digest: str | None
    producedBy: RunSummary | None


class ModelInput(TypedDict):
    """A dataset version upstream of the model; ``producedBy``: the run that made it."""

    id: str
    dataset: str
    kind: str
    version: str | None
    digestAlgorithm: str | None
    digest: str | None
    rowCount: int | None
    distance: int
    producedBy: str | None


class ModelRun(RunSummary):
    """A run upstream of the model, with its hops from the model and its environment."""

    distance: int
    environment: Any


class ModelInputs(TypedDict):
    """``lineage inputs MODEL_DIGEST``."""

    model: ModelRef
    inputs: list[ModelInput]
    sources: list[str]
    runs: list[ModelRun]
    parameters: dict[str, dict[str, Any]]
    subgraph: Subgraph


# -- freshness -------------------------------------------------------------------------------
class Writer(TypedDict):
    job: str | None
    run: str | None


class Cause(TypedDict):
    """Why a stale dataset was not written: ``type`` is ``failed``, ``not_written``,
    ``stopped`` or ``upstream`` (then ``via``, ``root``: the cause upstream, and
    ``writerStopped``)."""

    type: str
    job: str | None
    run: RunSummary | None
    via: NotRequired[list[str]]
    root: NotRequired["Cause"]
    writerStopped: NotRequired[str | None]
    summary: str


class FreshnessRow(TypedDict):
    """One written dataset: its last write and how overdue it is (seconds)."""

    dataset: str
    namespace: str | None
    kind: str
    lastWrite: int
    lastVersion: str
    expectedIntervalS: float | None
    intervalSource: str | None
    ageS: float
    overdueS: float | None
    writer: Writer
    cause: Cause | None


class FreshnessReport(TypedDict):
    """``lineage freshness``."""

    asOf: int
    summary: str
    stale: list[FreshnessRow]
    noSla: list[str]
    subgraph: Subgraph
    fresh: NotRequired[list[FreshnessRow]]


# -- PII -------------------------------------------------------------------------------------
class FieldView(FieldProps):
    """``lineage fields DATASET``: a Field's properties (statistics ``"<redacted>"`` unless
    the role may see them), its effective PII tags (own and inherited) and ``sensitive``."""

    effectiveTags: list[str]
    sensitive: bool
