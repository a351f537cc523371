"""Prometheus metrics of ``lineage serve`` (served at ``/metrics`` with the process's others).

- ``lineage_serve_requests_total{route, method, status}``: requests answered; ``route`` is
  the route's path template (bounded), ``unmatched`` for paths no route serves;
- ``lineage_serve_request_seconds{route}``: time to answer, seconds;
- ``lineage_serve_ingested_events_total{outcome}``: OpenLineage events by outcome
  (``accepted``: acknowledged by the broker; ``invalid``; ``unacknowledged``).
"""

from __future__ import annotations

import time

from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUESTS = Counter("lineage_serve_requests_total", "HTTP requests answered.",
                   ["route", "method", "status"])
LATENCY = Histogram("lineage_serve_request_seconds", "Time to answer an HTTP request.",
                    ["route"], buckets=(0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10))
INGESTED = Counter("lineage_serve_ingested_events_total",
                   "OpenLineage events received over HTTP, by outcome.", ["outcome"])


class RequestMetrics:
    """ASGI middleware counting and timing every HTTP request by route template."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = [500]
        start = time.perf_counter()

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            REQUESTS.labels(route, scope.get("method", ""), str(status[0])).inc()
            LATENCY.labels(route).observe(time.perf_counter() - start)
