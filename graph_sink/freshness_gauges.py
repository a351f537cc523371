"""The sink's freshness gauges: per-dataset write history published to Prometheus.

``lineage_dataset_last_write_timestamp_seconds`` and ``lineage_dataset_expected_interval_seconds``
(from :mod:`lineage_pipeline.metrics`), evaluated by the same policy as ``lineage freshness``
(:mod:`lineage_pipeline.freshness`), so the alert, the dashboard and the CLI agree.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from lineage_pipeline.freshness import DEFAULT_POLICY, Freshness, FreshnessPolicy
from lineage_pipeline.metrics import DATASET_EXPECTED_INTERVAL, DATASET_LAST_WRITE


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
