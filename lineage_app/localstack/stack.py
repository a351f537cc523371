"""``lineage up`` / ``down`` / ``status``: the local stack as background processes.

The stack is six processes on loopback, their state under one data directory
(``settings.data_dir``, default ``./.lineage``):

==========  ==============================================  ===============================
process     what                                            listens on (defaults)
==========  ==============================================  ===============================
kafka       Apache Kafka, KRaft single node, log on disk    ``kafka.bootstrap_servers`` (+1:
                                                            the KRaft controller)
graph       Neo4j Community, Bolt, auth on (or FalkorDB     ``graph.url``
            when ``graph.backend`` is ``falkordb``)
processor   ``python -m stream_processor`` (Faust)          ``processor.metrics_port``
sink        ``python -m graph_sink``                        ``sink.metrics_port``
serve       ``lineage serve``: the HTTP API and the page    ``serve.host``:``serve.port``
spool       ``lineage spool replay --follow``               (nothing)
==========  ==============================================  ===============================

``stack.json`` in the data directory records each pid, port and log path; ``down`` stops
the processes by pid in reverse order. ``status`` also asks the sink (over HTTP, on the
metrics port recorded there) whether it is waiting for the graph (:func:`sink_waiting`).
Everything persists across ``down``/``up``: the Kafka log (unconsumed events, the DLQ,
consumer offsets and the processor's changelogs) and the graph. The Neo4j password is
generated at the first ``up`` into ``<data_dir>/neo4j/password`` (mode 0600) and read from
there by every process of the stack; it is never printed.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlparse

from lineage_app.localstack.kafka_server import await_kafka, start_kafka
from lineage_app.localstack.neo4j_server import await_neo4j, ensure_password, start_neo4j
from lineage_app.localstack.processes import (
    ManagedProcess,
    await_ready,
    compact_falkordb,
    launch,
    pid_alive,
    port_open,
    start_falkordb,
    stop_pid,
)
from lineage_pipeline.errors import StackError, TransportError
from lineage_pipeline.metrics import read_metric
from lineage_pipeline.settings import LineageSettings

STATE_FILE = "stack.json"
#: Start order; ``down`` stops in reverse. ``spool``: ``lineage spool replay --follow`` (the
#: emitter configuration of the directory ``lineage up`` ran in), so what a job left in its
#: spool when it ended during a broker outage reaches Kafka without a manual step.
SERVICES = ("kafka", "graph", "sink", "processor", "serve", "spool")
#: Seconds between the spool follower's replays.
SPOOL_INTERVAL_S = 2.0


@dataclass
class ServiceInfo:
    """One running service of the stack as recorded in ``stack.json``."""

    name: str
    pid: int
    port: int
    address: str
    log: str


def _port_of_bootstrap(bootstrap: str) -> int:
    first = bootstrap.split(",")[0]
    return int(first.rsplit(":", 1)[1])


def _port_of_url(url: str) -> int:
    port = urlparse(url).port
    if port is None:
        raise StackError(f"graph.url {url!r} names no port; use bolt://127.0.0.1:PORT")
    return port


def state_path(settings: LineageSettings) -> Path:
    """Return the path of ``stack.json`` for ``settings``."""
    return settings.data_dir / STATE_FILE


def read_state(settings: LineageSettings) -> dict[str, ServiceInfo]:
    """Return the recorded services (empty when the stack was never started here)."""
    path = state_path(settings)
    if not path.exists():
        return {}
    raw = json.loads(path.read_text("utf-8"))
    return {name: ServiceInfo(**info) for name, info in raw.items()}


def _write_state(settings: LineageSettings, services: dict[str, ServiceInfo]) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    state_path(settings).write_text(
        json.dumps({k: asdict(v) for k, v in services.items()}, indent=2), "utf-8"
    )


def child_env(settings: LineageSettings) -> dict[str, str]:
    """Return the environment that points a processor, sink or API server at this stack."""
    return {
        "LINEAGE_DATA_DIR": str(settings.data_dir.resolve()),
        "LINEAGE_KAFKA__BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
        "LINEAGE_GRAPH__URL": settings.graph.url,
        "LINEAGE_GRAPH__BACKEND": settings.graph.backend,
        "LINEAGE_GRAPH__NAME": settings.graph.name,
        **({"LINEAGE_GRAPH__USERNAME": settings.graph.username} if settings.graph.username else {}),
        "LINEAGE_PROCESSOR__METRICS_PORT": str(settings.processor.metrics_port),
        "LINEAGE_SINK__METRICS_PORT": str(settings.sink.metrics_port),
        "LINEAGE_SERVE__HOST": settings.serve.host,
        "LINEAGE_SERVE__PORT": str(settings.serve.port),
        "PYTHONUNBUFFERED": "1",
        # the broker's minimum: a killed processor's partitions move on within seconds locally
        "LINEAGE_KAFKA__EXTRA": '{"session.timeout.ms": "6000"}',
    }


def create_topics(settings: LineageSettings, timeout_s: float = 30.0) -> None:
    """Create the project's topics if missing (:func:`stream_processor.topics.pipeline_topics`)
    and wait until the broker lists them. Raises :class:`StackError` on failure."""
    from stream_processor.topics import create_missing, pipeline_topics

    try:
        create_missing(settings, pipeline_topics(settings), timeout_s)
    except TransportError as exc:
        raise StackError(str(exc)) from exc


def up(
    settings: LineageSettings, progress: Callable[[str], None] | None = None
) -> dict[str, ServiceInfo]:
    """Start every service that is not already running; return what runs.

    Kafka and the graph server start side by side, then the topics are created, then the
    sink, the processor and the spool follower (``lineage spool replay --follow``, with the
    emitter configuration of the current directory) start side by side. ``progress`` is told
    what is being waited for. Raises :class:`StackError` when a port is taken by something
    else or a service does not become ready (its log's tail is in the message).
    """
    data_dir = settings.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    services = {k: v for k, v in read_state(settings).items() if pid_alive(v.pid)}

    def note(msg: str) -> None:
        if progress is not None:
            progress(msg)

    def check_free(name: str, *ports: int) -> None:
        for port in ports:
            if port_open(port):
                raise StackError(
                    f"port {port} for {name} is already in use by another program; stop it, "
                    "or choose another port in the configuration (see README, 'Configuration')"
                )

    waits: list[tuple[str, Callable[[], None]]] = []
    if "kafka" not in services:
        port = _port_of_bootstrap(settings.kafka.bootstrap_servers)
        check_free("kafka", port, port + 1)
        kafka = start_kafka(data_dir, port, controller_port=port + 1, wait=False)
        services["kafka"] = _info(kafka, f"kafka://127.0.0.1:{port}")
        waits.append((f"Kafka (KRaft) on 127.0.0.1:{port}",
                      lambda: await_kafka(kafka)))
    if "graph" not in services:
        waits.append(_start_graph(settings, services, check_free))
    _write_state(settings, services)
    for what, wait in waits:
        note(f"waiting for {what}")
        wait()
    note("creating topics")
    create_topics(settings)
    started = _start_python_services(settings, services, check_free)
    follower = None if "spool" in services else _start_spool_follower(settings, services)
    _write_state(settings, services)
    for proc, mport in started:
        note(f"waiting for the {proc.name} (metrics on 127.0.0.1:{mport})")
        await_ready(proc, _port_ready(mport), 90.0)
    if follower is not None:
        note("waiting for the spool follower")
        await_ready(follower, lambda: follower.logged(b"replaying "), 60.0)
    return services


def _start_python_services(settings: LineageSettings, services: dict[str, ServiceInfo],
                           check_free: Callable[..., None]) -> list[tuple[ManagedProcess, int]]:
    """Launch the sink, the processor and the HTTP API unless running (recorded in
    ``services``); return each launched process with its port (its readiness signal: the
    metrics port, the API's port)."""
    env = child_env(settings)
    serve = settings.serve.port
    started: list[tuple[ManagedProcess, int]] = []
    for name, argv, mport, address in (
        ("sink", ["-m", "graph_sink"], settings.sink.metrics_port,
         f"http://127.0.0.1:{settings.sink.metrics_port}/metrics"),
        ("processor", ["-m", "stream_processor"], settings.processor.metrics_port,
         f"http://127.0.0.1:{settings.processor.metrics_port}/metrics"),
        ("serve", ["-m", "lineage_app.cli.app", "serve"], serve,
         f"http://{settings.serve.host}:{serve}/ui/"),
    ):
        if name in services:
            continue
        check_free(name, mport)
        proc = launch(name, [sys.executable, *argv], mport,
                      settings.data_dir / "logs" / f"{name}.log", env)
        services[name] = _info(proc, address)
        started.append((proc, mport))
    return started


def _start_spool_follower(settings: LineageSettings,
                          services: dict[str, ServiceInfo]) -> ManagedProcess:
    """Launch ``lineage spool replay --follow`` against this stack's broker (no port: it
    serves nothing) and record it in ``services``."""
    argv = [sys.executable, "-m", "lineage_app.cli.app", "spool", "replay", "--follow",
            "--interval", str(SPOOL_INTERVAL_S),
            "--bootstrap-servers", settings.kafka.bootstrap_servers]
    # the stack's data directory: its default spool is the jobs' (<data_dir>/spool)
    env = {"PYTHONUNBUFFERED": "1", "LINEAGE_DATA_DIR": str(settings.data_dir.resolve())}
    proc = launch("spool", argv, 0, settings.data_dir / "logs" / "spool.log", env)
    services["spool"] = _info(proc, f"replays the emitter spool every {SPOOL_INTERVAL_S:g} s")
    return proc


def _start_graph(
    settings: LineageSettings, services: dict[str, ServiceInfo],
    check_free: Callable[..., None],
) -> tuple[str, Callable[[], None]]:
    """Launch the graph server ``graph.backend`` names; return what to wait for and how."""
    data_dir, port = settings.data_dir, _port_of_url(settings.graph.url)
    check_free("graph", port)
    if settings.graph.backend == "falkordb":
        proc = start_falkordb(data_dir, port)
        services["graph"] = _info(proc, f"redis://127.0.0.1:{port}")
        return f"FalkorDB on 127.0.0.1:{port}", lambda: None
    password = ensure_password(data_dir)
    neo = start_neo4j(data_dir, port, password=password, wait=False)
    services["graph"] = _info(neo, f"bolt://127.0.0.1:{port}")
    return (f"Neo4j on bolt://127.0.0.1:{port}",
            lambda: await_neo4j(neo, password))


def _port_ready(port: int) -> Callable[[], bool]:
    return lambda: port_open(port)


def _info(proc: ManagedProcess, address: str) -> ServiceInfo:
    return ServiceInfo(proc.name, proc.pid, proc.port, address, str(proc.log_path))


def down(settings: LineageSettings, timeout_s: float = 60.0) -> list[str]:
    """Stop the recorded services by pid, in reverse start order; return the names stopped."""
    services = read_state(settings)
    stopped = []
    for name in reversed(SERVICES):
        info = services.get(name)
        if info is None:
            continue
        if pid_alive(info.pid):
            if name == "graph" and info.address.startswith("redis://"):
                compact_falkordb(info.port)
            stop_pid(info.pid, timeout_s)
            stopped.append(name)
    path = state_path(settings)
    if path.exists():
        path.unlink()
    return stopped


def status(settings: LineageSettings) -> list[tuple[ServiceInfo, bool]]:
    """Return each recorded service with whether its process is alive."""
    return [(info, pid_alive(info.pid)) for info in read_state(settings).values()]


def sink_waiting(info: ServiceInfo) -> bool | None:
    """Return whether the sink recorded as ``info`` waits for the graph (retrying a graph
    that is down, consumption paused): its gauge ``lineage_sink_graph_waiting``, read over
    HTTP from the metrics port recorded in ``stack.json``. ``None`` when the sink does not
    answer (stopped, or still starting)."""
    value = read_metric(info.port, "lineage_sink_graph_waiting")
    return None if value is None else value > 0


__all__ = [
    "ServiceInfo",
    "child_env",
    "create_topics",
    "down",
    "read_state",
    "sink_waiting",
    "status",
    "up",
]
