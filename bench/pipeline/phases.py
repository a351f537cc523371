"""The phases of the pipeline benchmark on one graph backend (see :mod:`bench.pipeline`).

:func:`run_backend` starts a stack (:func:`bench.pipeline.stack.bench_stack`: Kafka, the
graph server, sink and processor, or ``instances`` of each) in its own temporary directory,
runs warm-up, sustained throughput, freshness at half load, the direct-write reference and
the memory and CPU accounting, stops the stack by pid and returns that backend's figures.
With several instances the counters, histograms, CPU and RSS of a role (processor, sink)
are summed over its instances.

Whole cost: during the throughput phase the CPU time of all the processes (the Kafka and
Neo4j JVMs and ``redis-server`` included) is read by pid with psutil; the direct-write
reference is charged this process's CPU plus the graph server's. Both are reported per
thousand events, so the pipeline's total cost stands beside the irreducible one.

The direct-write reference needs an empty graph on the same (warm) server: on FalkorDB a
new graph key (``<graph>_direct``); on Neo4j Community, which has one database, the
database emptied after the pipeline's figures are read (:meth:`GraphServer.fresh_graph`).
The processor and sink are stopped first, so nothing else writes or burns CPU meanwhile.
"""

from __future__ import annotations

import math
import os
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bench.graphs import CpuMeter
from bench.pipeline.direct import direct_write
from bench.pipeline.events import Item, Workload, encode
from bench.pipeline.probes import (
    GraphTopicTap,
    Progress,
    count_complete_runs,
    make_producer,
    pct_ms,
    publish,
    start_profilers,
    stop_profilers,
)
from bench.pipeline.stack import BenchStack, Metrics, RssSampler, bench_stack, histogram_quantile
from lineage_pipeline.graph import open_backend


class _Phases:
    """The load phases against one running stack, sharing its producer, progress probe and
    graph connection; each phase adds its figures to :attr:`result`.

    ``total_events`` counts every event published so far (the processor's and sink's counters
    are cumulative; every second event of the workload completes a run).
    """

    def __init__(self, backend: str, stack: BenchStack, workload: Workload,
                 result: dict[str, Any], closing: ExitStack) -> None:
        self.backend, self.stack, self.workload = backend, stack, workload
        self.result, self.closing = result, closing
        self.settings = stack.settings
        self.topic = self.settings.topics.events
        self.producer: Any = make_producer(self.settings.kafka.bootstrap_servers)
        self.processor_ports, self.sink_ports = stack.metrics_ports()
        self.progress = Progress(self.processor_ports, self.sink_ports)
        self.pids = stack.pids()
        self.graph: Any = None
        self.total_events = 0

    def warm_up(self) -> int:
        """Publish one run of every template job and wait until they are in the graph;
        return the event count. Afterwards the template jobs are known, so the next phases
        run the workload's mix (80 % repeat runs of known jobs, 20 % runs of new jobs)."""
        warm = self.workload.items(len(self.workload.pairs), overlap=10, new_jobs=False)
        warm_enc = encode(warm, [int(time.time() * 1000)] * len(warm))
        self.workload.check(warm, warm_enc)
        publish(self.producer, self.topic, warm_enc)
        self.graph = open_backend(self.settings.graph)
        self.closing.callback(self.graph.close)
        self.progress.wait_drained(len(warm), len(warm) // 2, self.graph, timeout_s=180)
        self.total_events = len(warm)
        return len(warm)

    def sustained(self, n_events: int, profile_dir: Path | None) -> tuple[list[Item], float]:
        """Publish ``n_events`` at once and time until the sink has written them all (CPU
        of every process by pid, optional py-spy profiles); return the items and the
        sustained rate (events/s)."""
        items = self.workload.items(n_events // 2)
        now_ms = int(time.time() * 1000)
        enc = encode(items, [now_ms] * len(items))
        self.workload.check(items, enc)  # a few decoded, one of a new job among them
        services = {k: v for k, v in self.pids.items() if k.startswith(("processor", "sink"))}
        profilers = (start_profilers(services, profile_dir / self.backend) if profile_dir
                     else [])
        cpu = CpuMeter(self.pids).start()
        batches_before = self.progress.sink_batches()
        started = time.perf_counter()
        publish(self.producer, self.topic, enc)
        published = time.perf_counter()
        self.total_events += len(items)
        proc_done, sink_done = self.progress.wait_drained(
            self.total_events, self.total_events // 2, self.graph, timeout_s=900)
        cpu_s = cpu.read()
        after = self.progress.sink_batches()
        batches, records = (after[i] - batches_before[i] for i in (0, 1))
        stop_profilers(profilers)
        elapsed = sink_done - started
        rate = len(items) / elapsed
        self.result.update({
            "events": len(items),
            "event_bytes_avg": round(sum(len(e.value) for e in enc) / len(enc)),
            "publish_events_per_s": round(len(items) / (published - started)),
            "processor_events_per_s": round(len(items) / (proc_done - started)),
            "sustained_events_per_s": round(rate),
            "drain_after_processor_s": round(sink_done - proc_done, 2),
            "sink_write_batches": int(batches),
            "sink_records_per_batch": round(records / batches, 1) if batches else None,
            "cpu_s": cpu_s,
            "cpu_ms_per_k_events": round(sum(cpu_s.values()) * 1e6 / len(items)),
            "cpu_cores_busy": round(sum(cpu_s.values()) / elapsed, 2),
        })
        print(f"[{self.backend}] sustained: {rate:.0f} events/s ({len(items)} events in "
              f"{elapsed:.1f} s)", flush=True)
        return items, rate

    def freshness(self, rate: float, latency_s: float, partitions: int) -> None:
        """Publish at half the sustained ``rate`` for about ``latency_s`` seconds; read the
        event-to-graph latency from the sink's histogram (p50, p99) and the processor's part
        from the graph topic; then drop the producer."""
        half = rate / 2
        lat_items = self.workload.items(max(50, int(half * latency_s / 2)))
        t0 = int(time.time() * 1000) + 1000
        schedule = [t0 + int(i * 1000 / half) for i in range(len(lat_items))]
        lat_enc = encode(lat_items, schedule)
        hist = Metrics(self.sink_ports)
        before = hist.histogram("lineage_event_to_graph_seconds")
        tap = GraphTopicTap(self.settings.kafka.bootstrap_servers, self.settings.topics.graph,
                            partitions)
        publish(self.producer, self.topic, lat_enc, schedule)
        self.total_events += len(lat_items)
        self.progress.wait_drained(self.total_events, self.total_events // 2, self.graph,
                                   timeout_s=600)
        self.producer = None  # destroyed now (it was flushed): no reconnect noise at teardown
        after = hist.histogram("lineage_event_to_graph_seconds")
        p50 = histogram_quantile(before, after, 0.5)
        p99 = histogram_quantile(before, after, 0.99)
        records = round(after.get(math.inf, 0) - before.get(math.inf, 0))
        picked, proc_lat = tap.processor_latencies_s(records)
        self.result.update({
            "processor_pickup_p50_ms": pct_ms(picked, 0.5),
            "processor_part_p50_ms": pct_ms(proc_lat, 0.5),
            "processor_part_p99_ms": pct_ms(proc_lat, 0.99),
            "latency_rate_events_per_s": round(half),
            "latency_events": len(lat_items),
            "latency_records": records,
            "p50_ms": None if p50 is None else round(p50 * 1000),
            "p99_ms": None if p99 is None else round(p99 * 1000),
        })

    def count_runs(self) -> None:
        """Record the completed runs in the graph against the expected count; close it."""
        self.result["graph_complete_runs"] = count_complete_runs(self.graph)
        self.result["expected_complete_runs"] = self.total_events // 2
        self.graph.close()


def _direct_reference(stack: BenchStack, items: list[Item], direct_events: int, rate: float,
                      processor_batch: int, sink_batch: int) -> dict[str, Any]:
    """Stop the services, write the first ``direct_events`` events of ``items`` straight to
    an empty graph of the same server; return its figures (``ratio``: the pipeline's
    sustained ``rate`` over the direct rate)."""
    settings, pids = stack.settings, stack.pids()
    stack.stop_services()
    direct_graph = stack.graph.fresh_graph(settings.graph.name + "_direct")
    direct_items = [it.event for it in items[:direct_events]]
    direct_cpu = CpuMeter({"bench": os.getpid(), "graph": pids["graph"]},
                          no_children=("bench",)).start()
    direct = direct_write(direct_items, direct_graph, batch_events=processor_batch,
                          sink_batch=sink_batch)
    direct_cpu_s = direct_cpu.read()
    return {
        "direct_events": direct.events,
        "direct_events_per_s": round(direct.events_per_s),
        "direct_map_share": round(direct.map_seconds / direct.seconds, 2),
        "direct_write_share": round(direct.write_seconds / direct.seconds, 2),
        "direct_mutations_per_event": round(direct.mutations / direct.events, 1),
        "direct_cpu_s": direct_cpu_s,
        "direct_cpu_ms_per_k_events": round(
            sum(direct_cpu_s.values()) * 1e6 / max(1, direct.events)),
        "ratio": round(rate / direct.events_per_s, 2) if direct.events_per_s else None,
    }


def _memory(peak: dict[str, int], base_rss: dict[str, int],
            measured_events: int) -> dict[str, Any]:
    """Peak RSS per role (MiB; the instances of a role added up) and the processor's and
    sink's growth in this run (peak minus RSS after warm-up) extrapolated to a million
    events from the ``measured_events`` after warm-up: indicative only (a short run)."""
    mb = 1024 * 1024

    def role(d: dict[str, int], name: str) -> int:
        return sum(v for k, v in d.items() if k.startswith(name))

    out: dict[str, Any] = {}
    for name in ("processor", "sink", "kafka", "graph"):
        out[f"{name}_peak_rss_mb"] = round(role(peak, name) / mb)
    for name in ("processor", "sink"):
        grow = role(peak, name) - role(base_rss, name)
        out[f"{name}_rss_growth_mb_per_m_events"] = round(
            grow / mb / max(1, measured_events) * 1e6)
    return out


def run_backend(backend: str, sizes: dict[str, int], *, n_events: int, latency_s: float,
                partitions: int, processor_batch: int, sink_batch: int,
                profile_dir: Path | None, template_runs: int,
                instances: int = 1) -> dict[str, Any]:
    """Run every phase with ``backend`` as the graph; return its figures (no goal verdict).

    Raises :class:`~lineage_pipeline.errors.StackError` when the stack does not start and
    ``TimeoutError`` when the pipeline does not drain.
    """
    workload = Workload(template_runs=template_runs)
    result: dict[str, Any] = {"backend": backend}
    started_stack = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=f"bench-pipeline-{backend}-") as tmp, bench_stack(
        Path(tmp), backend=backend, partitions=partitions, processor_batch=processor_batch,
        sink_batch=sink_batch, instances=instances,
    ) as stack, ExitStack() as closing:
        result["stack_start_s"] = round(time.perf_counter() - started_stack, 1)
        phases = _Phases(backend, stack, workload, result, closing)
        with RssSampler(phases.pids) as rss:
            warm_events = phases.warm_up()                                # 1. warm-up
            base_rss = rss.sample()
            items, rate = phases.sustained(n_events, profile_dir)         # 2. throughput
            phases.freshness(rate, latency_s, partitions)                 # 3. freshness
            peak = dict(rss.peak)
        phases.count_runs()
        # 4. the physical reference, on an empty graph of the same server
        result.update(_direct_reference(stack, items, sizes["direct_events"], rate,
                                        processor_batch, sink_batch))
        # 5. memory
        result.update(_memory(peak, base_rss, phases.total_events - warm_events))
    return result
