"""Memory of the processor's logic while :mod:`bench.pipeline.state` feeds it: ``tracemalloc``
samples (the whole traced heap, the bounded caches weighed apart), the projection to a
million events and the sizes of the table entries (see :mod:`bench.pipeline.state`).
"""

from __future__ import annotations

import gc
import sys
import tracemalloc
from dataclasses import dataclass, field
from typing import Any

from stream_processor.published import Published
from stream_processor.table_stores import read_header

_MB = 1024 * 1024


def _published_bytes(published: Published) -> int:
    """Memory held by ``published`` (the ordered dict with its nodes, and each entry's key,
    tuple and values), bytes."""
    entries = published._entries  # sized from outside, read only
    size = sys.getsizeof(entries)
    for key, value in entries.items():
        size += sys.getsizeof(key) + sys.getsizeof(value) + sum(map(sys.getsizeof, value))
    return size


def _slope(samples: list[tuple[int, int]]) -> float | None:
    """Least-squares slope (bytes per event) of (events, bytes) ``samples`` (``None`` for
    fewer than two)."""
    n = len(samples)
    if n < 2:
        return None
    mx = sum(x for x, _ in samples) / n
    my = sum(y for _, y in samples) / n
    var = sum((x - mx) ** 2 for x, _ in samples)
    return sum((x - mx) * (y - my) for x, y in samples) / var if var else None


def lru_caches() -> dict[str, Any]:
    """The bounded memoizing caches (``functools.lru_cache`` with a ``maxsize``) of the
    processor's modules, by qualified name: pure, so clearing one costs only time."""
    ours = ("stream_processor", "lineage_pipeline")
    found: dict[str, Any] = {}
    for name, module in list(sys.modules.items()):
        if not name.startswith(ours):
            continue
        for obj in list(vars(module).values()):
            info = getattr(obj, "cache_info", None)
            if (callable(info) and hasattr(obj, "cache_clear") and info().maxsize
                    and str(getattr(obj, "__module__", "")).startswith(ours)):
                found.setdefault(f"{obj.__module__}.{obj.__qualname__}", obj)
    return found


@dataclass
class Sample:
    """One memory sample: traced bytes (all), the state (traced less the lru caches and
    :class:`Published`), Published's bytes and entries, each cache's (bytes, entries)."""

    events: int
    traced: int
    state: int
    published: int
    published_entries: int
    caches: dict[str, tuple[int, int]]


@dataclass
class Memory:
    """Memory samples (:class:`Sample`); each clears the lru caches to weigh them."""

    base: int = 0
    caches: dict[str, Any] = field(default_factory=dict)
    samples: list[Sample] = field(default_factory=list)

    def sample(self, events: int, published: Published) -> None:
        """Take a sample after ``events`` events (a full collection first)."""
        gc.collect()
        traced = before = tracemalloc.get_traced_memory()[0] - self.base
        caches: dict[str, tuple[int, int]] = {}
        for name, cached in self.caches.items():
            entries = cached.cache_info().currsize
            cached.cache_clear()
            now = tracemalloc.get_traced_memory()[0] - self.base
            caches[name] = (before - now, entries)
            before = now
        pub = _published_bytes(published)
        self.samples.append(Sample(events, traced, before - pub, pub, len(published), caches))


def growth(memory: Memory, published_cap: int, steady_from: int) -> dict[str, Any]:
    """Retained memory at the end, the steady growth per million events (the least-squares
    slope of the state less the bounded caches over the samples from ``steady_from`` events
    or the second half, whichever is later; ``None`` with fewer than two such samples: too
    few events) and the bounded caches now and at their bounds
    (bytes per entry at the end times the bound; ``published_cap`` entries for
    :class:`Published`)."""
    last = memory.samples[-1]
    start = max(steady_from, last.events // 2)
    steady = [(m.events, m.state) for m in memory.samples if m.events >= start]
    slope = _slope(steady)
    pub_full = (last.published / last.published_entries * published_cap
                if last.published_entries else 0.0)
    caps = [size / n * memory.caches[name].cache_info().maxsize
            for name, (size, n) in last.caches.items() if n]
    return {
        "growth_mb_per_m_events": None if slope is None else round(slope * 1e6 / _MB),
        "unbounded_bytes_per_event": None if slope is None else round(slope),
        "slope_samples": len(steady),
        "retained_mb": round(last.traced / _MB, 1),
        "published_entries": last.published_entries,
        "published_mb": round(last.published / _MB, 1),
        "bounded_caches_at_bound_mb": round((pub_full + sum(caps)) / _MB, 1),
        "lru_cache_entries": {k.rsplit(".", 1)[-1]: n for k, (_, n) in last.caches.items()},
        "memory_samples_mb": [(m.events, round(m.traced / _MB, 1), round(m.state / _MB, 1))
                              for m in memory.samples],
    }


def _entry_bytes(key: Any, value: Any) -> int:
    """Shallow sizes of a table entry: its key (and a tuple key's items, one level down),
    its value and a dict value's items."""
    size = sys.getsizeof(key) + sys.getsizeof(value)
    if isinstance(key, tuple):
        size += sum(sys.getsizeof(k) + (sum(map(sys.getsizeof, k)) if isinstance(k, tuple)
                                        else 0) for k in key)
    if isinstance(value, dict):
        size += sum(sys.getsizeof(v) for v in value.values())
    return size


def entries(stores: dict[str, Any]) -> dict[str, Any]:
    """Entries of each table at the end and their mean size in memory (bytes)."""
    groups: dict[str, list[int]] = {"runs_full": [], "runs_departed": [], "versions": []}
    for key, value in stores["runs"].items():
        groups["runs_departed" if read_header(value).departed else "runs_full"].append(
            _entry_bytes(key, value))
    groups["versions"] = [_entry_bytes(k, v) for k, v in stores["versions"].items()]
    return {"table_entries": {k: len(v) for k, v in groups.items()},
            "table_entry_bytes": {k: round(sum(v) / len(v)) if v else None
                                  for k, v in groups.items()}}
