"""Every dashboard panel and alert rule, evaluated by a real Prometheus.

Debian's ``prometheus`` binary scrapes two exporter processes (this module run as
``python -m tests.test_prometheus_dashboards --role processor|sink --port P``) that set
realistic values through the metric objects of :mod:`lineage_pipeline.metrics` and the
sink's :class:`~lineage_pipeline.freshness.DatasetWriteTracker`; ``deploy/prometheus/alerts.yml``
is loaded as the rule file. Every PromQL expression of ``deploy/grafana/dashboards/*.json``
and of every alert rule is then evaluated through ``/api/v1/query``.

The scrape targets are a parameter: set ``LINEAGE_TEST_SCRAPE_TARGETS`` to
``lineage-processor=HOST:PORT;lineage-sink=HOST:PORT`` to check a running stack instead of
the exporters (then ``LINEAGE_TEST_STALE_DATASETS``, comma-separated uids, names the datasets
expected stale); without it the test starts the exporters and stops them by pid.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DASHBOARDS = sorted((ROOT / "deploy" / "grafana" / "dashboards").glob("*.json"))
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
PROMETHEUS = shutil.which("prometheus")

# The exporters' datasets (uids are namespace:name, OpenLineage naming).
ORDERS = "file:/data/raw/orders.csv"  # written continuously, configured SLA 1 h
REPORT = "file:/data/reports/daily.csv"  # written until its job stops, SLA 3 s
CUSTOMERS = "file:/data/features/customers.parquet"  # learned SLA 90 s, last write 120 s ago
CHURN = "s3://lake:/models/churn"  # learned SLA (floor) 60 s, written 10 s ago
REPORT_SLA_S = 3.0

# What Grafana substitutes before it sends a query ($__rate_interval covers >= 2 scrapes).
GRAFANA_MACROS = {"$__rate_interval": "1m", "$__interval": "1m", "$__range": "5m"}


# ------------------------------------------------------------------------------ exporter --


def _serve(role: str, port: int) -> None:
    """Serve the project's metrics with live values until SIGTERM (SIGUSR1: REPORT's job stops)."""
    from lineage_pipeline import metrics as m
    from lineage_pipeline.freshness import DatasetWriteTracker, FreshnessPolicy

    stop = threading.Event()
    report_job_stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGUSR1, lambda *_: report_job_stopped.set())
    rng = random.Random(20240817)
    tracker = DatasetWriteTracker(
        FreshnessPolicy(expected={"file:/data/raw/*": 3600.0, "file:/data/reports/*": REPORT_SLA_S})
    )
    now = time.time()
    if role == "sink":
        tracker.seed(CUSTOMERS, "file", "features", [now - 300, now - 240, now - 180, now - 120])
        tracker.seed(CHURN, "s3://lake", "model", [now - 30, now - 20, now - 10])
    for reason in ("bad_magic", "unknown_fingerprint", "truncated"):
        m.DLQ.labels(reason)  # known label values exported at 0 from the start
    for retryable in ("true", "false"):
        m.SINK_WRITE_ERRORS.labels(retryable)
    for reason in ("graph_rejected", "invalid_mutations"):
        m.SINK_DLQ.labels(reason)
    m.serve_metrics(port)
    print("ready", flush=True)
    tick = 0
    while not stop.wait(0.1):
        tick += 1
        if role == "processor":
            for event_type in ("START", "RUNNING", "COMPLETE"):
                m.EVENTS_IN.labels("lineage", event_type).inc(rng.randint(5, 20))
            m.EVENTS_IN.labels("openlineage", "COMPLETE").inc(rng.randint(0, 3))
            m.DUPLICATES.inc(rng.randint(0, 2))
            m.MUTATIONS_OUT.inc(rng.randint(20, 60))
            m.DLQ.labels("bad_magic").inc()
            m.DLQ.labels("truncated").inc(tick % 10 == 0)
            m.CONSUMER_LAG.labels("lineage-processor", "lineage.events").set(25_000 + tick)
            m.STALE_RUNS.inc(tick % 50 == 0)
        else:
            tracker.record(ORDERS, "file", "table", time.time())
            if not report_job_stopped.is_set():
                tracker.record(REPORT, "file", "file", time.time())
            batch = rng.randint(50, 800)
            m.SINK_BATCH_SIZE.observe(batch)
            m.SINK_WRITE_SECONDS.observe(rng.uniform(0.004, 0.2))
            m.SINK_RECORDS.inc(batch)
            for _ in range(5):
                m.EVENT_TO_GRAPH_SECONDS.observe(rng.uniform(0.05, 2.0))
            m.SINK_WRITE_ERRORS.labels("true").inc(tick % 3 == 0)
            m.SINK_WRITE_ERRORS.labels("false").inc(tick % 10 == 0)
            m.SINK_DLQ.labels("graph_rejected").inc(tick % 10 == 0)
            m.CONSUMER_LAG.labels("lineage-graph-sink", "lineage.graph").set(rng.randint(0, 40))


# ----------------------------------------------------------------------------- scenario --


@dataclass
class Scenario:
    """What Prometheus scrapes and what the dashboards and alerts must then show."""

    targets: dict[str, list[str]]
    stale: set[str]
    fresh: set[str]
    active_alerts: set[str]
    inactive_alerts: set[str] = field(default_factory=set)
    namespaces: set[str] = field(default_factory=set)
    stop_job: Callable[[], None] | None = None  # makes `becomes_stale` stop being written
    becomes_stale: str | None = None


@dataclass
class Proc:
    popen: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        from lineage_pipeline.localstack.processes import stop_pid

        stop_pid(self.popen.pid, 10.0, self.popen)


def _wait(predicate: Callable[[], Any], what: str, timeout_s: float) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(0.2)


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _start_exporter(role: str, tmp: Path) -> tuple[Proc, int]:
    from lineage_pipeline.localstack.processes import free_port

    port = free_port()
    log = tmp / f"exporter-{role}.log"
    with open(log, "wb") as out:
        popen = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.test_prometheus_dashboards",
                "--role",
                role,
                "--port",
                str(port),
            ],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    proc = Proc(popen, log)
    _wait(
        lambda: popen.poll() is not None or _http_ok(f"http://127.0.0.1:{port}/metrics"),
        f"the {role} exporter",
        30,
    )
    if popen.poll() is not None:
        pytest.fail(f"{role} exporter exited: {log.read_text()}")
    return proc, port


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    external = os.environ.get("LINEAGE_TEST_SCRAPE_TARGETS")
    if external:
        targets: dict[str, list[str]] = {}
        for item in filter(None, external.split(";")):
            job, _, addresses = item.partition("=")
            targets[job.strip()] = [a.strip() for a in addresses.split(",") if a.strip()]
        stale = set(filter(None, os.environ.get("LINEAGE_TEST_STALE_DATASETS", "").split(",")))
        yield Scenario(targets, stale, set(), {"LineageDatasetStale"} if stale else set())
        return
    tmp = tmp_path_factory.mktemp("exporters")
    started: list[Proc] = []
    try:
        processor, processor_port = _start_exporter("processor", tmp)
        started.append(processor)
        sink, sink_port = _start_exporter("sink", tmp)
        started.append(sink)
        yield Scenario(
            targets={
                "lineage-processor": [f"127.0.0.1:{processor_port}"],
                "lineage-sink": [f"127.0.0.1:{sink_port}"],
            },
            stale={CUSTOMERS},
            fresh={ORDERS, REPORT, CHURN},
            active_alerts={
                "LineageDatasetStale",
                "LineageDLQRate",
                "LineageConsumerLag",
                "LineageSinkWriteErrors",
                "LineageSinkNonRetryableErrors",
                "LineageSinkDeadLetters",
            },
            inactive_alerts={
                "LineageEventToGraphLatencyHigh",
                "LineageTargetDown",
                "LineageSinkAbsent",
            },
            namespaces={"file", "s3://lake"},
            stop_job=lambda: sink.popen.send_signal(signal.SIGUSR1),
            becomes_stale=REPORT,
        )
    finally:
        for proc in started:
            proc.stop()


# --------------------------------------------------------------------------- prometheus --


class Prometheus:
    """A Prometheus server on loopback, queried through its HTTP API."""

    def __init__(self, url: str) -> None:
        self.url = url

    def get(self, path: str, **params: str) -> Any:
        query = urllib.parse.urlencode(params)
        with urllib.request.urlopen(f"{self.url}{path}?{query}", timeout=10) as response:
            body = json.load(response)
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str, at: float | None = None) -> dict[str, Any]:
        params = {"query": expr}
        if at is not None:
            params["time"] = f"{at:.3f}"
        try:
            data: dict[str, Any] = self.get("/api/v1/query", **params)
        except urllib.error.HTTPError as exc:
            pytest.fail(f"Prometheus rejected {expr!r}: {exc.read().decode()}")
        return data

    def alerts(self) -> list[dict[str, Any]]:
        alerts: list[dict[str, Any]] = self.get("/api/v1/alerts")["alerts"]
        return alerts


@pytest.fixture(scope="module")
def prometheus(
    scenario: Scenario, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Prometheus]:
    if PROMETHEUS is None:
        pytest.skip(
            "the prometheus binary is absent: install Debian's `prometheus` package "
            "(`make sysdeps` does)"
        )
    from lineage_pipeline.localstack.processes import free_port, stop_pid

    tmp = tmp_path_factory.mktemp("prometheus")
    config = {
        "global": {
            "scrape_interval": "500ms",
            "scrape_timeout": "400ms",
            "evaluation_interval": "500ms",
        },
        "rule_files": [str(ALERTS)],
        "scrape_configs": [
            {"job_name": job, "static_configs": [{"targets": targets}]}
            for job, targets in scenario.targets.items()
        ],
    }
    (tmp / "prometheus.yml").write_text(yaml.safe_dump(config), "utf-8")
    port = free_port()
    log = tmp / "prometheus.log"
    with open(log, "wb") as out:
        popen = subprocess.Popen(
            [
                PROMETHEUS,
                f"--config.file={tmp / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--log.level=warn",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        _wait(lambda: popen.poll() is not None or _http_ok(f"{url}/-/ready"), "Prometheus", 30)
        if popen.poll() is not None:
            pytest.fail(f"prometheus exited: {log.read_text()}")
        server = Prometheus(url)
        jobs = "|".join(scenario.targets)
        wanted = sum(len(t) for t in scenario.targets.values())

        def scraped_three_times() -> bool:
            result = server.query(
                f'count_over_time(up{{job=~"{jobs}"}}[1m]) >= 3 and up{{job=~"{jobs}"}} == 1'
            )["result"]
            return len(result) == wanted

        _wait(scraped_three_times, "three successful scrapes of every target", 30)
        yield server
    finally:
        stop_pid(popen.pid, 10.0, popen)


# ------------------------------------------------------------------------------ helpers --


def _dashboard_targets() -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    found = []
    for path in DASHBOARDS:
        dashboard = json.loads(path.read_text("utf-8"))
        for panel in dashboard["panels"]:
            for target in panel.get("targets", []):
                found.append((f"{path.stem} / {panel['title']} / {target['refId']}", panel, target))
    return found


def _template_values(dashboard_file: Path) -> dict[str, str]:
    dashboard = json.loads(dashboard_file.read_text("utf-8"))
    return {
        f"${v['name']}": v.get("allValue") or ".*"
        for v in dashboard.get("templating", {}).get("list", [])
    }


def _grafana_expr(expr: str, variables: dict[str, str]) -> str:
    """The expression as Grafana sends it: macros and '$var' replaced (longest name first)."""
    for name, value in sorted({**GRAFANA_MACROS, **variables}.items(), key=lambda kv: -len(kv[0])):
        expr = expr.replace(name, value)
    assert "$" not in expr, f"unresolved Grafana variable in {expr!r}"
    return expr


def _legend_labels(legend: str) -> set[str]:
    return set(re.findall(r"\{\{\s*(\w+)\s*\}\}", legend))


def _alert_rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(ALERTS.read_text("utf-8"))["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def _series_values(result: dict[str, Any]) -> list[tuple[dict[str, str], float]]:
    assert result["resultType"] == "vector", result["resultType"]
    return [(item["metric"], float(item["value"][1])) for item in result["result"]]


def _stale_panel_expr() -> str:
    dashboard = ROOT / "deploy" / "grafana" / "dashboards" / "freshness.json"
    panels = json.loads(dashboard.read_text("utf-8"))["panels"]
    (panel,) = [p for p in panels if p["title"] == "Stale datasets" and p["type"] == "table"]
    return _grafana_expr(panel["targets"][0]["expr"], _template_values(dashboard))


def _stale_in_panel(prometheus: Prometheus, at: float | None = None) -> set[str]:
    return {m["dataset"] for m, _ in _series_values(prometheus.query(_stale_panel_expr(), at))}


# -------------------------------------------------------------------------------- tests --


def test_every_dashboard_expression_returns_series_of_the_expected_shape(
    prometheus: Prometheus,
) -> None:
    targets = _dashboard_targets()
    assert len(targets) >= 20
    problems = []
    for where, _panel, target in targets:
        dashboard_file = (
            ROOT / "deploy" / "grafana" / "dashboards" / f"{where.split(' / ')[0]}.json"
        )
        expr = _grafana_expr(target["expr"], _template_values(dashboard_file))
        series = _series_values(prometheus.query(expr))
        if not series:
            problems.append(f"{where}: no series for {expr}")
            continue
        wanted = _legend_labels(target.get("legendFormat", ""))
        for labels, value in series:
            if not wanted <= set(labels):
                problems.append(f"{where}: series {labels} lacks labels {wanted - set(labels)}")
            if not math.isfinite(value):
                problems.append(f"{where}: non-finite value {value} for {labels}")
    assert not problems, "\n".join(problems)


def test_the_namespace_variable_lists_the_datasets_namespaces(
    prometheus: Prometheus, scenario: Scenario
) -> None:
    dashboard = json.loads((ROOT / "deploy/grafana/dashboards/freshness.json").read_text("utf-8"))
    (variable,) = [v for v in dashboard["templating"]["list"] if v["name"] == "namespace"]
    match = re.fullmatch(r"label_values\((\w+),\s*(\w+)\)", variable["definition"])
    assert match, variable["definition"]
    metric, label = match.groups()
    values = prometheus.get(f"/api/v1/label/{label}/values", **{"match[]": metric})
    assert scenario.namespaces <= set(values), values


def test_every_alert_expression_evaluates_and_the_expected_alerts_are_active(
    prometheus: Prometheus, scenario: Scenario
) -> None:
    rules = {rule["alert"]: rule for rule in _alert_rules()}
    assert scenario.active_alerts | scenario.inactive_alerts <= set(rules)

    def evaluate() -> dict[str, list[tuple[dict[str, str], float]]] | None:
        found = {name: _series_values(prometheus.query(r["expr"])) for name, r in rules.items()}
        return found if all(found[name] for name in scenario.active_alerts) else None

    # rate(x[5m]) divides by the whole window: a threshold is crossed only once a few
    # seconds of samples exist, so wait for it instead of sampling once.
    evaluated = _wait(evaluate, f"series from {sorted(scenario.active_alerts)}", 20)
    for name, series in evaluated.items():
        if name in scenario.active_alerts:
            annotations = " ".join(str(v) for v in rules[name].get("annotations", {}).values())
            wanted = set(re.findall(r"\$labels\.(\w+)", annotations))
            for labels, value in series:
                assert wanted <= set(labels), f"{name}: {labels} lacks {wanted - set(labels)}"
                assert math.isfinite(value), (name, labels, value)
        elif name in scenario.inactive_alerts:
            assert not series, f"{name} should not be active here: {series}"

    def states() -> dict[str, set[str]]:
        found: dict[str, set[str]] = {}
        for alert in prometheus.alerts():
            found.setdefault(alert["labels"]["alertname"], set()).add(alert["state"])
        return found

    _wait(lambda: scenario.active_alerts <= set(states()), "every expected alert to be active", 15)
    active = states()
    assert not (scenario.inactive_alerts & set(active)), active
    assert "firing" in active.get("LineageDatasetStale", {"firing"})
    firing_stale = {
        a["labels"]["dataset"]
        for a in prometheus.alerts()
        if a["labels"]["alertname"] == "LineageDatasetStale" and a["state"] == "firing"
    }
    assert scenario.stale <= firing_stale
    assert not (firing_stale & scenario.fresh), firing_stale


def test_the_stale_panel_agrees_with_the_freshness_rule(
    prometheus: Prometheus, scenario: Scenario
) -> None:
    """The panel's PromQL and lineage_pipeline.freshness (used by `lineage freshness`) agree."""
    from lineage_pipeline.freshness import FreshnessPolicy, freshness

    at = time.time()
    last = {
        m["dataset"]: v
        for m, v in _series_values(
            prometheus.query("max by (dataset) (lineage_dataset_last_write_timestamp_seconds)", at)
        )
    }
    expected = {
        m["dataset"]: v
        for m, v in _series_values(
            prometheus.query("max by (dataset) (lineage_dataset_expected_interval_seconds)", at)
        )
    }
    policy = FreshnessPolicy(expected=expected)
    by_rule = {uid for uid, when in last.items() if freshness(uid, [when], policy, now=at).stale}
    assert _stale_in_panel(prometheus, at) == by_rule
    assert scenario.stale <= by_rule
    assert not (by_rule & scenario.fresh)


def test_a_dataset_whose_job_stops_becomes_stale_and_fires_the_alert(
    prometheus: Prometheus, scenario: Scenario
) -> None:
    if scenario.stop_job is None or scenario.becomes_stale is None:
        pytest.skip("this scenario has no job to stop")
    dataset = scenario.becomes_stale
    assert dataset not in _stale_in_panel(prometheus), "stale while its job still writes it"
    scenario.stop_job()
    stopped = time.time()
    _wait(lambda: dataset in _stale_in_panel(prometheus), f"{dataset} in the stale panel", 20)
    assert time.time() - stopped >= REPORT_SLA_S - 1.0, "stale before its SLA elapsed"

    def firing() -> bool:
        return any(
            a["labels"]["alertname"] == "LineageDatasetStale"
            and a["labels"].get("dataset") == dataset
            and a["state"] == "firing"
            for a in prometheus.alerts()
        )

    _wait(firing, f"LineageDatasetStale to fire for {dataset}", 10)
    assert ORDERS not in _stale_in_panel(prometheus), "a dataset still written became stale"


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve lineage metrics with live test values.")
    parser.add_argument("--role", choices=("processor", "sink"), required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    _serve(args.role, args.port)


if __name__ == "__main__":
    main()
