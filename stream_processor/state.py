"""The processor's two pieces of state, as small interfaces with in-memory implementations.

- :class:`RunStore` — runId -> :class:`StoredRun` (the stitched :class:`RunState` and when the
  processor last changed it). In the Faust app: a Table co-partitioned with the events topic.
  A finished run's state is replaced by its :func:`departed_summary` after a grace window and
  forgotten later (:class:`~stream_processor.processor.EventProcessor`), so the store holds
  the open runs, the recently finished ones and small summaries, not every run ever seen.
- :class:`VersionStore` — dataset uid -> latest version seen GENERATED (by eventTime). In the
  Faust app: a GlobalTable, so every worker resolves inputs produced on any partition.

:class:`MemoryRunStore` and :class:`MemoryVersionStore` keep them in dicts: tests drive
:class:`~stream_processor.processor.EventProcessor` with them, no Kafka.

A run remembers its own latest event ids (:attr:`RunState.seen`), kept and forgotten with
its state: that is the processor's dedupe state, not a store of its own.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from stream_processor.stitch import DatasetState, Reg, RunState


@dataclass(slots=True)
class StoredRun:
    """A run's stitched state and when the processor last merged an event into it (epoch ms,
    processor clock: staleness is measured on it, not on producer clocks).

    ``departed``: ``state`` is only the :func:`departed_summary` of a finished run whose full
    state left the store (late events of it are published so that they cannot regress the
    graph, see :mod:`stream_processor.processor`).
    """

    state: RunState
    touched_ms: int
    departed: bool = False

    def to_json(self) -> dict[str, Any]:
        """JSON-compatible form: ``{"state": ..., "touched_ms": ..., "terminal": ...}``."""
        return {
            "state": self.state.to_json(),
            "touched_ms": self.touched_ms,
            "terminal": self.state.is_terminal,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StoredRun:
        """Rebuild from :meth:`to_json`; raises ``pydantic.ValidationError``/``KeyError``."""
        return cls(RunState.from_json(data["state"]), int(data["touched_ms"]))


class RunStore(Protocol):
    """runId -> :class:`StoredRun`."""

    def get(self, run_id: str) -> StoredRun | None:
        """The stored run, or ``None``."""
        ...

    def put(self, run_id: str, stored: StoredRun) -> None:
        """Store ``stored`` for ``run_id``."""
        ...

    def open_runs_idle_since(self, cutoff_ms: int) -> Iterator[StoredRun]:
        """Runs with no terminal event whose ``touched_ms`` is at or before ``cutoff_ms``."""
        ...

    def finished_runs_idle_since(self, cutoff_ms: int, partition: int) -> Iterator[StoredRun]:
        """Terminal runs still held whole (not departed summaries) whose ``touched_ms`` is at
        or before ``cutoff_ms`` and whose state lives in ``partition`` (the partition of the
        message being handled; a store without partitions ignores it), each as what the
        sweep keeps of it: ``StoredRun(departed_summary(state), touched_ms, departed=True)``
        (a store may build the summary without decoding the whole state)."""
        ...

    def departed_runs_idle_since(self, cutoff_ms: int, partition: int) -> Iterator[str]:
        """The run ids of departed summaries whose ``touched_ms`` is at or before
        ``cutoff_ms``, in ``partition`` (as above), without decoding them: a store holds a
        summary of every run of the last ``departed_memory_s`` and the sweep reads them
        every minute."""
        ...

    def retire(self, run_id: str, stored: StoredRun | None) -> None:
        """Replace a run yielded by :meth:`finished_runs_idle_since` by ``stored`` (a departed
        summary), or delete a run (one of :meth:`departed_runs_idle_since`) when ``stored`` is
        ``None``. Called while a message of the run's partition is handled."""
        ...


class VersionStore(Protocol):
    """dataset uid -> the latest version seen generated."""

    def latest(self, dataset_uid: str) -> str | None:
        """The latest version generated for ``dataset_uid``, or ``None``."""
        ...

    def record(self, dataset_uid: str, version: str, event_time: int) -> None:
        """Note that ``version`` of ``dataset_uid`` was generated at ``event_time`` (ms);
        kept only if later (by eventTime, then version) than the stored one."""
        ...


def newer_version(current: dict[str, Any] | None, version: str, event_time: int) -> bool:
    """``True`` if (``event_time``, ``version``) is later than the stored entry ``current``
    (``{"version": str, "t": int}``)."""
    if current is None:
        return True
    return (event_time, version) > (int(current["t"]), str(current["version"]))


class MemoryRunStore:
    """:class:`RunStore` in a dict."""

    def __init__(self) -> None:
        self.data: dict[str, StoredRun] = {}

    def get(self, run_id: str) -> StoredRun | None:
        """See :class:`RunStore`."""
        return self.data.get(run_id)

    def put(self, run_id: str, stored: StoredRun) -> None:
        """See :class:`RunStore`."""
        self.data[run_id] = stored

    def open_runs_idle_since(self, cutoff_ms: int) -> Iterator[StoredRun]:
        """See :class:`RunStore`."""
        for stored in list(self.data.values()):
            if not stored.state.is_terminal and stored.touched_ms <= cutoff_ms:
                yield stored

    def finished_runs_idle_since(self, cutoff_ms: int, partition: int) -> Iterator[StoredRun]:
        """See :class:`RunStore` (one partition: ``partition`` is ignored)."""
        for stored in list(self.data.values()):
            if (stored.state.is_terminal and not stored.departed
                    and stored.touched_ms <= cutoff_ms):
                yield StoredRun(departed_summary(stored.state), stored.touched_ms, True)

    def departed_runs_idle_since(self, cutoff_ms: int, partition: int) -> Iterator[str]:
        """See :class:`RunStore` (one partition: ``partition`` is ignored)."""
        for run_id, stored in list(self.data.items()):
            if stored.departed and stored.touched_ms <= cutoff_ms:
                yield run_id

    def retire(self, run_id: str, stored: StoredRun | None) -> None:
        """See :class:`RunStore`."""
        if stored is None:
            self.data.pop(run_id, None)
        else:
            self.data[run_id] = stored


class MemoryVersionStore:
    """:class:`VersionStore` in a dict."""

    def __init__(self) -> None:
        self.data: dict[str, dict[str, Any]] = {}

    def latest(self, dataset_uid: str) -> str | None:
        """See :class:`VersionStore`."""
        entry = self.data.get(dataset_uid)
        return None if entry is None else str(entry["version"])

    def record(self, dataset_uid: str, version: str, event_time: int) -> None:
        """See :class:`VersionStore`."""
        if newer_version(self.data.get(dataset_uid), version, event_time):
            self.data[dataset_uid] = {"version": version, "t": event_time}


#: The parts of a :class:`RunState` its :func:`departed_summary` keeps.
SUMMARY_FIELDS = ("runId", "job", "firstSeen", "lastSeen", "startTime", "terminal", "seen")


def departed_summary(state: RunState) -> RunState:
    """What the processor keeps of finished run ``state`` once its grace window is over
    (:data:`SUMMARY_FIELDS`): the run id, job, first/last observation, ``startTime``, winning
    terminal event and the events it remembers (:attr:`RunState.seen`; about 330 bytes in
    memory with its key, bench/pipeline). Enough to publish a late event so that the graph's
    run state and times do not regress, and to count a resent event as a duplicate
    (:mod:`stream_processor.processor`)."""
    parts = {name: getattr(state, name) for name in SUMMARY_FIELDS}
    parts["seen"] = list(state.seen)  # the only mutable part: the summary gets its own
    return RunState(**parts)


# -- compact encoding of a run state (the changelog value) --------------------------------
def _schema_columns(ds: DatasetState) -> dict[str, Reg] | None:
    """``ds.columns`` rebuilt from its ``schema`` facet, or ``None`` when it cannot be."""
    reg = ds.facets.get("schema")
    if reg is None or not isinstance(reg.v, list):
        return None
    return {f["name"]: Reg(reg.t, reg.id, f.get("type"))
            for f in reg.v if isinstance(f, dict) and "name" in f}


def _stats_columns(ds: DatasetState) -> dict[str, Reg] | None:
    """``ds.columnStats`` rebuilt from its ``statistics`` facet, or ``None``."""
    reg = ds.facets.get("statistics")
    cols = reg.v.get("columns") if reg is not None and isinstance(reg.v, dict) else None
    if reg is None or not isinstance(cols, list):
        return None
    return {c["name"]: Reg(reg.t, reg.id, c)
            for c in cols if isinstance(c, dict) and "name" in c}


def _same_regs(regs: dict[str, Reg], facet: Reg | None, rows: Any, value_key: str | None) -> bool:
    """``True`` when ``regs`` is exactly one register per row of ``rows`` (a facet's list of
    dicts with unique ``name``), each written by ``facet``'s event with the row's
    ``value_key`` (the whole row when ``None``) as value: what :func:`_fatten` rebuilds."""
    if facet is None or not isinstance(rows, list) or len(rows) != len(regs):
        return False
    for row in rows:
        if not isinstance(row, dict):
            return False
        reg = regs.get(str(row.get("name")))
        value = row if value_key is None else row.get(value_key)
        if reg is None or reg.t != facet.t or reg.id != facet.id or reg.v != value:
            return False
    return len({row.get("name") for row in rows}) == len(rows)


def _slim(ds: DatasetState) -> DatasetState:
    """``ds`` without the columns / column statistics its facets rebuild exactly."""
    update: dict[str, Any] = {}
    schema, stats = ds.facets.get("schema"), ds.facets.get("statistics")
    if ds.columns and _same_regs(ds.columns, schema, schema.v if schema else None, "type"):
        update["columns"] = {}
    stat_rows = stats.v.get("columns") if stats is not None and isinstance(stats.v, dict) else None
    if ds.columnStats and _same_regs(ds.columnStats, stats, stat_rows, None):
        update["columnStats"] = {}
    return dataclasses.replace(ds, **update) if update else ds


def _fatten(ds: DatasetState) -> None:
    """Rebuild what :func:`_slim` left out (in place)."""
    if not ds.columns:
        ds.columns = _schema_columns(ds) or {}
    if not ds.columnStats:
        ds.columnStats = _stats_columns(ds) or {}


#: The preset dictionary of :func:`encode_state` (RFC 1950 FDICT, as ``zlib`` takes it): the
#: structure every run state's JSON repeats (field names, facet names, register shapes,
#: common OpenLineage values), the most frequent last. A small state compresses poorly
#: without history: a departed summary 295 -> 174 bytes, a typical finished run about 14 %
#: smaller (bench/pipeline). Never change it: stored values name it by their format byte
#: (:data:`stream_processor.table_stores.RUN_VALUE_FORMAT`); a new dictionary needs a new
#: format.
STATE_DICTIONARY = (
    b'"type":"VARCHAR","type":"BIGINT","type":"DOUBLE","type":"TIMESTAMP","type":"DATE",'
    b'"type":"BOOLEAN","type":"INTEGER","type":"STRING","type":"DECIMAL",'
    b'"transformations":[{"type":"DIRECT","subtype":"IDENTITY","description":"",'
    b'"masking":false}],"subtype":"TRANSFORMATION","subtype":"AGGREGATION",'
    b'"codeVersion":[,"",{"gitSha":"","dirty":false,"repository":"","branch":"main",'
    b'"entryPoint":""}]},"nominalTime":[,"",{"nominalStartTime":,"nominalEndTime":null}],'
    b'"jobFacets":{"jobType":[,"",{"processingType":"BATCH","integration":"SPARK",'
    b'"jobType":"JOB"}]},"parameters":{},"metrics":{},"runExtra":{},"jobExtra":{},'
    b'"producer":[,"",""],"parent":null,"runFacets":{},"inputs":{},"outputs":{},'
    b'"statistics":[,"",{"rowCount":,"bytes":,"columns":[{"name":"","nullCount":,'
    b'"distinctCount":,"min":null,"max":null,"mean":null},"columnStats":{},"columns":{},'
    b'"lineage":{},"lineageSources":{},"masking":null,"truncated":false,"extra":{},'
    b'{"runId":"","job":[,"",["",""]],"firstSeen":,"lastSeen":,"startTime":,'
    b'"terminal":[,"","COMPLETE"],"current":[,"","START"],"kind":null,"version":null,'
    b'"resolvedVersion":null,"facets":{"schema":[,"",[{"name":"","type":"",'
    b'"namespace":"","name":"","firstSeen":,"lastSeen":,"description":null,"tags":[]},'
    b'{"name":"'
)


def encode_state(state: RunState, preset: bool = True) -> bytes:
    """The compact bytes of ``state``: its JSON without the columns and column statistics its
    dataset facets rebuild exactly, raw-deflated (RFC 1951) with the preset
    :data:`STATE_DICTIONARY` (without it when ``preset`` is false: the earlier format; a
    typical open run of ``bench/pipeline``: about 1 KB instead of 25 KB).
    :func:`decode_state` reverses it."""
    slim = dataclasses.replace(
        state, inputs={k: _slim(ds) for k, ds in state.inputs.items()},
        outputs={k: _slim(ds) for k, ds in state.outputs.items()})
    packer = (zlib.compressobj(6, zlib.DEFLATED, -15, zdict=STATE_DICTIONARY) if preset
              else zlib.compressobj(6, zlib.DEFLATED, -15))
    return packer.compress(slim.to_json_bytes()) + packer.flush()


def _inflate(packed: bytes, preset: bool) -> bytes:
    """The JSON of :func:`encode_state`'s bytes (raises ``zlib.error``)."""
    unpacker = (zlib.decompressobj(-15, zdict=STATE_DICTIONARY) if preset
                else zlib.decompressobj(-15))
    return unpacker.decompress(packed) + unpacker.flush()


def decode_summary(packed: bytes, preset: bool = True) -> RunState:
    """``departed_summary(decode_state(packed, preset))`` at a fraction of the cost: only the
    :data:`SUMMARY_FIELDS` of the state's JSON are validated (the whole state of a finished
    run, its datasets with their columns, about 1.5 ms; this, about 0.2 ms). Raises
    ``ValueError`` (``zlib.error``, ``json.JSONDecodeError``, ``pydantic.ValidationError``)."""
    data = json.loads(_inflate(packed, preset))
    return RunState.from_json({k: data[k] for k in SUMMARY_FIELDS if k in data})


def decode_state(packed: bytes | str, preset: bool = True) -> RunState:
    """The state of :func:`encode_state`'s bytes (equal to the encoded one; ``preset``: as
    they were encoded); a ``str`` is the base64 text of bytes without the dictionary that
    older changelog values hold. Raises ``ValueError`` (``binascii.Error``, ``zlib.error``,
    ``pydantic.ValidationError``)."""
    if isinstance(packed, str):
        packed, preset = base64.b64decode(packed), False
    state = RunState.from_json_bytes(_inflate(packed, preset))
    for ds in state.inputs.values():
        _fatten(ds)
    for ds in state.outputs.values():
        _fatten(ds)
    return state
