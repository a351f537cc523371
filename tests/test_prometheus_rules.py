"""The Prometheus configuration and alerting rules, checked by Debian's ``promtool``.

``promtool test rules`` runs ``deploy/prometheus/alerts_test.yml``: every alert fires (or
not) on synthetic series at the times its ``for`` clause and thresholds say.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase

from lineage_pipeline import metrics

ROOT = Path(__file__).resolve().parents[1]
PROM_DIR = ROOT / "deploy" / "prometheus"
PROMTOOL = shutil.which("promtool")

needs_promtool = pytest.mark.skipif(
    PROMTOOL is None,
    reason="promtool is absent: install Debian's `prometheus` package (`make sysdeps` does)",
)


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run(
        [PROMTOOL, *args], cwd=PROM_DIR, capture_output=True, text=True, timeout=60
    )


def exported_names() -> set[str]:
    """Every series name lineage_pipeline.metrics exports (counters' _total, histograms' parts)."""
    names: set[str] = set()
    for value in vars(metrics).values():
        if not isinstance(value, MetricWrapperBase):
            continue
        for family in value.describe():
            if family.type == "counter":
                names |= {f"{family.name}_total", f"{family.name}_created"}
            elif family.type == "histogram":
                names |= {f"{family.name}_{s}" for s in ("bucket", "sum", "count", "created")}
            else:
                names.add(family.name)
    return names


@needs_promtool
def test_the_prometheus_configuration_is_valid() -> None:
    result = _promtool("check", "config", "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
def test_the_alerting_rules_are_valid() -> None:
    result = _promtool("check", "rules", "alerts.yml")
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
def test_the_alerting_rules_pass_their_unit_tests() -> None:
    result = _promtool("test", "rules", "alerts_test.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_is_unit_tested_and_uses_only_exported_metrics() -> None:
    rules = [
        rule
        for group in yaml.safe_load((PROM_DIR / "alerts.yml").read_text("utf-8"))["groups"]
        for rule in group["rules"]
    ]
    tests = yaml.safe_load((PROM_DIR / "alerts_test.yml").read_text("utf-8"))["tests"]
    tested = {
        case["alertname"] for t in tests for case in t["alert_rule_test"] if case["exp_alerts"]
    }
    names = {rule["alert"] for rule in rules}
    assert names == tested, f"alerts without a firing unit test: {names - tested}"
    exported = exported_names()
    for rule in rules:
        used = set(re.findall(r"\blineage_[a-z_]+\b", rule["expr"]))
        assert used or re.search(r"\bup\{", rule["expr"]), rule["alert"]
        assert used <= exported, f"{rule['alert']} uses unknown metrics {used - exported}"
        assert {"summary", "description"} <= set(rule["annotations"]), rule["alert"]
        assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]


def test_the_stale_rule_is_the_freshness_rule() -> None:
    """The alert compares exactly the two gauges the sink's DatasetWriteTracker sets."""
    (rule,) = [
        r
        for g in yaml.safe_load((PROM_DIR / "alerts.yml").read_text("utf-8"))["groups"]
        for r in g["rules"]
        if r.get("alert") == "LineageDatasetStale"
    ]
    expr = " ".join(rule["expr"].split())
    assert expr == (
        "(time() - max by (dataset, namespace, kind) "
        "(lineage_dataset_last_write_timestamp_seconds)) > max by (dataset, namespace, kind) "
        "(lineage_dataset_expected_interval_seconds)"
    )
    assert "for" not in rule, "the SLA already holds the slack; a `for` would delay the alert"
