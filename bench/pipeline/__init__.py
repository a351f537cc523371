"""Benchmark: lineage pipeline throughput and freshness, publish -> processor -> sink -> graph.

``python -m bench.pipeline [--quick] [--backend both|neo4j|falkordb] [--events N]
[--partitions P] [--instances I] [--state-events N] [--profile DIR]`` (or ``python -m bench
pipeline --quick ...``) measures the processor's state in process once, then runs once per
graph backend, Neo4j then FalkorDB, and prints them side by side (a table with one column
per backend, and the JSON with one object per backend under ``backends``). Each run starts
its own local stack (Apache Kafka in KRaft mode, the graph server, ``python -m
stream_processor``, ``python -m graph_sink`` as processes, stopped by pid;
:mod:`bench.pipeline.stack`) and a load generator publishing realistic lineage events
(:mod:`bench.pipeline.events`: runs with START and COMPLETE, 2-10 inputs and outputs with
5-15-column schemas, statistics and column lineage; about 10 KB of Avro each; 80 % repeat
runs of known jobs with unchanged schemas, 20 % runs of new jobs), pre-encoded so the
generator costs microseconds per event.

Phases, in one run:

0. processor state, in process and once for all backends (:mod:`bench.pipeline.state`): the
   workload through the processor's real logic (EventProcessor, the Faust run store over a
   dict, a fake clock so that finished runs leave the state): changelog bytes per event,
   graph elements written per repeat run and per new-job run, and the state's steady memory
   growth per million events (``tracemalloc`` slope, bounded caches apart) and retained size;
1. warm-up: one run of every template job through everything (consumer groups joined, code
   paths warm, the template jobs known, so what follows is the 80/20 mix);
2. sustained throughput: N events published as fast as the producer goes; the time from
   the first publish until the processor has read them all and the sink has written every
   graph record the processor published (both counted on their ``/metrics``:
   ``lineage_processor_events_in_total``, ``lineage_processor_mutation_records_total``,
   ``lineage_sink_records_total``). events/s = N / that time;
3. freshness at half that rate: events published on a fixed schedule, each carrying its
   scheduled publish instant as ``eventTime``; the sink observes commit time - eventTime per
   record in ``lineage_event_to_graph_seconds``; p50/p99 come from the histogram delta of
   this phase (linear interpolation inside a bucket, as Prometheus' ``histogram_quantile``);
4. the physical reference (:mod:`bench.pipeline.direct`): the phase-2 events stitched,
   mapped and written straight to an empty graph on the same server by this process (no
   Kafka, no Faust, no Avro), and the ratio pipeline / direct. The processor and sink are
   stopped first. FalkorDB: a new graph key; Neo4j Community (one database): the database
   emptied after the pipeline's figures are read (a second server would start cold and
   cost another JVM; the wipe keeps the reference on the same warm server, as on FalkorDB);
5. memory: peak RSS of the processor, sink, Kafka and graph server (psutil, sampled every
   0.2 s), and the processor's and sink's RSS growth in this run (peak minus RSS after
   warm-up) extrapolated to a million events: indicative only, the run is short (phase 0
   gives the processor's steady growth);
6. whole cost: CPU seconds of Kafka, the graph server, processor and sink (psutil, by pid)
   during phase 2, per thousand events, beside the direct write's (this process plus the
   graph server).

1 versus 2 instances: ``--instances 2`` starts two processors (one Faust app id) and two
sinks (one consumer group), with at least two partitions, and reports the same figures
(counters, CPU and RSS of a role summed over its instances); a run with the default one
instance is the other half of the comparison. The direct-write reference is single-process
in both.

Goals (2-core machine, everything local), per backend: >= 1,500 events/s sustained (the
issue's stretch goal of 3,000 is printed beside it, not judged); p50 <= 200 ms and p99 <= 1 s
at half load; pipeline >= 0.7 of the direct-write rate; from phase 0 (the same for every
backend): processor state growth <= 200 MB per million events, changelog <= 2,048 bytes per
event, <= 20 graph elements written per repeat run. The sink's RSS growth is printed (phase
5) but not judged: a short run cannot show a steady slope. ``goal_met`` is true when every
backend that ran met every goal.
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from pathlib import Path
from typing import Any

from bench.pipeline.report import (
    GOAL_EVENTS_PER_S,
    GOAL_P50_S,
    GOAL_P99_S,
    GOAL_RATIO,
    goals,
    print_table,
    state_headline,
)

FULL: dict[str, int] = {"events": 4_000, "latency_s": 20, "direct_events": 1_500,
                        "state_events": 10_000}
QUICK: dict[str, int] = {"events": 1_500, "latency_s": 8, "direct_events": 600,
                         "state_events": 3_000}


def _processor_state(events: int, template_runs: int, batch: int) -> dict[str, Any]:
    """Phase 0 (:func:`bench.pipeline.state.measure_state`); ``{"error": ...}`` when it
    fails (the backends still run)."""
    from bench.pipeline.state import measure_state

    print(f"[state] {events} events through the processor's logic, in process", flush=True)
    try:
        return measure_state(events, template_runs=template_runs, batch=batch)
    except Exception as exc:
        traceback.print_exc()
        return {"error": f"{type(exc).__name__}: {exc}"}


def run(quick: bool = False, events: int | None = None, partitions: int = 1,
        processor_batch: int = 500, sink_batch: int = 5000, latency_s: float | None = None,
        profile_dir: Path | None = None, backends: tuple[str, ...] | None = None,
        instances: int = 1, state_events: int | None = None) -> dict[str, Any]:
    """Run every phase (see the module docstring) on each backend; return the figures, one
    object per backend under ``backends`` (``{"error": ...}`` for one that failed), with
    ``goal_met``; the in-process state figures under ``processor_state`` (their headline
    copied into each backend's figures as ``state_*``). ``partitions`` is raised to
    ``instances`` when lower; ``state_events`` 0 skips phase 0."""
    from bench.graphs import BACKENDS
    from bench.pipeline.phases import run_backend

    sizes = dict(QUICK if quick else FULL)
    partitions = max(partitions, instances)
    template_runs = 100 if quick else 200
    result: dict[str, Any] = {"mode": "quick" if quick else "full", "partitions": partitions,
                              "instances": instances, "processor_batch": processor_batch,
                              "sink_batch": sink_batch, "broker": "Apache Kafka (KRaft)",
                              "backends": {}}
    n_state = sizes["state_events"] if state_events is None else state_events
    state = (_processor_state(n_state, template_runs, processor_batch) if n_state > 0
             else {"error": "skipped (--state-events 0)"})
    result["processor_state"] = state
    for backend in backends or BACKENDS:
        print(f"[{backend}] starting Kafka + {backend} + sink + processor", flush=True)
        try:
            figures = run_backend(
                backend, sizes, n_events=events or sizes["events"],
                latency_s=latency_s or sizes["latency_s"], partitions=partitions,
                processor_batch=processor_batch, sink_batch=sink_batch,
                profile_dir=profile_dir, template_runs=template_runs, instances=instances)
        except Exception as exc:
            traceback.print_exc()
            result["backends"][backend] = {"error": f"{type(exc).__name__}: {exc}",
                                           "goal_met": False}
            continue
        figures.update(state_headline(state))
        figures["goals"] = goals(figures)
        figures["goal_met"] = all(figures["goals"].values())
        result["backends"][backend] = figures
    result["goal_met"] = bool(result["backends"]) and all(
        r["goal_met"] for r in result["backends"].values())
    return result


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.pipeline", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="small run (about 2 minutes per backend)")
    parser.add_argument("--backend", default="both",
                        help="both (default), neo4j, falkordb, or a comma list")
    parser.add_argument("--events", type=int, help="events in the throughput phase")
    parser.add_argument("--partitions", type=int, default=1)
    parser.add_argument("--instances", type=int, default=1, choices=(1, 2),
                        help="processor and sink instances (2: partitions at least 2)")
    parser.add_argument("--state-events", type=int, metavar="N",
                        help="events of the in-process state measurement (0 skips it)")
    parser.add_argument("--processor-batch", type=int, default=500)
    parser.add_argument("--sink-batch", type=int, default=5000)
    parser.add_argument("--latency-seconds", type=float)
    parser.add_argument("--profile", type=Path, metavar="DIR",
                        help="py-spy the processor and sink during the throughput phase "
                             "(raw collapsed stacks in DIR/<backend>; needs py-spy installed)")
    return parser


def run_kwargs(argv: list[str]) -> dict[str, Any]:
    """Parse command-line flags into keyword arguments of :func:`run` (``python -m bench
    pipeline --quick`` uses this)."""
    from bench.graphs import parse_backends

    args = _parser().parse_args(argv)
    return {"quick": args.quick, "events": args.events, "partitions": args.partitions,
            "processor_batch": args.processor_batch, "sink_batch": args.sink_batch,
            "latency_s": args.latency_seconds, "profile_dir": args.profile,
            "backends": parse_backends(args.backend), "instances": args.instances,
            "state_events": args.state_events}


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; exit status 0 when every goal is met on every backend, else 1."""
    result = run(**run_kwargs(sys.argv[1:] if argv is None else argv))
    print_table(result)
    print(json.dumps(result, indent=2, default=str))
    return 0 if result["goal_met"] else 1


__all__ = ["GOAL_EVENTS_PER_S", "GOAL_P50_S", "GOAL_P99_S", "GOAL_RATIO", "main", "print_table",
           "run", "run_kwargs"]
