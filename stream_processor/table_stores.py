"""The processor's stores (:mod:`stream_processor.state` interfaces) over Faust tables.

Each adapter takes the table object :mod:`stream_processor.app` created (a Faust ``Table``,
windowed ``Table`` or ``GlobalTable``; typed ``Any``: this module does not import Faust).
Writes need a current Faust event: a table writes its changelog to that event's partition.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

from stream_processor.state import StoredRun, decode_state, encode_state, newer_version
from stream_processor.stitch import RunState

#: Run states kept decoded beside their table values (about 40 KB each in memory).
DECODED_CACHE_SIZE = 1_000


class FaustRunStore:
    """:class:`~stream_processor.state.RunStore` over a Faust Table.

    A value is ``{"z": <encode_state text>, "touched_ms": int, "terminal": bool, "p": int}``
    (+ ``"d": true`` for a departed summary): the stitched state is kept as one compact
    string (:func:`~stream_processor.state.encode_state`: JSON without what the facets
    rebuild, deflated, base64; a typical open run about 1.6 KB instead of 25 KB of JSON), not
    as nested dicts. A run's state is thousands of small objects as dicts, all tracked by
    Python's cyclic garbage collector; with a few thousand runs in the table a full
    collection took over a second (a p99 latency spike in bench/pipeline), as text it is one
    untracked object. ``"p"`` is the partition whose changelog holds the value (the current
    event's when it was written): finished runs are retired only while a message of that
    partition is handled, so their changelog records stay in it. Older values are still
    read: ``"state"`` as JSON text, or as a dict (an older changelog still).
    """

    def __init__(self, table: Any, cache_size: int = DECODED_CACHE_SIZE) -> None:
        self.table = table
        self.cache_size = cache_size
        #: run id -> (the value last put, its state): decoding a value costs milliseconds
        self._decoded: OrderedDict[str, tuple[dict[str, Any], StoredRun]] = OrderedDict()

    @staticmethod
    def _load(raw: dict[str, Any]) -> StoredRun:
        touched, departed = int(raw["touched_ms"]), bool(raw.get("d"))
        if "z" in raw:
            return StoredRun(decode_state(raw["z"]), touched, departed)
        state = raw["state"]
        if isinstance(state, str):
            return StoredRun(RunState.from_json_bytes(state), touched, departed)
        return StoredRun.from_json(raw)

    def get(self, run_id: str) -> StoredRun | None:
        """See :class:`~stream_processor.state.RunStore`. A value this store put (the very
        object still in the table) comes back without decoding; one recovered from the
        changelog is decoded."""
        raw = self.table.get(run_id)
        if raw is None:
            return None
        cached = self._decoded.get(run_id)
        if cached is not None and cached[0] is raw:
            self._decoded.move_to_end(run_id)
            return cached[1]
        return self._load(raw)

    def put(self, run_id: str, stored: StoredRun) -> None:
        """See :class:`~stream_processor.state.RunStore` (needs a current Faust event)."""
        value: dict[str, Any] = {
            "z": encode_state(stored.state),
            "touched_ms": stored.touched_ms,
            "terminal": stored.state.is_terminal,
            "p": self.table.partition_for_key(run_id),
        }
        if stored.departed:
            value["d"] = True
        self.table[run_id] = value
        self._decoded[run_id] = (value, stored)
        self._decoded.move_to_end(run_id)
        while len(self._decoded) > self.cache_size:
            self._decoded.popitem(last=False)

    def open_runs_idle_since(self, cutoff_ms: int) -> Iterator[StoredRun]:
        """See :class:`~stream_processor.state.RunStore`; parses only the matching runs."""
        for _key, raw in list(self.table.items()):
            if not raw.get("terminal") and int(raw.get("touched_ms", 0)) <= cutoff_ms:
                yield self._load(raw)

    def _partition(self, run_id: str, raw: dict[str, Any]) -> int | None:
        """The changelog partition of a value: its ``"p"``, else the one Faust's memory store
        recovered it from, else ``None`` (unknown)."""
        if raw.get("p") is not None:
            return int(raw["p"])
        recovered = getattr(getattr(self.table, "data", None), "_key_partition", None)
        found = recovered.get(run_id) if recovered is not None else None
        return None if found is None else int(found)

    def finished_runs_idle_since(self, cutoff_ms: int, partition: int) -> Iterator[StoredRun]:
        """See :class:`~stream_processor.state.RunStore`; parses only the matching runs."""
        for key, raw in list(self.table.items()):
            if (raw.get("terminal") and not raw.get("d")
                    and int(raw.get("touched_ms", 0)) <= cutoff_ms
                    and self._partition(key, raw) == partition):
                yield self._load(raw)

    def departed_runs_idle_since(self, cutoff_ms: int, partition: int) -> Iterator[str]:
        """See :class:`~stream_processor.state.RunStore`; decodes nothing."""
        for key, raw in list(self.table.items()):
            if (raw.get("d") and int(raw.get("touched_ms", 0)) <= cutoff_ms
                    and self._partition(key, raw) == partition):
                yield str(key)

    def retire(self, run_id: str, stored: StoredRun | None) -> None:
        """See :class:`~stream_processor.state.RunStore` (needs a current Faust event of the
        run's partition: the table writes its changelog record there)."""
        if stored is not None:
            self.put(run_id, stored)
            return
        self._decoded.pop(run_id, None)
        if run_id in self.table:
            del self.table[run_id]


class FaustDedupeStore:
    """:class:`~stream_processor.state.DedupeStore` over a tumbling-window Faust Table
    (windows of ``window_s`` seconds on the processor clock; an id counts as seen in the
    current or the previous window, see :mod:`stream_processor.app`).

    Bound: the ids marked in the last three windows (``3 * window_s`` seconds), in memory and
    in the changelog. Faust drops a key it wrote from memory once its window is older than
    ``expires`` (two windows), checked every ``table_cleanup_interval``; the changelog
    (``cleanup.policy=compact,delete``, ``retention.ms`` two windows) loses it when the broker
    deletes its segment (``segment.ms``, 7 days by default, or ``segment.bytes`` later). Keys
    *recovered* from the changelog at start-up are never expired by Faust (it indexes only the
    keys it writes itself), nor dropped from its memory store's key -> partition index:
    :meth:`mark` drops those older than two windows from both, every ``window_s / 4`` seconds
    (locally, no changelog write: the changelog expires them itself). About 220 bytes of
    memory per id in the store (measured), plus an entry in Faust's expiry index for the ids
    it wrote itself.
    """

    def __init__(self, windowed: Any, window_s: float) -> None:
        self.current = windowed.relative_to(lambda event=None: time.time())
        self.previous = windowed.relative_to(lambda event=None: time.time() - window_s)
        self.window_s = window_s
        self._store = getattr(getattr(windowed, "table", None), "data", None)
        self._next_sweep = 0.0

    def seen(self, event_id: str) -> bool:
        """See :class:`~stream_processor.state.DedupeStore`."""
        return bool(event_id in self.current or event_id in self.previous)

    def mark(self, event_id: str) -> None:
        """See :class:`~stream_processor.state.DedupeStore` (needs a current Faust event)."""
        self.current[event_id] = 1
        now = time.time()
        if now >= self._next_sweep:
            self._next_sweep = now + self.window_s / 4
            self.sweep(now)

    def sweep(self, now: float) -> int:
        """Drop the keys of windows that ended over two windows before ``now`` (epoch
        seconds) from the table's local store; returns how many. Keys are Faust's
        ``(event_id, (window_start, window_end))``."""
        store = self._store
        if store is None:
            return 0
        cutoff = now - 2 * self.window_s
        old = [key for key in list(store.keys())
               if isinstance(key, tuple) and len(key) == 2 and isinstance(key[1], tuple)
               and key[1][1] < cutoff]
        index = getattr(store, "_key_partition", None)
        for key in old:
            store.pop(key, None)
            if index is not None:
                index.pop(key, None)
        return len(old)


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

    def __len__(self) -> int:
        """See :class:`~stream_processor.identity.AliasStoreSize`."""
        return len(self.table)
