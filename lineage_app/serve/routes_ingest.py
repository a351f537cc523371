"""OpenLineage ingestion over HTTP, as Marquez takes it: ``POST /api/v1/lineage`` (one
RunEvent, 201) and ``POST /api/v1/lineage/batch`` (a JSON array of them, 200).

Each event is checked with the reader the stream processor uses
(:func:`lineage_pipeline.openlineage.from_openlineage_dict`: ``run.runId``, ``job.namespace``
and ``name``, ``eventTime`` present and well formed) before anything is produced; an invalid
one answers 422 naming it (a batch is taken whole or not at all). The events then go, as JSON
(a single event: the bytes received), to the OpenLineage topic (``topics.openlineage``) with
the key openlineage-python's Kafka transport uses (``run:<namespace>/<name>`` of the root,
else parent, else own job: one job's runs and a parent's children stay in order). The answer
waits for the broker's acknowledgement of every event; one not acknowledged within
``serve.ack_timeout_s`` seconds (or refused) answers 503: the client retries, and the
processor drops a redelivered event as a duplicate of its id. ``Content-Encoding: gzip``
bodies (openlineage-python's ``compression: gzip``) are accepted up to the body limit
decompressed.
"""

from __future__ import annotations

import asyncio
import json
import zlib
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse, Response

from lineage_app.serve.auth import INGEST_ROLES, Principal
from lineage_app.serve.errors import COMMON_ERRORS
from lineage_app.serve.models import RUN_EVENT_SCHEMA, Accepted, ApiError
from lineage_app.serve.observe import INGESTED
from lineage_app.serve.state import ServeState, requires, state_of
from lineage_pipeline.errors import EventError, TransportError
from lineage_pipeline.openlineage import from_openlineage_dict

router = APIRouter(prefix="/api/v1", tags=["ingestion"], responses={
    **COMMON_ERRORS,
    413: {"model": ApiError, "description": "Request body over serve.max_body_bytes."},
})

Writer = Annotated[Principal, Depends(requires(INGEST_ROLES))]
State = Annotated[ServeState, Depends(state_of)]


def _body_schema(schema: dict[str, Any]) -> dict[str, Any]:
    return {"requestBody": {"required": True,
                            "content": {"application/json": {"schema": schema}}}}


async def _json_body(request: Request, limit: int) -> tuple[bytes, Any]:
    """The request body (gunzipped when ``Content-Encoding: gzip``) and its parsed JSON;
    raises 422 when it is not JSON, 413 when it inflates beyond ``limit`` bytes."""
    raw = await request.body()
    if request.headers.get("content-encoding", "").lower() == "gzip":
        inflater = zlib.decompressobj(wbits=31)
        try:
            raw = inflater.decompress(raw, limit + 1)
        except zlib.error as exc:
            raise HTTPException(422, f"body is not valid gzip: {exc}") from exc
        if len(raw) > limit or inflater.unconsumed_tail:
            raise HTTPException(413, f"request body over {limit} bytes decompressed")
    try:
        return raw, json.loads(raw)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise HTTPException(422, f"body is not UTF-8 JSON: {type(exc).__name__}") from exc


def _checked(event: Any, where: str) -> None:
    """Raise 422 unless ``event`` is a RunEvent the processor reads."""
    if not isinstance(event, dict):
        raise HTTPException(422, f"{where}: an OpenLineage RunEvent is a JSON object")
    try:
        from_openlineage_dict(event)
    except EventError as exc:
        raise HTTPException(422, f"{where}: {exc}") from exc
    except RecursionError as exc:
        raise HTTPException(422, f"{where}: facets nested too deeply") from exc


def message_key(event: dict[str, Any]) -> bytes:
    """``run:<namespace>/<name>`` of the event's root job, else its parent job, else its
    job (openlineage-python's Kafka transport key), UTF-8."""
    job = event.get("job") or {}
    parent = ((event.get("run") or {}).get("facets") or {}).get("parent")
    if isinstance(parent, dict):
        root = parent.get("root") if isinstance(parent.get("root"), dict) else None
        for candidate in ((root or {}).get("job"), parent.get("job")):
            if isinstance(candidate, dict) and candidate.get("namespace") is not None:
                job = candidate
                break
    return f"run:{job.get('namespace')}/{job.get('name')}".encode(errors="replace")


def _settle(future: asyncio.Future[str | None], err: Any) -> None:
    if not future.done():
        future.set_result(None if err is None else str(err))


async def deliver(producer: Any, topic: str, messages: list[tuple[bytes, bytes]],
                  timeout_s: float) -> None:
    """Produce ``(key, value)`` messages to ``topic`` and wait, without holding a thread,
    until the broker acknowledged every one: each delivery report (served by the producer's
    poll thread, :meth:`ServeState.producer`) settles a future of this event loop. Raises
    :class:`TransportError` (retryable) when one is refused or not acknowledged within
    ``timeout_s`` seconds."""
    loop = asyncio.get_running_loop()
    futures: list[asyncio.Future[str | None]] = [loop.create_future() for _ in messages]

    def report(future: asyncio.Future[str | None]) -> Any:
        def on_delivery(err: Any, _msg: Any) -> None:
            try:
                loop.call_soon_threadsafe(_settle, future, err)
            except RuntimeError:  # the loop closed: the server is shutting down
                pass
        return on_delivery

    deadline = loop.time() + timeout_s
    for (key, value), future in zip(messages, futures, strict=True):
        while True:
            try:
                producer.produce(topic, value=value, key=key, on_delivery=report(future))
                break
            except BufferError:  # the local queue is full: let the poll thread drain it
                if loop.time() > deadline:
                    raise TransportError("the producer's queue stayed full") from None
                await asyncio.sleep(0.01)
    try:
        results = await asyncio.wait_for(asyncio.gather(*futures),
                                         max(0.0, deadline - loop.time()))
    except TimeoutError:
        pending = sum(not f.done() for f in futures)
        raise TransportError(f"the broker did not acknowledge {pending} event(s) "
                             f"within {timeout_s} s") from None
    errors = [r for r in results if r is not None]
    if errors:
        raise TransportError(f"the broker refused {len(errors)} event(s): {errors[0]}")


async def _produce(state: ServeState, messages: list[tuple[bytes, bytes]]) -> str:
    topic = state.settings.topics.openlineage
    try:
        await deliver(state.producer(), topic, messages, state.settings.serve.ack_timeout_s)
    except TransportError:
        INGESTED.labels("unacknowledged").inc(len(messages))
        raise
    INGESTED.labels("accepted").inc(len(messages))
    return topic


@router.post("/lineage", status_code=201, response_model=Accepted, operation_id="ingest",
             openapi_extra=_body_schema(RUN_EVENT_SCHEMA))
async def ingest(_principal: Writer, state: State, request: Request) -> Response:
    """One OpenLineage RunEvent (as Marquez takes it); 201 once the broker acknowledged it."""
    raw, event = await _json_body(request, state.settings.serve.max_body_bytes)
    try:
        _checked(event, "event")
    except HTTPException:
        INGESTED.labels("invalid").inc()
        raise
    topic = await _produce(state, [(message_key(event), raw)])
    return JSONResponse(Accepted(accepted=1, topic=topic).model_dump(), status_code=201)


@router.post("/lineage/batch", response_model=Accepted, operation_id="ingestBatch",
             openapi_extra=_body_schema({"type": "array", "items": RUN_EVENT_SCHEMA}))
async def ingest_batch(_principal: Writer, state: State, request: Request) -> Response:
    """A JSON array of OpenLineage RunEvents, taken whole or not at all; 200 once the broker
    acknowledged every one."""
    _raw, events = await _json_body(request, state.settings.serve.max_body_bytes)
    if not isinstance(events, list):
        raise HTTPException(422, "a batch is a JSON array of OpenLineage RunEvents")
    try:
        for i, event in enumerate(events):
            _checked(event, f"event {i}")
    except HTTPException:
        INGESTED.labels("invalid").inc(len(events))
        raise
    messages = [(message_key(e), json.dumps(e).encode()) for e in events]
    topic = await _produce(state, messages) if messages else state.settings.topics.openlineage
    return JSONResponse(Accepted(accepted=len(messages), topic=topic).model_dump())
