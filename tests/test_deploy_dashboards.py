"""The Grafana dashboards are valid dashboard JSON bound to the provisioned data source.

No Grafana binary is available, so the checks follow Grafana's dashboard JSON model: a
``schemaVersion``, panels with unique ids, a 24-column grid, Prometheus targets with unique
refIds, and every data source reference (panel, target, template variable) resolving to the
data source provisioned in ``deploy/grafana/provisioning/datasources``. The expressions
themselves are evaluated by a real Prometheus scraping the running processor and sink in
``tests/test_prometheus_stack.py``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase

from lineage_pipeline import metrics

ROOT = Path(__file__).resolve().parents[1]
GRAFANA = ROOT / "deploy" / "grafana"
DASHBOARD_FILES = sorted((GRAFANA / "dashboards").glob("*.json"))
PANEL_TYPES = {"stat", "table", "timeseries", "bargauge", "gauge", "text", "row"}


def provisioned_datasources() -> list[dict[str, Any]]:
    sources = []
    for path in sorted((GRAFANA / "provisioning" / "datasources").glob("*.y*ml")):
        document = yaml.safe_load(path.read_text("utf-8"))
        assert document["apiVersion"] == 1, path
        sources.extend(document["datasources"])
    return sources


def load(path: Path) -> dict[str, Any]:
    dashboard: dict[str, Any] = json.loads(path.read_text("utf-8"))
    return dashboard


def exported_names() -> set[str]:
    names: set[str] = set()
    for value in vars(metrics).values():
        if isinstance(value, MetricWrapperBase):
            for family in value.describe():
                suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count")}
                names |= {family.name + s for s in suffixes.get(family.type, ("",))}
    return names


def test_exactly_one_default_prometheus_datasource_is_provisioned() -> None:
    sources = provisioned_datasources()
    assert len(sources) == 1
    (source,) = sources
    assert source["type"] == "prometheus" and source["isDefault"] is True
    assert source["access"] == "proxy" and re.fullmatch(r"[a-zA-Z0-9_-]{1,40}", source["uid"])


def test_the_dashboard_provider_loads_the_dashboard_directory() -> None:
    (path,) = (GRAFANA / "provisioning" / "dashboards").glob("*.y*ml")
    document = yaml.safe_load(path.read_text("utf-8"))
    assert document["apiVersion"] == 1
    (provider,) = document["providers"]
    assert provider["type"] == "file" and provider["options"]["path"]


def test_there_is_a_freshness_and_a_pipeline_health_dashboard_with_unique_uids() -> None:
    assert {p.name for p in DASHBOARD_FILES} == {"freshness.json", "pipeline-health.json"}
    uids = [load(p)["uid"] for p in DASHBOARD_FILES]
    assert len(set(uids)) == len(uids)
    titles = {load(p)["title"] for p in DASHBOARD_FILES}
    assert titles == {"Lineage freshness", "Lineage pipeline health"}


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda p: p.stem)
def test_the_dashboard_follows_grafanas_json_model(path: Path) -> None:
    dashboard = load(path)
    assert "id" not in dashboard or dashboard["id"] is None, "provisioned dashboards carry no id"
    assert isinstance(dashboard["schemaVersion"], int) and dashboard["schemaVersion"] >= 36
    assert re.fullmatch(r"[a-zA-Z0-9_-]{1,40}", dashboard["uid"])
    assert dashboard["title"] and dashboard["time"]["from"] and dashboard["refresh"]
    panels = dashboard["panels"]
    assert panels
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids)) and all(isinstance(i, int) and i > 0 for i in ids)
    cells: dict[tuple[int, int], str] = {}
    for panel in panels:
        assert panel["type"] in PANEL_TYPES, panel["type"]
        assert panel["title"] and panel.get("description"), panel["id"]
        grid = panel["gridPos"]
        assert all(isinstance(grid[k], int) for k in "hwxy")
        assert grid["w"] > 0 and grid["h"] > 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps {cells[(x, y)]}"
                cells[(x, y)] = panel["title"]
        targets = panel["targets"]
        assert targets, f"{panel['title']} has no targets"
        ref_ids = [t["refId"] for t in targets]
        assert len(ref_ids) == len(set(ref_ids)), panel["title"]
        for target in targets:
            assert target["expr"].strip(), (panel["title"], target["refId"])
            assert target.get("format", "time_series") in {"time_series", "table", "heatmap"}
        if panel["type"] == "table":
            assert all(t.get("instant") and t.get("format") == "table" for t in targets)


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda p: p.stem)
def test_every_datasource_reference_resolves_to_the_provisioned_datasource(path: Path) -> None:
    (source,) = provisioned_datasources()
    dashboard = load(path)
    references = []
    for panel in dashboard["panels"]:
        references.append((panel["title"], panel.get("datasource")))
        references += [
            (f"{panel['title']}/{t['refId']}", t.get("datasource")) for t in panel["targets"]
        ]
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable["type"] == "query":
            references.append((f"${variable['name']}", variable.get("datasource")))
    for where, reference in references:
        assert isinstance(reference, dict), f"{where}: no datasource reference"
        assert reference == {"type": source["type"], "uid": source["uid"]}, where
    assert '"uid": "' + source["uid"] + '"' in path.read_text("utf-8")


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda p: p.stem)
def test_every_expression_queries_only_metrics_the_project_exports(path: Path) -> None:
    exported = exported_names()
    variables = {v["name"] for v in load(path).get("templating", {}).get("list", [])}
    for panel in load(path)["panels"]:
        for target in panel["targets"]:
            expr = target["expr"]
            used = set(re.findall(r"\blineage_[a-z_]+\b", expr))
            assert used or "up{" in expr, expr
            assert used <= exported, f"{panel['title']}: unknown metrics {used - exported}"
            for name in re.findall(r"\$(\w+)", expr):
                assert name.startswith("__") or name in variables, f"unknown variable ${name}"
            assert expr.count("(") == expr.count(")"), expr


def test_the_freshness_dashboard_has_the_panels_the_platform_team_asked_for() -> None:
    panels = {p["title"]: p for p in load(GRAFANA / "dashboards" / "freshness.json")["panels"]}
    stale = panels["Stale datasets"]
    assert stale["type"] == "table"
    expr = " ".join(stale["targets"][0]["expr"].split())
    assert "lineage_dataset_last_write_timestamp_seconds" in expr
    assert "> max by (dataset, namespace, kind) (lineage_dataset_expected_interval_seconds" in expr
    against_sla = panels["Time since last write against the SLA"]
    assert {t["refId"] for t in against_sla["targets"]} == {"A", "B", "C"}
    latency = " ".join(t["expr"] for t in panels["Event-to-graph latency"]["targets"])
    assert "histogram_quantile(0.5," in latency and "histogram_quantile(0.99," in latency
    assert "lineage_event_to_graph_seconds_bucket" in latency
    throughput = " ".join(t["expr"] for t in panels["Throughput"]["targets"])
    assert "lineage_processor_events_in_total" in throughput
    assert "lineage_sink_records_total" in throughput
    assert (
        "lineage_processor_dlq_total" in panels["Dead-letter queue by reason"]["targets"][0]["expr"]
    )
