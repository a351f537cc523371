"""The processor's state and graph output per event, measured in process on its real logic.

:func:`measure_state` feeds ``events`` encoded workload events (:class:`Workload`: 80 % repeat
runs of known jobs, 20 % runs of new jobs) through an
:class:`~stream_processor.processor.EventProcessor` built as the service builds it, minus Kafka
and Faust: runs (with the ids of each run's latest events: the dedupe state) in a
:class:`~stream_processor.table_stores.FaustRunStore` and versions in a
:class:`~stream_processor.table_stores.FaustVersionStore`, each over a dict standing in for the
Faust table (:class:`~bench.pipeline.tables.ChangelogTable`, which also counts what the table
would write to its changelog). A fake clock advances ``step_ms`` per event (10 ms: 100
events/s) and ``finished_grace_s`` is short (5 s instead of the service's hour), so finished
runs really become departed summaries during the measurement; the summaries' memory is the
service's default (7 days), so within a million events nothing else is forgotten, as in the
service. The processor drains every ``batch`` messages, like
the agent's full batches.

Figures:

- changelog bytes per event: key and value bytes of every table write, serialized as Faust
  serializes them (``json`` codec for keys and values; a deletion counts its key), per
  table, divided by the events. Kafka's own framing of each record (about 10-20 bytes in a
  batch) is not counted;
- graph elements (node and relationship upserts, :func:`expand` of each graph record the
  processor publishes) per run, summed over the run's records: for repeat runs of known
  jobs (the first run of each template job excluded) and for runs of new jobs, with the
  per-label split of the repeat runs (what a repeat run writes);
- memory (:mod:`bench.pipeline.heap`): ``tracemalloc`` traced bytes (everything the
  processor allocates and keeps: the tables, the decoded-state cache,
  :class:`~stream_processor.published.Published`, the codecs' caches) after a full
  collection, sampled once per sweep period of the processor (the finished-run sweep runs
  every ``min(60 s, finished_grace_s)``: the state is a saw-tooth of that period, so every
  sample is taken at the same point of it, just before a sweep). The retained size is the
  traced bytes at the end. The growth per million events is the least-squares slope of the
  traced bytes less the bounded caches -- :class:`Published` (100,000 entries, sized
  entry by entry) and the stitcher's and mapper's lru caches (pure: each sample weighs them
  by clearing them) -- over the samples of the second half of the run, once the state is
  steady (full states leave after the grace window, the decoded-state cache is full), times
  a million. The bounded caches are reported apart, now and at their bounds. The shallow
  sizes of the table entries (``sys.getsizeof`` of key, value and its items) show what the
  growth is made of. ``tracemalloc`` and the cache weighing slow the processor about
  fourfold.
"""

from __future__ import annotations

import gc
import time
import tracemalloc
from collections import Counter, deque
from typing import Any

from bench.pipeline.events import Item, Workload, encode
from bench.pipeline.heap import Memory, entries, growth, lru_caches
from bench.pipeline.tables import ChangelogTable
from lineage_pipeline.events import EventType
from lineage_pipeline.graph_record import GraphRecordCodec
from lineage_pipeline.settings import ProcessorSettings
from stream_processor.dlq import SourceMessage
from stream_processor.processor import SWEEP_EVERY_MS, EventProcessor
from stream_processor.published import Published
from stream_processor.table_stores import FaustRunStore, FaustVersionStore

_EVENTS_TOPIC = "bench.events"
_GRAPH_TOPIC = "bench.graph"
_START_S = 1_780_000_000  # the fake clock's start, epoch seconds (2026)


class _Clock:
    """The fake processor clock: seconds, moved on by the feeding loop."""

    def __init__(self) -> None:
        self.now = float(_START_S)

    def __call__(self) -> float:
        return self.now


class _Runs:
    """Graph elements per run, by kind of run (``repeat``, ``new`` job, ``first`` run of a
    template job), and the per-label split of the repeat runs. A run's count is closed at
    the drain after its COMPLETE event (:meth:`close`), so the bookkeeping holds only the
    runs in flight (it is traced memory too, and must not grow)."""

    def __init__(self) -> None:
        self.kind: dict[str, str] = {}
        self.elements: Counter[str] = Counter()
        self.done: list[str] = []
        self.jobs: set[str] = set()  # template jobs seen (new jobs never come back)
        self.runs: Counter[str] = Counter()
        self.totals: Counter[str] = Counter()
        self.labels: Counter[str] = Counter()
        self.codec = GraphRecordCodec()
        self.record_bytes = 0

    def handled(self, item: Item) -> None:
        """Note ``item`` as handled: classify its run at its first event, close it after
        its COMPLETE."""
        run_id, job = item.event.run.runId, item.event.job.name
        if run_id not in self.kind:
            self.kind[run_id] = ("new" if item.new_job else
                                 "repeat" if job in self.jobs else "first")
            if not item.new_job:
                self.jobs.add(job)
        if item.event.eventType == EventType.COMPLETE:
            self.done.append(run_id)

    def record(self, run_id: str, value: bytes) -> None:
        """Count the elements of one graph record of ``run_id``."""
        m = self.codec.decode(value)
        self.record_bytes += len(value)
        self.elements[run_id] += len(m.nodes) + len(m.relationships)
        if self.kind.get(run_id) == "repeat":
            self.labels.update(n.label.value for n in m.nodes)
            self.labels.update(r.type.value for r in m.relationships)

    def close(self) -> None:
        """Add the runs completed and drained to the totals; forget them."""
        for run_id in self.done:
            kind = self.kind.pop(run_id)
            self.runs[kind] += 1
            self.totals[kind] += self.elements.pop(run_id, 0)
        self.done = []

    def per_run(self, kind: str) -> float | None:
        """Mean elements per closed run of ``kind``."""
        runs = self.runs[kind]
        return round(self.totals[kind] / runs, 1) if runs else None


def _processor(clock: _Clock, grace_s: float) -> tuple[EventProcessor, dict[str, Any]]:
    """The processor over counting stores; its stores by name."""
    defaults = ProcessorSettings()
    stores: dict[str, Any] = {"runs": ChangelogTable(), "versions": ChangelogTable()}
    processor = EventProcessor(
        graph_topic=_GRAPH_TOPIC, dlq_topic="bench.dlq", runs=FaustRunStore(stores["runs"]),
        versions=FaustVersionStore(stores["versions"]),
        published=Published(clock=clock), clock=clock, finished_grace_s=grace_s,
        departed_memory_s=defaults.departed_memory_s)
    return processor, stores


def _feed(processor: EventProcessor, items: deque[Item], clock: _Clock, runs: _Runs,
          memory: Memory, *, step_ms: int, batch: int, sample_every: int) -> int:
    """Handle every item (popped from ``items``: a handled event is freed), draining every
    ``batch`` messages; return the DLQ records."""
    dlq = done = 0
    next_sample = sample_every
    while items:
        chunk = [items.popleft() for _ in range(min(batch, len(items)))]
        times = [_START_S * 1000 + (done + j) * step_ms for j in range(len(chunk))]
        for j, (item, enc) in enumerate(zip(chunk, encode(chunk, times), strict=True)):
            clock.now = times[j] / 1000
            processor.handle(SourceMessage(_EVENTS_TOPIC, 0, done + j, enc.key, enc.value,
                                           times[j]))
            runs.handled(item)
        for rec in processor.drain():
            if rec.topic == _GRAPH_TOPIC:
                runs.record((rec.key or b"").decode(), rec.value)
            else:
                dlq += 1
        runs.close()
        done += len(chunk)
        if done >= next_sample or not items:
            memory.sample(done, processor.published)
            next_sample += sample_every
    return dlq


def measure_state(events: int = 10_000, *, template_runs: int = 200, seed: int = 7,
                  step_ms: int = 10, finished_grace_s: float = 5.0,
                  batch: int = 500) -> dict[str, Any]:
    """Feed ``events`` workload events through the processor's logic (see the module
    docstring); return the figures."""
    period = round(min(SWEEP_EVERY_MS / 1000, finished_grace_s) * 1000 / step_ms)
    workload = Workload(template_runs, seed=seed)
    items = deque(workload.items(events // 2))
    clock, runs, memory = _Clock(), _Runs(), Memory(caches=lru_caches())
    gc.collect()
    tracemalloc.start()
    try:
        memory.base = tracemalloc.get_traced_memory()[0]
        processor, stores = _processor(clock, finished_grace_s)
        started = time.perf_counter()
        dlq = _feed(processor, items, clock, runs, memory, step_ms=step_ms, batch=batch,
                    sample_every=period)
        seconds = time.perf_counter() - started
    finally:
        tracemalloc.stop()
    n = memory.samples[-1].events
    figures: dict[str, Any] = {
        "events": n, "events_per_s_traced": round(n / seconds), "dlq_records": dlq,
        "clock_ms_per_event": step_ms, "finished_grace_s": finished_grace_s,
        "drain_every": batch,
    }
    figures.update(_changelog(stores, n))
    figures.update(_elements(runs, n))
    figures.update(growth(memory, processor.published.max_entries, steady_from=period * 3))
    figures.update(entries(stores))
    return figures


def _changelog(stores: dict[str, Any], events: int) -> dict[str, Any]:
    """Changelog bytes per event, total and per table, and records per event."""
    per = {name: store.bytes / events for name, store in stores.items()}
    return {
        "changelog_bytes_per_event": round(sum(per.values())),
        "changelog_bytes_per_event_by_table": {k: round(v) for k, v in per.items()},
        "changelog_records_per_event": round(
            sum(store.records for store in stores.values()) / events, 2),
    }


def _elements(runs: _Runs, events: int) -> dict[str, Any]:
    """Graph elements per run by kind, the repeat runs' split, graph-topic bytes."""
    repeat = runs.runs["repeat"]
    return {
        "elements_per_repeat_run": runs.per_run("repeat"),
        "elements_per_new_job_run": runs.per_run("new"),
        "elements_per_first_run": runs.per_run("first"),
        "runs_by_kind": dict(runs.runs),
        "repeat_run_elements_by_label": {
            k: round(v / repeat, 2) for k, v in runs.labels.most_common()} if repeat else {},
        "graph_record_bytes_per_event": round(runs.record_bytes / events),
    }
