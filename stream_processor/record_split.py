"""Wide runs: a graph record over the size cap is split into several records, never dropped.

A run with thousands of inputs, outputs or columns can make one graph record
(:mod:`lineage_pipeline.graph_record`) larger than ``processor.max_record_bytes`` (1 MiB by
default, Kafka's default message limit). :func:`split_record` cuts it into records that
each fit: every part carries the run rows (``runs``, a few hundred bytes) so each part is a
complete record of the same run; the job rows and the datasets no row names go in the first
part; the ``versions``, ``consumed``, ``schemas`` and ``lineages`` rows are packed into parts
in their order, each part naming (and re-indexing) only the datasets its rows refer to. A
column lineage too large for one part is cut into pieces of its column pairs (same
``uid``: each piece adds its ``DERIVED_FROM`` relationships). The sink writes every part
on its own; its writes are idempotent upserts that create missing endpoints by uid, so the
union of the parts writes exactly what the whole record would (tested element by element).

A schema row too large for one part is cut the same way, into pieces of consecutive
columns: each piece names the whole schema's ``fieldCount`` and the position (``offset``) of
its first column (``graph_record.v2``), so every piece writes the same ``Schema`` node and
each ``HAS_FIELD`` keeps its column's position.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from lineage_pipeline.graph_record import GraphRecord, LineageRow, SchemaRow, new_record

#: The lists of rows that are packed into parts, in expansion order.
_PACKED = ("versions", "consumed", "schemas", "lineages")


def _size(row: Any) -> int:
    """An upper estimate of ``row``'s Avro size, bytes: its compact JSON (Avro writes no
    field names, so it is smaller)."""
    return len(json.dumps(row, separators=(",", ":"), ensure_ascii=False).encode())


def _refs(kind: str, row: Any) -> list[int]:
    """The dataset indexes ``row`` of list ``kind`` refers to."""
    if kind == "lineages":
        return [row["output"], *(p["input"] for p in row["pairs"])]
    return [row["dataset"]]


def _chunks(items: list[Any], budget: int) -> Iterator[tuple[int, list[Any]]]:
    """``(index of the first, items)`` of consecutive runs of ``items`` of about ``budget``
    bytes each (at least one item each)."""
    chunk: list[Any] = []
    start = size = 0
    for i, item in enumerate(items):
        cost = _size(item)
        if chunk and size + cost > budget:
            yield start, chunk
            chunk, start, size = [], i, 0
        chunk.append(item)
        size += cost
    yield start, chunk


def _pieces(kind: str, row: Any, budget: int) -> Iterator[Any]:
    """``row`` of list ``kind`` as it goes into parts: whole when it fits ``budget`` bytes,
    else (a column lineage or a schema) cut into pieces of consecutive column pairs or
    columns of about ``budget`` bytes each."""
    if kind == "lineages" and _size(row) > budget:
        lineage: LineageRow = row
        for _start, pairs in _chunks(lineage["pairs"], budget):
            yield {**lineage, "pairs": pairs}
    elif kind == "schemas" and _size(row) > budget:
        schema: SchemaRow = row
        total, offset = schema["fieldCount"], schema["offset"]
        for start, fields in _chunks(schema["fields"], budget):
            yield {**schema, "fields": fields, "offset": offset + start,
                   "fieldCount": len(schema["fields"]) if total is None else total}
    else:
        yield row


class _Part:
    """One part being filled: its rows and the datasets they name (old index -> new)."""

    def __init__(self, record: GraphRecord, first: bool) -> None:
        self.source = record
        self.record = new_record(record["sourceEventId"], record["eventTime"],
                                 record["publishedAt"])
        self.record["runs"] = record["runs"]
        self.index: dict[int, int] = {}
        self.size = _size(record["runs"])
        if first:
            self.record["jobs"] = record["jobs"]
            self.size += _size(record["jobs"])

    def cost(self, kind: str, row: Any) -> int:
        """Bytes ``row`` adds: itself and the datasets it names that the part lacks."""
        datasets = self.source["datasets"]
        return _size(row) + sum(_size(datasets[i]) for i in set(_refs(kind, row))
                                if i not in self.index)

    def dataset(self, old: int) -> int:
        """The part's index of the record's dataset ``old`` (added when new)."""
        if old not in self.index:
            self.index[old] = len(self.record["datasets"])
            self.record["datasets"].append(self.source["datasets"][old])
        return self.index[old]

    def add(self, kind: str, row: Any, cost: int) -> None:
        """Add ``row`` to list ``kind``, its dataset indexes mapped to the part's."""
        copy = dict(row)
        if kind == "lineages":
            copy["output"] = self.dataset(row["output"])
            copy["pairs"] = [{**p, "input": self.dataset(p["input"])} for p in row["pairs"]]
        else:
            copy["dataset"] = self.dataset(row["dataset"])
        self.record[kind].append(copy)  # type: ignore[literal-required]
        self.size += cost


def split_record(record: GraphRecord, max_bytes: int) -> list[GraphRecord]:
    """Cut ``record`` into records of an estimated at most ``3/4 max_bytes`` bytes each (see
    the module docstring: the estimate, compact JSON, is above the Avro size, about three
    times for these rows; the caller encodes each part and checks it against its cap).
    Returns at least one record; a row larger than the budget alone gets a part of its
    own."""
    budget = max_bytes * 3 // 4
    parts = [_Part(record, first=True)]
    for kind in _PACKED:
        for row in record[kind]:  # type: ignore[literal-required]
            for piece in _pieces(kind, row, budget // 2):
                part = parts[-1]
                cost = part.cost(kind, piece)
                if part.size + cost > budget and any(
                        part.record[k] for k in _PACKED):  # type: ignore[literal-required]
                    part = _Part(record, first=False)
                    parts.append(part)
                    cost = part.cost(kind, piece)
                part.add(kind, piece, cost)
    named = set().union(*(p.index for p in parts))
    for old in range(len(record["datasets"])):
        if old not in named:
            parts[0].dataset(old)  # a dataset no row names (written as a node only)
    return [p.record for p in parts]
