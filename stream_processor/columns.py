"""A dataset's columns as the graph stores them: its schema, its column statistics, and the
column lineage a run declares for an output (:mod:`stream_processor.mapping` uses them).

All three read the stitched :class:`~stream_processor.stitch.DatasetState` registers directly
(plain JSON values), without building models: they run for every publication of a run.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from lineage_pipeline.graph_model import (
    LineagePairKey,
    SchemaColumn,
    lineage_uid,
    schema_hash,
)
from lineage_pipeline.pii import current_policy
from stream_processor.stitch import DatasetState
from stream_processor.stitch.datasets import lineage_key_parts

#: Column statistics kept per column, in this order.
STAT_KEYS = ("nullCount", "distinctCount", "min", "max", "mean")


def schema_columns(ds: DatasetState) -> list[SchemaColumn]:
    """The columns of ``ds`` as its schema: the latest ``schema`` facet's columns in facet
    order, then any other column an earlier schema facet or a ``statistics`` facet named
    (sorted), each with its latest type and its tags (the facet's tags plus those of the PII
    policy, :func:`lineage_pipeline.pii.current_policy`). Empty when no column is known."""
    facet = ds.facets.get("schema")
    rows: list[Any] = facet.v if facet is not None and isinstance(facet.v, list) else []
    order: list[str] = []
    declared: dict[str, list[str]] = {}
    for row in rows:
        if isinstance(row, dict) and isinstance(row.get("name"), str):
            name = row["name"]
            if name not in declared:
                order.append(name)
                declared[name] = [str(t) for t in row.get("tags") or ()]
    extra = sorted((set(ds.columns) | set(ds.columnStats)) - set(declared))
    policy = current_policy()
    out: list[SchemaColumn] = []
    for name in order + extra:
        reg = ds.columns.get(name)
        type_ = reg.v if reg is not None and isinstance(reg.v, str) else None
        out.append((name, type_, tuple(policy.classify(name, declared.get(name, ())))))
    return out


def schema_of(ds: DatasetState) -> tuple[str, list[SchemaColumn]] | None:
    """``(schema hash, columns)`` of ``ds`` (:func:`schema_columns`), or ``None`` when it has
    no known column. The hash is cached by content: every run of a job brings the same
    schemas again."""
    columns = schema_columns(ds)
    return (_schema_hash(tuple(columns)), columns) if columns else None


@lru_cache(maxsize=1 << 15)
def _schema_hash(columns: tuple[SchemaColumn, ...]) -> str:
    return schema_hash(columns)


@lru_cache(maxsize=1 << 15)
def lineage_uid_of(job: str, output: str, pairs: tuple[LineagePairKey, ...],
                   descriptions: tuple[str, ...] = ()) -> str:
    """:func:`~lineage_pipeline.graph_model.lineage_uid`, cached by content (every run of a
    job declares the same lineage again); ``descriptions``: the pairs' transformation
    descriptions (``pair key text = description``), part of the content when any."""
    return lineage_uid(job, output, pairs, descriptions)


def column_stats_json(ds: DatasetState) -> str | None:
    """The ``columnStats`` text of ``ds``: JSON of ``{column: {stat: value}}`` for every
    column with at least one statistic (:data:`STAT_KEYS`; ``None`` and non-finite values left
    out), sorted, compact; ``None`` when there is none."""
    out: dict[str, dict[str, Any]] = {}
    for name, reg in ds.columnStats.items():
        value = reg.v if isinstance(reg.v, dict) else {}
        stats = {k: value[k] for k in STAT_KEYS if _finite(value.get(k))}
        if stats:
            out[name] = stats
    if not out:
        return None
    return json.dumps(out, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _finite(value: Any) -> bool:
    if value is None or isinstance(value, bool):
        return False
    if isinstance(value, float):
        return value == value and value not in (float("inf"), float("-inf"))
    return isinstance(value, int | str)


def lineage_pairs(out: DatasetState
                  ) -> list[tuple[LineagePairKey, tuple[str, str], str | None]]:
    """The column lineage declared for output ``out``: per (output column, input column)
    pair its key ``(out column, input dataset uid, input column, transformation, subtype,
    masking)``, the input dataset's ``(namespace, name)`` and the transformations'
    description (``None`` when none has one). Several transformations of one pair give the
    sorted, comma-joined types and subtypes (e.g. ``"DIRECT,INDIRECT"``) and their
    descriptions joined by ``"; "``; ``masking`` is true when any masks."""
    pairs = []
    for key, reg in sorted(out.lineage.items()):
        out_field, namespace, name, in_field, uid = lineage_key_parts(key)
        kind, subtype, masking, described = _transformations(reg.v)
        pairs.append(((out_field, uid, in_field, kind, subtype, masking),
                      (namespace, name), described))
    return pairs


def _transformations(value: Any) -> tuple[str | None, str | None, bool, str | None]:
    """``(types, subtypes, masking, descriptions)`` of a pair's transformations (see
    :func:`lineage_pairs`); one transformation, the usual case, without building sets."""
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], dict):
        t = value[0]
        return (str(t["type"]) if t.get("type") else None,
                str(t["subtype"]) if t.get("subtype") else None, bool(t.get("masking")),
                str(t["description"]) if t.get("description") else None)
    transformations = [t for t in value or () if isinstance(t, dict)]
    kinds = sorted({str(t["type"]) for t in transformations if t.get("type")})
    subtypes = sorted({str(t["subtype"]) for t in transformations if t.get("subtype")})
    described = sorted({str(t["description"]) for t in transformations
                        if t.get("description")})
    return (",".join(kinds) or None, ",".join(subtypes) or None,
            any(bool(t.get("masking")) for t in transformations), "; ".join(described) or None)
