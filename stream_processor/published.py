"""What this processor has already published to the graph topic, by content digest.

The graph record of a run carries a job, dataset, version, schema or column lineage only when
:class:`Published` says this process has not published it with the same content yet
(:mod:`stream_processor.mapping`). It is an optimisation, never a source of truth: every graph
write is an idempotent ``MERGE``, so forgetting an entry only costs writing it again. Hence it
is process-local (not a Faust table: nothing to recover after a restart), bounded
(``max_entries``, least recently used first out) and its entries expire after ``ttl_s``, so a
graph rebuilt or wiped behind a running processor is filled in again within that time.

Entries are noted when a record is built and encoded (:meth:`note`); when publishing the
batch fails, the processor forgets everything (:meth:`clear`), so a record that never reached
the topic cannot stand for the content it carried.

Skipping must never change the graph, only save work. An entry therefore keeps, besides the
content digest, the earliest ``first`` observation (epoch ms) published with that digest:
:meth:`covers` is true only when the same content was published with an observation no later
than the one at hand, so the graph's ``observedAt`` (a minimum) is the same whether or not a
publication was skipped. (Elements published only when they change carry no "latest
observation": :mod:`lineage_pipeline.graph_record`.)
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterable

#: Default bound on the entries kept (about 150 bytes each: ~15 MB).
DEFAULT_MAX_ENTRIES = 100_000
#: Default lifetime of an entry, seconds.
DEFAULT_TTL_S = 3600.0


class Published:
    """Keys (``"<kind>:<uid>"``) -> the digest of the content published under them, and the
    earliest observation (epoch ms) published with it.

    ``clock`` returns seconds (monotonic). Not thread-safe: one per processor.
    """

    def __init__(self, max_entries: int = DEFAULT_MAX_ENTRIES, ttl_s: float = DEFAULT_TTL_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be >= 1")
        self.max_entries = max_entries
        self.ttl_s = ttl_s
        self.clock = clock
        self._entries: OrderedDict[str, tuple[str, int, float]] = OrderedDict()

    def get(self, key: str) -> tuple[str, int] | None:
        """``(digest, first)`` published under ``key`` within the last ``ttl_s``, else
        ``None``."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        if self.clock() - entry[2] > self.ttl_s:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return entry[0], entry[1]

    def digest(self, key: str) -> str | None:
        """The digest published under ``key`` within the last ``ttl_s``, else ``None``."""
        entry = self.get(key)
        return None if entry is None else entry[0]

    def covers(self, key: str, digest: str, first: int) -> bool:
        """``True`` when ``key`` was published (within ``ttl_s``) with ``digest`` and an
        observation no later than ``first`` (epoch ms): publishing it again changes nothing."""
        entry = self.get(key)
        return entry is not None and entry[0] == digest and entry[1] <= first

    def note(self, items: Iterable[tuple[str, str, int]]) -> None:
        """Record that each ``(key, digest, first)`` was published now; the same digest
        published again keeps the earliest ``first``."""
        now = self.clock()
        entries = self._entries
        for key, digest, first in items:
            old = entries.get(key)
            if old is not None and old[0] == digest:
                first = min(first, old[1])
            entries[key] = (digest, first, now)
            entries.move_to_end(key)
        while len(entries) > self.max_entries:
            entries.popitem(last=False)

    def clear(self) -> None:
        """Forget everything (a batch that was noted could not be published)."""
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
