"""The freshness SLA (lineage_pipeline.freshness) and the gauges the sink exports from it."""

from __future__ import annotations

import uuid

import pytest
from prometheus_client import REGISTRY

from graph_sink.freshness_gauges import DatasetWriteTracker
from lineage_pipeline.errors import ConfigError
from lineage_pipeline.freshness import (
    Freshness,
    FreshnessPolicy,
    freshness,
)

HOUR = 3600.0
T0 = 1_700_000_000.0


def _uid(prefix: str = "file:/data") -> str:
    return f"{prefix}/{uuid.uuid4().hex[:10]}.csv"


def _gauge(name: str, dataset: str, namespace: str = "file", kind: str = "file") -> float | None:
    value: float | None = REGISTRY.get_sample_value(
        name, {"dataset": dataset, "namespace": namespace, "kind": kind}
    )
    return value


def test_a_configured_interval_wins_exact_uid_first_then_the_first_matching_glob() -> None:
    policy = FreshnessPolicy(
        expected={
            "file:/data/raw/orders.csv": 60.0,
            "file:/data/raw/*": 3600.0,
            "file:/data/*": 86400.0,
        }
    )
    assert policy.configured_interval("file:/data/raw/orders.csv") == 60.0
    assert policy.configured_interval("file:/data/raw/users.csv") == 3600.0
    assert policy.configured_interval("file:/data/reports/x.csv") == 86400.0
    assert policy.configured_interval("s3://lake:/x") is None
    # configured beats learned even with a history that would learn something else
    history = [T0, T0 + 10, T0 + 20, T0 + 30]
    assert policy.expected_interval("file:/data/raw/users.csv", history) == 3600.0


def test_the_learned_interval_is_the_median_of_recent_intervals_times_the_slack() -> None:
    policy = FreshnessPolicy(slack=1.5, min_interval_s=0.0, history=4)
    # hourly job with one late run (3 h) and one burst (1 min): the median ignores both
    writes = [T0, T0 + HOUR, T0 + 2 * HOUR, T0 + 5 * HOUR, T0 + 5 * HOUR + 60, T0 + 6 * HOUR]
    # the last history + 1 = 5 writes give these intervals; the median is of the middle two
    intervals = [HOUR, 3 * HOUR, 60.0, HOUR - 60]
    expected = sorted(intervals)[1:3]
    assert policy.learned_interval(writes) == pytest.approx(sum(expected) / 2 * 1.5)
    # order and duplicates do not matter
    assert policy.learned_interval(list(reversed(writes)) + writes) == policy.learned_interval(
        writes
    )


def test_the_learned_interval_needs_enough_writes_and_has_a_floor() -> None:
    policy = FreshnessPolicy(min_intervals=2, min_interval_s=60.0, slack=1.5)
    assert policy.learned_interval([]) is None
    assert policy.learned_interval([T0, T0 + 10]) is None  # one interval only
    assert policy.learned_interval([T0, T0, T0]) is None  # duplicates are one write
    assert policy.learned_interval([T0, T0 + 10, T0 + 20]) == 60.0  # 15 s floored to 60 s


def test_freshness_returns_last_write_expected_interval_and_staleness() -> None:
    policy = FreshnessPolicy(expected={"file:/d/*": 100.0})
    last_write, expected, stale = freshness("file:/d/a", [T0 - 50, T0], policy, now=T0 + 100)
    assert (last_write, expected, stale) == (T0, 100.0, False)  # exactly at the SLA: fresh
    assert freshness("file:/d/a", [T0], policy, now=T0 + 100.5).stale
    assert freshness("file:/d/a", [T0 + 10], policy, now=T0).stale is False  # clock skew
    assert freshness("file:/d/a", [], policy, now=T0) == Freshness(None, 100.0, False)
    # no configured SLA and too little history: unknown, never stale
    assert freshness("file:/other", [T0], policy, now=T0 + 10 * HOUR) == Freshness(T0, None, False)


def test_a_daily_job_that_misses_a_run_becomes_stale_after_the_slack() -> None:
    day = 24 * HOUR
    writes = [T0 + i * day for i in range(8)]
    assert not freshness("file:/daily", writes, now=writes[-1] + 1.4 * day).stale
    status = freshness("file:/daily", writes, now=writes[-1] + 1.6 * day)
    assert status.stale and status.expected_interval == pytest.approx(1.5 * day)


def test_bad_policies_raise_config_error_naming_the_key() -> None:
    with pytest.raises(ConfigError, match=r"freshness\.expected"):
        FreshnessPolicy.from_mapping({"expected": {"file:/x": 0}})
    with pytest.raises(ConfigError, match=r"freshness\.slak"):
        FreshnessPolicy.from_mapping({"slak": 2})
    with pytest.raises(ConfigError, match=r"freshness\.slack"):
        FreshnessPolicy.from_mapping({"slack": 0.5})
    policy = FreshnessPolicy.from_mapping({"expected": {"s3://lake:/daily/*": 90000}, "history": 5})
    assert policy.configured_interval("s3://lake:/daily/sales") == 90000.0


def test_the_tracker_exports_the_gauges_the_dashboards_query() -> None:
    tracker = DatasetWriteTracker(FreshnessPolicy(min_interval_s=0.0, slack=2.0, history=3))
    dataset = _uid()
    status = tracker.record(dataset, "file", "file", T0)
    assert status == Freshness(T0, None, status.stale)
    assert _gauge("lineage_dataset_last_write_timestamp_seconds", dataset) == T0
    assert _gauge("lineage_dataset_expected_interval_seconds", dataset) is None  # not yet known

    for i in range(1, 6):
        tracker.record(dataset, "file", "file", T0 + 10 * i)
    tracker.record(dataset, "file", "file", T0 + 5)  # a late, older event: last write unchanged
    assert _gauge("lineage_dataset_last_write_timestamp_seconds", dataset) == T0 + 50
    assert _gauge("lineage_dataset_expected_interval_seconds", dataset) == pytest.approx(20.0)
    # the tracker agrees with the pure function over the same history
    assert tracker.status(dataset, now=T0 + 71) == freshness(
        dataset, [T0 + 20, T0 + 30, T0 + 40, T0 + 50], tracker.policy, now=T0 + 71
    )
    assert tracker.status(dataset, now=T0 + 71).stale


def test_seeding_from_history_and_forgetting_a_dataset() -> None:
    tracker = DatasetWriteTracker(FreshnessPolicy(min_interval_s=0.0, slack=1.0))
    dataset = _uid("s3://lake:/models")
    status = tracker.seed(dataset, "s3://lake", "model", [T0, T0 + 60, T0 + 120])
    assert status.expected_interval == 60.0
    assert _gauge("lineage_dataset_expected_interval_seconds", dataset, "s3://lake", "model") == 60
    assert dataset in tracker.datasets()

    # a kind change moves the series instead of leaving a duplicate behind
    tracker.record(dataset, "s3://lake", "features", T0 + 180)
    assert (
        _gauge("lineage_dataset_last_write_timestamp_seconds", dataset, "s3://lake", "model")
        is None
    )
    assert (
        _gauge("lineage_dataset_last_write_timestamp_seconds", dataset, "s3://lake", "features")
        == T0 + 180
    )
    tracker.forget(dataset)
    assert dataset not in tracker.datasets()
    assert (
        _gauge("lineage_dataset_last_write_timestamp_seconds", dataset, "s3://lake", "features")
        is None
    )
