"""An exception while handling one event, and a payload changed on the way: neither is
silently acked. The real processor process (with an injected fault, see
:mod:`tests.faults.faulty_processor`) sends both to the DLQ with their reasons, every other
event reaches the graph topic, and nothing is skipped: each consumed offset is accounted for
in the graph topic or the DLQ.
"""

from __future__ import annotations

from lineage_pipeline.codec import integrity_header
from lineage_pipeline.graph_model import GraphMutations
from lineage_pipeline.settings import LineageSettings
from stream_processor.dlq import parse_dlq_headers
from tests.faults.harness import (
    CODEC,
    GRAPH_CODEC,
    Feeder,
    log_count,
    make_runs,
    read_topic,
    report,
    run_events,
    source_message,
    start_processor,
)
from tests.support.waiting import wait_until


def test_handler_exception_and_corrupted_payload_go_to_the_dlq_nothing_skipped(
    fault_settings: LineageSettings,
) -> None:
    settings = fault_settings
    bootstrap = settings.kafka.bootstrap_servers
    good = make_runs("handler", 6)
    bad = run_events("explode", 0)[0]
    bad = bad.model_copy(update={"job": bad.job.model_copy(update={"name": "explode.job"})})
    corrupt_src = run_events("corrupt", 0)[0]
    corrupt_value = CODEC.encode(corrupt_src)
    header = integrity_header(corrupt_value)
    flipped = corrupt_value.replace(b"corrupt", b"CORRUPT")  # still valid Avro, other content
    assert CODEC.decode(flipped).job.name != corrupt_src.job.name

    feeder = Feeder(bootstrap, settings.topics.events)
    for ev in good[:9]:
        feeder.send(ev)
    feeder.send(bad)
    feeder.send_raw(corrupt_src.partition_key(), flipped, [header])
    for ev in good[9:]:
        feeder.send(ev)
    feeder.flush()

    processor = start_processor(settings, settings.data_dir, module="tests.faults.faulty_processor")
    try:
        runs = {e.run.runId for e in good}
        graph: dict[str, GraphMutations] = {}

        def caught_up() -> bool:
            for msg in read_topic(bootstrap, settings.topics.graph):
                m = GRAPH_CODEC.decode(msg.value() or b"")
                graph[(msg.key() or b"").decode()] = m
            return set(graph) >= runs and len(read_topic(bootstrap, settings.topics.dlq)) >= 2

        assert wait_until(caught_up, 60, step_s=0.5), (
            f"graph runs {len(graph)}/{len(runs)}; log has "
            f"{log_count(processor.log_path, 'ready')} ready lines")
        dead = [(parse_dlq_headers(source_message(m).headers), m.value())
                for m in read_topic(bootstrap, settings.topics.dlq)]
        reasons = sorted(info.reason for info, _v in dead)
        events_in = read_topic(bootstrap, settings.topics.events)
        dead_offsets = {info.source_offset for info, _v in dead}
        handled = {m.offset() for m in events_in if m.offset() in dead_offsets
                   or CODEC.decode(m.value() or b"").run.runId in graph}
        skipped = len(events_in) - len(handled)
        lost = len(runs - set(graph))
        report("handler-exception", lost=lost, duplicated=0, skipped=skipped,
               dlq=",".join(reasons))
        assert reasons == ["handler_error", "integrity_mismatch"]
        values = {info.reason: v for info, v in dead}
        assert values["integrity_mismatch"] == flipped, "the DLQ keeps the bytes as received"
        assert CODEC.decode(values["handler_error"] or b"").eventId == bad.eventId
        assert "injected fault" in next(i.detail for i, _v in dead if i.reason == "handler_error")
        assert skipped == 0 and lost == 0
        assert bad.run.runId not in graph and "CORRUPT" not in str(list(graph.values()))
    finally:
        processor.stop()
