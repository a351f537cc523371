"""A processor and a sink started as real processes for one test module's topics and graph."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from lineage_app.localstack.processes import (
    ManagedProcess,
    free_port,
    port_open,
    start_python_service,
)
from lineage_app.localstack.stack import create_topics
from lineage_pipeline.settings import GraphSettings, LineageSettings, load_settings
from tests.graph_servers import graph_env


@dataclass
class PipelineStack:
    """Settings that point at this stack, and its two service processes."""

    settings: LineageSettings
    env: dict[str, str]
    processor: ManagedProcess
    sink: ManagedProcess


def stack_env(settings: LineageSettings) -> dict[str, str]:
    """Return LINEAGE_* variables that make a child process use ``settings``."""
    t, p, s = settings.topics, settings.processor, settings.sink
    return {
        "LINEAGE_DATA_DIR": str(settings.data_dir),
        "LINEAGE_KAFKA__BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
        "LINEAGE_TOPICS__EVENTS": t.events,
        "LINEAGE_TOPICS__OPENLINEAGE": t.openlineage,
        "LINEAGE_TOPICS__GRAPH": t.graph,
        "LINEAGE_TOPICS__DLQ": t.dlq,
        "LINEAGE_TOPICS__ERASURES": t.erasures,
        "LINEAGE_TOPICS__PARTITIONS": str(t.partitions),
        **graph_env(settings.graph),
        "LINEAGE_PROCESSOR__APP_ID": p.app_id,
        "LINEAGE_PROCESSOR__METRICS_PORT": str(p.metrics_port),
        "LINEAGE_SINK__GROUP_ID": s.group_id,
        "LINEAGE_SINK__METRICS_PORT": str(s.metrics_port),
        "PYTHONUNBUFFERED": "1",
        # the broker's minimum: a killed service's partitions move on within seconds
        "LINEAGE_KAFKA__EXTRA": '{"session.timeout.ms": "6000"}',
    }


def make_settings(bootstrap: str, graph: GraphSettings, data_dir: Path) -> LineageSettings:
    """Return settings with fresh topics, group ids and metrics ports for the graph ``graph``."""
    suffix = uuid.uuid4().hex[:8]
    return load_settings(
        data_dir=data_dir,
        kafka={"bootstrap_servers": bootstrap},
        topics={
            "events": f"lineage.events.{suffix}",
            "openlineage": f"openlineage.events.{suffix}",
            "graph": f"lineage.graph.{suffix}",
            "dlq": f"lineage.dlq.{suffix}",
            "erasures": f"lineage.erasures.{suffix}",
            "partitions": 1,
        },
        graph=graph.model_dump(),
        processor={"app_id": f"processor-{suffix}", "metrics_port": free_port()},
        sink={"group_id": f"sink-{suffix}", "metrics_port": free_port()},
    )


@contextmanager
def pipeline_stack(bootstrap: str, graph: GraphSettings, data_dir: Path,
                   extra_env: dict[str, str] | None = None) -> Iterator[PipelineStack]:
    """Start a processor and a sink for fresh topics and the graph ``graph``; stop them by pid.

    ``extra_env``: more variables for both processes (e.g. ``LINEAGE_PII_PATTERNS``); they
    are also in :attr:`PipelineStack.env`.
    """
    settings = make_settings(bootstrap, graph, data_dir)
    create_topics(settings)
    env = {**stack_env(settings), **(extra_env or {})}
    started: list[ManagedProcess] = []
    try:
        sink = start_python_service(
            "sink", "graph_sink", [], data_dir,
            ready=lambda: port_open(settings.sink.metrics_port), env=env,
        )
        started.append(sink)
        processor = start_python_service(
            "processor", "stream_processor", [], data_dir,
            ready=lambda: port_open(settings.processor.metrics_port), env=env,
        )
        started.append(processor)
        yield PipelineStack(settings, env, processor, sink)
    finally:
        for proc in reversed(started):
            proc.stop()


def cli_env(stack: PipelineStack) -> dict[str, str]:
    """Return the environment for running the ``lineage`` CLI against ``stack``."""
    return {**os.environ, **stack.env}


def lineage_cli(stack: PipelineStack, *args: str, env: dict[str, str] | None = None,
                drop_env: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    """Run ``lineage ARGS`` as a process against ``stack`` and return the finished process.

    ``env``: more variables; ``drop_env``: variables removed from the child's environment.
    """
    child = {**cli_env(stack), **(env or {})}
    for name in drop_env:
        child.pop(name, None)
    return subprocess.run([sys.executable, "-m", "lineage_app.cli.app", *args],
                          env=child, capture_output=True, text=True, timeout=120, check=False)


def metric_total(port: int, line_start: str) -> float:
    """The sum of the samples of ``http://127.0.0.1:port/metrics`` whose line starts with
    ``line_start`` (e.g. a counter's ``..._total``, every label set)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(line_start))


def lineage_json(stack: PipelineStack, *args: str, env: dict[str, str] | None = None,
                 drop_env: tuple[str, ...] = ()) -> object:
    """Run ``lineage ARGS --json`` against ``stack``; return its parsed output (exit 0)."""
    done = lineage_cli(stack, *args, "--json", env=env, drop_env=drop_env)
    assert done.returncode == 0, f"lineage {list(args)} exited {done.returncode}: {done.stderr}"
    return json.loads(done.stdout)


