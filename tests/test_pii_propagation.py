"""PII: classification tags from the emitter, from an OpenLineage ``tags`` facet and from
configured patterns; propagation downstream along column lineage, stopped by masking; the
statistics of tagged fields hidden in API and CLI output unless the role allows them.

Events go through the processor's logic (Avro topic and the OpenLineage JSON topic), the sink's
writer into a fresh graph of each backend (``any_graph``: Neo4j and FalkorDB), and back
through :class:`lineage_queries.pii.PiiView` and ``lineage fields``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import pytest

from graph_sink.writer import GraphWriter
from lineage_pipeline.codec import EventCodec
from lineage_pipeline.events import LineageEvent
from lineage_pipeline.graph import GraphBackend, open_backend
from lineage_pipeline.graph_record import GraphRecordCodec
from lineage_pipeline.openlineage import to_openlineage_json
from lineage_pipeline.pii import REDACTED, PiiPolicy, current_policy
from lineage_pipeline.settings import GraphSettings
from lineage_queries.pii import PiiView
from stream_processor.dlq import SourceMessage
from stream_processor.processor import EventProcessor
from stream_processor.state import MemoryRunStore, MemoryVersionStore
from tests.graph_servers import graph_env

CODEC = EventCodec()
GRAPH_CODEC = GraphRecordCodec()
PATTERNS = {"pii.phone": "(?i)phone"}
LINEAGE = str(Path(sys.executable).with_name("lineage"))


def field(name: str, *tags: str) -> dict[str, Any]:
    return {"name": name, "type": "string", "tags": list(tags)}


def lineage(out: str, src: str, col: str, masking: bool = False) -> dict[str, Any]:
    return {"field": out, "inputFields": [{"namespace": "crm", "name": src, "field": col,
                                           "transformations": [{"type": "DIRECT",
                                                                "subtype": "TRANSFORMATION",
                                                                "masking": masking}]}]}


def run(name: str, t: int, inputs: list[dict[str, Any]], outputs: list[dict[str, Any]]
        ) -> list[LineageEvent]:
    base = {"producer": "tests/pii", "run": {"runId": str(uuid.uuid4())},
            "job": {"namespace": "crm", "name": name}}
    return [LineageEvent.model_validate({**base, "eventType": "START", "eventTime": t,
                                         "inputs": inputs}),
            LineageEvent.model_validate({**base, "eventType": "COMPLETE", "eventTime": t + 1,
                                         "inputs": inputs, "outputs": outputs})]


def scenario() -> tuple[list[LineageEvent], list[LineageEvent]]:
    """(Avro events, OpenLineage events). ``raw`` has ``email`` tagged by the emitter, ``name``
    tagged in an OpenLineage tags facet (via the JSON topic) and ``phone`` matched by a
    pattern. ``clean`` copies email and phone, masks email into ``email_hash``; ``report``
    copies ``clean.email`` and ``clean.email_hash``."""
    raw = {"namespace": "crm", "name": "raw", "version": "1", "facets": {
        "schema": [field("id"), field("email", "pii.email"), field("name", "pii.name"),
                   field("phone")],
        "statistics": {"rowCount": 3, "columns": [
            {"name": "email", "nullCount": 0, "distinctCount": 3},
            {"name": "id", "nullCount": 0, "min": 1.0, "max": 3.0}]}}}
    clean = {"namespace": "crm", "name": "clean", "version": "1", "facets": {
        "schema": [field("id"), field("email"), field("email_hash"), field("contact")],
        "statistics": {"rowCount": 3, "columns": [
            {"name": "email", "nullCount": 0, "distinctCount": 3},
            {"name": "email_hash", "nullCount": 0, "distinctCount": 3}]},
        "columnLineage": [lineage("id", "raw", "id"), lineage("email", "raw", "email"),
                          lineage("email_hash", "raw", "email", masking=True),
                          lineage("contact", "raw", "phone")]}}
    clean_in = {k: v for k, v in clean.items() if k != "facets"}
    report = {"namespace": "crm", "name": "report", "version": "1", "facets": {
        "schema": [field("who"), field("hash")],
        "columnLineage": [lineage("who", "clean", "email"),
                          lineage("hash", "clean", "email_hash")]}}
    raw_in = {k: v for k, v in raw.items() if k != "facets"}
    # the producer of raw is a third-party OpenLineage client: its tags travel in the facet
    ol = run("ingest", 1000, [], [raw])
    avro = run("clean", 2000, [raw_in], [clean]) + run("report", 3000, [clean_in], [report])
    return avro, ol


@pytest.fixture
def pii_graph(any_graph: GraphSettings, monkeypatch: pytest.MonkeyPatch
              ) -> Iterator[tuple[GraphBackend, GraphSettings]]:
    """The scenario's lineage in an empty graph (once per backend), with the patterns set."""
    monkeypatch.setenv("LINEAGE_PII_PATTERNS", json.dumps(PATTERNS))
    current_policy.cache_clear()
    graph = any_graph
    avro, ol = scenario()
    proc = EventProcessor(graph_topic="graph", dlq_topic="dlq", runs=MemoryRunStore(),
                          versions=MemoryVersionStore(),
                          openlineage_topic="ol")
    offset = 0
    for ev in ol:
        for out in json.loads(to_openlineage_json(ev))["outputs"]:
            assert "tags" in out["facets"], "the tags travel in the OpenLineage facet"
        proc.handle(SourceMessage("ol", 0, offset, b"k", to_openlineage_json(ev).encode()))
        offset += 1
    for ev in avro:
        proc.handle(SourceMessage("events", 0, offset, b"k", CODEC.encode(ev)))
        offset += 1
    records = proc.drain()
    assert {r.topic for r in records} == {"graph"}
    backend = open_backend(graph)
    backend.ensure_schema()
    GraphWriter(backend).write(
        [GRAPH_CODEC.decode(r.value) for r in records])
    try:
        yield backend, graph
    finally:
        backend.close()
        current_policy.cache_clear()


Row = TypeVar("Row", bound=Mapping[str, Any])


def by_name(rows: list[Row]) -> dict[str, Row]:
    """Rows of ``lineage fields`` (API or JSON) by column name."""
    return {r["name"]: r for r in rows}


def test_tags_from_emitter_openlineage_facet_and_patterns_are_stored(
    pii_graph: tuple[GraphBackend, GraphSettings],
) -> None:
    backend, _ = pii_graph
    raw = by_name(PiiView(backend, current_policy()).fields("crm:raw"))
    assert raw["email"]["tags"] == ["pii.email"]  # emitter
    assert raw["name"]["tags"] == ["pii.name"]  # OpenLineage tags facet
    assert raw["phone"]["tags"] == ["pii.phone"]  # configured pattern
    assert "tags" not in raw["id"]


def test_tags_propagate_downstream_and_stop_at_masking(
    pii_graph: tuple[GraphBackend, GraphSettings],
) -> None:
    backend, _ = pii_graph
    view = PiiView(backend, current_policy())
    clean = by_name(view.fields("crm:clean@1"))
    report = by_name(view.fields("crm:report"))
    assert clean["email"]["effectiveTags"] == ["pii.email"]
    assert clean["contact"]["effectiveTags"] == ["pii.phone"]
    assert clean["email_hash"]["effectiveTags"] == [], "masking stops the propagation"
    assert clean["id"]["effectiveTags"] == []
    assert report["who"]["effectiveTags"] == ["pii.email"], "two hops, unmasked"
    assert report["hash"]["effectiveTags"] == []
    print("PII propagation: raw.email -> clean.email -> report.who tagged; "
          "masked clean.email_hash and report.hash untagged")


def test_statistics_of_tagged_fields_hidden_unless_the_role_allows(
    pii_graph: tuple[GraphBackend, GraphSettings],
) -> None:
    backend, graph = pii_graph
    policy = PiiPolicy(roles_allowed=["privacy-officer"])
    hidden = by_name(PiiView(backend, policy).fields("crm:clean", role="analyst"))
    shown = by_name(PiiView(backend, policy).fields("crm:clean", role="privacy-officer"))
    assert hidden["email"]["distinctCount"] == REDACTED
    assert hidden["email"]["nullCount"] == REDACTED
    assert hidden["email_hash"]["distinctCount"] == 3, "masked: not sensitive"
    assert shown["email"]["distinctCount"] == 3

    env = {**os.environ, **graph_env(graph), "LINEAGE_PII_PATTERNS": json.dumps(PATTERNS)}
    env.pop("LINEAGE_CONFIG", None)
    as_analyst = subprocess.run([LINEAGE, "fields", "crm:clean", "--json"], env=env,
                                capture_output=True, text=True, timeout=60)
    assert as_analyst.returncode == 0, as_analyst.stderr
    rows = by_name(json.loads(as_analyst.stdout))
    assert rows["email"]["distinctCount"] == REDACTED
    as_officer = subprocess.run(
        [LINEAGE, "fields", "crm:clean", "--json", "--role", "privacy-officer"], env=env,
        capture_output=True, text=True, timeout=60)
    assert by_name(json.loads(as_officer.stdout))["email"]["distinctCount"] == 3
    table = subprocess.run([LINEAGE, "fields", "crm:clean"], env=env, capture_output=True,
                           text=True, timeout=60)
    assert REDACTED in table.stdout and "pii.email" in table.stdout
