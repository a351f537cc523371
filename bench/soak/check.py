"""What the soak (:mod:`bench.soak`) reads back at the end: the topics, the DLQ and the graph.

- :func:`read_topic`: every message of a topic up to its end offsets at the call;
- :func:`valid_runs`: the runs of the events that decode (Avro on the events topic,
  OpenLineage JSON on its topic), with whether a COMPLETE of each was acknowledged;
- :func:`dead_letters`: ``(source topic, partition, offset) -> reason`` of the DLQ;
- :func:`graph_runs` / :func:`graph_duplicates`: the runs in the graph and their state; nodes
  sharing a uid and relationships sharing (type, ends, merge key) beyond the first.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, Message, TopicPartition

from lineage_pipeline.codec import EventCodec
from lineage_pipeline.dead_letter import summary
from lineage_pipeline.errors import LineageError
from lineage_pipeline.graph import GraphBackend
from lineage_pipeline.openlineage import from_openlineage_dict

Where = tuple[str, int, int]


def read_topic(bootstrap: str, topic: str, timeout_s: float = 120.0) -> list[Message]:
    """Every message of ``topic`` (all partitions, offset order) up to its high watermarks.
    Raises ``TimeoutError`` when they are not read within ``timeout_s`` seconds."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"soak-{uuid.uuid4()}",
                         "enable.auto.commit": False, "fetch.wait.max.ms": 100})
    try:
        parts = sorted(consumer.list_topics(topic, timeout=30).topics[topic].partitions)
        highs = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30)[1]
                 for p in parts}
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts])
        out: list[Message] = []
        done = {p for p in parts if highs[p] == 0}
        deadline = time.monotonic() + timeout_s
        while len(done) < len(parts):
            if time.monotonic() > deadline:
                raise TimeoutError(f"read {len(out)} messages of {topic}")
            msg = consumer.poll(0.2)
            if msg is None or msg.error() is not None:
                continue
            out.append(msg)
            if (msg.offset() or 0) >= highs[msg.partition() or 0] - 1:
                done.add(msg.partition() or 0)
        return out
    finally:
        consumer.close()


def _where(msg: Message) -> Where:
    return msg.topic() or "", msg.partition() or 0, msg.offset() or 0


def valid_runs(events: list[Message], openlineage: list[Message]) -> tuple[
        dict[str, bool], set[Where], set[str]]:
    """``(runId -> a COMPLETE was acknowledged, where every undecodable message is, the
    event ids that decoded)``."""
    codec = EventCodec()
    runs: dict[str, bool] = {}
    bad: set[Where] = set()
    ids: set[str] = set()
    for msg, is_json in [(m, False) for m in events] + [(m, True) for m in openlineage]:
        try:
            value = msg.value() or b""
            event = (from_openlineage_dict(json.loads(value)) if is_json
                     else codec.decode(value))
        except (LineageError, ValueError, RecursionError):
            bad.add(_where(msg))
            continue
        ids.add(event.eventId)
        done = event.eventType.value == "COMPLETE"
        runs[event.run.runId] = runs.get(event.run.runId, False) or done
    return runs, bad, ids


def dead_letters(dlq: list[Message]) -> dict[Where, str]:
    """Source ``(topic, partition, offset)`` -> reason of every DLQ record."""
    found: dict[Where, str] = {}
    for msg in dlq:
        raw = msg.headers() or []
        head = summary(list(raw.items()) if isinstance(raw, dict) else raw)
        topic, part, offset = (head["source_topic"], head["source_partition"],
                               head["source_offset"])
        if isinstance(topic, str) and isinstance(part, int) and isinstance(offset, int):
            found[(topic, part, offset)] = str(head["reason"])
    return found


def graph_runs(backend: GraphBackend) -> dict[str, str | None]:
    """runId -> state of every Run node."""
    rows = backend.query("MATCH (r:Run) RETURN r.runId AS id, r.state AS state")
    return {str(r["id"]): (None if r["state"] is None else str(r["state"])) for r in rows}


def graph_duplicates(backend: GraphBackend) -> int:
    """Nodes sharing a uid and relationships sharing (type, ends, ``lineageUid``) beyond the
    first (a MERGE never makes them: a count above 0 is a bug)."""
    nodes = backend.query("MATCH (n) WITH n.uid AS u, count(*) AS c WHERE c > 1 "
                          "RETURN coalesce(sum(c - 1), 0) AS d")
    rels = backend.query("MATCH (a)-[r]->(b) WITH a.uid AS s, b.uid AS t, type(r) AS k, "
                         "r.lineageUid AS key, count(*) AS c WHERE c > 1 "
                         "RETURN coalesce(sum(c - 1), 0) AS d")
    return int(nodes[0]["d"]) + int(rels[0]["d"])


def accounting(runs: dict[str, bool], in_graph: dict[str, str | None]) -> dict[str, Any]:
    """Runs acknowledged, in the graph, lost (missing, or COMPLETE acknowledged but not
    COMPLETE in the graph)."""
    missing = [r for r in runs if r not in in_graph]
    not_complete = [r for r, done in runs.items() if done and in_graph.get(r) != "COMPLETE"]
    return {"runs_acknowledged": len(runs), "runs_in_graph": sum(r in in_graph for r in runs),
            "runs_lost": len(missing) + len(not_complete),
            "lost_examples": (missing + not_complete)[:5]}
