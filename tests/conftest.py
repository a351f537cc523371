"""Shared fixtures: real services on free loopback ports, stopped by pid afterwards.

- ``kafka_broker``: a Tansu broker (session-scoped); yields its bootstrap string.
- ``falkordb_server``: a FalkorDB server (session-scoped); yields its port.
- ``graph_name``: a fresh FalkorDB graph name per test (graphs are cheap keys).
- ``topic_names``: fresh topic names per test (``lineage.events`` etc. with a suffix).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from lineage_pipeline.localstack.processes import start_broker, start_falkordb
from lineage_pipeline.settings import TopicSettings


@pytest.fixture(scope="session")
def stack_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("stack")


@pytest.fixture(scope="session")
def kafka_broker(stack_dir: Path) -> Iterator[str]:
    proc = start_broker(stack_dir)
    try:
        yield f"127.0.0.1:{proc.port}"
    finally:
        proc.stop()


@pytest.fixture(scope="session")
def falkordb_server(stack_dir: Path) -> Iterator[int]:
    proc = start_falkordb(stack_dir)
    try:
        yield proc.port
    finally:
        proc.stop()


@pytest.fixture
def graph_name() -> str:
    return f"test_{uuid.uuid4().hex[:12]}"


@pytest.fixture
def topic_names() -> TopicSettings:
    suffix = uuid.uuid4().hex[:8]
    return TopicSettings(
        events=f"lineage.events.{suffix}",
        openlineage=f"openlineage.events.{suffix}",
        graph=f"lineage.graph.{suffix}",
        dlq=f"lineage.dlq.{suffix}",
        partitions=1,
    )
