"""Fixtures of the Spark emitter tests: ONE local SparkSession for the whole test session.

A session takes ~5-10 s to start and the machine's memory is shared, so every Spark test
uses the same ``spark`` (``local[2]``, 2 shuffle partitions, no UI, warehouse and Derby
files in a temporary directory). Tests enable lineage with their own
:class:`RecordingClient` through the ``lineage`` fixture, which closes the handle again.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import tests.support.recording
from lineage_pipeline.events import EventType, LineageEvent

pyspark = pytest.importorskip("pyspark")


class RecordingClient(tests.support.recording.RecordingClient):
    """The shared recording client with the views of Spark's application and action runs."""

    def action_events(self) -> list[LineageEvent]:
        """Events of action runs (those with a parent), in emission order."""
        return [e for e in self.events if e.run.parent is not None]

    def app_events(self) -> list[LineageEvent]:
        """Events of the application run (no parent unless configured)."""
        return [e for e in self.events if e.job.facets.jobType is not None
                and e.job.facets.jobType.jobType == "APPLICATION"]

    def runs(self) -> dict[str, list[LineageEvent]]:
        """Action events grouped by run id."""
        out: dict[str, list[LineageEvent]] = {}
        for event in self.action_events():
            out.setdefault(event.run.runId, []).append(event)
        return out

    def terminal(self) -> list[LineageEvent]:
        """Terminal (COMPLETE/FAIL/ABORT) events of action runs."""
        return [e for e in self.action_events() if e.eventType != EventType.START]


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from pyspark.sql import SparkSession

    base = tmp_path_factory.mktemp("spark")
    session = (
        SparkSession.builder.master("local[2]")
        .appName("lineage-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.default.parallelism", "2")
        .config("spark.sql.warehouse.dir", str(base / "warehouse"))
        .config("spark.driver.memory", "768m")
        .config("spark.driver.extraJavaOptions", f"-Dderby.stream.error.file={base}/derby.log")
        .config("spark.sql.execution.arrow.pyspark.enabled", "false")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    try:
        yield session
    finally:
        session.stop()


@pytest.fixture
def recorder() -> RecordingClient:
    return RecordingClient()


@pytest.fixture
def lineage(spark: Any, recorder: RecordingClient) -> Iterator[Any]:
    """Lineage enabled on the shared session with a fresh recorder; closed afterwards."""
    from emitters.spark import enable_lineage

    handle = enable_lineage(spark, recorder, namespace="tests", app_name="spark_tests")
    try:
        yield handle
    finally:
        handle.close()


@pytest.fixture
def data_dir(tmp_path: Path, spark: Any) -> Path:
    """Inputs of the acceptance job: payments (parquet, written by Spark before lineage is
    enabled) and users (CSV, written as text)."""
    spark.createDataFrame(
        [(1, 10.0, "de"), (2, 20.0, "fr"), (3, 5.0, "de"), (4, 7.5, "fr")],
        "user_id long, amount double, country string",
    ).write.parquet(str(tmp_path / "payments.parquet"))
    (tmp_path / "users.csv").write_text("user_id,name,age\n1,ann,34\n2,bob,17\n3,cy,52\n4,di,41\n")
    return tmp_path
