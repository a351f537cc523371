"""What the routes of one ``lineage serve`` app share, and the dependencies that hand it out.

:class:`ServeState` holds the settings, the token store, the rate limiter, and opens the
graph (:class:`~lineage_queries.api.LineageGraph`) and the Kafka producer on first use (no
network I/O when the app is made). Routes get them through FastAPI dependencies:
:func:`requires` (authentication, role and rate limit), :func:`graph_of`, :func:`state_of`.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from lineage_app.serve.auth import Principal, TokenStore
from lineage_app.serve.limits import RateLimiter
from lineage_pipeline.settings import LineageSettings

if TYPE_CHECKING:
    from lineage_queries.api import LineageGraph

GraphOpener = Callable[[], "LineageGraph"]
#: Returns a confluent-kafka Producer (typed loosely: confluent_kafka has no type hints).
ProducerFactory = Callable[[], Any]

_bearer = HTTPBearer(auto_error=False, scheme_name="apiToken",
                     description="An API token: `lineage serve token add NAME --role ROLE`.")


class ServeState:
    """The shared parts of one app (see the module docstring).

    ``graph_opener`` returns the query API over the configured graph (called once, on the
    first query); ``producer_factory`` returns the Kafka producer (called once, on the first
    ingestion); ``tokens``: the token store (default: ``settings.serve.tokens_file``, else
    ``<data_dir>/serve/tokens.json``).
    """

    def __init__(self, settings: LineageSettings, graph_opener: GraphOpener,
                 producer_factory: ProducerFactory, tokens: TokenStore | None = None) -> None:
        self.settings = settings
        serve = settings.serve
        self.tokens = tokens or TokenStore(
            serve.tokens_file or settings.data_dir / "serve" / "tokens.json")
        self.limiter = RateLimiter(serve.rate_limit_per_s, serve.rate_limit_burst)
        self._graph_opener = graph_opener
        self._producer_factory = producer_factory
        self._graph: LineageGraph | None = None
        self._producer: Any = None
        self._polling = threading.Event()  # set: the poll thread stops
        self._lock = threading.Lock()

    def graph(self) -> LineageGraph:
        """The query API, opened on first use."""
        with self._lock:
            if self._graph is None:
                self._graph = self._graph_opener()
            return self._graph

    def producer(self) -> Any:
        """The Kafka producer, made on first use, with a daemon thread that serves its
        delivery reports (``poll``) until :meth:`close`."""
        with self._lock:
            if self._producer is None:
                self._producer = self._producer_factory()
                self._polling.clear()
                threading.Thread(target=self._poll, args=(self._producer,), daemon=True,
                                 name="lineage-serve-producer-poll").start()
            return self._producer

    def _poll(self, producer: Any) -> None:
        while not self._polling.is_set():
            producer.poll(0.1)

    def close(self) -> None:
        """Close the graph and flush the producer (at most 5 s), if they were opened."""
        with self._lock:
            graph, producer = self._graph, self._producer
            self._graph = self._producer = None
        if graph is not None:
            graph.close()
        self._polling.set()
        if producer is not None:
            producer.flush(5.0)


def state_of(request: Request) -> ServeState:
    """The app's :class:`ServeState`."""
    state: ServeState = request.app.state.serve
    return state


def graph_of(request: Request) -> LineageGraph:
    """The app's query API (opened on first use)."""
    return state_of(request).graph()


def requires(roles: frozenset[str]) -> Callable[..., Awaitable[Principal]]:
    """A dependency that returns the request's :class:`Principal` when its bearer token is
    known (else 401), its role is one of ``roles`` (else 403) and its rate limit allows the
    request (else 429 with ``Retry-After`` in seconds)."""

    async def principal(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal:
        state = state_of(request)
        found = state.tokens.verify(credentials.credentials) if credentials else None
        if found is None:
            raise HTTPException(401, "an API token is needed: 'Authorization: Bearer TOKEN' "
                                     "(lineage serve token add NAME --role ROLE)",
                                headers={"WWW-Authenticate": "Bearer"})
        if found.role not in roles:
            raise HTTPException(403, f"role {found.role!r} may not use this endpoint "
                                     f"(needs one of: {', '.join(sorted(roles))})")
        wait = state.limiter.take(found.name)
        if wait > 0:
            raise HTTPException(429, f"rate limit of token {found.name!r} exceeded",
                                headers={"Retry-After": str(max(1, math.ceil(wait)))})
        return found

    return principal
