"""How the HTTP API answers: JSON answers as the CLI prints them, and every error as an
:class:`~lineage_app.serve.models.ApiError` with its status.

The project's exceptions map to statuses (:func:`status_of`):

- :class:`~lineage_pipeline.errors.NotFoundError` (the graph holds no such node, column or
  record, or not yet at ``asOf``) -> 404, with the query layer's message (the same the CLI
  prints, near misses included); any other :class:`QueryError` (a question that cannot be
  answered as asked) -> 422;
- a retryable :class:`~lineage_pipeline.errors.LineageError` (graph or broker unavailable,
  timed out) -> 503 with ``Retry-After``;
- any other :class:`LineageError` (e.g. :class:`ConfigError`: the server's configuration) -> 500;
- invalid parameters (FastAPI's validation) -> 422 with the invalid ``errors``.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from lineage_app.serve.models import ApiError
from lineage_pipeline.errors import LineageError, NotFoundError, QueryError

log = logging.getLogger(__name__)

#: Seconds a client is asked to wait before retrying a 503.
RETRY_AFTER_S = 5
#: Statuses every protected route may answer besides its own (documented per route).
COMMON_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ApiError, "description": "No or unknown API token."},
    403: {"model": ApiError, "description": "The token's role may not use this endpoint."},
    422: {"model": ApiError, "description": "Invalid parameters or body."},
    429: {"model": ApiError, "description": "Rate limit of the token exceeded (Retry-After)."},
    503: {"model": ApiError, "description": "Graph or broker unavailable; retry later."},
}
#: What a query route adds: an unknown node.
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ApiError, "description": "No such node in the graph (near misses named)."},
}


def _finite(value: Any) -> Any:
    """``value`` with every NaN or infinite float (nested) replaced by ``None``."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


class AnswerResponse(Response):
    """A query answer as ``lineage ... --json`` prints it (``json.dumps(answer,
    default=str)``), UTF-8; a NaN or infinite number (not JSON) becomes ``null``."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        try:
            text = json.dumps(content, default=str, ensure_ascii=False, allow_nan=False)
        except ValueError:  # NaN or infinity somewhere
            text = json.dumps(_finite(content), default=str, ensure_ascii=False)
        return text.encode("utf-8")


def error_response(status: int, detail: str, *, retryable: bool = False,
                   errors: list[dict[str, Any]] | None = None,
                   headers: Mapping[str, str] | None = None) -> JSONResponse:
    """An :class:`ApiError` body with ``status`` (and ``headers``, e.g. ``Retry-After``)."""
    body = ApiError(detail=detail, retryable=retryable, errors=errors)
    return JSONResponse(body.model_dump(exclude_none=True), status_code=status,
                        headers=dict(headers) if headers else None)


def status_of(exc: LineageError) -> int:
    """The HTTP status of a project exception (see the module docstring)."""
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, QueryError):
        return 422
    if exc.is_retryable():
        return 503
    return 500


async def _lineage_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LineageError)
    status = status_of(exc)
    if status >= 500:
        log.warning("request failed (%s): %s", type(exc).__name__, exc)
    headers = {"Retry-After": str(RETRY_AFTER_S)} if status == 503 else None
    return error_response(status, str(exc), retryable=exc.is_retryable(), headers=headers)


async def _invalid(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = [{"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", "")),
               "type": str(e.get("type", ""))} for e in exc.errors()]
    where = "; ".join(f"{'.'.join(e['loc'])}: {e['msg']}" for e in errors)
    return error_response(422, f"invalid request: {where}", errors=errors)


async def _http(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    return error_response(exc.status_code, str(exc.detail), headers=exc.headers)


async def _unexpected(_request: Request, exc: Exception) -> Response:
    log.exception("unexpected error: %s", type(exc).__name__)
    return error_response(500, f"internal error ({type(exc).__name__})")


def install(app: FastAPI) -> None:
    """Register the handlers that turn exceptions into :class:`ApiError` answers."""
    app.add_exception_handler(LineageError, _lineage_error)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(Exception, _unexpected)
