"""The event size cap: an encoded event larger than the cap is cut to fit, never sent oversize.

Size is measured on the encoded bytes (the codec's framing included). When an event is over
the cap, facets are removed in this order — least important first, and within each step the
largest first — re-encoding until it fits; each cut facet's path is appended to
``event.truncated`` (e.g. ``"outputs[0].columnLineage"``):

1. open extension facets: ``run.extra.<name>``, ``job.extra.<name>``,
   ``inputs[i].extra.<name>``, ``outputs[i].extra.<name>``;
2. column lineage: ``inputs[i].columnLineage``, ``outputs[i].columnLineage``;
3. per-column statistics: ``<dataset>.statistics.columns`` (row count and bytes stay);
4. dataset schemas: ``<dataset>.schema``;
5. symlinks and data source: ``<dataset>.symlinks``, ``<dataset>.dataSource``;
6. the SQL text: ``job.sql``;
7. the stack trace, cut to its last 2 KiB: ``run.error.stackTrace``;
8. package versions: ``run.environment.packages``;
9. parameters and metrics: ``run.parameters``, ``run.metrics``;
10. the error message, cut to 1 KiB: ``run.error.message``.

Identity (event id and type, run, job, dataset names, versions, kinds), content digests,
row counts, code version, parent and nominal time are never cut. If the event still does
not fit, :meth:`SizeCap.fit` returns ``None`` and the client drops it (counted as
``oversize``).

A wide event (thousands of inputs or outputs) is split before anything is cut
(:meth:`SizeCap.fit_all`): its datasets are halved, recursively, into events of the same
run, type and time that each fit with their facets whole; the first part keeps the event id
and the run and job facets, each other part gets the id
``uuid5(URL, "<eventId>/part/<first dataset index>")`` (the same for a resent event, so the
processor's dedupe holds) and the run's identity only. The processor stitches the parts
back into one run (inputs and outputs are unions), so nothing of a wide run is lost; only a
single dataset too big for the cap on its own has its facets cut as above.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Protocol

from lineage_pipeline.events import Dataset, JobFacets, LineageEvent, RunFacets

_TRACE_KEEP = 2048
_MESSAGE_KEEP = 1024


@dataclass
class _Cut:
    tier: int
    size: int
    path: str
    apply: Callable[[], None]


def _pop(mapping: dict[str, str], key: str) -> None:
    mapping.pop(key, None)


def _size(value: object) -> int:
    if hasattr(value, "model_dump"):
        value = value.model_dump(mode="json", by_alias=True)
    try:
        return len(json.dumps(value, default=str))
    except (TypeError, ValueError):
        return len(str(value))


def _dataset_cuts(prefix: str, ds: Dataset) -> list[_Cut]:
    f = ds.facets
    cuts: list[_Cut] = []
    for key, text in f.extra.items():
        cuts.append(_Cut(1, len(text), f"{prefix}.extra.{key}", partial(_pop, f.extra, key)))
    if f.columnLineage:
        cuts.append(_Cut(2, _size(f.columnLineage), f"{prefix}.columnLineage",
                         lambda: setattr(f, "columnLineage", None)))
    if f.statistics is not None and f.statistics.columns:
        stats = f.statistics
        cuts.append(_Cut(3, _size(stats.columns), f"{prefix}.statistics.columns",
                         lambda: setattr(stats, "columns", [])))
    if f.schema_:
        cuts.append(_Cut(4, _size(f.schema_), f"{prefix}.schema",
                         lambda: setattr(f, "schema_", None)))
    if f.symlinks:
        cuts.append(_Cut(5, _size(f.symlinks), f"{prefix}.symlinks",
                         lambda: setattr(f, "symlinks", None)))
    if f.dataSource is not None:
        cuts.append(_Cut(5, _size(f.dataSource), f"{prefix}.dataSource",
                         lambda: setattr(f, "dataSource", None)))
    return cuts


def _cuts(event: LineageEvent) -> list[_Cut]:
    rf = event.run.facets
    jf = event.job.facets
    cuts: list[_Cut] = []
    for key, text in rf.extra.items():
        cuts.append(_Cut(1, len(text), f"run.extra.{key}", partial(_pop, rf.extra, key)))
    for key, text in jf.extra.items():
        cuts.append(_Cut(1, len(text), f"job.extra.{key}", partial(_pop, jf.extra, key)))
    for i, ds in enumerate(event.inputs):
        cuts += _dataset_cuts(f"inputs[{i}]", ds)
    for i, ds in enumerate(event.outputs):
        cuts += _dataset_cuts(f"outputs[{i}]", ds)
    if jf.sql is not None:
        cuts.append(_Cut(6, _size(jf.sql), "job.sql", lambda: setattr(jf, "sql", None)))
    error = rf.error
    if error is not None and error.stackTrace and len(error.stackTrace) > _TRACE_KEEP:
        trace = error.stackTrace

        def cut_trace() -> None:
            error.stackTrace = "...\n" + trace[-_TRACE_KEEP:]

        cuts.append(_Cut(7, len(trace) - _TRACE_KEEP, "run.error.stackTrace", cut_trace))
    env = rf.environment
    if env is not None and env.packages:
        cuts.append(_Cut(8, _size(env.packages), "run.environment.packages",
                         lambda: setattr(env, "packages", {})))
    if rf.parameters:
        cuts.append(_Cut(9, _size(rf.parameters), "run.parameters",
                         lambda: setattr(rf, "parameters", {})))
    if rf.metrics:
        cuts.append(_Cut(9, _size(rf.metrics), "run.metrics",
                         lambda: setattr(rf, "metrics", {})))
    if error is not None and len(error.message) > _MESSAGE_KEEP:
        message = error.message

        def cut_message() -> None:
            error.message = message[:_MESSAGE_KEEP] + "..."

        cuts.append(_Cut(10, len(message) - _MESSAGE_KEEP, "run.error.message", cut_message))
    cuts.sort(key=lambda c: (c.tier, -c.size))
    return cuts


class Encoder(Protocol):
    """Encodes an event to its wire bytes (an :class:`~lineage_pipeline.codec.EventCodec` or
    an :class:`~emitters.avro_writer.EventEncoder`); raises ``EventError``."""

    def encode(self, event: LineageEvent) -> bytes: ...


class SizeCap:
    """Fits events under ``max_bytes`` of encoded size (see the module docstring).

    ``codec``: encodes the event (its framing counts toward the cap); an event within the
    cap is encoded once.
    """

    def __init__(self, codec: Encoder, max_bytes: int) -> None:
        self.codec = codec
        self.max_bytes = max_bytes

    def fit(self, event: LineageEvent) -> tuple[LineageEvent, bytes] | None:
        """Return ``(event, encoded bytes)`` within the cap, or ``None`` if it cannot fit.

        The returned event is ``event`` itself when it fits, else a truncated deep copy
        listing what was cut in ``truncated``. Raises ``EventError`` from the codec when the
        event does not fit the Avro schema at all.
        """
        data = self.codec.encode(event)
        if len(data) <= self.max_bytes:
            return event, data
        cut = event.model_copy(deep=True)
        excess = len(data) - self.max_bytes
        for step in _cuts(cut):
            step.apply()
            if step.path not in cut.truncated:
                cut.truncated.append(step.path)
            excess -= step.size
            if excess > 0:
                continue
            data = self.codec.encode(cut)
            if len(data) <= self.max_bytes:
                return cut, data
            excess = len(data) - self.max_bytes
        return None

    def fit_all(self, event: LineageEvent) -> list[tuple[LineageEvent, bytes]]:
        """Return the events to send for ``event``, each with its encoded bytes within the
        cap: ``event`` itself when it fits, else its parts (see the module docstring), each
        part cut by :meth:`fit` only when a single dataset does not fit; ``[]`` when even
        that cannot fit. Raises ``EventError`` as :meth:`fit` does."""
        data = self.codec.encode(event)
        if len(data) <= self.max_bytes:
            return [(event, data)]
        datasets = [("inputs", d) for d in event.inputs] + [("outputs", d) for d in event.outputs]
        if len(datasets) <= 1:
            fitted = self.fit(event)
            return [fitted] if fitted is not None else []
        return self._halves(event, datasets, 0, first=True)

    def _part(self, event: LineageEvent, datasets: list[tuple[str, Dataset]], start: int,
              first: bool) -> LineageEvent:
        """The event of ``datasets`` (from dataset index ``start`` on) of ``event``."""
        part = event.model_copy(update={
            "inputs": [d for side, d in datasets if side == "inputs"],
            "outputs": [d for side, d in datasets if side == "outputs"]})
        if not first:
            run = event.run.model_copy(update={"facets": RunFacets()})
            job = event.job.model_copy(update={"facets": JobFacets()})
            part = part.model_copy(update={
                "eventId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{event.eventId}/part/{start}")),
                "run": run, "job": job})
        return part

    def _halves(self, event: LineageEvent, datasets: list[tuple[str, Dataset]], start: int,
                first: bool) -> list[tuple[LineageEvent, bytes]]:
        part = self._part(event, datasets, start, first)
        data = self.codec.encode(part)
        if len(data) <= self.max_bytes:
            return [(part, data)]
        if len(datasets) == 1:
            fitted = self.fit(part)
            return [fitted] if fitted is not None else []
        middle = len(datasets) // 2
        return (self._halves(event, datasets[:middle], start, first)
                + self._halves(event, datasets[middle:], start + middle, False))
