"""End to end, configuration only: an unchanged PySpark script run with
``python -m emitters.spark`` publishes through the real LineageClient (Kafka transport) to
the real Kafka broker; the events are read back and decoded as the processor would."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from lineage_pipeline.codec import EventCodec
from lineage_pipeline.events import EventType, LineageEvent
from lineage_pipeline.settings import TopicSettings
from tests.test_emitter_kafka import read_to_end

pytestmark = pytest.mark.spark

REPO = Path(__file__).resolve().parents[2]

JOB = """
import sys
from pyspark.sql import SparkSession, functions as F

data, out = sys.argv[1], sys.argv[2]
spark = (SparkSession.builder.master("local[1]").appName("orders_daily")
         .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "1")
         .config("spark.driver.memory", "512m").getOrCreate())
orders = spark.read.option("header", True).option("inferSchema", True).csv(data)
orders.groupBy("day").agg(F.sum("qty").alias("qty")).write.mode("overwrite").parquet(out)
spark.stop()
"""


def read_events(bootstrap: str, topic: str) -> list[LineageEvent]:
    """Every record of ``topic``, decoded. The job's process has exited (its client
    flushed at exit), so the broker's end offset covers everything it sent."""
    codec = EventCodec()
    events = []
    for msg in read_to_end(bootstrap, topic):
        value = msg.value()
        assert value is not None
        events.append(codec.decode(value))
    assert len({e.eventId for e in events}) == len(events), "no event is delivered twice"
    return events


def test_unchanged_script_publishes_lineage_to_kafka(
    kafka_broker: str, topic_names: TopicSettings, tmp_path: Path
) -> None:
    admin = AdminClient({"bootstrap.servers": kafka_broker})
    for future in admin.create_topics([NewTopic(topic_names.events, 1, 1)]).values():
        future.result(timeout=30)
    script = tmp_path / "job.py"
    script.write_text(textwrap.dedent(JOB))
    data = tmp_path / "orders.csv"
    data.write_text("day,qty\n2024-01-01,3\n2024-01-01,4\n2024-01-02,5\n")
    out = tmp_path / "daily"
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "LINEAGE_DATA_DIR": str(tmp_path / "lineage"),
        "LINEAGE_KAFKA__BOOTSTRAP_SERVERS": kafka_broker,
        "LINEAGE_TOPICS__EVENTS": topic_names.events,
        "LINEAGE_EMITTER__TRANSPORT": "kafka",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "emitters.spark", "--namespace", "e2e", str(script), str(data),
         str(out)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240, check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (out / "_SUCCESS").exists()

    events = read_events(kafka_broker, topic_names.events)
    app = [e for e in events if e.job.name == "orders_daily"]
    assert [e.eventType for e in app] == [EventType.START, EventType.COMPLETE]  # spark.stop()
    actions = [e for e in events if e.run.parent is not None]
    assert [e.eventType for e in actions] == [EventType.START, EventType.COMPLETE]
    complete = actions[-1]
    assert complete.job.namespace == "e2e"
    assert complete.run.parent is not None and complete.run.parent.runId == app[0].run.runId
    assert [(d.namespace, d.name) for d in complete.inputs] == [("file", str(data))]
    (output,) = complete.outputs
    assert (output.namespace, output.name) == ("file", str(out))
    assert output.facets.statistics is not None and output.facets.statistics.rowCount == 2
    qty = {
        (f.field, t.type, t.subtype)
        for c in output.facets.columnLineage or []
        if c.field == "qty"
        for f in c.inputFields
        for t in f.transformations
    }
    assert qty == {("qty", "DIRECT", "AGGREGATION"), ("day", "INDIRECT", "GROUP_BY")}
    assert all(e.partition_key() == b"e2e/orders_daily" for e in events)
