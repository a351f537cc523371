"""Benchmark: lineage pipeline throughput and freshness, publish -> processor -> sink -> graph.

``python -m bench.pipeline [--quick] [--backend both|neo4j|falkordb] [--events N]
[--partitions P] [--profile DIR]`` (or ``python -m bench pipeline --quick ...``) runs once
per graph backend, Neo4j then FalkorDB, and prints them side by side (a table with one
column per backend, and the JSON with one object per backend under ``backends``). Each run
starts its own local stack (Apache Kafka in KRaft mode, the graph server, ``python -m
stream_processor``, ``python -m graph_sink`` as processes, stopped by pid;
:mod:`bench.pipeline.stack`) and a load generator publishing
realistic lineage events (:mod:`bench.pipeline.events`: runs with START and COMPLETE, 2-10
inputs and outputs with 5-15-column schemas, statistics and column lineage; about 10 KB of
Avro each), pre-encoded so the generator costs microseconds per event.

Phases, in one run:

1. warm-up: 100 events through everything (consumer groups joined, code paths warm);
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
   0.2 s), the processor's RSS growth per million events, and its table sizes per million
   deduped events estimated from the same run states;
6. whole cost: CPU seconds of Kafka, the graph server, processor and sink (psutil, by pid)
   during phase 2, per thousand events, beside the direct write's (this process plus the
   graph server).

Goals (2-core machine, everything local), per backend: >= 10,000 events/s sustained;
p50 <= 200 ms and p99 <= 1 s at half load; pipeline >= half the direct-write rate.
``goal_met`` is true when every backend that ran met every goal.
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
)

FULL: dict[str, int] = {"events": 4_000, "latency_s": 20, "direct_events": 1_500}
QUICK: dict[str, int] = {"events": 1_500, "latency_s": 8, "direct_events": 600}


def run(quick: bool = False, events: int | None = None, partitions: int = 1,
        processor_batch: int = 500, sink_batch: int = 5000, latency_s: float | None = None,
        profile_dir: Path | None = None, backends: tuple[str, ...] | None = None,
        ) -> dict[str, Any]:
    """Run every phase (see the module docstring) on each backend; return the figures, one
    object per backend under ``backends`` (``{"error": ...}`` for one that failed), with
    ``goal_met``."""
    from bench.graphs import BACKENDS
    from bench.pipeline.phases import run_backend

    sizes = dict(QUICK if quick else FULL)
    result: dict[str, Any] = {"mode": "quick" if quick else "full", "partitions": partitions,
                              "processor_batch": processor_batch, "sink_batch": sink_batch,
                              "broker": "Apache Kafka (KRaft)", "backends": {}}
    for backend in backends or BACKENDS:
        print(f"[{backend}] starting Kafka + {backend} + sink + processor", flush=True)
        try:
            figures = run_backend(
                backend, sizes, n_events=events or sizes["events"],
                latency_s=latency_s or sizes["latency_s"], partitions=partitions,
                processor_batch=processor_batch, sink_batch=sink_batch,
                profile_dir=profile_dir, template_runs=100 if quick else 200)
        except Exception as exc:
            traceback.print_exc()
            result["backends"][backend] = {"error": f"{type(exc).__name__}: {exc}",
                                           "goal_met": False}
            continue
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
            "backends": parse_backends(args.backend)}


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; exit status 0 when every goal is met on every backend, else 1."""
    result = run(**run_kwargs(sys.argv[1:] if argv is None else argv))
    print_table(result)
    print(json.dumps(result, indent=2, default=str))
    return 0 if result["goal_met"] else 1


__all__ = ["GOAL_EVENTS_PER_S", "GOAL_P50_S", "GOAL_P99_S", "GOAL_RATIO", "main", "print_table",
           "run", "run_kwargs"]
