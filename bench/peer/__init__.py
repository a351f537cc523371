"""Benchmark: this project against a peer, data-rentgen, on the same OpenLineage events.

``python -m bench.peer [--quick] [--events N] [--backend neo4j|falkordb|both]
[--only ours|peer]`` (or ``python -m bench peer ...``) generates OpenLineage RunEvents
(:mod:`bench.peer.events`: START and COMPLETE per run, 80 % repeat runs of known jobs with
unchanged schemas, 20 % new jobs or changed schemas, 2-10 inputs and outputs with 5-15
columns, column lineage and output statistics; deterministic by seed) and takes them, one
system after the other, through:

- this project: Kafka ``topics.openlineage`` -> ``python -m stream_processor`` ->
  ``python -m graph_sink`` -> the graph (Neo4j by default; ``--backend``), stored when every
  run is COMPLETE in the graph;
- data-rentgen (a Python OpenLineage consumer from Kafka into PostgreSQL, one process,
  default settings), installed by the bench into ``.venv/peer`` (:mod:`bench.peer.rentgen`),
  with PostgreSQL from Debian in a private cluster (:mod:`bench.peer.postgres`), stored when
  every run is SUCCEEDED in its ``run`` table.

Each side gets its own Apache Kafka broker (KRaft, same starter and heap) and first a
warm-up of 100 runs of other jobs. Figures per side (:mod:`bench.peer.sides`): events/s from
the first publish until stored; CPU seconds per 1,000 events of all its process trees, by
pid with psutil (children included: PostgreSQL's backends; the Kafka broker included on both
sides, and also given without it); peak RSS of them together (and PSS, and per process).
Goals: at least :data:`~bench.peer.report.GOAL_RATE_RATIO` times the peer's events/s and at
most :data:`~bench.peer.report.GOAL_CPU_RATIO` of its CPU per event (Kafka included), on
every backend that ran. Figures are only comparable on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from typing import Any

from bench.peer.report import GOAL_CPU_RATIO, GOAL_RATE_RATIO, goals, print_table, ratios

FULL_EVENTS = 10_000
QUICK_EVENTS = 2_000
WARM_RUNS = 100


def _workloads(events: int, seed: int) -> tuple[Any, Any, int]:
    """The warm-up and measured workloads, and the start of the oldest run (epoch ms)."""
    from bench.peer.events import SPACING_MS, make_workload

    now_ms = int(time.time() * 1000)
    work = make_workload(events // 2, seed=seed, now_ms=now_ms)
    warm = make_workload(WARM_RUNS, seed=seed + 1, prefix="warmup.",
                         now_ms=now_ms - (events // 2 + 20) * SPACING_MS)
    earliest = now_ms - (events // 2 + WARM_RUNS + 40) * SPACING_MS
    return warm, work, earliest


def _side(name: str, call: Any) -> dict[str, Any]:
    print(f"[{name}] starting", flush=True)
    try:
        figures: dict[str, Any] = call()
    except Exception as exc:
        traceback.print_exc()
        return {"error": f"{type(exc).__name__}: {exc}"}
    print(f"[{name}] {figures['events_per_s']} events/s, "
          f"{figures['cpu_s_per_k_events']} CPU s / 1,000 events", flush=True)
    return figures


def run(quick: bool = False, events: int | None = None, backends: tuple[str, ...] = ("neo4j",),
        only: str | None = None, seed: int = 16) -> dict[str, Any]:
    """Measure each backend of this project, then data-rentgen, on the same events; return
    the figures (``peer``, one object per backend under ``backends`` with ``ratios`` and
    ``goals``, ``goal_met``). Units: events/s, CPU seconds per 1,000 events, MiB."""
    from bench.peer.sides import prepare_peer, run_ours, run_peer

    n = events or (QUICK_EVENTS if quick else FULL_EVENTS)
    n += n % 2
    t0 = time.perf_counter()
    warm, work, earliest = _workloads(n, seed)
    timeout_s = max(600.0, n / 5)
    result: dict[str, Any] = {
        "mode": "quick" if quick else "full", "broker": "Apache Kafka (KRaft)",
        "cpu_counts": "every process tree of a side by pid, Kafka broker included",
        "workload": {"events": len(work.messages), "runs": work.runs, "seed": seed,
                     "repeat_share": round(work.repeat_runs / work.runs, 2),
                     "new_jobs": work.new_jobs, "schema_changes": work.schema_changes,
                     "bytes_avg": work.bytes_avg(), "warmup_events": len(warm.messages),
                     "generate_s": round(time.perf_counter() - t0, 1)},
        "backends": {}}
    prepared = None
    if only != "ours":  # install first: a peer that cannot be installed fails at once
        try:
            prepared = prepare_peer()
        except Exception as exc:
            print(f"[data-rentgen] cannot be set up: {exc}", file=sys.stderr, flush=True)
            result["peer"] = {"error": f"{type(exc).__name__}: {exc}"}
    if only != "peer":
        for backend in backends:
            result["backends"][backend] = _side(
                f"ours/{backend}", lambda b=backend: run_ours(b, warm, work, timeout_s))
    if prepared is not None:
        result["peer"] = _side("data-rentgen",
                               lambda: run_peer(prepared, warm, work, earliest, timeout_s))
    peer = result.get("peer", {})
    for figures in result["backends"].values():
        if "error" not in figures and peer and "error" not in peer:
            figures["ratios"] = ratios(figures, peer)
            figures["goals"] = goals(figures["ratios"])
        figures["goal_met"] = all(figures.get("goals", {"none": False}).values())
    result["goal_met"] = bool(result["backends"]) and all(
        f["goal_met"] for f in result["backends"].values())
    return result


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.peer", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_EVENTS:,} events")
    parser.add_argument("--events", type=int, help=f"events measured (default {FULL_EVENTS:,})")
    parser.add_argument("--backend", default="neo4j",
                        help="neo4j (default), falkordb, both, or a comma list")
    parser.add_argument("--only", choices=("ours", "peer"),
                        help="measure one side only (no ratios, no goal verdict)")
    parser.add_argument("--seed", type=int, default=16)
    return parser


def run_kwargs(argv: list[str]) -> dict[str, Any]:
    """Parse command-line flags into keyword arguments of :func:`run` (``python -m bench
    peer --quick`` uses this)."""
    from bench.graphs import parse_backends

    args = _parser().parse_args(argv)
    return {"quick": args.quick, "events": args.events, "only": args.only, "seed": args.seed,
            "backends": parse_backends(args.backend)}


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; exit status 0 when every goal is met on every backend, else 1."""
    result = run(**run_kwargs(sys.argv[1:] if argv is None else argv))
    print_table(result)
    print(json.dumps(result, indent=2, default=str))
    return 0 if result["goal_met"] else 1


__all__ = ["GOAL_CPU_RATIO", "GOAL_RATE_RATIO", "main", "print_table", "run", "run_kwargs"]
