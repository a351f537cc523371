"""`lineage dlq list/show/replay` against a real broker's DLQ topic."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from confluent_kafka import Consumer, Producer, TopicPartition

from lineage_app.localstack.stack import create_topics
from lineage_pipeline.settings import LineageSettings, TopicSettings, load_settings


def _settings(broker: str, topics: TopicSettings) -> LineageSettings:
    return load_settings(kafka={"bootstrap_servers": broker}, topics=topics.model_dump())


def _cli(s: LineageSettings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "LINEAGE_KAFKA__BOOTSTRAP_SERVERS": s.kafka.bootstrap_servers,
        "LINEAGE_TOPICS__DLQ": s.topics.dlq,
        "LINEAGE_TOPICS__EVENTS": s.topics.events,
    }
    return subprocess.run([sys.executable, "-m", "lineage_app.cli.app", *args],
                          capture_output=True, text=True, env=env, timeout=60, check=False)


def test_list_show_and_replay_a_dead_lettered_record(
    kafka_broker: str, topic_names: TopicSettings
) -> None:
    s = _settings(kafka_broker, topic_names)
    create_topics(s)
    producer = Producer(s.kafka.client_config())
    producer.produce(s.topics.dlq, value=b'{"eventType": "START"', key=b"k", headers=[
        ("reason", b"invalid_json"), ("detail", b"Expecting ',' delimiter"),
        ("source_topic", s.topics.events.encode()), ("source_partition", b"0"),
        ("source_offset", b"41"), ("dlq_time_ms", b"1700000000000"),
    ])
    assert producer.flush(10) == 0

    listed = _cli(s, "dlq", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    records = json.loads(listed.stdout)
    summary = [(r["id"], r["reason"], r["source_offset"]) for r in records]
    assert summary == [("0:0", "invalid_json", 41)]

    shown = _cli(s, "dlq", "show", "0:0")
    assert shown.returncode == 0, shown.stderr
    assert "invalid_json" in shown.stdout and '{"eventType": "START"' in shown.stdout

    missing = _cli(s, "dlq", "show", "0:99")
    assert missing.returncode == 2 and "no DLQ record 0:99" in missing.stderr
    malformed = _cli(s, "dlq", "show", "zero")
    assert malformed.returncode == 2 and "PARTITION:OFFSET" in malformed.stderr

    fixed = os.path.join(os.path.dirname(__file__), "..", "pyproject.toml")
    replayed = _cli(s, "dlq", "replay", "0:0", "--file", fixed)
    assert replayed.returncode == 0, replayed.stderr
    consumer = Consumer({**s.kafka.client_config(), "group.id": "dlq-test"})
    consumer.assign([TopicPartition(s.topics.events, 0, 0)])
    msg = None
    for _ in range(20):
        msg = consumer.poll(1.0)
        if msg is not None and msg.error() is None:
            break
    consumer.close()
    assert msg is not None and msg.value() == open(fixed, "rb").read()
    assert dict(msg.headers() or [])["dlq_replayed_from"] == b"0:0"
