"""The ``lineage serve`` application: :func:`create_app`.

::

    app = create_app(settings)                      # the configured graph and broker
    app = create_app(settings, graph_opener=lambda: LineageGraph(backend),
                     producer_factory=lambda: my_producer)   # tests, embedding

Routes: :mod:`~lineage_app.serve.routes_query` (``GET /api/v1/<query>``),
:mod:`~lineage_app.serve.routes_ingest` (``POST /api/v1/lineage[/batch]``),
:mod:`~lineage_app.serve.routes_ops` (``/healthz``, ``/metrics``, ``/openapi.json``, the DLQ).
Middleware, outermost first: request metrics (:mod:`~lineage_app.serve.observe`), the body
size limit (:class:`~lineage_app.serve.limits.BodyLimit`). Authentication, roles and the rate
limit are per route (:func:`~lineage_app.serve.state.requires`); errors become
:class:`~lineage_app.serve.models.ApiError` answers (:mod:`~lineage_app.serve.errors`).
Making the app does no network I/O: the graph and the producer are opened on first use and
closed when the server shuts down. ``docs/api.md`` describes the API.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from anyio import to_thread
from fastapi import FastAPI

from lineage_app.serve import errors, routes_ingest, routes_ops, routes_query, routes_ui
from lineage_app.serve.auth import TokenStore
from lineage_app.serve.limits import BodyLimit
from lineage_app.serve.observe import RequestMetrics
from lineage_app.serve.state import GraphOpener, ProducerFactory, ServeState
from lineage_pipeline.settings import LineageSettings

API_VERSION = "1"


def _graph_opener(settings: LineageSettings) -> GraphOpener:
    def open_graph() -> Any:
        from lineage_pipeline.graph import open_backend
        from lineage_queries.api import LineageGraph

        return LineageGraph(open_backend(settings.graph))

    return open_graph


def _producer_factory(settings: LineageSettings) -> ProducerFactory:
    def make() -> Any:
        from lineage_pipeline import kafka

        return kafka.producer(settings.kafka, "lineage-serve",
                              defaults={"linger.ms": 5},
                              overrides={"acks": "all", "enable.idempotence": True})

    return make


def create_app(settings: LineageSettings, graph_opener: GraphOpener | None = None,
               producer_factory: ProducerFactory | None = None,
               tokens: TokenStore | None = None) -> FastAPI:
    """The FastAPI app of ``lineage serve`` over ``settings`` (graph, topics, ``serve``).

    ``graph_opener`` returns the query API (default: the ``graph`` settings' backend);
    ``producer_factory`` the Kafka producer of ingestion (default: built by
    :mod:`lineage_pipeline.kafka` from the ``kafka`` settings, ``acks=all``); ``tokens`` the
    token store (default: ``serve.tokens_file``). Raises nothing; no network I/O.
    """
    state = ServeState(settings, graph_opener or _graph_opener(settings),
                       producer_factory or _producer_factory(settings), tokens)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # the threads of the sync query routes (anyio's default limiter, 40 by default)
        to_thread.current_default_thread_limiter().total_tokens = settings.serve.query_threads
        try:
            yield
        finally:
            state.close()

    app = FastAPI(
        title="lineage-pipeline API", version=API_VERSION, lifespan=lifespan,
        description=("Lineage queries over the graph (the same answers as `lineage ... "
                     "--json`, docs/queries.md) and OpenLineage ingestion. Every endpoint "
                     "but /healthz and /metrics needs `Authorization: Bearer TOKEN`."),
        openapi_url=None, docs_url=None, redoc_url=None,
    )
    app.state.serve = state
    errors.install(app)
    for router in (routes_query.router, routes_ingest.router, routes_ops.dlq_router,
                   routes_ops.router):
        app.include_router(router)
    app.include_router(routes_ui.router)  # the lineage page, /ui/ (lineage_app/serve/ui)
    app.add_middleware(BodyLimit, max_bytes=settings.serve.max_body_bytes)
    app.add_middleware(RequestMetrics)
    return app
