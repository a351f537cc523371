"""The processor checks the emitter's ``lineage-crc32`` header: a payload changed on the way
goes to the DLQ with reason ``integrity_mismatch`` instead of being decoded into different
content; a message without the header (third-party producers) is decoded as before."""

from __future__ import annotations

from lineage_pipeline.codec import EventCodec, integrity_header
from stream_processor.dlq import SourceMessage, parse_dlq_headers
from stream_processor.processor import EventProcessor
from stream_processor.state import MemoryRunStore, MemoryVersionStore
from tests.faults.harness import make_runs

CODEC = EventCodec()


def processor() -> EventProcessor:
    return EventProcessor(graph_topic="graph", dlq_topic="dlq", runs=MemoryRunStore(),
                          versions=MemoryVersionStore(),
                          openlineage_topic="ol")


def test_changed_payload_goes_to_the_dlq_as_integrity_mismatch() -> None:
    event = make_runs("crc", 1)[0]
    value = CODEC.encode(event)
    header = integrity_header(value)
    # a change that still decodes: the run id's last character (same length, valid Avro)
    forged = value.replace(event.run.runId[-1:].encode(), b"0" if event.run.runId[-1] != "0"
                           else b"1")
    assert forged != value and CODEC.decode(forged).run.runId != event.run.runId
    proc = processor()
    proc.handle(SourceMessage("events", 0, 0, b"k", forged, None, (header,)))
    proc.handle(SourceMessage("events", 0, 1, b"k", value, None, (header,)))
    proc.handle(SourceMessage("events", 0, 2, b"k", CODEC.encode(make_runs("crc", 2)[3])))
    proc.handle(SourceMessage("ol", 0, 3, b"k", b'{"eventType": "START"}', None, (header,)))
    out = proc.drain()
    graph = [r for r in out if r.topic == "graph"]
    dead = [parse_dlq_headers(r.headers) for r in out if r.topic == "dlq"]
    assert len(graph) == 2, "the intact message and the header-less one are processed"
    assert [(d.reason, d.source_offset) for d in dead] == [
        ("integrity_mismatch", 0), ("integrity_mismatch", 3)]
