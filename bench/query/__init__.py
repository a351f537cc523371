"""Benchmark: lineage query latency on a synthetic graph of about 1,000,000 nodes (FalkorDB).

The graph is built the way the sink builds it: :class:`graph_sink.writer.GraphWriter` writes
the mutations of finished runs (:func:`graph_sink.testing.run_mutations`: Job, Run, Dataset,
DatasetVersion, Field nodes; RUN_OF, CONSUMED_BY, GENERATED, VERSION_OF, HAS_FIELD and
version DERIVED_FROM edges) into a FalkorDB server the benchmark starts itself
(:func:`lineage_pipeline.localstack.processes.start_falkordb`) and stops by pid.

Shape: independent pipelines of ``LAYERS`` jobs; job ``l`` reads the outputs of jobs
``l-1`` and ``l-2`` (layer 0 is a source dataset nobody produces) and writes one dataset;
every job ran ``RUNS`` times, each run writing a new version with ``FIELDS`` columns whose
statistics move from run to run. Per pipeline: 13 datasets, 52 versions, 12 jobs, 48 runs,
156 fields = 281 nodes and about 500 relationships; 3,559 pipelines make 1,000,079 nodes.

Timed (``time.perf_counter`` around the Python API call, after a warm-up, on random roots):

- ``upstream``: :meth:`LineageGraph.upstream` of a last-layer dataset version, depth 10;
- ``impact``: :meth:`LineageGraph.impact` of one column of a source dataset (all its
  versions, to any depth);
- ``root_cause``: :meth:`LineageGraph.root_cause` of a last-layer job's latest run against
  its default baseline (every input changed, so the walk goes all the way up).

Timing starts once the server has no AOF rewrite running. Reported with the RESP parser in
use: redis-py parses replies in Python unless the ``hiredis`` package is installed, which
takes about 0.5 ms off every query here (see ``resp_parser``).

Goal: upstream depth 10 p50 <= 10 ms and p99 <= 50 ms.
``python -m bench.query [--nodes N] [--samples S]`` (default 1,000,000 nodes, 200 samples;
``--nodes 30000`` is a quick check).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

GOAL_UPSTREAM_P50_MS = 10.0
GOAL_UPSTREAM_P99_MS = 50.0
LAYERS = 12
RUNS = 4
FIELDS = 3
#: Nodes one pipeline adds (datasets + versions + jobs + runs + fields).
NODES_PER_PIPELINE = (LAYERS + 1) + (LAYERS + 1) * RUNS + LAYERS + LAYERS * RUNS + (
    (LAYERS + 1) * RUNS * FIELDS)
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
    """Write ``pipelines`` pipelines through the sink's writer; return load figures."""
    from graph_sink.writer import GraphWriter

    writer = GraphWriter(backend, batch_size=5000)
    started = time.perf_counter()
    records = 0
    for first in range(0, pipelines, chunk):
        batch = [m for p in range(first, min(first + chunk, pipelines))
                 for m in pipeline_mutations(p)]
        writer.write(batch)
        records += len(batch)
    seconds = time.perf_counter() - started
    return {"records": records, "load_s": round(seconds, 1)}


def wait_for_persistence(port: int, timeout_s: float = 600.0) -> float:
    """Wait until the server has no AOF rewrite or RDB save running (they fork and compete
    for the CPU); return the seconds waited."""
    import redis

    started = time.perf_counter()
    client = redis.Redis(host="127.0.0.1", port=port)
    try:
        while time.perf_counter() - started < timeout_s:
            info = client.info("persistence")
            if not (info.get("aof_rewrite_in_progress") or info.get("aof_rewrite_scheduled")
                    or info.get("rdb_bgsave_in_progress")):
                break
            time.sleep(0.5)
    finally:
        client.close()
    return round(time.perf_counter() - started, 1)


def _percentile(sorted_ms: list[float], q: float) -> float:
    index = min(len(sorted_ms) - 1, round(q * (len(sorted_ms) - 1)))
    return sorted_ms[index]


def _timed(fn: Callable[[Any], Any], roots: list[Any], warmup: int) -> dict[str, float]:
    for root in roots[:warmup]:
        fn(root)
    samples = []
    for root in roots[warmup:]:
        t0 = time.perf_counter()
        fn(root)
        samples.append((time.perf_counter() - t0) * 1000)
    samples.sort()
    return {"p50_ms": round(_percentile(samples, 0.50), 2),
            "p99_ms": round(_percentile(samples, 0.99), 2),
            "mean_ms": round(statistics.fmean(samples), 2), "samples": len(samples)}


def run(nodes: int = 1_000_000, samples: int = 200, seed: int = 7) -> dict[str, Any]:
    """Build a graph of about ``nodes`` nodes, time the queries; return the figures and
    ``goal_met``."""
    from graph_sink.api import LineageGraph
    from graph_sink.backends import open_backend
    from graph_sink.testing import counts
    from lineage_pipeline.localstack.processes import start_falkordb
    from lineage_pipeline.settings import GraphSettings

    pipelines = max(1, -(-nodes // NODES_PER_PIPELINE))
    rng = random.Random(seed)
    warmup = min(20, samples)
    with tempfile.TemporaryDirectory(prefix="bench-query-") as tmp:
        server = start_falkordb(Path(tmp))
        try:
            backend = open_backend(GraphSettings(url=f"redis://127.0.0.1:{server.port}",
                                                 name=f"bench_{uuid.uuid4().hex[:8]}",
                                                 timeout_s=120.0))
            backend.ensure_schema()
            figures = load(backend, pipelines)
            figures["persistence_wait_s"] = wait_for_persistence(server.port)
            graph_counts = counts(backend)
            graph = LineageGraph(backend)
            n = samples + warmup

            def pick() -> int:
                return rng.randrange(pipelines)

            up_roots = [f"bench:p{pick()}/d{LAYERS}@v{rng.randint(1, RUNS)}" for _ in range(n)]
            impact_roots = [f"bench:p{pick()}/d0#c{rng.randrange(FIELDS)}" for _ in range(n)]
            rc_roots = [f"p{pick()}-l{LAYERS}-r{RUNS}" for _ in range(n)]
            upstream = _timed(lambda r: graph.upstream(r, depth=10), up_roots, warmup)
            impact = _timed(lambda r: graph.impact(r), impact_roots, warmup)
            root_cause = _timed(lambda r: graph.root_cause(r), rc_roots, warmup)
            sizes = {
                "upstream_nodes": len(graph.upstream(up_roots[0], depth=10)["nodes"]),
                "impact_datasets": graph.impact(impact_roots[0])["counts"]["datasets"],
                "root_cause_consequences": len(graph.root_cause(rc_roots[0])["consequences"]),
            }
            graph.close()
        finally:
            server.stop()
    from redis.utils import HIREDIS_AVAILABLE

    total_nodes = sum(graph_counts.get(label, 0) for label in
                      ("Job", "Run", "Dataset", "DatasetVersion", "Field"))
    return {
        "nodes": total_nodes,
        "relationships": sum(v for k, v in graph_counts.items() if k.isupper()),
        "pipelines": pipelines,
        **figures,
        "nodes_per_s": round(total_nodes / figures["load_s"]) if figures["load_s"] else None,
        "upstream_depth10": upstream,
        "impact": impact,
        "root_cause": root_cause,
        "answer_sizes": sizes,
        "resp_parser": "hiredis" if HIREDIS_AVAILABLE else "python",
        "goal": f"upstream depth 10 p50 <= {GOAL_UPSTREAM_P50_MS:g} ms and p99 <= "
                f"{GOAL_UPSTREAM_P99_MS:g} ms",
        "goal_met": upstream["p50_ms"] <= GOAL_UPSTREAM_P50_MS
        and upstream["p99_ms"] <= GOAL_UPSTREAM_P99_MS,
    }


def print_table(result: dict[str, Any]) -> None:
    """Print the latencies as a rich table."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"bench/query: {result['nodes']:,} nodes, "
                        f"{result['relationships']:,} relationships (FalkorDB), loaded in "
                        f"{result['load_s']} s")
    for col in ("query", "p50 ms", "p99 ms", "mean ms", "samples"):
        table.add_column(col, justify="left" if col == "query" else "right")
    for name, key in (("upstream, depth 10", "upstream_depth10"), ("impact (column)", "impact"),
                      ("root cause", "root_cause")):
        r = result[key]
        table.add_row(name, f"{r['p50_ms']:.2f}", f"{r['p99_ms']:.2f}", f"{r['mean_ms']:.2f}",
                      str(r["samples"]))
    console = Console()
    console.print(table)
    verdict = "[green]met[/green]" if result["goal_met"] else "[red]missed[/red]"
    console.print(f"goal ({result['goal']}): {verdict}")


def main(argv: list[str] | None = None) -> int:
    """Parse ``--nodes``/``--samples``, run, print the table and the JSON; exit 0 when the
    goal is met, else 1."""
    parser = argparse.ArgumentParser(prog="python -m bench.query")
    parser.add_argument("--nodes", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=200)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    result = run(args.nodes, args.samples)
    print_table(result)
    print(json.dumps(result, indent=2))
    return 0 if result["goal_met"] else 1
