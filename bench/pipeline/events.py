"""Realistic lineage events for the pipeline benchmark, built once and encoded up front.

A workload is ``runs`` runs of ``jobs`` jobs over a pool of ``datasets`` tables. Each run
emits a START event (job facets, inputs and outputs with their schemas) and, ``overlap``
runs later, a COMPLETE event (the same datasets plus output statistics, column lineage,
run metrics): so runs overlap in time as they do on a real scheduler. Every run reads 2-10
datasets and writes 2-10 others, each with 5-15 typed columns; each output column derives
from 1-3 input columns. Deterministic for a given ``seed``.

Event times are assigned later (:func:`encode`), so the same events serve the throughput
phase (any time) and the latency phase (``eventTime`` = the instant the event is scheduled
to be published).

:class:`Workload` copies these template runs: 80 % of its runs are repeat runs of a known
job (a template's job, datasets and schemas unchanged, new runId), 20 % runs of a job never
seen before (the template's datasets and schemas under a new job name), as the issue's
workload asks ("80 % repeat runs of known jobs with unchanged schemas, 20 % new jobs or
schemas").
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from typing import Any

from lineage_pipeline.codec import EventCodec
from lineage_pipeline.events import (
    CodeVersion,
    ColumnLineageField,
    ColumnStats,
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

_TYPES = ("BIGINT", "DOUBLE", "VARCHAR", "TIMESTAMP", "BOOLEAN", "DATE")


@dataclass(frozen=True, slots=True)
class _Table:
    namespace: str
    name: str
    columns: tuple[tuple[str, str], ...]


def _tables(rng: random.Random, count: int) -> list[_Table]:
    out = []
    for i in range(count):
        cols = tuple(
            (f"col_{j}_{rng.choice(('id', 'amount', 'ts', 'name', 'flag', 'score'))}",
             rng.choice(_TYPES))
            for j in range(rng.randint(5, 15))
        )
        out.append(_Table("postgres://warehouse:5432", f"analytics.schema_{i % 20}.table_{i}",
                          cols))
    return out


def _dataset(table: _Table, *, stats: bool, lineage_from: list[_Table] | None,
             rng: random.Random) -> Dataset:
    facets = DatasetFacets(
        schema=[SchemaField(name=c, type=t) for c, t in table.columns],
    )
    if stats:
        facets.statistics = Statistics(
            rowCount=rng.randint(1_000, 10_000_000), bytes=rng.randint(10_000, 10**10),
            columns=[ColumnStats(name=c, nullCount=rng.randint(0, 100),
                                 distinctCount=rng.randint(1, 10_000))
                     for c, _ in table.columns[:5]],
        )
    if lineage_from:
        facets.columnLineage = [
            ColumnLineageField(
                field=c,
                inputFields=[
                    InputField(namespace=src.namespace, name=src.name,
                               field=rng.choice(src.columns)[0],
                               transformations=[Transformation(
                                   type="DIRECT",
                                   subtype=rng.choice(("IDENTITY", "TRANSFORMATION",
                                                       "AGGREGATION")))])
                    for src in rng.sample(lineage_from, min(len(lineage_from),
                                                            rng.randint(1, 3)))
                ],
            )
            for c, _ in table.columns
        ]
    return Dataset(namespace=table.namespace, name=table.name, kind="table", facets=facets)


def make_events(runs: int, *, seed: int = 7, jobs: int = 200, datasets: int = 1000,
                overlap: int = 50) -> list[LineageEvent]:
    """Return ``2 * runs`` events (START and COMPLETE of each run) in publication order.

    ``eventTime`` is 0 until :func:`encode` sets it. Shapes: see the module docstring.
    """
    rng = random.Random(seed)
    tables = _tables(rng, datasets)
    # every job name ends in a fixed-length tag (``job_`` + 8 digits): a copy of the run can
    # swap it for another tag of the same length in the Avro bytes (:class:`Workload`)
    job_names = [f"etl.domain_{j % 12}.job_{j:08d}" for j in range(jobs)]
    starts: list[LineageEvent] = []
    completes: list[LineageEvent] = []
    for r in range(runs):
        job_name = job_names[r % jobs]
        picked = rng.sample(tables, rng.randint(2, 10) + rng.randint(2, 10))
        n_in = rng.randint(2, len(picked) - 2)
        inputs, outputs = picked[:n_in], picked[n_in:][:10]
        run_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        job = Job(namespace="bench", name=job_name, facets=JobFacets(
            jobType=JobType(processingType="BATCH", integration="SPARK", jobType="JOB"),
        ))
        base_facets = RunFacets(
            nominalTime=NominalTime(nominalStartTime=1_700_000_000_000 + r * 60_000),
            codeVersion=CodeVersion(gitSha=f"{rng.getrandbits(160):040x}", dirty=False,
                                    repository="git@example.com:data/etl.git",
                                    branch="main",
                                    entryPoint=f"etl/domain_{r % jobs % 12}/main.py"),
            parameters={"date": "2026-11-21", "mode": "incremental",
                        "partitions": str(rng.randint(1, 64))},
        )
        starts.append(LineageEvent(
            eventId=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            eventType=EventType.START, eventTime=0, producer="bench/pipeline",
            run=Run(runId=run_id, facets=base_facets), job=job,
            inputs=[_dataset(t, stats=False, lineage_from=None, rng=rng) for t in inputs],
            outputs=[_dataset(t, stats=False, lineage_from=None, rng=rng) for t in outputs],
        ))
        done_facets = base_facets.model_copy(update={"metrics": {
            "rows_written": float(rng.randint(1, 10**7)),
            "duration_s": rng.random() * 600}})
        completes.append(LineageEvent(
            eventId=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            eventType=EventType.COMPLETE, eventTime=0, producer="bench/pipeline",
            run=Run(runId=run_id, facets=done_facets), job=job,
            inputs=[_dataset(t, stats=True, lineage_from=None, rng=rng) for t in inputs],
            outputs=[_dataset(t, stats=True, lineage_from=inputs, rng=rng) for t in outputs],
        ))
    ordered: list[LineageEvent] = []
    for r in range(runs + overlap):
        if r < runs:
            ordered.append(starts[r])
        if r >= overlap:
            ordered.append(completes[r - overlap])
    return ordered


@dataclass(frozen=True, slots=True)
class Encoded:
    """One pre-encoded message: Kafka ``key`` and Avro ``value`` (bytes)."""

    key: bytes
    value: bytes


_EVENT_ID = "11111111-1111-4111-8111-111111111111"
_RUN_ID = "22222222-2222-4222-8222-222222222222"
#: The job-name tag of a template (``job_`` and 8 digits in :func:`make_events`' job names).
_JOB_TAG = "JOB-SENTINEL"
_TAG_LEN = len(_JOB_TAG)
_TIME = 1_777_777_777_777  # zigzag varint of 6 bytes, like every epoch ms in 2^34 .. 2^41


def _varint(n: int) -> bytes:
    """Avro's zigzag varint of a long (Avro 1.11 spec, "Binary Encoding")."""
    z = (n << 1) ^ (n >> 63)
    out = bytearray()
    while True:
        byte = z & 0x7F
        z >>= 7
        if z:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


@dataclass(slots=True)
class Item:
    """One event of a workload: the model (for the direct-write reference), its Kafka key and
    the Avro bytes of its template, with sentinel eventId, runId, eventTime and job-name tag;
    ``new_job``: its run is one of a job never seen before (else a repeat of its template's
    job)."""

    event: LineageEvent
    template: bytes
    key: bytes
    new_job: bool = False


def _with_tag(name: str, tag: str) -> str:
    """Job ``name`` with its fixed-length tag (its last ``_TAG_LEN`` characters) replaced."""
    return name[:-_TAG_LEN] + tag


class Workload:
    """Many runs made cheaply from ``template_runs`` fully built template runs.

    Building, validating and encoding a 10 KB event costs milliseconds; a copy with a fresh
    runId and eventIds (the datasets shared with the template) costs microseconds, and still
    makes new Run and DatasetVersion nodes in the graph (output versions are
    ``run:<runId>``). A share ``new_job_share`` (default 20 %, drawn per run, deterministic for
    ``seed``) of the copies are runs of a new job: the job name's tag becomes ``new_`` and a
    zero-padded counter, never used before; the others keep their template's job. Successive
    :meth:`items` calls go on cycling through the templates, so one call of
    ``template_runs`` runs makes every template job known. The copy's Avro bytes are the
    template's with the four fixed-size fields (two 36-character UUID strings, the 12-character
    job-name tag and a 6-byte varint time) replaced in place; :meth:`check` decodes a few to
    prove it.
    """

    def __init__(self, template_runs: int = 200, seed: int = 7,
                 codec: EventCodec | None = None, new_job_share: float = 0.2) -> None:
        self.codec = codec or EventCodec()
        events = make_events(template_runs, seed=seed, overlap=0)
        self.pairs = [(events[2 * i], events[2 * i + 1]) for i in range(template_runs)]
        self.encoded: dict[int, bytes] = {}
        for e in events:
            tpl = e.model_copy(update={
                "eventId": _EVENT_ID, "eventTime": _TIME,
                "run": e.run.model_copy(update={"runId": _RUN_ID}),
                "job": e.job.model_copy(update={"name": _with_tag(e.job.name, _JOB_TAG)})})
            data = self.codec.encode(tpl)
            for sentinel in (_EVENT_ID.encode(), _RUN_ID.encode(), _varint(_TIME),
                             _JOB_TAG.encode()):
                assert data.count(sentinel) == 1, "sentinel not unique in the template"
            self.encoded[id(e)] = data
        self.rng = random.Random(seed + 1)
        self.new_job_share = new_job_share
        self.new_jobs = 0  # new job names handed out so far
        self.cursor = 0  # template runs copied so far

    def _new_id(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def _copy_run(self, new_jobs: bool) -> tuple[Item, Item]:
        """The START and COMPLETE items of one new run of the next template (a run of a new
        job with probability ``new_job_share`` if ``new_jobs``)."""
        pair = self.pairs[self.cursor % len(self.pairs)]
        self.cursor += 1
        run_id = self._new_id()
        tag = None
        if new_jobs and self.rng.random() < self.new_job_share:
            self.new_jobs += 1
            tag = f"new_{self.new_jobs:08d}"
        out = []
        for tpl in pair:
            update: dict[str, Any] = {"eventId": self._new_id(),
                                      "run": tpl.run.model_copy(update={"runId": run_id})}
            if tag is not None:
                update["job"] = tpl.job.model_copy(
                    update={"name": _with_tag(tpl.job.name, tag)})
            event = tpl.model_copy(update=update)
            out.append(Item(event, self.encoded[id(tpl)], event.partition_key(),
                            tag is not None))
        return out[0], out[1]

    def items(self, runs: int, overlap: int = 50, new_jobs: bool = True) -> list[Item]:
        """``2 * runs`` items (START, and ``overlap`` runs later COMPLETE, of each run) with
        fresh runIds and eventIds, ``eventTime`` 0 until :func:`encode`; ``new_jobs=False``:
        only runs of the templates' own jobs (a first pass that makes them all known)."""
        pairs = [self._copy_run(new_jobs) for _ in range(runs)]
        ordered: list[Item] = []
        for r in range(runs + overlap):
            if r < runs:
                ordered.append(pairs[r][0])
            if r >= overlap:
                ordered.append(pairs[r - overlap][1])
        return ordered

    def check(self, items: list[Item], encoded: list[Encoded], sample: int = 5) -> None:
        """Decode ``sample`` encoded items, and the first of a new job if any, and assert
        they equal their models (and their keys their models' partition keys)."""
        step = max(1, len(items) // sample)
        picks = set(range(0, len(items), step))
        first_new = next((i for i, it in enumerate(items) if it.new_job), None)
        if first_new is not None:
            picks.add(first_new)
        for i in sorted(picks):
            decoded = self.codec.decode(encoded[i].value)
            assert decoded == items[i].event, f"item {i} does not round-trip"
            assert encoded[i].key == decoded.partition_key(), f"item {i}: wrong key"


def encode(items: list[Item], times_ms: list[int]) -> list[Encoded]:
    """Set each item's ``eventTime`` (epoch ms, from ``times_ms``) and return its Avro bytes
    (the template's, with the event's ids, job-name tag and time in place of the sentinels)."""
    eid, rid, tsent, jsent = (_EVENT_ID.encode(), _RUN_ID.encode(), _varint(_TIME),
                              _JOB_TAG.encode())
    out = []
    for item, t in zip(items, times_ms, strict=True):
        item.event.eventTime = t
        tb = _varint(t)
        if len(tb) != len(tsent):
            raise ValueError(f"eventTime {t} is outside the patchable range")
        value = (item.template.replace(eid, item.event.eventId.encode())
                 .replace(rid, item.event.run.runId.encode()).replace(tsent, tb)
                 .replace(jsent, item.event.job.name[-_TAG_LEN:].encode()))
        out.append(Encoded(item.key, value))
    return out
