"""The physical reference: the pipeline's graph mutations written straight to the graph.

One process, no Kafka, no Faust, no Avro: each event is stitched into its run's state
(:func:`stream_processor.stitch.merge_event`, versions resolved from an in-memory
:class:`~stream_processor.state.MemoryVersionStore`) and mapped
(:func:`stream_processor.mapping.event_to_mutations`, with a
:class:`~stream_processor.published.Published` of what was written); like the processor, a
batch maps each run once (its latest state), and the batch goes to the graph with
:class:`graph_sink.writer.GraphWriter` (one round trip). What is left is the irreducible work
of the pipeline: stitching, mapping and the graph's own write time.

:func:`state_size` estimates the processor's table sizes from the same states: the Faust
tables hold JSON values (runs: :meth:`StoredRun.to_json`; dedupe: event id -> 1; versions:
dataset uid -> ``{"version", "t"}``), measured as changelog bytes (JSON text) and as Python
heap (``tracemalloc`` while rebuilding them from that text).
"""

from __future__ import annotations

import json
import time
import tracemalloc
from dataclasses import dataclass, field
from typing import Any

from graph_sink.writer import GraphWriter
from lineage_pipeline.events import LineageEvent
from lineage_pipeline.graph import open_backend
from lineage_pipeline.settings import GraphSettings
from stream_processor.mapping import event_to_mutations, output_version
from stream_processor.published import Published
from stream_processor.state import MemoryVersionStore, StoredRun
from stream_processor.stitch import RunState, merge_event


@dataclass
class DirectResult:
    """Events written, total wall seconds, the split (stitch+map vs graph write), statements
    and mutations (node + relationship upserts) sent, and the final run states (for
    :func:`state_size`).
    """

    events: int
    seconds: float
    map_seconds: float
    write_seconds: float
    mutations: int
    statements: int
    states: dict[str, RunState] = field(default_factory=dict)
    versions: dict[str, dict[str, Any]] = field(default_factory=dict)
    event_ids: list[str] = field(default_factory=list)

    @property
    def events_per_s(self) -> float:
        """Events per wall second."""
        return self.events / self.seconds if self.seconds else 0.0


def direct_write(events: list[LineageEvent], graph: GraphSettings, *, batch_events: int = 500,
                 sink_batch: int = 5000) -> DirectResult:
    """Stitch, map and write ``events`` to ``graph`` (an empty graph: a fresh FalkorDB key, or
    a wiped Neo4j database) in batches of ``batch_events``; return the timings. Raises
    :class:`~lineage_pipeline.errors.GraphError`."""
    backend = open_backend(graph)
    try:
        backend.ensure_schema()
        writer = GraphWriter(backend, sink_batch)
        states: dict[str, RunState] = {}
        versions = MemoryVersionStore()
        published = Published()
        map_s = write_s = 0.0
        mutations = statements = 0
        started = time.perf_counter()
        for i in range(0, len(events), batch_events):
            t0 = time.perf_counter()
            pending: dict[str, LineageEvent] = {}
            for event in events[i : i + batch_events]:
                run_id = event.run.runId
                state = merge_event(states.get(run_id), event, versions.latest)
                pending[run_id] = event
                states[run_id] = state
                for ds in state.outputs.values():
                    version = output_version(ds, state)
                    if version is not None:
                        when = ds.version.t if ds.version is not None else (
                            state.endTime or ds.firstSeen)
                        versions.record(ds.uid, version, when)
            batch = [event_to_mutations(event, states[run_id], published=published)
                     for run_id, event in pending.items()]  # once per run, as the processor
            t1 = time.perf_counter()
            result = writer.write(batch)
            t2 = time.perf_counter()
            map_s += t1 - t0
            write_s += t2 - t1
            mutations += result.mutations
            statements += result.statements
        seconds = time.perf_counter() - started
        return DirectResult(len(events), seconds, map_s, write_s, mutations, statements,
                            states, versions.data, [e.eventId for e in events])
    finally:
        backend.close()


def state_size(result: DirectResult) -> dict[str, float]:
    """Estimated processor state per million deduped events, MB: ``changelog_mb`` (JSON
    bytes of the three tables) and ``heap_mb`` (Python objects holding them), plus the
    per-table split of the heap figure."""
    now = int(time.time() * 1000)
    tables: dict[str, dict[str, Any]] = {
        "runs": {rid: StoredRun(st, now).to_json() for rid, st in result.states.items()},
        # Faust keys a windowed entry by (key, (window start, window end))
        "dedupe": {json.dumps([eid, [now, now + 1]]): 1 for eid in result.event_ids},
        "versions": dict(result.versions),
    }
    scale = 1e6 / max(1, result.events) / 1e6  # bytes per event -> MB per million events
    out: dict[str, float] = {}
    changelog = heap = 0
    for name, table in tables.items():
        text = json.dumps(table)
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        rebuilt = json.loads(text)
        used = tracemalloc.get_traced_memory()[0] - before
        tracemalloc.stop()
        del rebuilt
        changelog += len(text)
        heap += used
        out[f"{name}_heap_mb"] = round(used * scale, 1)
    out["changelog_mb"] = round(changelog * scale, 1)
    out["heap_mb"] = round(heap * scale, 1)
    return out

