"""Stand-ins for the processor's Faust tables that count what the tables would write to their
changelogs (:mod:`bench.pipeline.state`).

:class:`ChangelogTable` is the dict a :class:`~stream_processor.table_stores.FaustRunStore`
or :class:`~stream_processor.table_stores.FaustVersionStore` is given; :class:`WindowedDedupe`
holds event ids as Faust's tumbling-window table does. Both count the key and value bytes of
every changelog record as Faust's codecs write them (a table with ``key_type=str`` and no
value type serializes both as JSON, compact separators; ``value_type=bytes`` values go as
they are); Kafka's framing of each record is not counted.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any


def _json_len(value: Any) -> int:
    """Bytes of ``value`` as Faust's ``json`` codec writes it (compact separators), or as its
    ``raw`` codec writes a ``bytes`` value (a table with ``value_type=bytes``): as is."""
    if isinstance(value, bytes):
        return len(value)
    return len(json.dumps(value, separators=(",", ":")).encode())


class ChangelogTable(dict[str, Any]):
    """A dict standing in for a Faust table (one partition) that counts the changelog: each
    set writes a record of the key and value (``json``), each deletion a tombstone (key)."""

    def __init__(self) -> None:
        super().__init__()
        self.records = 0
        self.bytes = 0

    def partition_for_key(self, key: str) -> int:
        """The partition of ``key``'s changelog record: there is one."""
        return 0

    def __setitem__(self, key: str, value: Any) -> None:
        self.records += 1
        self.bytes += _json_len(key) + _json_len(value)
        super().__setitem__(key, value)

    def __delitem__(self, key: str) -> None:
        self.records += 1
        self.bytes += _json_len(key)
        super().__delitem__(key)


class WindowedDedupe:
    """:class:`~stream_processor.state.DedupeStore` holding what Faust's tumbling-window
    table holds (``(event id, (window start, window end)) -> 1``, seconds, ``window_s``
    windows on ``clock``) and counting what it writes to its changelog for each mark: the
    key as the ``json`` list ``[event id, [start, end]]`` (about 70 bytes) and ``1``. An id
    counts as seen in the current or the previous window, as in the service."""

    def __init__(self, window_s: float, clock: Callable[[], float]) -> None:
        self.window_s, self.clock = window_s, clock
        self.data: dict[tuple[str, tuple[float, float]], int] = {}
        self.records = 0
        self.bytes = 0

    def _range(self, t: float) -> tuple[float, float]:
        start = (t // self.window_s) * self.window_s
        return start, start + self.window_s - 0.1  # Faust's TumblingWindow ranges

    def seen(self, event_id: str) -> bool:
        """See :class:`~stream_processor.state.DedupeStore`."""
        now = self.clock()
        return ((event_id, self._range(now)) in self.data
                or (event_id, self._range(now - self.window_s)) in self.data)

    def mark(self, event_id: str) -> None:
        """See :class:`~stream_processor.state.DedupeStore`."""
        window = self._range(self.clock())
        self.data[event_id, window] = 1
        self.records += 1
        self.bytes += _json_len([event_id, list(window)]) + _json_len(1)
