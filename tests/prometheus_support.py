"""A real Prometheus for tests, and the dashboards' and alert rules' PromQL as Grafana sends it.

:func:`running_prometheus` starts Debian's ``prometheus`` binary on loopback with
``deploy/prometheus/alerts.yml`` as its rule file, scraping the given targets every 500 ms,
and stops it by pid. :func:`dashboard_problems` evaluates every panel target of
``deploy/grafana/dashboards/*.json``; :func:`alert_rules` and :func:`split_comparison` take the
alert rules apart so a test can check the quantity each rule compares as well as the rule.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.support.waiting import wait_for

ROOT = Path(__file__).resolve().parents[1]
DASHBOARD_DIR = ROOT / "deploy" / "grafana" / "dashboards"
DASHBOARDS = sorted(DASHBOARD_DIR.glob("*.json"))
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
PROMETHEUS = shutil.which("prometheus")
#: The scrape job names deploy/prometheus/prometheus.yml uses (the rules match on them).
PROCESSOR_JOB = "lineage-processor"
SINK_JOB = "lineage-sink"

# What Grafana substitutes before it sends a query ($__rate_interval covers >= 2 scrapes).
GRAFANA_MACROS = {"$__rate_interval": "1m", "$__interval": "1m", "$__range": "5m"}

Series = list[tuple[dict[str, str], float]]


def http_ok(url: str) -> bool:
    """Return whether ``url`` answers 200."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


class Prometheus:
    """A Prometheus server on loopback, queried through its HTTP API."""

    def __init__(self, url: str) -> None:
        self.url = url

    def get(self, path: str, **params: str) -> Any:
        """GET ``path`` with ``params``; return the response's ``data`` (status success)."""
        query = urllib.parse.urlencode(params)
        with urllib.request.urlopen(f"{self.url}{path}?{query}", timeout=10) as response:
            body = json.load(response)
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str, at: float | None = None) -> dict[str, Any]:
        """Evaluate ``expr`` (instant query, at ``at`` or now); fail the test if refused."""
        params = {"query": expr}
        if at is not None:
            params["time"] = f"{at:.3f}"
        try:
            data: dict[str, Any] = self.get("/api/v1/query", **params)
        except urllib.error.HTTPError as exc:
            pytest.fail(f"Prometheus rejected {expr!r}: {exc.read().decode()}")
        return data

    def series(self, expr: str, at: float | None = None) -> Series:
        """Evaluate ``expr`` and return its ``(labels, value)`` pairs (an instant vector)."""
        return series_values(self.query(expr, at))

    def alerts(self) -> list[dict[str, Any]]:
        """Return the active (pending or firing) alerts."""
        alerts: list[dict[str, Any]] = self.get("/api/v1/alerts")["alerts"]
        return alerts

    def firing(self, alertname: str) -> list[dict[str, str]]:
        """Return the label sets of the firing alerts named ``alertname``."""
        return [a["labels"] for a in self.alerts()
                if a["labels"]["alertname"] == alertname and a["state"] == "firing"]


@contextmanager
def running_prometheus(targets: dict[str, list[str]], tmp: Path) -> Iterator[Prometheus]:
    """Run Prometheus scraping ``targets`` (job name -> ``host:port`` list) every 500 ms with
    the project's alert rules; yield it once every target was scraped three times; stop it
    by pid. Skips the test when the ``prometheus`` binary is absent."""
    if PROMETHEUS is None:
        pytest.skip("the prometheus binary is absent: install Debian's `prometheus` package "
                    "(`make sysdeps` does)")
    from lineage_app.localstack.processes import free_port, stop_pid

    config = {
        "global": {
            "scrape_interval": "500ms",
            "scrape_timeout": "400ms",
            "evaluation_interval": "500ms",
        },
        "rule_files": [str(ALERTS)],
        "scrape_configs": [
            {"job_name": job, "static_configs": [{"targets": addresses}]}
            for job, addresses in targets.items()
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
        wait_for(lambda: popen.poll() is not None or http_ok(f"{url}/-/ready"), "Prometheus", 30)
        if popen.poll() is not None:
            pytest.fail(f"prometheus exited: {log.read_text()}")
        server = Prometheus(url)
        jobs = "|".join(targets)
        wanted = sum(len(t) for t in targets.values())

        def scraped_three_times() -> bool:
            result = server.query(
                f'count_over_time(up{{job=~"{jobs}"}}[1m]) >= 3 and up{{job=~"{jobs}"}} == 1'
            )["result"]
            return len(result) == wanted

        wait_for(scraped_three_times, "three successful scrapes of every target", 30)
        yield server
    finally:
        stop_pid(popen.pid, 10.0, popen)


# -- the dashboards ---------------------------------------------------------------------------


def dashboard_targets() -> list[tuple[str, Path, dict[str, Any]]]:
    """Every panel target: ``("dashboard / panel title / refId", dashboard file, target)``."""
    found = []
    for path in DASHBOARDS:
        dashboard = json.loads(path.read_text("utf-8"))
        for panel in dashboard["panels"]:
            for target in panel.get("targets", []):
                found.append((f"{path.stem} / {panel['title']} / {target['refId']}", path, target))
    return found


def template_values(dashboard_file: Path) -> dict[str, str]:
    """The dashboard's variables as ``{"$name": value}`` with "All" selected."""
    dashboard = json.loads(dashboard_file.read_text("utf-8"))
    return {
        f"${v['name']}": v.get("allValue") or ".*"
        for v in dashboard.get("templating", {}).get("list", [])
    }


def grafana_expr(expr: str, variables: dict[str, str]) -> str:
    """The expression as Grafana sends it: macros and '$var' replaced (longest name first)."""
    for name, value in sorted({**GRAFANA_MACROS, **variables}.items(), key=lambda kv: -len(kv[0])):
        expr = expr.replace(name, value)
    assert "$" not in expr, f"unresolved Grafana variable in {expr!r}"
    return expr


def legend_labels(legend: str) -> set[str]:
    """The labels a Grafana legend format ``{{label}}`` refers to."""
    return set(re.findall(r"\{\{\s*(\w+)\s*\}\}", legend))


def series_values(result: dict[str, Any]) -> Series:
    """``(labels, value)`` pairs of an instant-vector query result."""
    assert result["resultType"] == "vector", result["resultType"]
    return [(item["metric"], float(item["value"][1])) for item in result["result"]]


def dashboard_problems(prometheus: Prometheus) -> list[str]:
    """Evaluate every panel target; return what is wrong: no series, a series without a
    label its legend uses, a non-finite value. Empty when every panel has data to show."""
    problems = []
    for where, dashboard_file, target in dashboard_targets():
        expr = grafana_expr(target["expr"], template_values(dashboard_file))
        series = prometheus.series(expr)
        if not series:
            problems.append(f"{where}: no series for {expr}")
            continue
        wanted = legend_labels(target.get("legendFormat", ""))
        for labels, value in series:
            if not wanted <= set(labels):
                problems.append(f"{where}: series {labels} lacks labels {wanted - set(labels)}")
            if not math.isfinite(value):
                problems.append(f"{where}: non-finite value {value} for {labels}")
    return problems


def stale_panel_expr() -> str:
    """The PromQL of the freshness dashboard's "Stale datasets" table, all namespaces."""
    dashboard = DASHBOARD_DIR / "freshness.json"
    panels = json.loads(dashboard.read_text("utf-8"))["panels"]
    (panel,) = [p for p in panels if p["title"] == "Stale datasets" and p["type"] == "table"]
    return grafana_expr(panel["targets"][0]["expr"], template_values(dashboard))


def stale_in_panel(prometheus: Prometheus, at: float | None = None) -> set[str]:
    """The datasets the "Stale datasets" table lists (at ``at``, default now)."""
    return {labels["dataset"] for labels, _ in prometheus.series(stale_panel_expr(), at)}


def namespace_variable_query() -> tuple[str, str]:
    """``(metric, label)`` of the freshness dashboard's ``label_values`` namespace variable."""
    dashboard = json.loads((DASHBOARD_DIR / "freshness.json").read_text("utf-8"))
    (variable,) = [v for v in dashboard["templating"]["list"] if v["name"] == "namespace"]
    match = re.fullmatch(r"label_values\((\w+),\s*(\w+)\)", variable["definition"])
    assert match, variable["definition"]
    metric, label = match.groups()
    return metric, label


# -- the alert rules --------------------------------------------------------------------------


def alert_rules() -> list[dict[str, Any]]:
    """Every alerting rule of ``deploy/prometheus/alerts.yml``."""
    groups = yaml.safe_load(ALERTS.read_text("utf-8"))["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def annotation_labels(rule: dict[str, Any]) -> set[str]:
    """The labels a rule's annotations print (``{{ $labels.x }}``)."""
    text = " ".join(str(v) for v in rule.get("annotations", {}).values())
    return set(re.findall(r"\$labels\.(\w+)", text))


_COMPARISONS = (">=", "<=", "==", "!=", ">", "<")
_OPEN, _CLOSE = "([{", ")]}"


def split_comparison(expr: str) -> tuple[str, str, str] | None:
    """Split ``expr`` at its top-level comparison: ``(left, operator, right)``, or ``None``
    when it has none (``absent(x == 1)`` compares inside a call). Label matchers, strings
    and brackets are skipped."""
    depth, quote, i = 0, "", 0
    while i < len(expr):
        c = expr[i]
        if quote:
            if c == "\\":
                i += 1
            elif c == quote:
                quote = ""
        elif c in "\"'`":
            quote = c
        elif c in _OPEN:
            depth += 1
        elif c in _CLOSE:
            depth -= 1
        elif depth == 0:
            for op in _COMPARISONS:
                if expr.startswith(op, i):
                    return expr[:i].strip(), op, expr[i + len(op):].strip()
        i += 1
    return None


def is_number(expr: str) -> bool:
    """Whether ``expr`` is a PromQL number literal (a threshold)."""
    try:
        float(expr)
    except ValueError:
        return False
    return True


def samples(url: str) -> list[Any]:
    """Every sample (``name``, ``labels``, ``value``) of a /metrics endpoint (empty if down)."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            text = response.read().decode()
    except OSError:
        return []
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


def scrape(url: str) -> dict[tuple[str, str], float]:
    """``{(sample name, dataset or ''): value}`` of a /metrics endpoint (empty if down)."""
    return {(s.name, s.labels.get("dataset", "")): s.value for s in samples(url)}


def sample_sum(url: str, name: str) -> float:
    """The sum of the samples named ``name`` over all their label sets (0 if none or down)."""
    return float(sum(s.value for s in samples(url) if s.name == name))
