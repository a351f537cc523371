"""Benchmark: lineage query latency on a synthetic graph of about 1,000,000 nodes, on each
graph backend (Neo4j Community and FalkorDB), printed side by side.

The graph is built the way the sink builds it: :class:`graph_sink.writer.GraphWriter` writes
the upserts of finished runs (:func:`graph_sink.testing.run_mutations`: Job, Run, Dataset,
DatasetVersion, Schema, Field nodes; RUN_OF, CONSUMED_BY, GENERATED, VERSION_OF and HAS_FIELD
relationships) into a graph server the benchmark starts itself
(:func:`bench.graphs.start_graph`: Neo4j from the Maven jars, or FalkorDB) and stops by pid;
one backend after the other, so they never share the two cores.

Shape: independent pipelines of ``LAYERS`` jobs; job ``l`` reads the outputs of jobs
``l-1`` and ``l-2`` (layer 0 is a source dataset nobody produces) and writes one dataset;
every job ran ``RUNS`` times, each run writing a new version with ``FIELDS`` columns whose
statistics move from run to run (one schema per dataset). Per pipeline: 13 datasets, 52
versions, 12 jobs, 48 runs, 13 schemas, 39 fields = 177 nodes.

Timed (``time.perf_counter`` around the Python API call, on random roots, the same roots on
every backend), after ``--warmup`` untimed calls of each query (default 200: on a fresh
Neo4j JVM the first hundred upstream calls averaged about twice the later ones, JIT and query
plans settling); ``graph_queries_per_call`` is how many Cypher queries one API call sent:

- ``upstream``: :meth:`LineageGraph.upstream` of a last-layer dataset version, depth 10;
- ``impact``: :meth:`LineageGraph.impact` of one column of a source dataset (all its
  versions, to any depth);
- ``root_cause``: :meth:`LineageGraph.root_cause` of a last-layer job's latest run against
  its default baseline (every input changed, so the walk goes all the way up).

Timing starts once the server does no background persistence work (FalkorDB: no AOF
rewrite running; Neo4j: the JVM idle for a second, see
:meth:`bench.graphs.GraphServer.quiesce`). Also reported per backend: load
time and nodes/s, the CPU seconds of the load (this process and the server, psutil by pid),
the server's RSS after the load, and for FalkorDB the RESP parser in use (redis-py parses
replies in Python unless ``hiredis`` is installed, about 0.5 ms per query here).
Neo4j runs with a ``--neo4j-heap`` MB heap (default 1536; page cache half of it).

Goals, per backend: upstream depth 10 p50 <= 10 ms and p99 <= 50 ms; impact and root cause
p50 <= 50 ms (``goal_met``: every backend that ran met all three).
``python -m bench.query [--runs R | --nodes N] [--samples S] [--backend both|neo4j|falkordb]``
(or ``python -m bench query ...``); default one million runs (20,834 pipelines, about 3.7
million nodes), 200 samples, both backends; ``--nodes 30000`` is a quick check (about 2
minutes for both); ``--nodes 1000000`` the earlier size (about 8.5 minutes for both).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

GOAL_UPSTREAM_P50_MS = 10.0
GOAL_UPSTREAM_P99_MS = 50.0
GOAL_IMPACT_P50_MS = 50.0
GOAL_ROOT_CAUSE_P50_MS = 50.0
LAYERS = 12
RUNS = 4
FIELDS = 3
#: Nodes one pipeline adds (datasets + versions + jobs + runs + fields).
NODES_PER_PIPELINE = (LAYERS + 1) + (LAYERS + 1) * RUNS + LAYERS + LAYERS * RUNS + (
    (LAYERS + 1) * (1 + FIELDS))
RUNS_PER_PIPELINE = LAYERS * RUNS
DAY_MS = 86_400_000
T0 = 1_700_000_000_000


def _version(p: int, layer: int, run: int) -> Any:
    from graph_sink.testing import VersionSpec

    kind = "table" if layer < LAYERS else "model"
    fields = {f"c{i}": {"mean": float(run * (i + 1)), "min": 0.0, "max": float(10 * run + i),
                        "nullCount": 0} for i in range(FIELDS)}
    return VersionSpec("bench", f"p{p}/d{layer}", f"v{run}", kind=kind,
                       digest=f"{p:05d}{layer:02d}{run:02d}" + "0" * 50, row_count=1000 + run,
                       fields=fields)


def pipeline_mutations(p: int) -> Iterator[Any]:
    """The mutations of every run of pipeline ``p``."""
    from graph_sink.testing import run_mutations

    for run in range(1, RUNS + 1):
        for layer in range(1, LAYERS + 1):
            inputs = [_version(p, layer - 1, run)]
            if layer >= 2:
                inputs.append(_version(p, layer - 2, run))
            yield run_mutations(
                ("bench", f"p{p}.job{layer}"), f"p{p}-l{layer}-r{run}",
                time_ms=T0 + run * DAY_MS + layer * 60_000, inputs=inputs,
                outputs=[_version(p, layer, run)], parameters={"alpha": 0.1},
                git_sha="sha1", metrics={"rows": 1000.0 + run},
            )


def load(backend: Any, pipelines: int, chunk: int = 60) -> dict[str, Any]:
    """Write ``pipelines`` pipelines through the sink's writer; return load figures.

    ``chunk`` pipelines make one :meth:`GraphWriter.plan` and one ``write_batch`` call (one
    transaction on Neo4j), exactly the statements :meth:`GraphWriter.write` sends. A thread
    builds and plans the next chunk while the current one is written, so the client's Python
    work overlaps the server's (both backends load the same way).
    """
    import queue
    import threading

    from graph_sink.writer import GraphWriter

    writer = GraphWriter(backend, batch_size=5000)
    planned: queue.Queue[tuple[list[Any], int] | BaseException | None] = queue.Queue(maxsize=2)
    stop = threading.Event()

    def put(item: tuple[list[Any], int] | BaseException | None) -> None:
        while not stop.is_set():
            try:
                planned.put(item, timeout=0.5)
                return
            except queue.Full:
                continue

    def plan_chunks() -> None:
        try:
            for first in range(0, pipelines, chunk):
                batch = [m for p in range(first, min(first + chunk, pipelines))
                         for m in pipeline_mutations(p)]
                put((writer.plan(batch)[0], len(batch)))
            put(None)
        except BaseException as exc:  # handed to the writing thread, which raises it
            put(exc)

    planner = threading.Thread(target=plan_chunks, name="bench-query-planner", daemon=True)
    started = time.perf_counter()
    planner.start()
    records = 0
    try:
        while (item := planned.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            statements, count = item
            backend.write_batch(statements)
            records += count
    finally:
        stop.set()
        planner.join(timeout=10)
    seconds = time.perf_counter() - started
    return {"records": records, "load_s": round(seconds, 1)}


def _percentile(sorted_ms: list[float], q: float) -> float:
    index = min(len(sorted_ms) - 1, round(q * (len(sorted_ms) - 1)))
    return sorted_ms[index]


def _timed(fn: Callable[[Any], Any], roots: list[Any], warmup: int,
           backend: Any) -> dict[str, float]:
    for root in roots[:warmup]:
        fn(root)
    samples = []
    queries = backend.stats.queries
    for root in roots[warmup:]:
        t0 = time.perf_counter()
        fn(root)
        samples.append((time.perf_counter() - t0) * 1000)
    samples.sort()
    return {"p50_ms": round(_percentile(samples, 0.50), 2),
            "p99_ms": round(_percentile(samples, 0.99), 2),
            "mean_ms": round(statistics.fmean(samples), 2), "samples": len(samples),
            "graph_queries_per_call": round((backend.stats.queries - queries) / len(samples), 1)}



def _roots(pipelines: int, n: int, seed: int) -> dict[str, list[str]]:
    """The random roots of each timed query (the same for every backend)."""
    rng = random.Random(seed)

    def pick() -> int:
        return rng.randrange(pipelines)

    return {
        "upstream": [f"bench:p{pick()}/d{LAYERS}@v{rng.randint(1, RUNS)}" for _ in range(n)],
        "impact": [f"bench:p{pick()}/d0#c{rng.randrange(FIELDS)}" for _ in range(n)],
        "root_cause": [f"p{pick()}-l{LAYERS}-r{RUNS}" for _ in range(n)],
    }


def _load_figures(server: Any, backend_: Any, pipelines: int) -> dict[str, Any]:
    """Load ``pipelines`` pipelines through ``backend_`` into ``server``; return the load
    figures (:func:`load`'s, the CPU seconds of this process and the server, the wait for
    background persistence in s, the server's RSS in MB)."""
    import os

    from bench.graphs import CpuMeter, rss_mb

    cpu = CpuMeter({"bench": os.getpid(), "server": server.proc.pid},
                   no_children=("bench",)).start()
    figures = load(backend_, pipelines)
    figures["load_cpu_s"] = cpu.read()
    figures["persistence_wait_s"] = server.quiesce()
    figures["server_rss_mb"] = rss_mb(server.proc.pid)
    return figures


def _query_figures(backend_: Any, roots: dict[str, list[str]], warmup: int) -> dict[str, Any]:
    """Time the three queries on ``roots`` (after ``warmup`` untimed calls each) and record
    the size of one answer of each; closes the graph."""
    from lineage_queries.api import LineageGraph

    graph = LineageGraph(backend_)
    upstream = _timed(lambda r: graph.upstream(r, depth=10), roots["upstream"], warmup,
                      backend_)
    impact = _timed(lambda r: graph.impact(r), roots["impact"], warmup, backend_)
    root_cause = _timed(lambda r: graph.root_cause(r), roots["root_cause"], warmup, backend_)
    sizes = {
        "upstream_nodes": len(graph.upstream(roots["upstream"][0], depth=10)["nodes"]),
        "impact_datasets": graph.impact(roots["impact"][0])["counts"]["datasets"],
        "root_cause_consequences": len(
            graph.root_cause(roots["root_cause"][0])["consequences"]),
    }
    graph.close()
    return {"upstream_depth10": upstream, "impact": impact, "root_cause": root_cause,
            "answer_sizes": sizes}


def run_backend(backend: str, pipelines: int, samples: int, seed: int,
                neo4j_heap_mb: int, warmup: int = 200) -> dict[str, Any]:
    """Start a ``backend`` server, load ``pipelines`` pipelines, time the queries, stop it;
    return that backend's figures and ``goal_met``."""
    from bench.graphs import start_graph
    from graph_sink.testing import counts
    from lineage_pipeline.graph import open_backend

    roots = _roots(pipelines, samples + warmup, seed)
    with tempfile.TemporaryDirectory(prefix=f"bench-query-{backend}-") as tmp:
        t0 = time.perf_counter()
        server = start_graph(backend, Path(tmp), heap_mb=neo4j_heap_mb)
        try:
            figures: dict[str, Any] = {"server_start_s": round(time.perf_counter() - t0, 1)}
            backend_ = open_backend(server.settings(timeout_s=120.0))
            backend_.ensure_schema()
            figures.update(_load_figures(server, backend_, pipelines))
            graph_counts = counts(backend_)
            queries = _query_figures(backend_, roots, warmup)
        finally:
            server.stop()
    total_nodes = sum(graph_counts.get(label, 0) for label in
                      ("Job", "Run", "Dataset", "DatasetVersion", "Field"))
    out: dict[str, Any] = {
        "nodes": total_nodes,
        "relationships": sum(v for k, v in graph_counts.items() if k.isupper()),
        **figures,
        "runs": graph_counts.get("Run", 0),
        "nodes_per_s": round(total_nodes / figures["load_s"]) if figures["load_s"] else None,
        **queries,
    }
    if backend == "falkordb":
        from redis.utils import HIREDIS_AVAILABLE

        out["resp_parser"] = "hiredis" if HIREDIS_AVAILABLE else "python"
    else:
        out["neo4j_heap_mb"] = neo4j_heap_mb
    out["goal_met"] = goals_met(queries)
    return out


def goals_met(queries: dict[str, Any]) -> bool:
    """Whether one backend's query figures meet every goal of the module docstring."""
    upstream = queries["upstream_depth10"]
    return bool(upstream["p50_ms"] <= GOAL_UPSTREAM_P50_MS
            and upstream["p99_ms"] <= GOAL_UPSTREAM_P99_MS
            and queries["impact"]["p50_ms"] <= GOAL_IMPACT_P50_MS
            and queries["root_cause"]["p50_ms"] <= GOAL_ROOT_CAUSE_P50_MS)


def run(nodes: int | None = None, samples: int = 200, seed: int = 7,
        backends: tuple[str, ...] | None = None, neo4j_heap_mb: int = 1536,
        warmup: int = 200, runs: int = 1_000_000) -> dict[str, Any]:
    """Build a graph of at least ``runs`` runs (or, when ``nodes`` is given, about ``nodes``
    nodes) on each backend and time the queries; return the figures (one object per backend
    under ``backends``; ``{"error": ...}`` for one that failed) and ``goal_met``."""
    from bench.graphs import BACKENDS

    if nodes is not None:
        pipelines = max(1, -(-nodes // NODES_PER_PIPELINE))
    else:
        pipelines = max(1, -(-runs // RUNS_PER_PIPELINE))
    result: dict[str, Any] = {
        "pipelines": pipelines, "samples": samples, "warmup": warmup,
        "goal": f"upstream depth 10 p50 <= {GOAL_UPSTREAM_P50_MS:g} ms and p99 <= "
                f"{GOAL_UPSTREAM_P99_MS:g} ms; impact p50 <= {GOAL_IMPACT_P50_MS:g} ms; "
                f"root cause p50 <= {GOAL_ROOT_CAUSE_P50_MS:g} ms",
        "backends": {},
    }
    for backend in backends or BACKENDS:
        print(f"[{backend}] loading {pipelines:,} pipelines (~{pipelines * NODES_PER_PIPELINE:,}"
              " nodes)", flush=True)
        try:
            figures = run_backend(backend, pipelines, samples, seed, neo4j_heap_mb, warmup)
        except Exception as exc:
            traceback.print_exc()
            figures = {"error": f"{type(exc).__name__}: {exc}", "goal_met": False}
        else:
            print(f"[{backend}] loaded in {figures['load_s']} s; upstream p50 "
                  f"{figures['upstream_depth10']['p50_ms']} ms", flush=True)
        result["backends"][backend] = figures
    result["goal_met"] = bool(result["backends"]) and all(
        r["goal_met"] for r in result["backends"].values())
    return result


def print_table(result: dict[str, Any]) -> None:
    """Print ``result`` as one rich table, one column per backend (:mod:`bench.query.table`)."""
    from bench.query.table import print_table as table

    table(result)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.query", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--runs", type=int, default=1_000_000,
                      help="size the graph by runs (default one million)")
    size.add_argument("--nodes", type=int, default=None,
                      help="size the graph by nodes instead (a quick check: 30000)")
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=200,
                        help="untimed calls of each query first (default 200)")
    parser.add_argument("--backend", default="both",
                        help="both (default), neo4j, falkordb, or a comma list")
    parser.add_argument("--neo4j-heap", type=int, default=1536, metavar="MB")
    return parser


def run_kwargs(argv: list[str]) -> dict[str, Any]:
    """Parse command-line flags into keyword arguments of :func:`run`."""
    from bench.graphs import parse_backends

    args = _parser().parse_args(argv)
    return {"nodes": args.nodes, "runs": args.runs, "samples": args.samples, "warmup": args.warmup,
            "backends": parse_backends(args.backend), "neo4j_heap_mb": args.neo4j_heap}


def main(argv: list[str] | None = None) -> int:
    """Parse the flags, run, print the table and the JSON; exit 0 when the goal is met on
    every backend, else 1."""
    result = run(**run_kwargs(sys.argv[1:] if argv is None else argv))
    print_table(result)
    print(json.dumps(result, indent=2))
    return 0 if result["goal_met"] else 1
