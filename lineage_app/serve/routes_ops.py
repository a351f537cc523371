"""Operations endpoints: ``/healthz`` and ``/metrics`` (the only ones without a token),
``/openapi.json`` (any valid token), and the dead-letter queue (``admin``):
``GET /api/v1/dlq`` (``lineage dlq list --json``) and ``GET /api/v1/dlq/{recordId}``
(``lineage dlq show ID --json``). The DLQ is read from the broker (:mod:`lineage_app.dlq`);
a broker that cannot be reached answers 503.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from lineage_app.serve.auth import DLQ_ROLES, ROLES, Principal
from lineage_app.serve.errors import COMMON_ERRORS, NOT_FOUND, AnswerResponse
from lineage_app.serve.models import DlqRecordView, DlqSummary, Health
from lineage_app.serve.state import ServeState, requires, state_of

router = APIRouter()
dlq_router = APIRouter(prefix="/api/v1", tags=["dead-letter queue"],
                       responses={**COMMON_ERRORS, **NOT_FOUND})

Admin = Annotated[Principal, Depends(requires(DLQ_ROLES))]
AnyRole = Annotated[Principal, Depends(requires(frozenset(ROLES)))]
State = Annotated[ServeState, Depends(state_of)]


@router.get("/healthz", response_model=Health, tags=["operations"], operation_id="health")
def health() -> Health:
    """The server answers (no token needed)."""
    return Health(status="ok")


@router.get("/metrics", tags=["operations"], operation_id="metrics",
            response_class=Response,
            responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}},
                             "description": "Prometheus text exposition."}})
def metrics() -> Response:
    """Prometheus metrics of this process (no token needed)."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


@router.get("/openapi.json", include_in_schema=False)
def openapi(_principal: AnyRole, request: Request) -> JSONResponse:
    """The OpenAPI document (any valid token)."""
    return JSONResponse(request.app.openapi())


@dlq_router.get("/dlq", response_model=list[DlqSummary], operation_id="dlqList")
def dlq_list(_principal: Admin, state: State,
             reason: Annotated[str | None, Query(description="Only records with this reason.")
                               ] = None) -> Response:
    """DLQ records without their payloads: id, reason, origin, size (``lineage dlq list
    --json``)."""
    from lineage_app import dlq

    records = dlq.read_dlq(state.settings)
    summaries: list[dict[str, Any]] = [r.summary() for r in records
                                       if reason is None or r.reason == reason]
    return AnswerResponse(summaries)


@dlq_router.get("/dlq/{record_id}", response_model=DlqRecordView, operation_id="dlqShow")
def dlq_show(_principal: Admin, state: State,
             record_id: Annotated[str, Path(pattern=r"^\d{1,9}:\d{1,18}$", description=(
                 "PARTITION:OFFSET from the list."))]) -> Response:
    """One DLQ record: why, where from, and its payload (``lineage dlq show ID --json``)."""
    from lineage_app import dlq

    record = dlq.get_record(state.settings, record_id)
    return AnswerResponse({**record.summary(), "payload": dlq.payload_text(record.value)})
