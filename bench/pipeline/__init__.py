"""Benchmark: lineage pipeline throughput and freshness, publish -> processor -> sink -> graph.

``python -m bench.pipeline [--quick] [--events N] [--partitions P] [--profile DIR]`` starts
its own local stack (Tansu, FalkorDB, ``python -m stream_processor``, ``python -m graph_sink``
as processes, stopped by pid; :mod:`bench.pipeline.stack`) and a load generator publishing
realistic lineage events (:mod:`bench.pipeline.events`: runs with START and COMPLETE, 2-10
inputs and outputs with 5-15-column schemas, statistics and column lineage; about 10 KB of
Avro each), pre-encoded so the generator costs microseconds per event.

Phases, in one run:

1. warm-up: 100 events through everything (consumer groups joined, code paths warm);
2. sustained throughput: N events published as fast as the producer goes; the time from
   the first publish until the processor has read them all and the sink has written every
   graph record the processor published (both counted on their ``/metrics``:
   ``lineage_processor_events_in_total``, ``lineage_processor_mutation_records_total``,
   ``lineage_sink_records_total``). events/s = N / that time;
3. freshness at half that rate: events published on a fixed schedule, each carrying its
   scheduled publish instant as ``eventTime``; the sink observes commit time - eventTime per
   record in ``lineage_event_to_graph_seconds``; p50/p99 come from the histogram delta of
   this phase (linear interpolation inside a bucket, as Prometheus' ``histogram_quantile``);
4. the physical reference (:mod:`bench.pipeline.direct`): the phase-2 events stitched,
   mapped and written straight to a fresh graph by this process (no Kafka, no Faust, no
   Avro), and the ratio pipeline / direct;
5. memory: peak RSS of the processor and sink (psutil, sampled every 0.2 s), the processor's
   RSS growth per million events, and its table sizes per million deduped events estimated
   from the same run states.

Goals (2-core machine, everything local): >= 10,000 events/s sustained; p50 <= 200 ms and
p99 <= 1 s at half load; pipeline >= half the direct-write rate.
"""

from __future__ import annotations

import argparse
import math
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

GOAL_EVENTS_PER_S = 10_000.0
GOAL_P50_S = 0.2
GOAL_P99_S = 1.0
GOAL_RATIO = 0.5

FULL: dict[str, int] = {"events": 4_000, "latency_s": 20, "direct_events": 1_500}
QUICK: dict[str, int] = {"events": 1_500, "latency_s": 8, "direct_events": 600}


def _producer(bootstrap: str) -> Any:
    from confluent_kafka import Producer

    return Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "batch.size": 1_000_000,
                     "queue.buffering.max.messages": 1_000_000,
                     "queue.buffering.max.kbytes": 2_000_000, "acks": 1})


def _publish(producer: Any, topic: str, encoded: list[Any],
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


class _Progress:
    """The processor's and sink's counters, and waiting for the pipeline to drain."""

    def __init__(self, processor_port: int, sink_port: int) -> None:
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
            if processor_done is not None and _complete_runs(graph) >= complete_runs:
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
                           f"{_complete_runs(graph)} of {complete_runs} runs COMPLETE")


def _complete_runs(graph: Any) -> int:
    rows = graph.query("MATCH (r:Run) WHERE r.state = 'COMPLETE' RETURN count(r) AS n")
    return int(rows[0]["n"])


class _GraphTopicTap:
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
        from lineage_pipeline.codec import AvroCodec

        codec = AvroCodec("graph_mutations")
        picked: list[float] = []
        out: list[float] = []
        deadline = time.monotonic() + timeout_s
        while len(out) < records and time.monotonic() < deadline:
            for msg in self.consumer.consume(num_messages=1000, timeout=0.5):
                if msg.error() is None:
                    record = codec.decode(msg.value() or b"")
                    picked.append((record["publishedAt"] - record["eventTime"]) / 1000)
                    out.append((msg.timestamp()[1] - record["eventTime"]) / 1000)
        self.consumer.close()
        return sorted(picked), sorted(out)


def _start_profilers(pids: dict[str, int], out: Path) -> list[subprocess.Popen[bytes]]:
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


def _stop_profilers(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        p.send_signal(signal.SIGINT)
    for p in procs:
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()


def _pct_ms(sorted_s: list[float], q: float) -> int | None:
    if not sorted_s:
        return None
    return round(sorted_s[min(len(sorted_s) - 1, round(q * (len(sorted_s) - 1)))] * 1000)


def run(quick: bool = False, events: int | None = None, partitions: int = 1,
        processor_batch: int = 500, sink_batch: int = 5000, latency_s: float | None = None,
        profile_dir: Path | None = None) -> dict[str, Any]:
    """Run every phase (see the module docstring); return the figures with ``goal_met``.

    Raises :class:`~lineage_pipeline.errors.StackError` when the stack does not start and
    ``TimeoutError`` when the pipeline does not drain.
    """
    from bench.pipeline.direct import direct_write, state_size
    from bench.pipeline.events import Workload, encode
    from bench.pipeline.stack import Metrics, RssSampler, bench_stack, histogram_quantile
    from graph_sink.backends import open_backend
    from lineage_pipeline.settings import GraphSettings

    sizes = dict(QUICK if quick else FULL)
    n_events = events or sizes["events"]
    lat_s = latency_s or sizes["latency_s"]
    workload = Workload(template_runs=100 if quick else 200)
    result: dict[str, Any] = {"mode": "quick" if quick else "full", "partitions": partitions,
                              "processor_batch": processor_batch, "sink_batch": sink_batch}
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp, bench_stack(
        Path(tmp), partitions=partitions, processor_batch=processor_batch,
        sink_batch=sink_batch,
    ) as stack, ExitStack() as stack_ctx:
        settings = stack.settings
        topic = settings.topics.events
        producer = _producer(settings.kafka.bootstrap_servers)
        progress = _Progress(settings.processor.metrics_port, settings.sink.metrics_port)
        pids = {"processor": stack.processor.pid, "sink": stack.sink.pid}
        with RssSampler(pids) as rss:
            # 1. warm-up
            warm = workload.items(50, overlap=10)
            warm_enc = encode(warm, [int(time.time() * 1000)] * len(warm))
            workload.check(warm, warm_enc)
            _publish(producer, topic, warm_enc)
            graph = open_backend(settings.graph)
            stack_ctx.callback(graph.close)
            progress.wait_drained(len(warm), len(warm) // 2, graph, timeout_s=180)
            base_rss = rss.sample()
            total_events = len(warm)

            # 2. sustained throughput
            items = workload.items(n_events // 2)
            now_ms = int(time.time() * 1000)
            enc = encode(items, [now_ms] * len(items))
            profilers = _start_profilers(pids, profile_dir) if profile_dir else []
            started = time.perf_counter()
            _publish(producer, topic, enc)
            published = time.perf_counter()
            total_events += len(items)
            proc_done, sink_done = progress.wait_drained(total_events, total_events // 2, graph,
                                                         timeout_s=900)
            _stop_profilers(profilers)
            elapsed = sink_done - started
            rate = len(items) / elapsed
            result.update({
                "events": len(items),
                "event_bytes_avg": round(sum(len(e.value) for e in enc) / len(enc)),
                "publish_events_per_s": round(len(items) / (published - started)),
                "processor_events_per_s": round(len(items) / (proc_done - started)),
                "sustained_events_per_s": round(rate),
                "drain_after_processor_s": round(sink_done - proc_done, 2),
            })
            print(f"sustained: {rate:.0f} events/s ({len(items)} events in {elapsed:.1f} s)",
                  flush=True)

            # 3. freshness at half load
            half = rate / 2
            lat_items = workload.items(max(50, int(half * lat_s / 2)))
            t0 = int(time.time() * 1000) + 1000
            schedule = [t0 + int(i * 1000 / half) for i in range(len(lat_items))]
            lat_enc = encode(lat_items, schedule)
            hist = Metrics(settings.sink.metrics_port)
            before = hist.histogram("lineage_event_to_graph_seconds")
            tap = _GraphTopicTap(settings.kafka.bootstrap_servers, settings.topics.graph,
                                 partitions)
            _publish(producer, topic, lat_enc, schedule)
            total_events += len(lat_items)
            progress.wait_drained(total_events, total_events // 2, graph, timeout_s=600)
            after = hist.histogram("lineage_event_to_graph_seconds")
            p50 = histogram_quantile(before, after, 0.5)
            p99 = histogram_quantile(before, after, 0.99)
            records = round(after.get(math.inf, 0) - before.get(math.inf, 0))
            picked, proc_lat = tap.processor_latencies_s(records)
            result.update({
                "processor_pickup_p50_ms": _pct_ms(picked, 0.5),
                "processor_part_p50_ms": _pct_ms(proc_lat, 0.5),
                "processor_part_p99_ms": _pct_ms(proc_lat, 0.99),
                "latency_rate_events_per_s": round(half),
                "latency_events": len(lat_items),
                "latency_records": records,
                "p50_ms": None if p50 is None else round(p50 * 1000),
                "p99_ms": None if p99 is None else round(p99 * 1000),
            })
            peak = dict(rss.peak)
        result["graph_complete_runs"] = _complete_runs(graph)
        result["expected_complete_runs"] = total_events // 2

        # 4. the physical reference, on a fresh graph of the same server
        direct_items = [it.event for it in items[: sizes["direct_events"]]]
        direct = direct_write(
            direct_items,
            GraphSettings(url=settings.graph.url, name=settings.graph.name + "_direct"),
            batch_events=processor_batch, sink_batch=sink_batch,
        )
        result.update({
            "direct_events_per_s": round(direct.events_per_s),
            "direct_map_share": round(direct.map_seconds / direct.seconds, 2),
            "direct_write_share": round(direct.write_seconds / direct.seconds, 2),
            "direct_mutations_per_event": round(direct.mutations / direct.events, 1),
            "ratio": round(rate / direct.events_per_s, 2) if direct.events_per_s else None,
        })

        # 5. memory
        mb = 1024 * 1024
        grow = (peak["processor"] - base_rss.get("processor", peak["processor"]))
        result.update({
            "processor_peak_rss_mb": round(peak["processor"] / mb),
            "sink_peak_rss_mb": round(peak["sink"] / mb),
            "processor_rss_growth_mb_per_m_events": round(
                grow / mb / max(1, total_events - len(warm)) * 1e6),
            "processor_state_per_m_events": state_size(direct),
        })
    result["goal_met"] = bool(
        rate >= GOAL_EVENTS_PER_S
        and p50 is not None and p50 <= GOAL_P50_S
        and p99 is not None and p99 <= GOAL_P99_S
        and result["ratio"] is not None and result["ratio"] >= GOAL_RATIO
    )
    return result


def print_table(result: dict[str, Any]) -> None:
    """Print the acceptance table (figure, value, goal, met?)."""
    def ok(flag: bool) -> str:
        return "yes" if flag else "NO"

    rate = result["sustained_events_per_s"]
    p50, p99, ratio = result["p50_ms"], result["p99_ms"], result["ratio"]
    state = result["processor_state_per_m_events"]
    rows = [
        ("sustained events/s end to end", f"{rate:,}", f">= {GOAL_EVENTS_PER_S:,.0f}",
         ok(rate >= GOAL_EVENTS_PER_S)),
        ("  processor alone events/s", f"{result['processor_events_per_s']:,}", "", ""),
        ("  publish events/s", f"{result['publish_events_per_s']:,}", "", ""),
        (f"latency p50 at {result['latency_rate_events_per_s']:,} ev/s", f"{p50} ms",
         f"<= {GOAL_P50_S * 1000:.0f} ms", ok(p50 is not None and p50 <= GOAL_P50_S * 1000)),
        ("latency p99 at half load", f"{p99} ms", f"<= {GOAL_P99_S * 1000:.0f} ms",
         ok(p99 is not None and p99 <= GOAL_P99_S * 1000)),
        ("  processor picked event up, p50", f"{result['processor_pickup_p50_ms']} ms", "", ""),
        ("  processor published record, p50 / p99",
         f"{result['processor_part_p50_ms']} / {result['processor_part_p99_ms']} ms", "", ""),
        ("direct-write events/s", f"{result['direct_events_per_s']:,}", "", ""),
        ("ratio pipeline / direct", f"{ratio}", f">= {GOAL_RATIO}",
         ok(ratio is not None and ratio >= GOAL_RATIO)),
        ("processor peak RSS", f"{result['processor_peak_rss_mb']} MB", "", ""),
        ("sink peak RSS", f"{result['sink_peak_rss_mb']} MB", "", ""),
        ("processor RSS growth / 1M events",
         f"{result['processor_rss_growth_mb_per_m_events']:,} MB", "", ""),
        ("processor state / 1M events (heap)", f"{state['heap_mb']:,} MB", "", ""),
        ("processor state / 1M events (changelog)", f"{state['changelog_mb']:,} MB", "", ""),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"{'figure':<{width}}  {'value':>12}  {'goal':>10}  met")
    for name, value, goal, met in rows:
        print(f"{name:<{width}}  {value:>12}  {goal:>10}  {met}")
    print(f"({result['events']:,} events of ~{result['event_bytes_avg']:,} B; "
          f"{result['partitions']} partition(s); graph holds {result['graph_complete_runs']:,} "
          f"of {result['expected_complete_runs']:,} COMPLETE runs)", flush=True)


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; exit status 0 when every goal is met, else 1."""
    import json

    parser = argparse.ArgumentParser(prog="python -m bench.pipeline", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small run (about 2 minutes)")
    parser.add_argument("--events", type=int, help="events in the throughput phase")
    parser.add_argument("--partitions", type=int, default=1)
    parser.add_argument("--processor-batch", type=int, default=500)
    parser.add_argument("--sink-batch", type=int, default=5000)
    parser.add_argument("--latency-seconds", type=float)
    parser.add_argument("--profile", type=Path, metavar="DIR",
                        help="py-spy the processor and sink during the throughput phase "
                             "(raw collapsed stacks in DIR; needs py-spy installed)")
    args = parser.parse_args(argv)
    result = run(quick=args.quick, events=args.events, partitions=args.partitions,
                 processor_batch=args.processor_batch, sink_batch=args.sink_batch,
                 latency_s=args.latency_seconds, profile_dir=args.profile)
    print_table(result)
    print(json.dumps(result, indent=2, default=str))
    return 0 if result["goal_met"] else 1
