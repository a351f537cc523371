"""The processor's stores (:mod:`stream_processor.state` interfaces) over Faust tables.

Each adapter takes the table object :mod:`stream_processor.app` created (a Faust ``Table``,
windowed ``Table`` or ``GlobalTable``; typed ``Any``: this module does not import Faust).
Writes need a current Faust event: a table writes its changelog to that event's partition.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from stream_processor.state import StoredRun, newer_version
from stream_processor.stitch import RunState


class FaustRunStore:
    """:class:`~stream_processor.state.RunStore` over a Faust Table.

    A value is ``{"state": <RunState as JSON text>, "touched_ms": int, "terminal": bool}``:
    the stitched state is kept as one string, not as nested dicts. A run's state is thousands
    of small objects as dicts, all tracked by Python's cyclic garbage collector; with a few
    thousand runs in the table a full collection took over a second (a p99 latency spike in
    bench/pipeline), as text it is one untracked object. pydantic also writes and reads the
    text (``model_dump_json``/``model_validate_json``) faster than dicts. Values whose
    ``state`` is a dict (an older changelog) are still read.
    """

    def __init__(self, table: Any) -> None:
        self.table = table

    @staticmethod
    def _load(raw: dict[str, Any]) -> StoredRun:
        state = raw["state"]
        if isinstance(state, str):
            return StoredRun(RunState.model_validate_json(state), int(raw["touched_ms"]))
        return StoredRun.from_json(raw)

    def get(self, run_id: str) -> StoredRun | None:
        """See :class:`~stream_processor.state.RunStore`."""
        raw = self.table.get(run_id)
        return None if raw is None else self._load(raw)

    def put(self, run_id: str, stored: StoredRun) -> None:
        """See :class:`~stream_processor.state.RunStore` (needs a current Faust event)."""
        self.table[run_id] = {
            "state": stored.state.model_dump_json(),
            "touched_ms": stored.touched_ms,
            "terminal": stored.state.is_terminal,
        }

    def open_runs_idle_since(self, cutoff_ms: int) -> Iterator[StoredRun]:
        """See :class:`~stream_processor.state.RunStore`; parses only the matching runs."""
        for _key, raw in list(self.table.items()):
            if not raw.get("terminal") and int(raw.get("touched_ms", 0)) <= cutoff_ms:
                yield self._load(raw)


class FaustDedupeStore:
    """:class:`~stream_processor.state.DedupeStore` over a tumbling-window Faust Table
    (windows of ``window_s`` seconds on the processor clock; an id counts as seen in the
    current or the previous window, see :mod:`stream_processor.app`)."""

    def __init__(self, windowed: Any, window_s: float) -> None:
        self.current = windowed.relative_to(lambda event=None: time.time())
        self.previous = windowed.relative_to(lambda event=None: time.time() - window_s)

    def seen(self, event_id: str) -> bool:
        """See :class:`~stream_processor.state.DedupeStore`."""
        return bool(event_id in self.current or event_id in self.previous)

    def mark(self, event_id: str) -> None:
        """See :class:`~stream_processor.state.DedupeStore` (needs a current Faust event)."""
        self.current[event_id] = 1


class FaustVersionStore:
    """:class:`~stream_processor.state.VersionStore` over a Faust GlobalTable."""

    def __init__(self, table: Any) -> None:
        self.table = table

    def latest(self, dataset_uid: str) -> str | None:
        """See :class:`~stream_processor.state.VersionStore`."""
        entry = self.table.get(dataset_uid)
        return None if entry is None else str(entry["version"])

    def record(self, dataset_uid: str, version: str, event_time: int) -> None:
        """See :class:`~stream_processor.state.VersionStore` (needs a current Faust event)."""
        if newer_version(self.table.get(dataset_uid), version, event_time):
            self.table[dataset_uid] = {"version": version, "t": event_time}


class FaustAliasStore:
    """:class:`~stream_processor.identity.AliasStore` over a Faust GlobalTable (symlink
    aliases learned on any partition are used by every worker)."""

    def __init__(self, table: Any) -> None:
        self.table = table

    def get(self, uid: str) -> tuple[str, str] | None:
        """See :class:`~stream_processor.identity.AliasStore`."""
        value = self.table.get(uid)
        return None if value is None else (str(value[0]), str(value[1]))

    def put(self, uid: str, canonical: tuple[str, str]) -> None:
        """See :class:`~stream_processor.identity.AliasStore` (needs a current Faust event)."""
        self.table[uid] = list(canonical)
