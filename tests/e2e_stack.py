"""A processor and a sink started as real processes for one test module's topics and graph."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from lineage_pipeline.localstack.processes import (
    ManagedProcess,
    free_port,
    port_open,
    start_python_service,
)
from lineage_pipeline.localstack.stack import create_topics
from lineage_pipeline.settings import LineageSettings, load_settings


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
        "LINEAGE_TOPICS__PARTITIONS": str(t.partitions),
        "LINEAGE_GRAPH__URL": settings.graph.url,
        "LINEAGE_GRAPH__NAME": settings.graph.name,
        "LINEAGE_PROCESSOR__APP_ID": p.app_id,
        "LINEAGE_PROCESSOR__METRICS_PORT": str(p.metrics_port),
        "LINEAGE_SINK__GROUP_ID": s.group_id,
        "LINEAGE_SINK__METRICS_PORT": str(s.metrics_port),
        "PYTHONUNBUFFERED": "1",
        # Tansu answers JoinGroup after half the session timeout: keep it short locally
        "LINEAGE_KAFKA__EXTRA": '{"session.timeout.ms": "6000"}',
    }


def make_settings(bootstrap: str, graph_port: int, data_dir: Path) -> LineageSettings:
    """Return settings with fresh topics, graph, group ids and metrics ports."""
    suffix = uuid.uuid4().hex[:8]
    return load_settings(
        data_dir=data_dir,
        kafka={"bootstrap_servers": bootstrap},
        topics={
            "events": f"lineage.events.{suffix}",
            "openlineage": f"openlineage.events.{suffix}",
            "graph": f"lineage.graph.{suffix}",
            "dlq": f"lineage.dlq.{suffix}",
            "partitions": 1,
        },
        graph={"url": f"redis://127.0.0.1:{graph_port}", "name": f"e2e_{suffix}"},
        processor={"app_id": f"processor-{suffix}", "metrics_port": free_port()},
        sink={"group_id": f"sink-{suffix}", "metrics_port": free_port()},
    )


@contextmanager
def pipeline_stack(bootstrap: str, graph_port: int, data_dir: Path) -> Iterator[PipelineStack]:
    """Start a processor and a sink for fresh topics and a fresh graph; stop them by pid."""
    settings = make_settings(bootstrap, graph_port, data_dir)
    create_topics(settings)
    env = stack_env(settings)
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
