"""The load generator of ``bench.serve``, run as its own process (``python -m
bench.serve.load``), so its CPU is not the server's and the server is measured from outside.

``--clients`` threads, each with its own keep-alive HTTP connection, send requests until
``--seconds`` have passed. With ``--think-s`` T > 0 each client is a person (or a tool)
that pauses between answers: pauses drawn from an exponential distribution of mean T (each
client a Poisson stream of requests, the usual model of independent users), the first one
too, so the clients do not start in step; with 0, a closed loop (the next request as soon
as the answer is in). Modes:

- ``upstream``: ``GET /api/v1/upstream?node=ROOT&depth=10``, roots from ``--roots`` (a JSON
  list, taken round robin from a random start per client);
- ``ingest``: ``POST /api/v1/lineage``, one new OpenLineage RunEvent per request;
- ``ingest-batch``: ``POST /api/v1/lineage/batch``, ``--batch`` new events per request.

Prints one JSON object: requests, events, seconds, requests/s, events/s, latency p50/p99/mean
(ms, time to the whole answer), answers by status, and this process's CPU seconds.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import statistics
import threading
import time
import uuid
from collections import Counter
from typing import Any
from urllib.parse import quote, urlparse

from bench.query import _percentile

PRODUCER = "https://github.com/lineage-pipeline/lineage-pipeline/tree/main/bench/serve"


def run_event(index: int) -> dict[str, Any]:
    """A new COMPLETE RunEvent (OpenLineage 2-0-2) of job ``bench.ingest_<index % 50>``
    reading one table and writing another."""
    job = f"bench.ingest_{index % 50}"
    return {
        "eventType": "COMPLETE", "eventTime": "2026-12-07T10:00:00.000Z",
        "producer": PRODUCER,
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "run": {"runId": str(uuid.uuid4())},
        "job": {"namespace": "bench", "name": job},
        "inputs": [{"namespace": "postgres://db:5432", "name": f"shop.public.src_{index % 50}"}],
        "outputs": [{"namespace": "s3://lake", "name": f"marts/out_{index % 50}"}],
    }


class Client(threading.Thread):
    """One client: a connection, its latencies and answer statuses."""

    def __init__(self, args: argparse.Namespace, number: int, roots: list[str],
                 deadline: float) -> None:
        super().__init__(name=f"client-{number}", daemon=True)
        self.args, self.number, self.roots, self.deadline = args, number, roots, deadline
        self.latencies: list[float] = []
        self.statuses: Counter[int] = Counter()
        self.events = 0
        url = urlparse(args.url)
        self.conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port or 80,
                                               timeout=60)
        self.headers = {"Authorization": f"Bearer {args.token}",
                        "Content-Type": "application/json"}

    def request(self, i: int) -> tuple[str, str, bytes | None, int]:
        mode = self.args.mode
        if mode == "upstream":
            root = self.roots[i % len(self.roots)]
            return "GET", f"/api/v1/upstream?node={quote(root, safe='')}&depth=10", None, 0
        if mode == "ingest":
            return ("POST", "/api/v1/lineage",
                    json.dumps(run_event(i)).encode(), 1)
        batch = [run_event(i * self.args.batch + k) for k in range(self.args.batch)]
        return "POST", "/api/v1/lineage/batch", json.dumps(batch).encode(), len(batch)

    def send(self, method: str, path: str, body: bytes | None) -> int:
        """One request; the answer's status, 0 when it failed. A connection the server
        closed while the client paused (``uvicorn`` closes one idle for 5 s) is opened again
        and the request sent once more, as HTTP clients do: the server never read it."""
        for attempt in (1, 2):
            try:
                self.conn.request(method, path, body=body, headers=self.headers)
                answer = self.conn.getresponse()
                answer.read()
                return answer.status
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.conn.close()
                if attempt == 2:
                    return 0
            except (OSError, http.client.HTTPException):
                self.conn.close()
                return 0
        return 0

    def pause(self, rng: random.Random) -> None:
        if self.args.think_s > 0:
            time.sleep(min(rng.expovariate(1.0 / self.args.think_s),
                           max(0.0, self.deadline - time.monotonic())))

    def run(self) -> None:
        rng = random.Random(self.number)
        i = rng.randrange(1 << 30)
        self.pause(rng)
        while time.monotonic() < self.deadline:
            method, path, body, events = self.request(i)
            i += 1
            t0 = time.perf_counter()
            status = self.send(method, path, body)
            self.latencies.append((time.perf_counter() - t0) * 1000)
            self.statuses[status] += 1
            if status in (200, 201):
                self.events += events
            self.pause(rng)
        self.conn.close()


def main(argv: list[str] | None = None) -> int:
    """Run the load (see the module docstring) and print its figures as JSON."""
    p = argparse.ArgumentParser(prog="python -m bench.serve.load")
    p.add_argument("--url", required=True)
    p.add_argument("--token", required=True)
    p.add_argument("--mode", choices=("upstream", "ingest", "ingest-batch"), required=True)
    p.add_argument("--clients", type=int, default=50)
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--think-s", type=float, default=0.0)
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--roots", default=None, help="JSON file: a list of node ids")
    args = p.parse_args(argv)
    roots: list[str] = []
    if args.roots:
        with open(args.roots, encoding="utf-8") as fh:
            roots = list(json.load(fh))
    cpu0 = time.process_time()
    started = time.monotonic()
    clients = [Client(args, n, roots, started + args.seconds) for n in range(args.clients)]
    for c in clients:
        c.start()
    for c in clients:
        c.join()
    seconds = time.monotonic() - started
    latencies = sorted(x for c in clients for x in c.latencies)
    statuses: Counter[int] = Counter()
    for c in clients:
        statuses.update(c.statuses)
    events = sum(c.events for c in clients)
    print(json.dumps({
        "mode": args.mode, "clients": args.clients, "think_s": args.think_s,
        "requests": len(latencies), "events": events, "seconds": round(seconds, 2),
        "requests_per_s": round(len(latencies) / seconds, 1),
        "events_per_s": round(events / seconds, 1),
        "p50_ms": round(_percentile(latencies, 0.5), 2) if latencies else 0.0,
        "p99_ms": round(_percentile(latencies, 0.99), 2) if latencies else 0.0,
        "mean_ms": round(statistics.fmean(latencies), 2) if latencies else 0.0,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "load_cpu_s": round(time.process_time() - cpu0, 2)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
