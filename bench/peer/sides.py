"""The two sides of the peer benchmark, each on the same warm-up and measured workload.

Each side starts its own processes in a temporary directory and stops them by pid:

- this project (:func:`run_ours`): :func:`bench.pipeline.stack.bench_stack` (Apache Kafka,
  the graph server, ``python -m graph_sink``, ``python -m stream_processor``); the messages go
  to ``topics.openlineage``; done when the processor has read them all and the graph holds
  every run COMPLETE (and the sink has counted every record the processor published), as
  :class:`bench.pipeline.probes.Progress` waits;
- data-rentgen (:func:`run_peer`): Apache Kafka (the same starter, same heap), a private
  PostgreSQL (:mod:`bench.peer.postgres`), migrations and partitions, ``python -m
  data_rentgen.consumer``; done when its ``run`` table holds every run SUCCEEDED (a COMPLETE
  event stored; then its consumer group's lag is checked to reach 0, untimed).

Both first take the warm-up workload (its own jobs and tables) through everything, then
publish the measured one as fast as the producer goes. Times run from the first publish to
done. CPU (:class:`bench.peer.measure.TreeMeter`) counts every process tree of the side,
the Kafka broker included (its figures without Kafka are given too).
"""

from __future__ import annotations

import tempfile
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bench.peer.events import OpenLineageWorkload
from bench.peer.measure import TreeMeter, mib
from bench.pipeline.probes import Progress, count_complete_runs, make_producer, publish
from lineage_app.localstack.processes import tail


def topic_records(bootstrap: str, topic: str) -> int:
    """Records in ``topic`` (high - low watermark, all partitions; 0 if it is missing)."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-peer-count"})
    try:
        meta = consumer.list_topics(topic, timeout=10).topics.get(topic)
        if meta is None or meta.error is not None:
            return 0
        total = 0
        for p in meta.partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            total += high - low
        return total
    finally:
        consumer.close()


def group_lag(bootstrap: str, topic: str, group: str) -> int:
    """Records of partition 0 of ``topic`` not yet committed by consumer group ``group``."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        _, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
        committed = consumer.committed([TopicPartition(topic, 0)], timeout=10)[0].offset
        return int(high - max(committed, 0))
    finally:
        consumer.close()


def _wait(done: Callable[[], bool], timeout_s: float, what: str) -> float:
    """Poll ``done`` every 0.25 s; return ``time.perf_counter()`` when it holds."""
    deadline = time.perf_counter() + timeout_s
    while time.perf_counter() < deadline:
        if done():
            return time.perf_counter()
        time.sleep(0.25)  # each poll costs the servers CPU: not faster
    raise TimeoutError(f"{what} not done after {timeout_s:.0f} s")


def _figures(work: OpenLineageWorkload, meter: TreeMeter, cpu_s: dict[str, float],
             started: float, published: float, done: float) -> dict[str, Any]:
    """Rates, CPU per 1,000 events (s) and peak memory (MiB) of one measured phase."""
    n = len(work.messages)
    elapsed = done - started
    rest = tuple(k for k in cpu_s if k != "kafka")
    return {
        "events": n,
        "seconds": round(elapsed, 2),
        "events_per_s": round(n / elapsed, 1),
        "publish_events_per_s": round(n / (published - started)),
        "cpu_s": cpu_s,
        "cpu_s_per_k_events": round(sum(cpu_s.values()) * 1000 / n, 3),
        "cpu_s_per_k_events_without_kafka": round(sum(cpu_s[k] for k in rest) * 1000 / n, 3),
        "cpu_cores_busy": round(sum(cpu_s.values()) / elapsed, 2),
        "peak_rss_mb": mib(meter.peak()),
        "peak_rss_mb_without_kafka": mib(meter.peak(rest)),
        "peak_pss_mb": mib(meter.peak(pss=True)),
        "peak_rss_mb_by_process": {k: mib(meter.peak((k,))) for k in cpu_s},
    }


def run_ours(backend: str, warm: OpenLineageWorkload, work: OpenLineageWorkload,
             timeout_s: float) -> dict[str, Any]:
    """Measure this project on ``backend`` (see the module docstring); return its figures."""
    from bench.pipeline.stack import bench_stack
    from lineage_pipeline.graph import open_backend

    with tempfile.TemporaryDirectory(prefix=f"bench-peer-{backend}-") as tmp, ExitStack() as es:
        t0 = time.perf_counter()
        stack = es.enter_context(bench_stack(Path(tmp), backend=backend))
        start_s = round(time.perf_counter() - t0, 1)
        settings = stack.settings
        bootstrap, topic = settings.kafka.bootstrap_servers, settings.topics.openlineage
        producer = make_producer(bootstrap)
        progress = Progress(settings.processor.metrics_port, settings.sink.metrics_port)
        graph = open_backend(settings.graph)
        es.callback(graph.close)
        publish(producer, topic, warm.messages)
        progress.wait_drained(len(warm.messages), warm.runs, graph, timeout_s=300)
        time.sleep(2.0)
        meter = TreeMeter(stack.pids()).start()
        es.callback(meter.close)
        started = time.perf_counter()
        publish(producer, topic, work.messages)
        published = time.perf_counter()
        total = len(warm.messages) + len(work.messages)
        _, done = progress.wait_drained(total, warm.runs + work.runs, graph, timeout_s)
        cpu_s = meter.stop()
        del producer  # flushed: destroyed before its broker stops (no reconnect noise)
        figures = _figures(work, meter, cpu_s, started, published, done)
        figures.update({
            "system": "lineage-pipeline", "backend": backend, "stack_start_s": start_s,
            "complete_runs": count_complete_runs(graph) - warm.runs,
            "expected_runs": work.runs,
            "rejected_events": topic_records(bootstrap, settings.topics.dlq),
        })
        return figures


def prepare_peer() -> tuple[Any, Path]:
    """Install data-rentgen if needed and find (or apt-install) PostgreSQL; return (the
    :class:`~bench.peer.rentgen.PeerInstall`, PostgreSQL's bin dir). Raises
    :class:`~bench.peer.rentgen.PeerInstallError` (naming each package version that failed)
    or :class:`~lineage_pipeline.errors.StackError`."""
    from bench.peer.postgres import postgres_bindir
    from bench.peer.rentgen import ensure_peer

    return ensure_peer(), postgres_bindir()


def run_peer(prepared: tuple[Any, Path], warm: OpenLineageWorkload,
             work: OpenLineageWorkload, earliest_ms: int, timeout_s: float) -> dict[str, Any]:
    """Measure data-rentgen (``prepared`` by :func:`prepare_peer`; see the module
    docstring); return its figures."""
    peer, bindir = prepared
    with tempfile.TemporaryDirectory(prefix="bench-peer-rentgen-") as tmp, ExitStack() as es:
        Path(tmp).chmod(0o755)  # the postgres user needs to reach its data dir inside
        t0 = time.perf_counter()
        kafka, pg = _start_peer_servers(Path(tmp), bindir, es)
        figures = _measure_peer(peer, kafka, pg, Path(tmp), warm, work, earliest_ms,
                                timeout_s, es, t0)
        figures.update({"system": f"data-rentgen {peer.version}",
                        "postgres": f"PostgreSQL {bindir.parent.name} (Debian)"})
        return figures


def _start_peer_servers(tmp: Path, bindir: Path, es: ExitStack) -> tuple[Any, Any]:
    """Start Kafka and PostgreSQL side by side; each is stopped by pid when ``es`` closes."""
    from bench.peer.postgres import start_postgres
    from lineage_app.localstack.kafka_server import await_kafka, start_kafka

    kafka = start_kafka(tmp, wait=False)
    es.callback(lambda: kafka.stop(30.0) if kafka.alive() else None)
    pg = start_postgres(tmp / "postgres", bindir)
    es.callback(pg.stop)
    await_kafka(kafka)
    return kafka, pg


def _create_topics(bootstrap: str, names: list[str]) -> None:
    from confluent_kafka.admin import AdminClient
    from confluent_kafka.cimpl import NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(n, 1, 1) for n in names]).values():
        future.result(30)


def _start_consumer(peer: Any, kafka: Any, pg: Any, tmp: Path, earliest_ms: int,
                    es: ExitStack) -> tuple[Any, str, str]:
    """Create the peer's topics and schema, start its consumer (stopped by pid when ``es``
    closes); return (the consumer process, topic, consumer group)."""
    from bench.peer.rentgen import peer_env, prepare_db, start_consumer

    bootstrap = f"127.0.0.1:{kafka.port}"
    suffix = uuid.uuid4().hex[:8]
    topic, group = f"bench.peer.runs.{suffix}", f"bench-peer-{suffix}"
    _create_topics(bootstrap, [topic, f"{topic}__malformed"])
    env = peer_env(pg.url(), bootstrap, topic, group)
    prepare_db(peer, env, earliest_ms)
    consumer = start_consumer(peer, env, tmp / "logs")
    es.callback(lambda: consumer.stop(30.0) if consumer.alive() else None)
    return consumer, topic, group


def _measure_peer(peer: Any, kafka: Any, pg: Any, tmp: Path, warm: OpenLineageWorkload,
                  work: OpenLineageWorkload, earliest_ms: int, timeout_s: float,
                  es: ExitStack, t0: float) -> dict[str, Any]:
    """Warm the peer up, then time the measured workload; return its figures."""
    from bench.peer.rentgen import PgProbe, succeeded_runs, table_rows

    bootstrap = f"127.0.0.1:{kafka.port}"
    consumer, topic, group = _start_consumer(peer, kafka, pg, tmp, earliest_ms, es)
    start_s = round(time.perf_counter() - t0, 1)
    probe = PgProbe(peer, pg.url("postgresql"))
    es.callback(probe.close)
    producer = make_producer(bootstrap)
    publish(producer, topic, warm.messages)
    try:
        _wait(lambda: succeeded_runs(probe) >= warm.runs, 300, "data-rentgen warm-up")
    except TimeoutError as exc:
        raise TimeoutError(f"{exc}; consumer log:\n{tail(consumer.log_path)}") from exc
    time.sleep(2.0)
    meter = TreeMeter({"kafka": kafka.pid, "postgres": pg.proc.pid,
                       "data-rentgen": consumer.pid}).start()
    es.callback(meter.close)
    started = time.perf_counter()
    publish(producer, topic, work.messages)
    published = time.perf_counter()
    total_runs = warm.runs + work.runs
    try:
        done = _wait(lambda: succeeded_runs(probe) >= total_runs, timeout_s, "data-rentgen")
    except TimeoutError as exc:
        raise TimeoutError(f"{exc}: {succeeded_runs(probe) - warm.runs} of {work.runs} runs "
                           f"stored; consumer log:\n{tail(consumer.log_path)}") from exc
    cpu_s = meter.stop()
    del producer  # flushed: destroyed before its broker stops (no reconnect noise)
    figures = _figures(work, meter, cpu_s, started, published, done)
    try:  # aiokafka auto-commits every 5 s: untimed, a check only
        lag_t: float | None = _wait(lambda: group_lag(bootstrap, topic, group) == 0, 60,
                                    "data-rentgen commit")
    except TimeoutError:
        lag_t = None
    figures.update({
        "stack_start_s": start_s,
        "lag_zero_after_done_s": None if lag_t is None else round(lag_t - done, 2),
        "complete_runs": succeeded_runs(probe) - warm.runs, "expected_runs": work.runs,
        "rejected_events": topic_records(bootstrap, f"{topic}__malformed"),
        "table_rows": table_rows(probe),
    })
    return figures
