"""The physical reference: the pipeline's graph mutations written straight to the graph.

One process, no Kafka, no Faust, no Avro: each event is stitched into its run's state
(:func:`stream_processor.stitch.merge_event`, versions resolved from an in-memory
:class:`~stream_processor.state.MemoryVersionStore`) and mapped
(:func:`stream_processor.mapping.event_to_mutations`, with a
:class:`~stream_processor.published.Published` of what was written); like the processor, a
batch maps each run once (its latest state), and the batch goes to the graph with
:class:`graph_sink.writer.GraphWriter` (one round trip). What is left is the irreducible work
of the pipeline: stitching, mapping and the graph's own write time.

(The processor's state is measured on its real logic by :mod:`bench.pipeline.state`.)
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from graph_sink.writer import GraphWriter
from lineage_pipeline.events import LineageEvent
from lineage_pipeline.graph import open_backend
from lineage_pipeline.settings import GraphSettings
from stream_processor.mapping import event_to_mutations
from stream_processor.published import Published
from stream_processor.state import MemoryVersionStore
from stream_processor.stitch import RunState, merge_event
from stream_processor.versions import output_version


@dataclass
class DirectResult:
    """Events written, total wall seconds, the split (stitch+map vs graph write), statements
    and mutations (node + relationship upserts) sent."""

    events: int
    seconds: float
    map_seconds: float
    write_seconds: float
    mutations: int
    statements: int

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
        return DirectResult(len(events), seconds, map_s, write_s, mutations, statements)
    finally:
        backend.close()

