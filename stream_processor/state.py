"""The processor's three pieces of state, as small interfaces with in-memory implementations.

- :class:`RunStore` — runId -> :class:`StoredRun` (the stitched :class:`RunState` and when the
  processor last changed it). In the Faust app: a Table co-partitioned with the events topic.
- :class:`DedupeStore` — event ids seen within the dedupe window. In the Faust app: a
  tumbling-window Table whose old windows expire.
- :class:`VersionStore` — dataset uid -> latest version seen GENERATED (by eventTime). In the
  Faust app: a GlobalTable, so every worker resolves inputs produced on any partition.

:class:`MemoryRunStore`, :class:`MemoryDedupeStore` and :class:`MemoryVersionStore` keep them
in dicts: tests drive :class:`~stream_processor.processor.EventProcessor` with them, no Kafka.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from stream_processor.stitch import RunState


@dataclass(slots=True)
class StoredRun:
    """A run's stitched state and when the processor last merged an event into it (epoch ms,
    processor clock: staleness is measured on it, not on producer clocks)."""

    state: RunState
    touched_ms: int

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


class DedupeStore(Protocol):
    """The event ids seen recently."""

    def seen(self, event_id: str) -> bool:
        """``True`` if ``event_id`` was marked within the dedupe window."""
        ...

    def mark(self, event_id: str) -> None:
        """Remember ``event_id`` for the dedupe window."""
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


class MemoryDedupeStore:
    """:class:`DedupeStore` in a dict of event id -> mark time, entries older than
    ``window_s`` seconds are forgotten (``clock`` returns seconds)."""

    def __init__(self, window_s: float, clock: Callable[[], float] = time.time) -> None:
        self.window_s = window_s
        self.clock = clock
        self.data: dict[str, float] = {}

    def seen(self, event_id: str) -> bool:
        """See :class:`DedupeStore`."""
        marked = self.data.get(event_id)
        return marked is not None and self.clock() - marked < self.window_s

    def mark(self, event_id: str) -> None:
        """See :class:`DedupeStore`."""
        now = self.clock()
        if len(self.data) > 100_000:
            self.data = {k: t for k, t in self.data.items() if now - t < self.window_s}
        self.data[event_id] = now


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
