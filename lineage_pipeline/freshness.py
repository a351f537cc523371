"""Freshness SLAs of datasets, shared by the graph sink's metrics and ``lineage freshness``.

A dataset is *stale* when the time since its last successful write exceeds its *expected
interval* (its freshness SLA)::

    stale  <=>  now - last_write > expected_interval

which is exactly the Prometheus rule ``LineageDatasetStale`` in ``deploy/prometheus/alerts.yml``
(``time() - lineage_dataset_last_write_timestamp_seconds >
lineage_dataset_expected_interval_seconds``), so the CLI, the dashboard and the alert agree.

Times are Unix epoch **seconds** (floats). A *write* is a GENERATED dataset version, timed by
the event's time (``observed_at`` in the graph, milliseconds: divide by 1000), not by when
the sink committed it, so a replayed backlog does not make an old dataset look fresh.

The expected interval of a dataset is, in order:

1. **configured**: :attr:`FreshnessPolicy.expected` maps a dataset uid (``namespace:name``,
   e.g. ``file:/data/raw/orders.csv``) or a glob over uids (``fnmatch`` syntax, e.g.
   ``s3://lake:/daily/*``) to seconds. An exact uid wins; otherwise the first matching glob
   in the mapping's order (YAML order) applies.
2. **learned** from the write history: the median of the intervals between the last
   ``history + 1`` distinct write times, times ``slack``, never below ``min_interval_s``.
   At least ``min_intervals`` intervals (``min_intervals + 1`` writes) are needed; with
   fewer the interval is unknown (``None``) and the dataset is never reported stale. The
   median (not the mean) keeps one late or one burst run from moving the SLA; ``slack``
   (default 1.5) absorbs normal jitter of a schedule, so a daily job is stale after 36 h.
3. otherwise ``None``: no SLA, never stale.

:class:`DatasetWriteTracker` keeps the bounded per-dataset history in the sink and publishes
``lineage_dataset_last_write_timestamp_seconds`` and ``lineage_dataset_expected_interval_seconds``
(from :mod:`lineage_pipeline.metrics`). :func:`freshness` is the pure function behind both.
"""

from __future__ import annotations

import fnmatch
import itertools
import statistics
import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from lineage_pipeline.errors import ConfigError
from lineage_pipeline.metrics import DATASET_EXPECTED_INTERVAL, DATASET_LAST_WRITE


class Freshness(NamedTuple):
    """Freshness of one dataset: ``(last_write, expected_interval, stale)``.

    ``last_write``: epoch seconds of the latest write, ``None`` if never written.
    ``expected_interval``: the SLA in seconds, ``None`` when neither configured nor learnable.
    ``stale``: ``now - last_write > expected_interval`` (``False`` when either is ``None``).
    """

    last_write: float | None
    expected_interval: float | None
    stale: bool


class FreshnessPolicy(BaseModel):
    """How expected intervals are configured or learned (see the module docstring).

    The ``freshness`` section of :class:`~lineage_pipeline.settings.LineageSettings`
    (YAML ``freshness: {expected: {"file:/data/raw/*": 3600}, slack: 1.5}``, or
    ``LINEAGE_FRESHNESS__EXPECTED='{"file:/data/raw/*": 3600}'``); unknown keys are refused.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    expected: dict[str, float] = {}
    """Dataset uid or uid glob -> expected interval in seconds (> 0); first match wins."""
    history: int = Field(default=10, ge=1)
    """Number of most recent intervals (``history + 1`` writes) the median is taken over."""
    min_intervals: int = Field(default=2, ge=1)
    """Intervals needed before an SLA is learned."""
    slack: float = Field(default=1.5, ge=1.0)
    """Factor applied to the learned median interval."""
    min_interval_s: float = Field(default=60.0, ge=0.0)
    """Floor of a learned interval, in seconds."""

    @field_validator("expected")
    @classmethod
    def _positive(cls, value: dict[str, float]) -> dict[str, float]:
        bad = [key for key, seconds in value.items() if not seconds > 0]
        if bad:
            raise ValueError(f"expected intervals must be > 0 seconds: {', '.join(bad)}")
        return value

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None) -> FreshnessPolicy:
        """Build a policy from a plain mapping (e.g. a YAML section).

        Raises :class:`ConfigError` naming each unknown key or bad value.
        """
        try:
            return cls.model_validate(dict(data or {}))
        except ValidationError as exc:
            problems = "; ".join(
                f"freshness.{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
                for err in exc.errors()
            )
            raise ConfigError(problems) from exc

    def configured_interval(self, dataset: str) -> float | None:
        """Return the configured SLA (seconds) of dataset uid ``dataset``, or ``None``."""
        exact = self.expected.get(dataset)
        if exact is not None:
            return exact
        for pattern, seconds in self.expected.items():
            if fnmatch.fnmatchcase(dataset, pattern):
                return seconds
        return None

    def learned_interval(self, write_times: Iterable[float]) -> float | None:
        """Return ``max(median(last intervals) * slack, min_interval_s)``, or ``None``.

        ``write_times``: epoch seconds in any order; duplicates count once.
        """
        distinct = sorted(set(write_times))[-(self.history + 1) :]
        intervals = [b - a for a, b in itertools.pairwise(distinct)]
        if len(intervals) < self.min_intervals:
            return None
        return max(statistics.median(intervals) * self.slack, self.min_interval_s)

    def expected_interval(self, dataset: str, write_times: Iterable[float]) -> float | None:
        """Return the configured SLA of ``dataset``, else the learned one, else ``None``."""
        configured = self.configured_interval(dataset)
        if configured is not None:
            return configured
        return self.learned_interval(write_times)

    def evaluate(
        self, dataset: str, write_times: Iterable[float], now: float | None = None
    ) -> Freshness:
        """Return the :class:`Freshness` of ``dataset`` at ``now`` (default: the wall clock)."""
        times = list(write_times)
        last = max(times) if times else None
        expected = self.expected_interval(dataset, times)
        current = time.time() if now is None else now
        stale = last is not None and expected is not None and current - last > expected
        return Freshness(last, expected, stale)


DEFAULT_POLICY = FreshnessPolicy()


def freshness(
    dataset: str,
    write_times: Iterable[float],
    policy: FreshnessPolicy | None = None,
    now: float | None = None,
) -> Freshness:
    """Return ``(last_write, expected_interval, stale)`` of dataset uid ``dataset``.

    ``write_times``: epoch seconds of its writes (GENERATED versions, event time);
    ``policy``: defaults to :data:`DEFAULT_POLICY`; ``now``: epoch seconds, default now.
    """
    return (policy or DEFAULT_POLICY).evaluate(dataset, write_times, now)


class DatasetWriteTracker:
    """Per-dataset write history of one sink process, published as the freshness gauges.

    Keeps the latest ``policy.history + 1`` distinct write times of each dataset (memory is
    bounded by the number of datasets, as is the metrics' label cardinality). Thread-safe.
    Call :meth:`record` for every committed GENERATED version and :meth:`seed` at start-up
    with each dataset's recent write times read from the graph, so a dataset whose job has
    stopped (and that the sink will therefore never see again) keeps its series and alerts.
    """

    def __init__(self, policy: FreshnessPolicy | None = None) -> None:
        self.policy = policy or DEFAULT_POLICY
        self._writes: dict[str, list[float]] = {}
        self._labels: dict[str, tuple[str, str, str]] = {}
        self._lock = threading.Lock()

    def record(self, dataset: str, namespace: str, kind: str, written_at: float) -> Freshness:
        """Add one write (epoch seconds) of dataset uid ``dataset``; update its gauges."""
        return self.seed(dataset, namespace, kind, (written_at,))

    def seed(
        self, dataset: str, namespace: str, kind: str, write_times: Iterable[float]
    ) -> Freshness:
        """Add several writes (epoch seconds) of ``dataset``; update and return its freshness."""
        with self._lock:
            keep = self.policy.history + 1
            merged = sorted(set(self._writes.get(dataset, ())) | set(write_times))[-keep:]
            self._writes[dataset] = merged
            labels = (dataset, namespace, kind)
            previous = self._labels.get(dataset)
            if previous is not None and previous != labels:
                DATASET_LAST_WRITE.remove(*previous)
                DATASET_EXPECTED_INTERVAL.remove(*previous)
            self._labels[dataset] = labels
            status = self.policy.evaluate(dataset, merged)
            if status.last_write is not None:
                DATASET_LAST_WRITE.labels(*labels).set(status.last_write)
            if status.expected_interval is not None:
                DATASET_EXPECTED_INTERVAL.labels(*labels).set(status.expected_interval)
            else:
                DATASET_EXPECTED_INTERVAL.remove(*labels)
            return status

    def status(self, dataset: str, now: float | None = None) -> Freshness:
        """Return the freshness of ``dataset`` from the writes this tracker has seen."""
        with self._lock:
            writes = list(self._writes.get(dataset, ()))
        return self.policy.evaluate(dataset, writes, now)

    def datasets(self) -> list[str]:
        """Return the uids of every tracked dataset, sorted."""
        with self._lock:
            return sorted(self._writes)

    def forget(self, dataset: str) -> None:
        """Drop ``dataset`` (e.g. deleted upstream) and its gauge series."""
        with self._lock:
            self._writes.pop(dataset, None)
            labels = self._labels.pop(dataset, None)
            if labels is not None:
                DATASET_LAST_WRITE.remove(*labels)
                DATASET_EXPECTED_INTERVAL.remove(*labels)
