"""The shapes of the HTTP API, for its OpenAPI document.

Query answers are the query layer's own :class:`typing.TypedDict` shapes
(:mod:`lineage_queries.answers`, ``docs/queries.md``): :func:`answer_model` turns one into a
pydantic model with the same keys (each an alias, so keys like ``from`` or ``schema`` stay
as they are), required and optional keys as declared, and further keys allowed (property maps
of the graph stay open). The routes return the answers as the CLI's ``--json`` prints them
(:class:`~lineage_app.serve.errors.AnswerResponse`); the models only describe them.

The rest are the API's own shapes: :class:`ApiError` (every 4xx and 5xx body),
:class:`Accepted` (ingestion), :class:`DlqSummary` / :class:`DlqRecordView` (``lineage dlq
list`` / ``show --json``), :class:`Health`, and :data:`RUN_EVENT_SCHEMA`, the JSON schema of
an OpenLineage RunEvent as far as the reader (:mod:`lineage_pipeline.openlineage`) checks it.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model

#: TypedDict -> its model, built once.
_MODELS: dict[Any, type[BaseModel]] = {}
#: TypedDicts whose model is being built (a recursive shape refers to itself by name).
_BUILDING: set[Any] = set()


def answer_model(shape: Any) -> type[BaseModel]:
    """Return the pydantic model of the TypedDict ``shape`` (cached; nested shapes too).

    Keys keep their names (as aliases); ``shape.__required_keys__`` are required, the others
    optional; undeclared keys are allowed. A shape that contains itself (``Cause.root``) is
    resolved by name once built.
    """
    if shape in _MODELS:
        return _MODELS[shape]
    _BUILDING.add(shape)
    try:
        hints = typing.get_type_hints(shape)
        fields: dict[str, Any] = {}
        for i, (key, tp) in enumerate(hints.items()):
            default = ... if key in shape.__required_keys__ else None
            fields[f"k{i}"] = (_python_type(tp), Field(default, alias=key))
        model: type[BaseModel] = create_model(
            shape.__name__, __config__=ConfigDict(extra="allow"), **fields)
    finally:
        _BUILDING.discard(shape)
    _MODELS[shape] = model
    if not _BUILDING:  # the outermost shape: resolve the names of recursive shapes
        names = {m.__name__: m for m in _MODELS.values()}
        for built in _MODELS.values():
            built.model_rebuild(_types_namespace=names)
    return model


def _python_type(tp: Any) -> Any:
    """``tp`` with each TypedDict replaced by its model (in lists, dict values, unions);
    read-only mappings become dicts."""
    if typing.is_typeddict(tp):
        return tp.__name__ if tp in _BUILDING else answer_model(tp)
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is list:
        return list[_python_type(args[0])]  # type: ignore[misc]
    if origin in (dict, Mapping) or tp is Mapping:
        value = _python_type(args[1]) if args else Any
        return dict[str, value]  # type: ignore[valid-type]
    if origin in (typing.Union, types.UnionType):
        return typing.Union[tuple(_python_type(a) for a in args)]  # noqa: UP007
    return tp


class ApiError(BaseModel):
    """Every error answer: ``detail`` says what was wrong (for an unknown node the same
    message the CLI prints, with near misses); ``retryable``: the same request may succeed
    later (a graph or broker that is down); ``errors``: the invalid parameters of a 422."""

    detail: str
    retryable: bool = False
    errors: list[dict[str, Any]] | None = None


class Accepted(BaseModel):
    """Ingestion: ``accepted`` events produced to ``topic`` and acknowledged by the broker."""

    accepted: int
    topic: str


class Health(BaseModel):
    """``/healthz``: the server answers."""

    status: str


class DlqSummary(BaseModel):
    """A DLQ record without its payload (``lineage dlq list --json``): ``id``
    (``PARTITION:OFFSET``), the reason and origin from its headers, ``bytes`` kept and
    ``truncated`` (only a prefix of the original kept)."""

    model_config = ConfigDict(extra="allow")

    id: str
    reason: str
    detail: str
    source_topic: str | None
    source_partition: int | None
    source_offset: int | None
    dlq_time_ms: int | None
    value_bytes: int | None
    value_sha256: str | None
    key_bytes: int | None
    bytes: int
    truncated: bool


class DlqRecordView(DlqSummary):
    """One DLQ record (``lineage dlq show --json``): the summary and ``payload`` (pretty JSON,
    else the text, else the hex of the first 512 bytes)."""

    payload: str


_DATASET_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["namespace", "name"],
    "properties": {"namespace": {"type": "string"}, "name": {"type": "string"},
                   "facets": {"type": "object"}},
}

#: An OpenLineage RunEvent (https://openlineage.io/spec/2-0-2/OpenLineage.json) as far as
#: the project's reader requires it; every other key and facet is accepted and kept.
RUN_EVENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["eventTime", "run", "job"],
    "properties": {
        "eventType": {"type": "string",
                      "enum": ["START", "RUNNING", "COMPLETE", "ABORT", "FAIL", "OTHER"]},
        "eventTime": {"type": "string", "format": "date-time"},
        "producer": {"type": "string"},
        "schemaURL": {"type": "string"},
        "run": {"type": "object", "required": ["runId"],
                "properties": {"runId": {"type": "string", "format": "uuid"},
                               "facets": {"type": "object"}}},
        "job": {"type": "object", "required": ["namespace", "name"],
                "properties": {"namespace": {"type": "string"}, "name": {"type": "string"},
                               "facets": {"type": "object"}}},
        "inputs": {"type": "array", "items": _DATASET_SCHEMA},
        "outputs": {"type": "array", "items": _DATASET_SCHEMA},
    },
}
