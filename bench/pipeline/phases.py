"""The phases of the pipeline benchmark on one graph backend (see :mod:`bench.pipeline`).

:func:`run_backend` starts a stack (:func:`bench.pipeline.stack.bench_stack`: Kafka, the
graph server, sink, processor) in its own temporary directory, runs warm-up, sustained
throughput, freshness at half load, the direct-write reference and the memory and CPU
accounting, stops the stack by pid and returns that backend's figures.

Whole cost: during the throughput phase the CPU time of all four processes (the Kafka and
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


def run_backend(backend: str, sizes: dict[str, int], *, n_events: int, latency_s: float,
                partitions: int, processor_batch: int, sink_batch: int,
                profile_dir: Path | None, template_runs: int) -> dict[str, Any]:
    """Run every phase with ``backend`` as the graph; return its figures (no goal verdict).

    Raises :class:`~lineage_pipeline.errors.StackError` when the stack does not start and
    ``TimeoutError`` when the pipeline does not drain.
    """
    from bench.graphs import CpuMeter
    from bench.pipeline.direct import direct_write, state_size
    from bench.pipeline.events import Workload, encode
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
    from bench.pipeline.stack import Metrics, RssSampler, bench_stack, histogram_quantile
    from lineage_pipeline.graph import open_backend

    workload = Workload(template_runs=template_runs)
    result: dict[str, Any] = {"backend": backend}
    started_stack = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=f"bench-pipeline-{backend}-") as tmp, bench_stack(
        Path(tmp), backend=backend, partitions=partitions, processor_batch=processor_batch,
        sink_batch=sink_batch,
    ) as stack, ExitStack() as closing:
        result["stack_start_s"] = round(time.perf_counter() - started_stack, 1)
        settings = stack.settings
        topic = settings.topics.events
        producer = make_producer(settings.kafka.bootstrap_servers)
        progress = Progress(settings.processor.metrics_port, settings.sink.metrics_port)
        pids = stack.pids()
        with RssSampler(pids) as rss:
            # 1. warm-up
            warm = workload.items(50, overlap=10)
            warm_enc = encode(warm, [int(time.time() * 1000)] * len(warm))
            workload.check(warm, warm_enc)
            publish(producer, topic, warm_enc)
            graph = open_backend(settings.graph)
            closing.callback(graph.close)
            progress.wait_drained(len(warm), len(warm) // 2, graph, timeout_s=180)
            base_rss = rss.sample()
            total_events = len(warm)

            # 2. sustained throughput
            items = workload.items(n_events // 2)
            now_ms = int(time.time() * 1000)
            enc = encode(items, [now_ms] * len(items))
            services = {k: pids[k] for k in ("processor", "sink")}
            profilers = start_profilers(services, profile_dir / backend) if profile_dir else []
            cpu = CpuMeter(pids).start()
            started = time.perf_counter()
            publish(producer, topic, enc)
            published = time.perf_counter()
            total_events += len(items)
            proc_done, sink_done = progress.wait_drained(total_events, total_events // 2, graph,
                                                         timeout_s=900)
            cpu_s = cpu.read()
            stop_profilers(profilers)
            elapsed = sink_done - started
            rate = len(items) / elapsed
            result.update({
                "events": len(items),
                "event_bytes_avg": round(sum(len(e.value) for e in enc) / len(enc)),
                "publish_events_per_s": round(len(items) / (published - started)),
                "processor_events_per_s": round(len(items) / (proc_done - started)),
                "sustained_events_per_s": round(rate),
                "drain_after_processor_s": round(sink_done - proc_done, 2),
                "cpu_s": cpu_s,
                "cpu_ms_per_k_events": round(sum(cpu_s.values()) * 1e6 / len(items)),
                "cpu_cores_busy": round(sum(cpu_s.values()) / elapsed, 2),
            })
            print(f"[{backend}] sustained: {rate:.0f} events/s ({len(items)} events in "
                  f"{elapsed:.1f} s)", flush=True)

            # 3. freshness at half load
            half = rate / 2
            lat_items = workload.items(max(50, int(half * latency_s / 2)))
            t0 = int(time.time() * 1000) + 1000
            schedule = [t0 + int(i * 1000 / half) for i in range(len(lat_items))]
            lat_enc = encode(lat_items, schedule)
            hist = Metrics(settings.sink.metrics_port)
            before = hist.histogram("lineage_event_to_graph_seconds")
            tap = GraphTopicTap(settings.kafka.bootstrap_servers, settings.topics.graph,
                                partitions)
            publish(producer, topic, lat_enc, schedule)
            total_events += len(lat_items)
            progress.wait_drained(total_events, total_events // 2, graph, timeout_s=600)
            del producer  # destroyed now (it was flushed): no reconnect noise at teardown
            after = hist.histogram("lineage_event_to_graph_seconds")
            p50 = histogram_quantile(before, after, 0.5)
            p99 = histogram_quantile(before, after, 0.99)
            records = round(after.get(math.inf, 0) - before.get(math.inf, 0))
            picked, proc_lat = tap.processor_latencies_s(records)
            result.update({
                "processor_pickup_p50_ms": pct_ms(picked, 0.5),
                "processor_part_p50_ms": pct_ms(proc_lat, 0.5),
                "processor_part_p99_ms": pct_ms(proc_lat, 0.99),
                "latency_rate_events_per_s": round(half),
                "latency_events": len(lat_items),
                "latency_records": records,
                "p50_ms": None if p50 is None else round(p50 * 1000),
                "p99_ms": None if p99 is None else round(p99 * 1000),
            })
            peak = dict(rss.peak)
        result["graph_complete_runs"] = count_complete_runs(graph)
        result["expected_complete_runs"] = total_events // 2
        graph.close()

        # 4. the physical reference, on an empty graph of the same server
        stack.stop_services()
        direct_graph = stack.graph.fresh_graph(settings.graph.name + "_direct")
        direct_items = [it.event for it in items[: sizes["direct_events"]]]
        direct_cpu = CpuMeter({"bench": os.getpid(), "graph": pids["graph"]},
                              no_children=("bench",)).start()
        direct = direct_write(direct_items, direct_graph, batch_events=processor_batch,
                              sink_batch=sink_batch)
        direct_cpu_s = direct_cpu.read()
        result.update({
            "direct_events": direct.events,
            "direct_events_per_s": round(direct.events_per_s),
            "direct_map_share": round(direct.map_seconds / direct.seconds, 2),
            "direct_write_share": round(direct.write_seconds / direct.seconds, 2),
            "direct_mutations_per_event": round(direct.mutations / direct.events, 1),
            "direct_cpu_s": direct_cpu_s,
            "direct_cpu_ms_per_k_events": round(
                sum(direct_cpu_s.values()) * 1e6 / max(1, direct.events)),
            "ratio": round(rate / direct.events_per_s, 2) if direct.events_per_s else None,
        })

        # 5. memory
        mb = 1024 * 1024
        grow = (peak["processor"] - base_rss.get("processor", peak["processor"]))
        result.update({
            "processor_peak_rss_mb": round(peak["processor"] / mb),
            "sink_peak_rss_mb": round(peak["sink"] / mb),
            "kafka_peak_rss_mb": round(peak["kafka"] / mb),
            "graph_peak_rss_mb": round(peak["graph"] / mb),
            "processor_rss_growth_mb_per_m_events": round(
                grow / mb / max(1, total_events - len(warm)) * 1e6),
            "processor_state_per_m_events": state_size(direct),
        })
    return result
