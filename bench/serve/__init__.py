"""Benchmark: ``lineage serve`` under load, measured from a separate load generator process.

A Neo4j server (:func:`bench.graphs.start_graph`) gets a graph of at least ``--runs`` runs
(default 100,000: the pipelines of :mod:`bench.query`, written through the sink's writer), a
Kafka broker (KRaft) the project's topics; ``lineage serve`` runs as its own process against
both (rate limit off: the benchmark measures capacity). The load generator
(:mod:`bench.serve.load`, another process; keep-alive connections, one thread per client)
then runs, one phase at a time:

- ``upstream (users)``: ``--clients`` clients (default 50) each asking
  ``GET /api/v1/upstream?node=<last-layer version>&depth=10`` and pausing between answers
  as people at the page do: exponentially distributed pauses of mean ``--think-s``
  (default 1 s; :mod:`bench.serve.load`);
- ``upstream (closed loop)``: the same clients without pause: the most the server answers,
  and the latency when every client waits on it;
- ``ingest``: the clients posting one new OpenLineage RunEvent each
  (``POST /api/v1/lineage``, answered after the broker's acknowledgement), no pause;
- ``ingest batch``: the clients posting ``--batch`` events at a time
  (``POST /api/v1/lineage/batch``).

Reference, in this process: the same upstream query through the Python API
(:class:`~lineage_queries.api.LineageGraph`, one caller, the same roots) and the same events
produced straight to the broker (confluent-kafka, ``acks=all``). Counted besides latency:
the CPU seconds of the API server, Neo4j, Kafka and the load generator per phase.

Goals (issue 19): upstream depth 10 at 50 concurrent clients p50 <= 20 ms and p99 <= 200 ms
(the users phase); ingestion >= 1,000 events/s accepted (the single-event phase); no request
failed in any phase.
``python -m bench serve [--runs N] [--clients C] [--seconds S] [--think-s T]``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

GOAL_P50_MS = 20.0
GOAL_P99_MS = 200.0
GOAL_INGEST_PER_S = 1000.0


def _env(graph: Any, bootstrap: str, port: int, tokens: Path, data_dir: Path) -> dict[str, str]:
    return {**os.environ, "LINEAGE_DATA_DIR": str(data_dir),
            "LINEAGE_GRAPH__BACKEND": "neo4j", "LINEAGE_GRAPH__URL": graph.url,
            "LINEAGE_GRAPH__USERNAME": graph.username or "neo4j",
            "LINEAGE_GRAPH__PASSWORD": graph.password.get_secret_value(),
            "LINEAGE_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
            "LINEAGE_SERVE__PORT": str(port), "LINEAGE_SERVE__TOKENS_FILE": str(tokens),
            "LINEAGE_SERVE__RATE_LIMIT_PER_S": "0", "PYTHONUNBUFFERED": "1"}


def _reference_upstream(graph_settings: Any, roots: list[str]) -> dict[str, Any]:
    from bench.query import _percentile
    from lineage_pipeline.graph import open_backend
    from lineage_queries.api import LineageGraph

    graph = LineageGraph(open_backend(graph_settings))
    try:
        for root in roots[:100]:
            graph.upstream(root, depth=10)
        samples = []
        cpu0 = time.process_time()
        for root in roots[100:400]:
            t0 = time.perf_counter()
            graph.upstream(root, depth=10)
            samples.append((time.perf_counter() - t0) * 1000)
        cpu_ms = (time.process_time() - cpu0) * 1000 / len(samples)
    finally:
        graph.close()
    samples.sort()
    return {"p50_ms": round(_percentile(samples, 0.5), 2),
            "p99_ms": round(_percentile(samples, 0.99), 2), "samples": len(samples),
            "cpu_ms_per_call": round(cpu_ms, 2)}


def _reference_ingest(bootstrap: str, topic: str, n: int = 20_000) -> dict[str, Any]:
    from confluent_kafka import Producer

    from bench.serve.load import run_event

    values = [json.dumps(run_event(i)).encode() for i in range(n)]
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5,
                         "enable.idempotence": True})
    t0 = time.perf_counter()
    for v in values:
        while True:
            try:
                producer.produce(topic, value=v, key=b"bench")
                break
            except BufferError:
                producer.poll(0.01)
    left = producer.flush(60)
    seconds = time.perf_counter() - t0
    return {"events": n - left, "events_per_s": round((n - left) / seconds, 1)}


def _phase(name: str, args: list[str], meter_pids: dict[str, int]) -> dict[str, Any]:
    from bench.graphs import CpuMeter

    print(f"  phase {name}", flush=True)
    cpu = CpuMeter(meter_pids).start()
    done = subprocess.run([sys.executable, "-m", "bench.serve.load", *args],
                          capture_output=True, text=True, timeout=900, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"load generator failed: {done.stderr[-2000:]}")
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    figures["cpu_s"] = cpu.read()
    return figures


def _serve(env: dict[str, str], port: int, root: Path) -> Any:
    from lineage_app.localstack.processes import await_ready, launch, port_open

    proc = launch("serve", [sys.executable, "-m", "lineage_app.cli.app", "serve"], port,
                  root / "serve.log", env)
    await_ready(proc, lambda: port_open(port), 90.0)
    return proc


def _tokens(path: Path) -> tuple[str, str]:
    from lineage_app.serve.auth import TokenStore

    store = TokenStore(path)
    return store.add("bench-reader", "reader"), store.add("bench-writer", "writer")


def _roots(pipelines: int, n: int, seed: int, path: Path) -> list[str]:
    from bench.query import LAYERS, RUNS

    rng = random.Random(seed)
    roots = [f"bench:p{rng.randrange(pipelines)}/d{LAYERS}@v{rng.randint(1, RUNS)}"
             for _ in range(n)]
    path.write_text(json.dumps(roots), "utf-8")
    return roots


def _load_graph(root: Path, runs: int, heap_mb: int) -> tuple[Any, Any, int]:
    """Start Neo4j and load ``runs`` runs; return (server, graph settings, pipelines)."""
    from bench.graphs import start_graph
    from bench.query import RUNS_PER_PIPELINE, load
    from lineage_pipeline.graph import open_backend

    pipelines = max(1, -(-runs // RUNS_PER_PIPELINE))
    server = start_graph("neo4j", root / "graph", heap_mb=heap_mb)
    settings = server.settings(timeout_s=120.0)
    backend = open_backend(settings)
    try:
        backend.ensure_schema()
        print(f"  loading {pipelines:,} pipelines ({pipelines * RUNS_PER_PIPELINE:,} runs)",
              flush=True)
        load(backend, pipelines)
    finally:
        backend.close()
    server.quiesce()
    return server, settings, pipelines


def run(runs: int = 100_000, clients: int = 50, seconds: float = 20.0, think_s: float = 1.0,
        batch: int = 100, heap_mb: int = 2048, seed: int = 7) -> dict[str, Any]:
    """Run the benchmark (see the module docstring); return its figures and ``goal_met``."""
    from lineage_app.localstack.kafka_server import start_kafka
    from lineage_app.localstack.processes import free_port
    from lineage_app.localstack.stack import create_topics
    from lineage_pipeline.settings import load_settings

    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        root = Path(tmp)
        broker = start_kafka(root / "broker")
        server = serve = None
        try:
            bootstrap = f"127.0.0.1:{broker.port}"
            settings = load_settings(data_dir=root / "data",
                                     kafka={"bootstrap_servers": bootstrap})
            create_topics(settings)
            server, graph, pipelines = _load_graph(root, runs, heap_mb)
            roots = _roots(pipelines, 2000, seed, root / "roots.json")
            reader, writer = _tokens(root / "tokens.json")
            port = free_port()
            serve = _serve(_env(graph, bootstrap, port, root / "tokens.json", root / "data"),
                           port, root)
            pids = {"serve": serve.pid, "neo4j": server.proc.pid, "kafka": broker.pid}
            base = ["--url", f"http://127.0.0.1:{port}", "--clients", str(clients)]
            up = [*base, "--token", reader, "--mode", "upstream", "--roots",
                  str(root / "roots.json")]
            ingest = [*base, "--token", writer, "--seconds", str(seconds)]
            _phase("warm-up", [*up, "--seconds", "10"], pids)
            result: dict[str, Any] = {
                "runs": pipelines * 48, "clients": clients, "think_s": think_s,
                "reference_upstream": _reference_upstream(graph, roots),
                "upstream_users": _phase("upstream (users)", [
                    *up, "--seconds", str(max(seconds, 30.0)), "--think-s", str(think_s)],
                    pids),
                "upstream_closed": _phase("upstream (closed loop)", [
                    *up, "--seconds", str(seconds)], pids),
                "ingest": _phase("ingest", [*ingest, "--mode", "ingest"], pids),
                "ingest_batch": _phase("ingest batch", [
                    *ingest, "--mode", "ingest-batch", "--batch", str(batch)], pids),
                "reference_ingest": _reference_ingest(bootstrap, settings.topics.openlineage),
            }
        finally:
            for proc in (serve, server.proc if server else None, broker):
                if proc is not None:
                    proc.stop(60.0)
    users = result["upstream_users"]
    result["goal"] = (f"upstream depth 10 at {clients} clients p50 <= {GOAL_P50_MS:g} ms, "
                      f"p99 <= {GOAL_P99_MS:g} ms; ingestion >= {GOAL_INGEST_PER_S:g} events/s")
    failed = sum(v for phase in ("upstream_users", "upstream_closed", "ingest", "ingest_batch")
                 for k, v in result[phase]["statuses"].items() if not k.startswith("2"))
    result["failed_requests"] = failed
    result["goal_met"] = bool(users["p50_ms"] <= GOAL_P50_MS and users["p99_ms"] <= GOAL_P99_MS
                              and result["ingest"]["events_per_s"] >= GOAL_INGEST_PER_S
                              and failed == 0)
    return result


def print_table(result: dict[str, Any]) -> None:
    """Print the phases side by side with the references."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"bench/serve: {result['runs']:,} runs, {result['clients']} clients")
    for col in ("phase", "req/s", "events/s", "p50 ms", "p99 ms", "non-2xx", "CPU s "
                "(serve / neo4j / kafka)", "load CPU s"):
        table.add_column(col, justify="left" if col == "phase" else "right")
    for key, name in (("upstream_users", f"upstream, {result['think_s']:g} s think"),
                      ("upstream_closed", "upstream, closed loop"), ("ingest", "ingest 1/req"),
                      ("ingest_batch", "ingest batch")):
        f = result[key]
        bad = sum(v for k, v in f["statuses"].items() if not k.startswith("2"))
        cpu = f["cpu_s"]
        table.add_row(name, f"{f['requests_per_s']:,}", f"{f['events_per_s']:,}",
                      f"{f['p50_ms']}", f"{f['p99_ms']}", str(bad),
                      f"{cpu.get('serve')} / {cpu.get('neo4j')} / {cpu.get('kafka')}",
                      f"{f['load_cpu_s']}")
    ref = result["reference_upstream"]
    table.add_row("reference: upstream via the Python API, 1 caller", "", "",
                  f"{ref['p50_ms']}", f"{ref['p99_ms']}", "", "", "")
    table.add_row("reference: produce to Kafka directly", "",
                  f"{result['reference_ingest']['events_per_s']:,}", "", "", "", "", "")
    console = Console()
    console.print(table)
    console.print(f"goal: {result['goal']}: {'met' if result['goal_met'] else 'MISSED'}")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench serve")
    p.add_argument("--runs", type=int, default=100_000)
    p.add_argument("--clients", type=int, default=50)
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--think-s", type=float, default=1.0)
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--neo4j-heap", type=int, default=2048, dest="heap_mb")
    return p


def run_kwargs(argv: list[str]) -> dict[str, Any]:
    """The ``run`` arguments of command-line flags ``argv``."""
    return vars(_parser().parse_args(argv))


def main(argv: list[str] | None = None) -> int:
    """Run, print the table and the JSON; exit 1 when a goal is missed."""
    result = run(**run_kwargs(sys.argv[1:] if argv is None else argv))
    print_table(result)
    print(json.dumps(result, indent=2))
    return 0 if result["goal_met"] else 1
