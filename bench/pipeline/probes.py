"""Probes of the pipeline benchmark: the load generator's producer, the services' counters,
a tap on the graph-records topic, and py-spy profilers.

:class:`Progress` scrapes ``lineage_processor_events_in_total``,
``lineage_processor_mutation_records_total`` and ``lineage_sink_records_total`` and waits
until the pipeline has drained (the graph holds the expected COMPLETE runs, on either
backend: the count is one Cypher query). :class:`GraphTopicTap` reads the graph-records
topic to split the event-to-graph latency into processor and sink parts.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def make_producer(bootstrap: str) -> Any:
    """A producer tuned for throughput (large batches, ``acks=1``, deep local queue)."""
    from confluent_kafka import Producer

    return Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "batch.size": 1_000_000,
                     "queue.buffering.max.messages": 1_000_000,
                     "queue.buffering.max.kbytes": 2_000_000, "acks": 1})


def publish(producer: Any, topic: str, encoded: list[Any],
            schedule_ms: list[int] | None = None) -> None:
    """Produce every message (at its scheduled epoch-ms instant when given), then flush."""
    for i, msg in enumerate(encoded):
        if schedule_ms is not None:
            wait = schedule_ms[i] / 1000 - time.time()
            if wait > 0:
                time.sleep(wait)
        while True:
            try:
                producer.produce(topic, value=msg.value, key=msg.key)
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    left = producer.flush(60)
    if left:
        raise RuntimeError(f"{left} events not delivered to the broker")


class Progress:
    """The processor's and sink's counters, and waiting for the pipeline to drain."""

    def __init__(self, processor_port: int | Sequence[int],
                 sink_port: int | Sequence[int]) -> None:
        """``processor_port``/``sink_port``: the metrics port(s) of the processor and sink
        instances (counters are summed over instances)."""
        from bench.pipeline.stack import Metrics

        self.processor = Metrics(processor_port)
        self.sink = Metrics(sink_port)

    def counts(self) -> tuple[float, float, float]:
        """(events read by the processor, records it published, records the sink wrote)."""
        p = self.processor.samples()
        events = sum(v for _, v in p.get("lineage_processor_events_in_total", []))
        published = sum(v for _, v in p.get("lineage_processor_mutation_records_total", []))
        written = self.sink.total("lineage_sink_records_total")
        return events, published, written

    def sink_batches(self) -> tuple[float, float]:
        """(graph write batches the sink has made, records it wrote in them)."""
        samples = self.sink.samples()
        return (sum(v for _, v in samples.get("lineage_sink_batch_mutations_count", [])),
                sum(v for _, v in samples.get("lineage_sink_records_total", [])))

    def wait_drained(self, events: float, complete_runs: int, graph: Any,
                     timeout_s: float) -> tuple[float, float]:
        """Wait until the processor has read ``events`` in total and the graph holds
        ``complete_runs`` runs in state COMPLETE; return (processor done, graph done) as
        ``time.perf_counter()`` values, after the sink has also counted every record the
        processor published. Raises ``TimeoutError``."""
        deadline = time.perf_counter() + timeout_s
        processor_done: float | None = None
        while time.perf_counter() < deadline:
            if processor_done is None and self.counts()[0] >= events:
                processor_done = time.perf_counter()
            if processor_done is not None and count_complete_runs(graph) >= complete_runs:
                done = time.perf_counter()
                # the graph shows a batch's nodes before the sink has finished (and counted)
                # the batch: wait for its counter too, so the next phase starts clean
                while True:
                    _, published, written = self.counts()
                    if written >= published or time.perf_counter() > deadline:
                        return processor_done, done
                    time.sleep(0.05)
            time.sleep(0.25)  # each scrape costs the services CPU: not faster
        raise TimeoutError(f"pipeline not drained after {timeout_s:.0f} s: "
                           f"read/published/written = {self.counts()}, want {events} read, "
                           f"{count_complete_runs(graph)} of {complete_runs} runs COMPLETE")


def count_complete_runs(graph: Any) -> int:
    """The number of runs in state COMPLETE in ``graph`` (a graph backend)."""
    rows = graph.query("MATCH (r:Run) WHERE r.state = 'COMPLETE' RETURN count(r) AS n")
    return int(rows[0]["n"])


class GraphTopicTap:
    """Reads ``topics.graph`` from its current end (manual assign, no group): the processor's
    publish time (record timestamp) and ``event_time`` of each graph record, to split the
    event-to-graph latency into processor and sink parts."""

    def __init__(self, bootstrap: str, topic: str, partitions: int) -> None:
        from confluent_kafka import Consumer, TopicPartition

        self.consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-tap",
                                  "enable.auto.commit": False})
        tps = []
        for p in range(partitions):
            _, high = self.consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            tps.append(TopicPartition(topic, p, high))
        self.consumer.assign(tps)

    def processor_latencies_s(self, records: int,
                              timeout_s: float = 30.0) -> tuple[list[float], list[float]]:
        """Read ``records`` graph records (or until ``timeout_s``); return, sorted, per record
        in seconds: the processor's handling time (``publishedAt``, taken when it began the
        event) - ``eventTime``, and the record's publish timestamp - ``eventTime``."""
        from lineage_pipeline.graph_record import GraphRecordCodec

        codec = GraphRecordCodec()
        picked: list[float] = []
        out: list[float] = []
        deadline = time.monotonic() + timeout_s
        while len(out) < records and time.monotonic() < deadline:
            for msg in self.consumer.consume(num_messages=1000, timeout=0.5):
                if msg.error() is None:
                    record = codec.decode_record(msg.value() or b"")
                    picked.append((record["publishedAt"] - record["eventTime"]) / 1000)
                    out.append((msg.timestamp()[1] - record["eventTime"]) / 1000)
        self.consumer.close()
        return sorted(picked), sorted(out)


def start_profilers(pids: dict[str, int], out: Path) -> list[subprocess.Popen[bytes]]:
    """Start ``py-spy record`` (raw collapsed stacks into ``out/<name>.txt``) on each pid."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    out.mkdir(parents=True, exist_ok=True)
    procs = []
    for name, pid in pids.items():
        procs.append(subprocess.Popen(
            [spy, "record", "--pid", str(pid), "--rate", "100", "--format", "raw",
             "--output", str(out / f"{name}.txt"), "--nonblocking"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    time.sleep(1.0)
    return procs


def stop_profilers(procs: list[subprocess.Popen[bytes]]) -> None:
    """Stop the profilers :func:`start_profilers` started (SIGINT, so they write out)."""
    for p in procs:
        p.send_signal(signal.SIGINT)
    for p in procs:
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()


def pct_ms(sorted_s: list[float], q: float) -> int | None:
    """The ``q`` quantile of sorted seconds, in whole milliseconds (``None`` if empty)."""
    if not sorted_s:
        return None
    return round(sorted_s[min(len(sorted_s) - 1, round(q * (len(sorted_s) - 1)))] * 1000)
