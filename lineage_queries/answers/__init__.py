"""The shapes of every query answer, as :class:`typing.TypedDict` (plain JSON-ready dicts).

:class:`~lineage_queries.api.LineageGraph` returns these; the ``lineage`` CLI prints the same
objects with ``--json`` and renders them for people (:mod:`lineage_app.cli.views`).
``docs/queries.md`` lists them key by key with the command and method that return each.

- :mod:`.base`: graph property maps, :class:`Node`, :class:`Edge`, :class:`Subgraph`, runs;
- :mod:`.compare`: ``diff_runs`` and ``changed_upstream``;
- :mod:`.incidents`: root cause, impact, models, freshness, PII fields.
"""

from lineage_queries.answers.base import (
    BaselineRun,
    Edge,
    EdgeProps,
    FieldProps,
    Node,
    NodeIdentity,
    RunDetail,
    RunProps,
    RunSummary,
    Stat,
    Subgraph,
    VersionDetail,
    as_field_props,
    as_run_props,
)
from lineage_queries.answers.compare import (
    ColumnChange,
    DriftedColumn,
    Retyped,
    RunDiff,
    SchemaChanges,
    StatChange,
    UpstreamChange,
    UpstreamRef,
    ValueChange,
    VersionChange,
    VersionRef,
)
from lineage_queries.answers.incidents import (
    Candidate,
    CandidateDraft,
    Cause,
    ChainNode,
    Consequence,
    DataEvidence,
    Evidence,
    FailedProducerEvidence,
    FieldView,
    FreshnessReport,
    FreshnessRow,
    Impact,
    ImpactCounts,
    ImpactedColumn,
    ImpactedDataset,
    ImpactedJob,
    InputEvidence,
    ModelInput,
    ModelInputs,
    ModelRef,
    ModelRun,
    RootCause,
    RowCountChange,
    RunRef,
    TrainedModel,
    TrainedOn,
    UpstreamFailureEvidence,
    Writer,
)

__all__ = [
    "BaselineRun", "Candidate", "CandidateDraft", "Cause", "ChainNode", "ColumnChange",
    "Consequence", "DataEvidence", "DriftedColumn", "Edge", "EdgeProps",
    "Evidence", "FailedProducerEvidence", "FieldProps", "FieldView", "FreshnessReport",
    "FreshnessRow", "Impact", "ImpactCounts", "ImpactedColumn", "ImpactedDataset",
    "ImpactedJob", "InputEvidence", "ModelInput", "ModelInputs", "ModelRef", "ModelRun",
    "Node", "NodeIdentity", "Retyped", "RootCause", "RowCountChange", "RunDetail", "RunDiff",
    "RunProps",
    "RunRef", "RunSummary", "SchemaChanges", "Stat", "StatChange", "Subgraph", "TrainedModel",
    "TrainedOn", "UpstreamChange", "UpstreamFailureEvidence", "UpstreamRef", "ValueChange",
    "VersionChange", "VersionDetail", "VersionRef", "Writer", "as_field_props",
    "as_run_props",
]
