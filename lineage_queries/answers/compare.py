"""Answer shapes of the comparisons: ``diff_runs`` and ``changed_upstream``."""

from typing import Any, NotRequired, TypedDict

from lineage_queries.answers.base import RunSummary, Stat, Subgraph


# -- comparisons -----------------------------------------------------------------------------
class ValueChange(TypedDict):
    """A value that differs: ``delta`` (after - before) when both are numbers."""

    before: Any
    after: Any
    delta: NotRequired[float]


class Retyped(TypedDict):
    name: str
    before: Any
    after: Any


class SchemaChanges(TypedDict):
    """Column names added and removed, and columns whose type changed (sorted by name)."""

    added: list[str]
    removed: list[str]
    retyped: list[Retyped]


class StatChange(TypedDict):
    before: Stat
    after: Stat
    delta: float | None
    relativeChange: float | None


class ColumnChange(TypedDict):
    """A column whose statistics moved (:func:`lineage_queries.compare.column_changes`)."""

    name: str
    type: Any
    moved: float
    stat: str | None
    drift: float
    stats: dict[str, StatChange]


class DriftedColumn(TypedDict):
    """A column drifted beyond the threshold (:func:`~lineage_queries.compare.drifted_columns`)."""

    name: str
    drift: float
    stat: str
    before: Stat
    after: Stat


class VersionRef(TypedDict):
    id: str
    version: str | None
    digest: str | None
    rowCount: int | None


class VersionChange(TypedDict):
    """An input or output of ``diff`` whose version differs."""

    dataset: str
    namespace: str | None
    name: str | None
    kind: str | None
    status: str
    before: VersionRef | None
    after: VersionRef | None
    schema: SchemaChanges
    columns: list[ColumnChange]


class RunDiff(TypedDict):
    """``lineage diff RUN_A RUN_B``."""

    runA: RunSummary
    runB: RunSummary
    sameJob: bool
    inputs: list[VersionChange]
    unchangedInputs: list[str]
    outputs: list[VersionChange]
    parameters: dict[str, ValueChange]
    metrics: dict[str, ValueChange]
    code: dict[str, ValueChange]
    environment: dict[str, ValueChange]
    subgraph: Subgraph


class UpstreamRef(TypedDict):
    id: str
    version: str | None
    digest: str | None
    producedByRunId: str | None
    job: str | None


class UpstreamChange(TypedDict):
    """An item of ``changed_upstream``: a dataset whose version differs upstream."""

    dataset: str
    namespace: str | None
    name: str | None
    kind: str
    distance: int
    status: str
    bad: UpstreamRef
    good: UpstreamRef | None
    schema: SchemaChanges
    columns: list[ColumnChange]
    score: float
