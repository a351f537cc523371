"""The dashboards and alert rules, evaluated by a real Prometheus against the real pipeline.

One stack serves the module: the real processor and sink processes
(:func:`tests.e2e_stack.pipeline_stack` on the session Kafka broker and a leased Neo4j
server), with a freshness SLA configured through ``LINEAGE_FRESHNESS__EXPECTED``, and Debian's
``prometheus`` scraping both metrics endpoints every 500 ms with
``deploy/prometheus/alerts.yml`` loaded. Two batch jobs run through the emitter SDK
(:func:`emitters.batch.job_run`, real files) about once a second:

- ``orders`` writes ``orders.csv`` (configured SLA 1 h) and the DataFrame
  ``s3://lake:orders_summary`` (no SLA configured: learned from its writes, 60 s floor);
- ``report`` reads ``orders.csv`` and writes ``report.csv`` (configured SLA
  :data:`REPORT_SLA_S`) until the test stops it.

One garbage record on the events topic and one on the graph topic go to the DLQ through the
processor and the sink. Then: every panel target returns series of the shape its legend
needs; every alert expression evaluates, the quantity it compares has series with the labels
its annotations print, and exactly the expected alerts are active; the stopped job's dataset
becomes stale in the "Stale datasets" panel after its SLA and fires ``LineageDatasetStale``;
``lineage freshness --json`` and the panel agree; a restarted sink exports the freshness of
datasets written before it started (seeded from the graph). Every process is stopped by pid.
Tests that need no stack (lag probe, DLQ reasons) are in :mod:`tests.test_prometheus_parts`.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest
from confluent_kafka import Producer

from emitters.batch import job_run
from emitters.client import LineageClient
from lineage_app.localstack.processes import port_open, start_python_service
from lineage_pipeline.freshness import FreshnessPolicy, freshness
from lineage_pipeline.graph import open_backend
from lineage_pipeline.graph.history import write_history
from lineage_queries.api import LineageGraph
from tests.conftest import GraphFactory
from tests.e2e_stack import (
    PipelineStack,
    lineage_cli,
    pipeline_stack,
)
from tests.prometheus_support import (
    PROCESSOR_JOB,
    SINK_JOB,
    Prometheus,
    alert_rules,
    annotation_labels,
    dashboard_problems,
    is_number,
    namespace_variable_query,
    running_prometheus,
    scrape,
    split_comparison,
    stale_in_panel,
)
from tests.support.waiting import wait_for

REPORT_SLA_S = 6.0
ORDERS_SLA_S = 3600.0
JOB_PERIOD_S = 1.0
NAMESPACE = "tests.prometheus"
SUMMARY = "s3://lake:orders_summary"
#: Active once the report job has stopped and the garbage graph record was dead-lettered.
ACTIVE_ALERTS = {"LineageDatasetStale", "LineageSinkDeadLetters"}


@dataclass
class Jobs:
    """The two batch jobs, run by a thread through the emitter SDK."""

    client: LineageClient
    data: Path
    runs: dict[str, int] = field(default_factory=lambda: {"orders": 0, "report": 0})
    tick: int = 0
    report_running: threading.Event = field(default_factory=threading.Event)
    running: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    @property
    def orders(self) -> str:
        return f"file:{self.data / 'orders.csv'}"

    @property
    def report(self) -> str:
        return f"file:{self.data / 'report.csv'}"

    def start(self) -> None:
        self.running.set()
        self.report_running.set()
        self.thread = threading.Thread(target=self._loop, name="jobs", daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        while self.running.is_set():
            started = time.monotonic()
            self.tick += 1
            tick = self.tick
            frame = pd.DataFrame({"order": range(tick), "amount": [i * 1.5 for i in range(tick)]})
            with job_run("orders", namespace=NAMESPACE, client=self.client) as run:
                frame.to_csv(self.data / "orders.csv", index=False)
                run.output_file(self.data / "orders.csv", kind="table")
                summary = frame.describe().reset_index()
                run.output_dataframe(summary, "orders_summary", namespace="s3://lake",
                                     kind="features")
            self.runs["orders"] += 1
            if self.report_running.is_set():
                with job_run("report", namespace=NAMESPACE, client=self.client) as run:
                    run.input_file(self.data / "orders.csv", kind="table")
                    (self.data / "report.csv").write_text(f"orders,{tick}\n", "utf-8")
                    run.output_file(self.data / "report.csv")
                self.runs["report"] += 1
            time.sleep(max(0.0, JOB_PERIOD_S - (time.monotonic() - started)))

    def stop_report(self) -> None:
        """Stop the report job and return once the loop starts its next round (a report run
        in progress has finished then, and none starts after it)."""
        self.report_running.clear()
        done, tick = self.runs["report"], self.tick
        wait_for(lambda: self.tick > tick, "the jobs' next round", 10 * JOB_PERIOD_S)
        assert self.runs["report"] <= done + 1

    def stop(self) -> None:
        """Stop both jobs and deliver every event."""
        self.report_running.clear()
        self.running.clear()
        if self.thread is not None:
            self.thread.join(30)
            self.thread = None
        assert self.client.flush(30.0) == 0, "every event was delivered to the broker"


@dataclass
class Stack:
    """The pipeline, its Prometheus, the jobs, and the graph they write."""

    pipeline: PipelineStack
    prometheus: Prometheus
    jobs: Jobs
    graph: LineageGraph
    settled: bool = False

    def sink_metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.pipeline.settings.sink.metrics_port}/metrics"

    def report_stale(self) -> None:
        """Stop the report job (once) and wait until the panel lists its dataset."""
        if self.jobs.report_running.is_set():
            self.jobs.stop_report()
        report = self.jobs.report
        wait_for(lambda: report in stale_in_panel(self.prometheus),
                 f"{report} stale in the panel", REPORT_SLA_S + 15)

    def settle(self) -> None:
        """Stop every job (once) and wait until the graph and the sink's exported gauges
        hold every write (each dataset's write count in the graph equals its job's runs)."""
        if self.settled:
            return
        self.report_stale()
        self.jobs.stop()
        wanted = {self.jobs.orders: self.jobs.runs["orders"], SUMMARY: self.jobs.runs["orders"],
                  self.jobs.report: self.jobs.runs["report"]}

        def written() -> bool:
            counts = {ds.dataset: len(ds.times) for ds in write_history(self.graph.backend)}
            return all(counts.get(uid) == n for uid, n in wanted.items())

        wait_for(written, f"every write in the graph: {wanted}", 30)
        last = {ds.dataset: ds.times[0] for ds in write_history(self.graph.backend)}

        def exported() -> bool:
            gauges = scrape(self.sink_metrics_url())
            return all(gauges.get(("lineage_dataset_last_write_timestamp_seconds", uid))
                       == pytest.approx(t, abs=1e-3) for uid, t in last.items())

        wait_for(exported, "the sink's gauges to hold the last writes", 15)
        self.settled = True


@pytest.fixture(scope="module")
def stack(
    kafka_broker: str, graphs: GraphFactory, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("prometheus-stack")
    data = (root / "data").resolve()
    data.mkdir()
    policy = FreshnessPolicy(expected={f"file:{data / 'report.csv'}": REPORT_SLA_S,
                                       f"file:{data / 'orders.csv'}": ORDERS_SLA_S})
    freshness_env = {"LINEAGE_FRESHNESS__EXPECTED": json.dumps(policy.expected),
                     # the completeness panels: gauges refreshed while the test runs
                     "LINEAGE_SINK__COMPLETENESS_INTERVAL_S": "1"}
    with graphs.fresh("neo4j") as graph_settings, \
            pipeline_stack(kafka_broker, graph_settings, root / "stack",
                           extra_env=freshness_env) as pipeline:
        s = pipeline.settings
        targets = {PROCESSOR_JOB: [f"127.0.0.1:{s.processor.metrics_port}"],
                   SINK_JOB: [f"127.0.0.1:{s.sink.metrics_port}"]}
        (root / "prometheus").mkdir()
        with running_prometheus(targets, root / "prometheus") as prometheus:
            # Prometheus has scraped the zero-initialised DLQ counters: each dead letter now
            # is an increase of a known series
            garbage = Producer({"bootstrap.servers": s.kafka.bootstrap_servers})
            garbage.produce(s.topics.events, value=b"not an avro event", key=b"garbage")
            garbage.produce(s.topics.graph, value=b"not graph mutations", key=b"garbage")
            assert garbage.flush(10) == 0
            client = LineageClient.from_config(
                kafka={"bootstrap_servers": s.kafka.bootstrap_servers},
                topics={"events": s.topics.events}, data_dir=str(root / "emitter"),
            )
            jobs = Jobs(client, data)
            jobs.start()
            graph = LineageGraph(open_backend(s.graph))
            try:
                report = jobs.report
                # caught up: the report's last write is recent (the first events waited
                # for the processor's group join, so they arrive already older than the SLA)
                wait_for(lambda: prometheus.series(
                    f'time() - lineage_dataset_last_write_timestamp_seconds{{dataset="{report}"}}'
                    f" < {REPORT_SLA_S / 2}"), "the pipeline to catch up with the jobs", 60)
                yield Stack(pipeline, prometheus, jobs, graph)
            finally:
                jobs.stop()
                client.close()
                graph.close()


def test_a_dataset_whose_job_stops_becomes_stale_and_fires_the_alert(stack: Stack) -> None:
    prometheus, report, orders = stack.prometheus, stack.jobs.report, stack.jobs.orders
    for _ in range(3):  # while its job writes it, the dataset stays fresh
        assert report not in stale_in_panel(prometheus), "stale while its job still writes it"
        assert not [a for a in prometheus.firing("LineageDatasetStale")
                    if a.get("dataset") == report]
        time.sleep(JOB_PERIOD_S)
    [(_, last_before)] = prometheus.series(
        f'lineage_dataset_last_write_timestamp_seconds{{dataset="{report}"}}')
    stopped = time.time()
    stack.jobs.stop_report()
    wait_for(lambda: report in stale_in_panel(prometheus), f"{report} in the stale panel",
             REPORT_SLA_S + 15)
    [(_, last)] = prometheus.series(
        f'lineage_dataset_last_write_timestamp_seconds{{dataset="{report}"}}')
    assert last >= last_before
    assert time.time() - last > REPORT_SLA_S, "stale before its SLA elapsed"
    assert time.time() - stopped >= REPORT_SLA_S - 2 * JOB_PERIOD_S
    wait_for(lambda: [a for a in prometheus.firing("LineageDatasetStale")
                      if a.get("dataset") == report],
             f"LineageDatasetStale to fire for {report}", 10)
    firing = {a["dataset"] for a in prometheus.firing("LineageDatasetStale")}
    assert firing == {report}, firing
    assert orders not in stale_in_panel(prometheus), "a dataset still written became stale"


def test_every_dashboard_expression_returns_series_of_the_expected_shape(stack: Stack) -> None:
    stack.report_stale()  # the stale-datasets table has a row to show
    problems = dashboard_problems(stack.prometheus)
    assert not problems, "\n".join(problems)


def test_every_alert_expression_evaluates_to_the_expected_shape(stack: Stack) -> None:
    stack.report_stale()
    prometheus = stack.prometheus
    rules = {rule["alert"]: rule for rule in alert_rules()}
    assert ACTIVE_ALERTS <= set(rules)
    problems = []
    for name, rule in sorted(rules.items()):
        expr = rule["expr"].strip()
        wanted = annotation_labels(rule)
        parts = split_comparison(expr)
        # the quantities the rule compares: each has series with the labels it prints
        for side in [] if parts is None else [parts[0], parts[2]]:
            if is_number(side):
                continue
            series = prometheus.series(side)
            if not series:
                problems.append(f"{name}: no series for {side}")
            for labels, value in series:
                if not wanted <= set(labels):
                    problems.append(f"{name}: {side} series {labels} lacks {wanted}")
                if not math.isfinite(value):
                    problems.append(f"{name}: non-finite {value} for {labels}")
        active = prometheus.series(expr)
        if (name in ACTIVE_ALERTS) != bool(active):
            problems.append(f"{name}: expected {'active' if name in ACTIVE_ALERTS else 'quiet'}"
                            f" on this stack, got {active}")
        for labels, _ in active:
            if not wanted <= set(labels):
                problems.append(f"{name}: active series {labels} lacks {wanted}")
    assert not problems, "\n".join(problems)

    def states() -> dict[str, set[str]]:
        found: dict[str, set[str]] = {}
        for alert in prometheus.alerts():
            found.setdefault(alert["labels"]["alertname"], set()).add(alert["state"])
        return found

    wait_for(lambda: ACTIVE_ALERTS <= set(states()), "the expected alerts to be active", 10)
    assert set(states()) == ACTIVE_ALERTS, states()
    dead = prometheus.firing("LineageSinkDeadLetters")  # no `for`: firing at once
    assert {a["reason"] for a in dead} == {"bad_magic"}, dead


def test_the_processor_and_the_sink_export_their_consumer_lag(stack: Stack) -> None:
    s = stack.pipeline.settings
    expected = {(s.processor.app_id, s.topics.events), (s.processor.app_id, s.topics.openlineage),
                (s.sink.group_id, s.topics.graph)}

    def lag() -> dict[tuple[str, str], float]:
        return {(m["consumer"], m["topic"]): v for m, v in stack.prometheus.series(
            "max by (consumer, topic) (lineage_consumer_lag_messages)")}

    wait_for(lambda: expected <= set(lag()), f"consumer lag series {expected}", 20)
    assert all(v >= 0 for v in lag().values())
    stack.settle()
    # everything consumed and committed: the group's lag drains to 0
    wait_for(lambda: all(lag().get(k) == 0 for k in expected), "the lag to drain to 0", 20)


def test_the_namespace_variable_lists_the_datasets_namespaces(stack: Stack) -> None:
    metric, label = namespace_variable_query()
    values = stack.prometheus.get(f"/api/v1/label/{label}/values", **{"match[]": metric})
    assert {"file", "s3://lake"} <= set(values), values


def test_lineage_freshness_and_the_stale_panel_agree(stack: Stack) -> None:
    stack.settle()
    done = lineage_cli(stack.pipeline, "freshness", "--all", "--json")
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    at = answer["asOf"] / 1000
    cli_stale = {row["dataset"] for row in answer["stale"]}
    assert cli_stale == {stack.jobs.report}, answer["summary"]
    assert cli_stale == stale_in_panel(stack.prometheus, at)
    # row by row: the same last write and SLA as the gauges, so the same verdict at any time
    rows = {row["dataset"]: row for row in answer["stale"] + answer["fresh"]}
    assert set(rows) == {stack.jobs.report, stack.jobs.orders, SUMMARY}
    last = {m["dataset"]: v for m, v in stack.prometheus.series(
        "max by (dataset) (lineage_dataset_last_write_timestamp_seconds)", at)}
    sla = {m["dataset"]: v for m, v in stack.prometheus.series(
        "max by (dataset) (lineage_dataset_expected_interval_seconds)", at)}
    for uid, row in rows.items():
        assert last[uid] == pytest.approx(row["lastWrite"] / 1000, abs=1e-3), uid
        assert sla[uid] == pytest.approx(row["expectedIntervalS"]), uid
        verdict = freshness(uid, [last[uid]], FreshnessPolicy(expected={uid: sla[uid]}), at)
        assert verdict.stale == (uid in cli_stale), uid
    assert rows[SUMMARY]["intervalSource"] == "learned"
    assert rows[stack.jobs.orders]["intervalSource"] == "configured"


def test_a_restarted_sink_exports_the_freshness_of_datasets_written_before(
    stack: Stack,
) -> None:
    stack.settle()
    before = scrape(stack.sink_metrics_url())
    freshness_names = ("lineage_dataset_last_write_timestamp_seconds",
                       "lineage_dataset_expected_interval_seconds")
    expected = {k: v for k, v in before.items() if k[0] in freshness_names}
    assert {uid for _, uid in expected} == {stack.jobs.report, stack.jobs.orders, SUMMARY}
    sink = stack.pipeline.sink
    sink.stop()
    port = stack.pipeline.settings.sink.metrics_port
    restarted = start_python_service(
        "sink-restarted", "graph_sink", [], Path(stack.pipeline.settings.data_dir),
        ready=lambda: port_open(port), env=stack.pipeline.env,
    )
    # pipeline_stack stops this object at the end: make it the restarted process
    sink.pid, sink.popen, sink.log_path = restarted.pid, restarted.popen, restarted.log_path

    def seeded() -> dict[tuple[str, str], float] | None:
        now = scrape(stack.sink_metrics_url())
        return now if all(k in now for k in expected) else None

    after = wait_for(seeded, "the restarted sink's freshness gauges", 20)
    assert isinstance(after, dict)
    # nothing consumed yet (or nothing new to consume): the gauges come from the graph
    assert after[("lineage_sink_records_total", "")] == 0
    for key, value in expected.items():
        assert after[key] == pytest.approx(value, abs=1e-3), key
    # and Prometheus sees the stale dataset again through the new process
    report = stack.jobs.report
    wait_for(lambda: stack.prometheus.series(f'up{{job="{SINK_JOB}"}} == 1')
             and report in stale_in_panel(stack.prometheus), f"{report} stale after the restart",
             20)
    wait_for(lambda: [a for a in stack.prometheus.firing("LineageDatasetStale")
                      if a.get("dataset") == report], "the stale alert after the restart", 10)
