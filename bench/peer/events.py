"""Generated OpenLineage RunEvents for the peer benchmark, deterministic by seed.

A workload is ``runs`` runs, each a START and a COMPLETE event (the COMPLETE ``overlap`` runs
later, as runs overlap on a scheduler). 80 % of the runs (``repeat``) repeat a known job with
its datasets and schemas unchanged; the other 20 % are, half and half, a new job (reading
known tables, writing new ones) or a known job whose output schema changed (a column added).
Every run reads 2-10 datasets and writes 2-10, each with 5-15 typed columns; the COMPLETE
event carries the ``columnLineage`` facet of every output (each output column from 1-3 input
columns, fixed per job) and output statistics (row count and bytes, new each run).

The events are built as :class:`lineage_pipeline.events.LineageEvent` and converted with
:func:`lineage_pipeline.openlineage.to_openlineage_dict`, which builds them with
openlineage-python's typed RunEvent classes (``openlineage.client.event_v2``, whose
validators check run ids, times and required fields) and serializes them with its ``Serde``.
Run ids are UUIDv7 (the spec's recommendation, and required by data-rentgen, which
partitions its tables by the time in the run id); every time lies before the generation.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from dataclasses import dataclass, field

from lineage_pipeline.events import (
    ColumnLineageField,
    Dataset,
    DatasetFacets,
    EventType,
    InputField,
    Job,
    JobFacets,
    JobType,
    LineageEvent,
    NominalTime,
    Run,
    RunFacets,
    SchemaField,
    Statistics,
    Transformation,
)
from lineage_pipeline.openlineage import to_openlineage_dict

_TYPES = ("BIGINT", "DOUBLE", "VARCHAR", "TIMESTAMP", "BOOLEAN", "DATE")
_SUBTYPES = ("IDENTITY", "TRANSFORMATION", "AGGREGATION")
_NAMESPACE = "postgres://warehouse:5432"
#: Milliseconds between two run starts.
SPACING_MS = 1_000

Columns = tuple[tuple[str, str], ...]
#: Output column -> [(input table, input column, transformation subtype)].
ColumnMap = dict[str, list[tuple[str, str, str]]]


@dataclass(frozen=True, slots=True)
class Message:
    """One Kafka message: ``key`` (the run id) and ``value`` (OpenLineage JSON, UTF-8)."""

    key: bytes
    value: bytes


@dataclass(slots=True)
class _JobSpec:
    name: str
    inputs: list[tuple[str, Columns]]
    outputs: list[tuple[str, Columns]]
    lineage: dict[str, ColumnMap] = field(default_factory=dict)


@dataclass
class OpenLineageWorkload:
    """``messages`` in publication order and what they hold: ``runs`` runs, of which
    ``repeat_runs`` repeat a known job unchanged, ``new_jobs`` are new jobs and
    ``schema_changes`` known jobs with a changed output schema."""

    messages: list[Message]
    runs: int
    repeat_runs: int
    new_jobs: int
    schema_changes: int

    def bytes_avg(self) -> int:
        """Mean message size in bytes."""
        return round(sum(len(m.value) for m in self.messages) / max(1, len(self.messages)))


def uuid7(ms: int, rand: int) -> str:
    """A UUIDv7 (RFC 9562) of epoch milliseconds ``ms`` and 74 random bits ``rand``."""
    value = ((ms & (2**48 - 1)) << 80) | (0x7 << 76) | (((rand >> 62) & 0xFFF) << 64)
    value |= (0b10 << 62) | (rand & (2**62 - 1))
    return str(uuid.UUID(int=value))


class _Generator:
    """The job and table catalogue a workload draws its runs from."""

    def __init__(self, seed: int, source_tables: int, prefix: str) -> None:
        self.rng = random.Random(seed)
        self.prefix = prefix
        self.tables: dict[str, Columns] = {}
        for _ in range(source_tables):
            self._new_table("raw")
        self.jobs: list[_JobSpec] = []

    def _columns(self) -> Columns:
        rng = self.rng
        return tuple((f"col_{j}_{rng.choice(('id', 'amount', 'ts', 'name', 'flag'))}",
                      rng.choice(_TYPES)) for j in range(rng.randint(5, 15)))

    def _new_table(self, layer: str) -> tuple[str, Columns]:
        name = f"{self.prefix}{layer}.schema_{len(self.tables) % 20}.table_{len(self.tables)}"
        self.tables[name] = self._columns()
        return name, self.tables[name]

    def _lineage(self, job: _JobSpec, out: str, columns: Columns) -> None:
        rng = self.rng
        job.lineage[out] = {
            col: [(src, rng.choice(src_cols)[0], rng.choice(_SUBTYPES))
                  for src, src_cols in rng.sample(job.inputs, min(len(job.inputs),
                                                                  rng.randint(1, 3)))]
            for col, _ in columns}

    def new_job(self) -> _JobSpec:
        """A job reading 2-10 known tables and writing 2-10 new ones."""
        rng = self.rng
        names = rng.sample(sorted(self.tables), rng.randint(2, 10))
        job = _JobSpec(f"{self.prefix}etl.domain_{len(self.jobs) % 12}.job_{len(self.jobs)}",
                       [(n, self.tables[n]) for n in names],
                       [self._new_table("curated") for _ in range(rng.randint(2, 10))])
        for out, columns in job.outputs:
            self._lineage(job, out, columns)
        self.jobs.append(job)
        return job

    def change_schema(self) -> _JobSpec:
        """A known job one of whose outputs gained a column (kept for its later runs)."""
        job = self.rng.choice(self.jobs)
        i = self.rng.randrange(len(job.outputs))
        name, columns = job.outputs[i]
        grown = (*columns, (f"col_{len(columns)}_added", self.rng.choice(_TYPES)))
        job.outputs[i] = (name, grown)
        self.tables[name] = grown
        self._lineage(job, name, grown)
        return job


def _dataset(name: str, columns: Columns, lineage: ColumnMap | None,
             stats: Statistics | None) -> Dataset:
    facets = DatasetFacets(schema=[SchemaField(name=c, type=t) for c, t in columns],
                           statistics=stats)
    if lineage is not None:
        facets.columnLineage = [
            ColumnLineageField(field=col, inputFields=[
                InputField(namespace=_NAMESPACE, name=src, field=src_col,
                           transformations=[Transformation(type="DIRECT", subtype=sub)])
                for src, src_col, sub in refs])
            for col, refs in lineage.items()]
    return Dataset(namespace=_NAMESPACE, name=name, kind="table", facets=facets)


def _run_events(gen: _Generator, job: _JobSpec, start_ms: int,
                end_ms: int) -> tuple[LineageEvent, LineageEvent]:
    """The START and COMPLETE events of one run of ``job``."""
    rng = gen.rng
    run_id = uuid7(start_ms, rng.getrandbits(74))
    job_model = Job(namespace="bench", name=job.name, facets=JobFacets(
        jobType=JobType(processingType="BATCH", integration="PYTHON", jobType="JOB")))
    run_facets = RunFacets(nominalTime=NominalTime(nominalStartTime=start_ms),
                           parameters={"mode": "incremental"})
    inputs = [_dataset(n, c, None, None) for n, c in job.inputs]

    def event(kind: EventType, at: int, outputs: list[Dataset]) -> LineageEvent:
        return LineageEvent(
            eventId=str(uuid.UUID(int=rng.getrandbits(128), version=4)), eventType=kind,
            eventTime=at, producer="https://example.com/bench/peer",
            run=Run(runId=run_id, facets=run_facets), job=job_model, inputs=inputs,
            outputs=outputs)

    start = event(EventType.START, start_ms, [_dataset(n, c, None, None)
                                              for n, c in job.outputs])
    done = event(EventType.COMPLETE, end_ms, [
        _dataset(n, c, job.lineage[n], Statistics(rowCount=rng.randint(1_000, 10**7),
                                                  bytes=rng.randint(10**5, 10**10)))
        for n, c in job.outputs])
    return start, done


def _message(event: LineageEvent) -> Message:
    body = json.dumps(to_openlineage_dict(event), separators=(",", ":"))
    return Message(event.run.runId.encode(), body.encode())


def make_workload(runs: int, *, seed: int = 16, overlap: int = 10, source_tables: int = 300,
                  prefix: str = "", now_ms: int | None = None) -> OpenLineageWorkload:
    """Return ``2 * runs`` OpenLineage messages (see the module docstring).

    Run starts are :data:`SPACING_MS` apart and end before ``now_ms`` (epoch ms, by default
    the current time); given ``now_ms`` the workload is a function of ``seed`` alone.
    ``prefix`` goes before every job and table name (a warm-up workload of its own).
    """
    gen = _Generator(seed, source_tables, prefix)
    base = (now_ms if now_ms is not None else int(time.time() * 1000)) - (
        runs + overlap + 1) * SPACING_MS
    counts = {"repeat": 0, "new_job": 0, "new_schema": 0}
    starts: list[Message] = []
    completes: list[Message] = []
    for r in range(runs):
        draw = gen.rng.random()
        if gen.jobs and draw < 0.8:
            kind, job = "repeat", gen.rng.choice(gen.jobs)
        elif len(gen.jobs) < 2 or draw < 0.9:
            kind, job = "new_job", gen.new_job()
        else:
            kind, job = "new_schema", gen.change_schema()
        counts[kind] += 1
        start_ms = base + r * SPACING_MS
        start, done = _run_events(gen, job, start_ms, start_ms + overlap * SPACING_MS - 1)
        starts.append(_message(start))
        completes.append(_message(done))
    ordered: list[Message] = []
    for r in range(runs + overlap):
        if r < runs:
            ordered.append(starts[r])
        if r >= overlap:
            ordered.append(completes[r - overlap])
    return OpenLineageWorkload(ordered, runs, counts["repeat"], counts["new_job"],
                               counts["new_schema"])
