"""The benchmark's own local stack: Kafka, a graph server, the processor and the sink.

:func:`bench_stack` starts all four as processes in a temporary data dir -- Apache Kafka
(KRaft, :func:`~lineage_app.localstack.kafka_server.start_kafka`) and the graph server
of the backend asked for (Neo4j or FalkorDB, :func:`bench.graphs.start_graph`) side by side,
then ``python -m graph_sink`` and ``python -m stream_processor`` -- with fresh topic, graph
and group names, and stops them by pid (processor and sink first). With ``instances`` > 1 it
starts that many processors and sinks, each pair after the first with its own metrics ports
and log files, in the same consumer groups (the processors share the Faust app id, so they
split the events topic's partitions and the tables' changelogs; the sinks share a group).
:class:`Metrics` scrapes the Prometheus ``/metrics`` of one or more instances of a service
and adds them up; :class:`RssSampler` samples the resident set size of pids with psutil
(peak, bytes).
"""

from __future__ import annotations

import threading
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import psutil
from prometheus_client.parser import text_string_to_metric_families

from bench.graphs import GraphServer, start_graph
from lineage_app.localstack.kafka_server import await_kafka, start_kafka
from lineage_app.localstack.processes import (
    ManagedProcess,
    free_port,
    port_open,
    start_python_service,
)
from lineage_app.localstack.stack import create_topics
from lineage_pipeline.settings import LineageSettings, load_settings


@dataclass
class Instance:
    """A processor and sink started after the first pair, with their metrics ports."""

    processor: ManagedProcess
    sink: ManagedProcess
    processor_port: int
    sink_port: int


@dataclass
class BenchStack:
    """Settings pointing at the stack and its processes (``more``: the processor and sink
    instances after the first, whose ports are those of ``settings``)."""

    settings: LineageSettings
    kafka: ManagedProcess
    graph: GraphServer
    processor: ManagedProcess
    sink: ManagedProcess
    more: list[Instance] = field(default_factory=list)

    def pids(self) -> dict[str, int]:
        """The pid of every process of the stack, by name (``processor2``, ``sink2`` ...
        for the instances after the first)."""
        pids = {"kafka": self.kafka.pid, "graph": self.graph.proc.pid,
                "processor": self.processor.pid, "sink": self.sink.pid}
        for i, inst in enumerate(self.more, start=2):
            pids[f"processor{i}"] = inst.processor.pid
            pids[f"sink{i}"] = inst.sink.pid
        return pids

    def metrics_ports(self) -> tuple[list[int], list[int]]:
        """The metrics ports of every processor and of every sink."""
        return ([self.settings.processor.metrics_port, *(i.processor_port for i in self.more)],
                [self.settings.sink.metrics_port, *(i.sink_port for i in self.more)])

    def stop_services(self) -> None:
        """Stop the processors and the sinks by pid (the servers keep running)."""
        for proc in (self.processor, *(i.processor for i in self.more)):
            _stop_alive(proc)
        for sink in (self.sink, *(i.sink for i in self.more)):
            _stop_alive(sink)


def _stop_alive(proc: ManagedProcess, timeout_s: float = 10.0) -> None:
    """Stop ``proc`` by pid unless it has already exited (never signal a reaped pid)."""
    if proc.alive():
        proc.stop(timeout_s)


def _env(s: LineageSettings, extra: dict[str, str]) -> dict[str, str]:
    t, p, k, g = s.topics, s.processor, s.sink, s.graph
    env = {
        "LINEAGE_DATA_DIR": str(s.data_dir),
        "LINEAGE_KAFKA__BOOTSTRAP_SERVERS": s.kafka.bootstrap_servers,
        "LINEAGE_TOPICS__EVENTS": t.events,
        "LINEAGE_TOPICS__OPENLINEAGE": t.openlineage,
        "LINEAGE_TOPICS__GRAPH": t.graph,
        "LINEAGE_TOPICS__DLQ": t.dlq,
        "LINEAGE_TOPICS__PARTITIONS": str(t.partitions),
        # the Neo4j password is read from <data_dir>/neo4j/password, never put in the env
        "LINEAGE_GRAPH__BACKEND": g.backend,
        "LINEAGE_GRAPH__URL": g.url,
        "LINEAGE_GRAPH__NAME": g.name,
        **({"LINEAGE_GRAPH__USERNAME": g.username} if g.username else {}),
        "LINEAGE_PROCESSOR__APP_ID": p.app_id,
        "LINEAGE_PROCESSOR__METRICS_PORT": str(p.metrics_port),
        "LINEAGE_PROCESSOR__BATCH_SIZE": str(p.batch_size),
        "LINEAGE_PROCESSOR__BATCH_TIMEOUT_S": str(p.batch_timeout_s),
        "LINEAGE_SINK__GROUP_ID": k.group_id,
        "LINEAGE_SINK__METRICS_PORT": str(k.metrics_port),
        "LINEAGE_SINK__BATCH_SIZE": str(k.batch_size),
        "LINEAGE_SINK__BATCH_TIMEOUT_S": str(k.batch_timeout_s),
        "PYTHONUNBUFFERED": "1",
        # Kafka's minimum (group.min.session.timeout.ms), as `lineage up` uses
        "LINEAGE_KAFKA__EXTRA": '{"session.timeout.ms": "6000"}',
    }
    env.update(extra)
    return env


def _more_instances(stack: ExitStack, data_dir: Path, env: dict[str, str],
                    count: int) -> list[Instance]:
    """Start ``count`` more sinks and processors (``sink2``, ``processor2`` ...), each with
    its own metrics ports, after the first pair; stopped by pid when ``stack`` closes."""
    more = []
    for i in range(2, count + 2):
        ports = free_port(), free_port()
        own = {**env, "LINEAGE_PROCESSOR__METRICS_PORT": str(ports[0]),
               "LINEAGE_SINK__METRICS_PORT": str(ports[1])}
        sink = start_python_service(f"sink{i}", "graph_sink", [], data_dir,
                                    ready=partial(port_open, ports[1]), env=own)
        stack.callback(_stop_alive, sink)
        processor = start_python_service(f"processor{i}", "stream_processor", [], data_dir,
                                         ready=partial(port_open, ports[0]), env=own)
        stack.callback(_stop_alive, processor)
        more.append(Instance(processor, sink, *ports))
    return more


@contextmanager
def bench_stack(data_dir: Path, *, backend: str = "neo4j", partitions: int = 1,
                processor_batch: int = 500, sink_batch: int = 5000,
                extra_env: dict[str, str] | None = None,
                instances: int = 1) -> Iterator[BenchStack]:
    """Start Kafka, the ``backend`` graph server, ``instances`` sinks and processors; yield
    them; stop them all by pid.

    Raises :class:`~lineage_pipeline.errors.StackError` when a process does not come up.
    """
    with ExitStack() as stack:
        kafka = start_kafka(data_dir, wait=False)
        stack.callback(_stop_alive, kafka, 30.0)
        graph = start_graph(backend, data_dir, wait=False)
        stack.callback(graph.stop)
        await_kafka(kafka)
        graph.wait()
        suffix = uuid.uuid4().hex[:8]
        settings = load_settings(
            data_dir=data_dir,
            kafka={"bootstrap_servers": f"127.0.0.1:{kafka.port}"},
            topics={"events": f"bench.events.{suffix}",
                    "openlineage": f"bench.openlineage.{suffix}",
                    "graph": f"bench.graph.{suffix}", "dlq": f"bench.dlq.{suffix}",
                    "partitions": partitions},
            graph=graph.settings(f"bench_{suffix}").model_dump(exclude_none=True),
            processor={"app_id": f"bench-processor-{suffix}", "metrics_port": free_port(),
                       "batch_size": processor_batch},
            sink={"group_id": f"bench-sink-{suffix}", "metrics_port": free_port(),
                  "batch_size": sink_batch},
        )
        create_topics(settings)
        env = _env(settings, extra_env or {})
        sink = start_python_service(
            "sink", "graph_sink", [], data_dir,
            ready=lambda: port_open(settings.sink.metrics_port), env=env)
        stack.callback(_stop_alive, sink)
        processor = start_python_service(
            "processor", "stream_processor", [], data_dir,
            ready=lambda: port_open(settings.processor.metrics_port), env=env)
        stack.callback(_stop_alive, processor)
        more = _more_instances(stack, data_dir, env, instances - 1)
        yield BenchStack(settings, kafka, graph, processor, sink, more)


class Metrics:
    """Scrape ``http://127.0.0.1:port/metrics`` (Prometheus text format) of one port or of
    several (instances of one service: their samples are pooled, so sums add up)."""

    def __init__(self, port: int | Sequence[int]) -> None:
        ports = [port] if isinstance(port, int) else list(port)
        self.urls = [f"http://127.0.0.1:{p}/metrics" for p in ports]

    def samples(self) -> dict[str, list[tuple[dict[str, str], float]]]:
        """Return sample name -> [(labels, value)], of every port."""
        out: dict[str, list[tuple[dict[str, str], float]]] = {}
        for url in self.urls:
            with urllib.request.urlopen(url, timeout=5) as resp:
                text = resp.read().decode()
            for family in text_string_to_metric_families(text):
                for s in family.samples:
                    out.setdefault(s.name, []).append((dict(s.labels), float(s.value)))
        return out

    def total(self, name: str) -> float:
        """Sum of every sample named ``name`` (0 when absent)."""
        return sum(v for _, v in self.samples().get(name, []))

    def histogram(self, name: str) -> dict[float, float]:
        """Cumulative bucket counts of histogram ``name``: upper bound (s) -> count (summed
        over the ports)."""
        out: dict[float, float] = {}
        for labels, value in self.samples().get(f"{name}_bucket", []):
            bound = float(labels["le"])
            out[bound] = out.get(bound, 0.0) + value
        return out


def histogram_quantile(before: dict[float, float], after: dict[float, float],
                       q: float) -> float | None:
    """The ``q`` quantile of the observations between two scrapes of one histogram, by
    linear interpolation inside the bucket (Prometheus' ``histogram_quantile``); ``None``
    when nothing was observed. Above the last finite bound it returns that bound."""
    bounds = sorted(after)
    counts = [after[b] - before.get(b, 0.0) for b in bounds]
    total = counts[-1] if counts else 0.0
    if total <= 0:
        return None
    rank = q * total
    prev_bound, prev_count = 0.0, 0.0
    for bound, count in zip(bounds, counts, strict=True):
        if count >= rank:
            if bound == float("inf"):
                return prev_bound
            width = count - prev_count
            frac = (rank - prev_count) / width if width > 0 else 1.0
            return prev_bound + (bound - prev_bound) * frac
        prev_bound, prev_count = bound, count
    return prev_bound


class RssSampler:
    """Background thread recording the peak RSS (bytes) of each pid every ``interval_s``."""

    def __init__(self, pids: dict[str, int], interval_s: float = 0.2) -> None:
        self.procs = {name: psutil.Process(pid) for name, pid in pids.items()}
        self.peak = dict.fromkeys(pids, 0)
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="rss-sampler")

    def sample(self) -> dict[str, int]:
        """Current RSS per name (bytes); updates the peaks."""
        now = {}
        for name, proc in self.procs.items():
            try:
                rss = int(proc.memory_info().rss)
            except psutil.Error:
                continue
            now[name] = rss
            self.peak[name] = max(self.peak[name], rss)
        return now

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.sample()

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
