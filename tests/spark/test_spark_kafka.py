"""End to end, configuration only: an unchanged PySpark script run with
``python -m emitters.spark`` publishes through the real LineageClient (Kafka transport) to
the Tansu broker; the events are read back and decoded as the processor would."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from lineage_pipeline.codec import EventCodec
from lineage_pipeline.events import EventType, LineageEvent
from lineage_pipeline.settings import TopicSettings

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


def read_events(bootstrap: str, topic: str, timeout_s: float = 30.0) -> list[LineageEvent]:
    """Every record of partition 0, read with a manually assigned consumer and decoded,
    until the partition has been quiet for 2 s (events may still be in flight)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "spark-e2e-reader",
                         "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, 0, 0)])
    codec = EventCodec()
    events: list[LineageEvent] = []
    deadline = time.monotonic() + timeout_s
    quiet_since = time.monotonic()
    while time.monotonic() < deadline:
        batch = consumer.consume(100, 0.5)
        for msg in batch:
            if msg.error() is None and msg.value() is not None:
                events.append(codec.decode(msg.value()))
        if batch:
            quiet_since = time.monotonic()
        elif events and time.monotonic() - quiet_since > 2.0:
            break
    consumer.close()
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
