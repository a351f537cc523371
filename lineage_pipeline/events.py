"""The lineage event: an OpenLineage RunEvent with the typed facets this project queries.

Field names follow the OpenLineage spec (https://openlineage.io/spec/2-0-2/OpenLineage.json):
``eventType``, ``eventTime``, ``producer``, ``run.runId``, ``job.namespace``, ``inputs``,
``outputs``, ``facets``. Differences, each deliberate:

- ``eventTime`` is epoch **milliseconds** (int), not an ISO string: cheap to compare, and what
  both graph backends store (FalkorDB has no portable temporal type).
- ``eventId`` (a UUID string) identifies one emitted event; the processor dedupes on it.
- Facets are typed records where the project queries them (schema, column lineage,
  statistics, content digest, code version, parameters, metrics, environment, error, nominal
  time, symlinks, data source, job type, sql); every other facet travels in an ``extra`` map
  of facet name -> JSON text, size-capped with the rest of the event.
- ``truncated`` lists the facets the size cap cut (``"outputs[0].columnLineage"``...), so a
  reader knows the event is partial.

The Avro schema ``schemas/lineage_event.v1.avsc`` mirrors these classes field for field;
``tests/test_codec.py`` checks the round trip.
"""

from __future__ import annotations

import uuid
from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class EventType(str, Enum):
    """OpenLineage run event types."""

    START = "START"
    RUNNING = "RUNNING"
    COMPLETE = "COMPLETE"
    FAIL = "FAIL"
    ABORT = "ABORT"
    OTHER = "OTHER"


#: Event types that end a run; once seen, a run's state never goes back.
TERMINAL_EVENT_TYPES = frozenset({EventType.COMPLETE, EventType.FAIL, EventType.ABORT})


class _Model(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="forbid", frozen=False)


class JobRef(_Model):
    """A job named by OpenLineage ``namespace`` and ``name``."""

    namespace: str
    name: str


class RootRun(_Model):
    """The root of a run hierarchy (OpenLineage parent facet's ``root``)."""

    runId: str
    job: JobRef


class ParentRun(_Model):
    """OpenLineage ``parent`` run facet: the run (and its root) that started this run."""

    runId: str
    job: JobRef
    root: RootRun | None = None


class NominalTime(_Model):
    """OpenLineage ``nominalTime`` facet in epoch milliseconds."""

    nominalStartTime: int
    nominalEndTime: int | None = None


class CodeVersion(_Model):
    """The code that ran: git commit, whether the tree was dirty, repository and entry point."""

    gitSha: str | None = None
    dirty: bool | None = None
    repository: str | None = None
    branch: str | None = None
    entryPoint: str | None = None


class Environment(_Model):
    """Where the run ran: Python and package versions, host, user, platform."""

    pythonVersion: str | None = None
    packages: dict[str, str] = Field(default_factory=dict)
    host: str | None = None
    user: str | None = None
    platform: str | None = None


class ErrorFacet(_Model):
    """OpenLineage ``errorMessage`` run facet."""

    message: str
    stackTrace: str | None = None
    programmingLanguage: str = "python"


class RunFacets(_Model):
    """Typed run facets; ``extra`` holds any other facet as facet name -> JSON text."""

    nominalTime: NominalTime | None = None
    codeVersion: CodeVersion | None = None
    parameters: dict[str, str] = Field(default_factory=dict)
    metrics: dict[str, float] = Field(default_factory=dict)
    environment: Environment | None = None
    error: ErrorFacet | None = None
    extra: dict[str, str] = Field(default_factory=dict)


class JobType(_Model):
    """OpenLineage ``jobType`` job facet."""

    processingType: str = "BATCH"
    integration: str = "PYTHON"
    jobType: str | None = None


class SqlFacet(_Model):
    """OpenLineage ``sql`` job facet."""

    query: str
    dialect: str | None = None


class JobFacets(_Model):
    """Typed job facets; ``extra`` holds any other facet as facet name -> JSON text."""

    jobType: JobType | None = None
    sql: SqlFacet | None = None
    extra: dict[str, str] = Field(default_factory=dict)


class SchemaField(_Model):
    """One column of a dataset schema (OpenLineage ``schema`` facet field).

    ``tags`` are classification tags such as ``PII`` or ``PII.email`` (OpenLineage ``tags``
    facet keys); they propagate downstream along column lineage unless a transformation
    masks the value.
    """

    name: str
    type: str | None = None
    description: str | None = None
    tags: list[str] = Field(default_factory=list)


class Transformation(_Model):
    """How an input column flows into an output column (OpenLineage columnLineage 1-2-0).

    ``type`` is ``DIRECT`` (the value flows through) or ``INDIRECT`` (the column influences
    the output, e.g. a join, filter or group key); ``subtype`` is e.g. ``IDENTITY``,
    ``TRANSFORMATION``, ``AGGREGATION``, ``JOIN``, ``FILTER``, ``GROUP_BY``, ``SORT``.
    ``masking`` is true when the transformation hides the original value (a hash, a count).
    """

    type: str
    subtype: str | None = None
    description: str | None = None
    masking: bool = False


class InputField(_Model):
    """An input column that an output column is derived from."""

    namespace: str
    name: str
    field: str
    transformations: list[Transformation] = Field(default_factory=list)


class ColumnLineageField(_Model):
    """One output column and the input columns it is derived from."""

    field: str
    inputFields: list[InputField] = Field(default_factory=list)


class ColumnStats(_Model):
    """Statistics of one column; numbers are ``None`` where they do not apply."""

    name: str
    nullCount: int | None = None
    distinctCount: int | None = None
    min: float | None = None
    max: float | None = None
    mean: float | None = None


class Statistics(_Model):
    """Row count, size in bytes and per-column statistics of one dataset version."""

    rowCount: int | None = None
    bytes: int | None = None
    columns: list[ColumnStats] = Field(default_factory=list)


class ContentDigest(_Model):
    """A digest of the dataset's content, e.g. ``sha256`` of the file bytes (lower-case hex)."""

    algorithm: str
    hex: str


class Symlink(_Model):
    """OpenLineage ``symlinks`` facet identifier: another name of the same dataset."""

    namespace: str
    name: str
    type: str = "TABLE"


class DataSource(_Model):
    """OpenLineage ``dataSource`` facet."""

    name: str
    uri: str | None = None


#: ``extra`` key prefixes of a dataset's input and output dataset facets
#: (``inputFacets.<name>``, ``outputFacets.<name>``; OpenLineage's ``inputFacets`` and
#: ``outputFacets`` of a run's dataset).
INPUT_FACETS, OUTPUT_FACETS = "inputFacets.", "outputFacets."
#: The data-quality assertions facet (OpenLineage ``dataQualityAssertions``).
ASSERTIONS_FACET = "dataQualityAssertions"


def run_scoped_facet(name: str) -> bool:
    """Whether the dataset facet with ``extra`` key ``name`` describes one run's read or
    write of the dataset rather than the dataset: the input and output dataset facets and
    ``dataQualityAssertions`` (the graph keeps them on the run, not on the dataset)."""
    return name.startswith((INPUT_FACETS, OUTPUT_FACETS)) or name == ASSERTIONS_FACET


class DatasetFacets(_Model):
    """Typed dataset facets; ``extra`` holds any other facet as facet name -> JSON text.

    The Python attribute ``schema_`` is the ``schema`` facet (``schema`` on the wire).
    """

    schema_: list[SchemaField] | None = Field(default=None, alias="schema")
    columnLineage: list[ColumnLineageField] | None = None
    statistics: Statistics | None = None
    contentDigest: ContentDigest | None = None
    symlinks: list[Symlink] | None = None
    dataSource: DataSource | None = None
    extra: dict[str, str] = Field(default_factory=dict)


class Dataset(_Model):
    """An input or output dataset of a run.

    ``namespace``/``name`` follow the OpenLineage naming spec (e.g. ``file`` +
    ``/abs/path``; ``s3://bucket`` + ``key``). ``version`` is the content digest or the
    engine's version of the dataset at this run; ``kind`` is one of ``table``, ``file``,
    ``model``, ``features``, ``predictions``, ``metrics``.
    """

    namespace: str
    name: str
    kind: str = "table"
    version: str | None = None
    facets: DatasetFacets = Field(default_factory=DatasetFacets)


class Job(_Model):
    """The job (a recurring process) that a run is an instance of."""

    namespace: str
    name: str
    facets: JobFacets = Field(default_factory=JobFacets)


class Run(_Model):
    """One execution of a job."""

    runId: str
    parent: ParentRun | None = None
    facets: RunFacets = Field(default_factory=RunFacets)


def new_event_id() -> str:
    """Return a fresh random event id (UUID4 text)."""
    return str(uuid.uuid4())


class LineageEvent(_Model):
    """One lineage event: a run's state change with its job, inputs and outputs.

    Raises :class:`pydantic.ValidationError` on construction from invalid data; the codec
    wraps that in :class:`lineage_pipeline.errors.EventError`.
    """

    eventId: str = Field(default_factory=new_event_id)
    eventType: EventType
    eventTime: int
    producer: str
    run: Run
    job: Job
    inputs: list[Dataset] = Field(default_factory=list)
    outputs: list[Dataset] = Field(default_factory=list)
    truncated: list[str] = Field(default_factory=list)

    def partition_key(self) -> bytes:
        """Kafka message key: the root parent job, else the parent job, else the job.

        All events of one run hierarchy share a key, so they stay ordered on one partition.
        """
        parent = self.run.parent
        if parent is not None:
            job = parent.root.job if parent.root is not None else parent.job
        else:
            job = JobRef(namespace=self.job.namespace, name=self.job.name)
        return f"{job.namespace}/{job.name}".encode()

    def to_record(self) -> dict[str, Any]:
        """Return the Avro record (plain dicts and lists, wire field names)."""
        return self.model_dump(by_alias=True, mode="python")

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> LineageEvent:
        """Build an event from an Avro record; raises ``pydantic.ValidationError``."""
        return cls.model_validate(record)
