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
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass

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
    job_names = [f"etl.domain_{j % 12}.job_{j}" for j in range(jobs)]
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
                                    branch="main", entryPoint=f"{job_name}.py"),
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
    the Avro bytes of its template, with sentinel eventId, runId and eventTime."""

    event: LineageEvent
    template: bytes
    key: bytes


class Workload:
    """Many runs made cheaply from ``template_runs`` fully built template runs.

    Building, validating and encoding a 10 KB event costs milliseconds; a copy with a fresh
    runId and eventIds (the datasets shared with the template) costs microseconds, and still
    makes new Run and DatasetVersion nodes in the graph (output versions are
    ``run:<runId>``). The copy's Avro bytes are the template's with the three fixed-size
    fields (two 36-character UUID strings and a 6-byte varint time) replaced in place;
    :meth:`check` decodes a few to prove it.
    """

    def __init__(self, template_runs: int = 200, seed: int = 7,
                 codec: EventCodec | None = None) -> None:
        self.codec = codec or EventCodec()
        events = make_events(template_runs, seed=seed, overlap=0)
        self.pairs = [(events[2 * i], events[2 * i + 1]) for i in range(template_runs)]
        self.encoded: dict[int, bytes] = {}
        for e in events:
            tpl = e.model_copy(update={"eventId": _EVENT_ID, "eventTime": _TIME,
                                       "run": e.run.model_copy(update={"runId": _RUN_ID})})
            data = self.codec.encode(tpl)
            for sentinel in (_EVENT_ID.encode(), _RUN_ID.encode(), _varint(_TIME)):
                assert data.count(sentinel) == 1, "sentinel not unique in the template"
            self.encoded[id(e)] = data
        self.rng = random.Random(seed + 1)

    def _new_id(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def items(self, runs: int, overlap: int = 50) -> list[Item]:
        """``2 * runs`` items (START, and ``overlap`` runs later COMPLETE, of each run) with
        fresh runIds and eventIds, ``eventTime`` 0 until :func:`encode`."""
        starts: list[Item] = []
        completes: list[Item] = []
        for r in range(runs):
            run_id = self._new_id()
            for tpl, out in zip(self.pairs[r % len(self.pairs)], (starts, completes),
                                strict=True):
                event = tpl.model_copy(update={
                    "eventId": self._new_id(),
                    "run": tpl.run.model_copy(update={"runId": run_id}),
                })
                out.append(Item(event, self.encoded[id(tpl)], tpl.partition_key()))
        ordered: list[Item] = []
        for r in range(runs + overlap):
            if r < runs:
                ordered.append(starts[r])
            if r >= overlap:
                ordered.append(completes[r - overlap])
        return ordered

    def check(self, items: list[Item], encoded: list[Encoded], sample: int = 5) -> None:
        """Decode ``sample`` encoded items and assert they equal their models."""
        step = max(1, len(items) // sample)
        for i in range(0, len(items), step):
            decoded = self.codec.decode(encoded[i].value)
            assert decoded == items[i].event, f"item {i} does not round-trip"


def encode(items: list[Item], times_ms: list[int]) -> list[Encoded]:
    """Set each item's ``eventTime`` (epoch ms, from ``times_ms``) and return its Avro bytes
    (the template's, with the event's ids and time in place of the sentinels)."""
    eid, rid, tsent = _EVENT_ID.encode(), _RUN_ID.encode(), _varint(_TIME)
    out = []
    for item, t in zip(items, times_ms, strict=True):
        item.event.eventTime = t
        tb = _varint(t)
        if len(tb) != len(tsent):
            raise ValueError(f"eventTime {t} is outside the patchable range")
        value = (item.template.replace(eid, item.event.eventId.encode())
                 .replace(rid, item.event.run.runId.encode()).replace(tsent, tb))
        out.append(Encoded(item.key, value))
    return out
