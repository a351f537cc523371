"""``lineage up`` / ``down`` / ``status``: the local stack as background processes.

The stack is four processes on loopback, their state under one data directory
(``settings.data_dir``, default ``./.lineage``):

==========  ==============================================  ===============================
process     what                                            listens on (defaults)
==========  ==============================================  ===============================
broker      Tansu (Kafka-compatible, memory storage)        ``kafka.bootstrap_servers``
falkordb    redis-server + falkordb.so, append-only files   ``graph.url`` (RESP)
processor   ``python -m stream_processor`` (Faust)          ``processor.metrics_port``
sink        ``python -m graph_sink``                        ``sink.metrics_port``
==========  ==============================================  ===============================

``stack.json`` in the data directory records each pid, port and log path; ``down`` stops
the processes by pid in reverse order. The graph persists across restarts (FalkorDB AOF);
topics do not (Tansu's memory storage), which is why the sink commits only after writing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlparse

from lineage_pipeline.errors import StackError
from lineage_pipeline.localstack.processes import (
    ManagedProcess,
    compact_falkordb,
    pid_alive,
    port_open,
    start_broker,
    start_falkordb,
    start_python_service,
    stop_pid,
)
from lineage_pipeline.settings import LineageSettings

STATE_FILE = "stack.json"
#: Start order; ``down`` stops in reverse.
SERVICES = ("broker", "falkordb", "sink", "processor")


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
        raise StackError(f"graph.url {url!r} names no port; use redis://127.0.0.1:PORT")
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
    """Return the environment that points a processor or sink at this stack."""
    return {
        "LINEAGE_DATA_DIR": str(settings.data_dir.resolve()),
        "LINEAGE_KAFKA__BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
        "LINEAGE_GRAPH__URL": settings.graph.url,
        "LINEAGE_GRAPH__BACKEND": settings.graph.backend,
        "LINEAGE_GRAPH__NAME": settings.graph.name,
        "LINEAGE_PROCESSOR__METRICS_PORT": str(settings.processor.metrics_port),
        "LINEAGE_SINK__METRICS_PORT": str(settings.sink.metrics_port),
        "PYTHONUNBUFFERED": "1",
        # Tansu answers JoinGroup after half the session timeout: keep it short locally
        "LINEAGE_KAFKA__EXTRA": '{"session.timeout.ms": "6000"}',
    }


def create_topics(settings: LineageSettings, timeout_s: float = 30.0) -> None:
    """Create the project's topics if missing. Raises :class:`StackError` on failure.

    ``topics.erasures`` is created with ``cleanup.policy=compact`` (the latest erasure
    record per dataset is kept forever; Tansu accepts and reports the setting); the others
    with the broker's default policy.
    """
    from confluent_kafka.admin import AdminClient
    from confluent_kafka.cimpl import NewTopic

    admin = AdminClient(settings.kafka.client_config())
    topics = settings.topics
    wanted: dict[str, dict[str, str]] = {
        topics.events: {}, topics.openlineage: {}, topics.graph: {}, topics.dlq: {},
        topics.erasures: {"cleanup.policy": "compact"},
    }
    existing = set(admin.list_topics(timeout=timeout_s).topics)
    new = [
        NewTopic(t, num_partitions=topics.partitions, replication_factor=topics.replication_factor,
                 config=config)
        for t, config in wanted.items()
        if t not in existing
    ]
    if not new:
        return
    for name, fut in admin.create_topics(new, request_timeout=timeout_s).items():
        try:
            fut.result(timeout=timeout_s)
        except Exception as exc:
            if "already exists" not in str(exc).lower() and "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise StackError(f"cannot create topic {name}: {exc}") from exc


def up(
    settings: LineageSettings, progress: Callable[[str], None] | None = None
) -> dict[str, ServiceInfo]:
    """Start every service that is not already running; return what runs.

    Raises :class:`StackError` when a port is taken by something else or a service does
    not become ready (its log's tail is in the message).
    """
    data_dir = settings.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    services = {k: v for k, v in read_state(settings).items() if pid_alive(v.pid)}
    env = child_env(settings)

    def note(msg: str) -> None:
        if progress is not None:
            progress(msg)

    def check_free(name: str, port: int) -> None:
        if port_open(port):
            raise StackError(
                f"port {port} for {name} is already in use by another program; stop it, or "
                f"choose another port in the configuration (see README, 'Configuration')"
            )

    if "broker" not in services:
        port = _port_of_bootstrap(settings.kafka.bootstrap_servers)
        check_free("broker", port)
        note("starting the Tansu broker")
        p = start_broker(data_dir, port)
        services["broker"] = _info(p, f"kafka://127.0.0.1:{p.port}")
        _write_state(settings, services)
    note("creating topics")
    create_topics(settings)
    if "falkordb" not in services:
        port = _port_of_url(settings.graph.url)
        check_free("falkordb", port)
        note("starting FalkorDB")
        p = start_falkordb(data_dir, port)
        services["falkordb"] = _info(p, f"redis://127.0.0.1:{p.port}")
        _write_state(settings, services)
    for name, module, mport in (
        ("sink", "graph_sink", settings.sink.metrics_port),
        ("processor", "stream_processor", settings.processor.metrics_port),
    ):
        if name in services:
            continue
        check_free(name, mport)
        note(f"starting the {name}")
        p = start_python_service(
            name, module, [], data_dir, ready=_port_ready(mport), port=mport, env=env,
        )
        services[name] = _info(p, f"http://127.0.0.1:{mport}/metrics")
        _write_state(settings, services)
    return services


def _port_ready(port: int) -> Callable[[], bool]:
    return lambda: port_open(port)


def _info(proc: ManagedProcess, address: str) -> ServiceInfo:
    return ServiceInfo(proc.name, proc.pid, proc.port, address, str(proc.log_path))


def down(settings: LineageSettings, timeout_s: float = 15.0) -> list[str]:
    """Stop the recorded services by pid, in reverse start order; return the names stopped."""
    services = read_state(settings)
    stopped = []
    for name in reversed(SERVICES):
        info = services.get(name)
        if info is None:
            continue
        if pid_alive(info.pid):
            if name == "falkordb":
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


__all__ = [
    "ServiceInfo",
    "child_env",
    "create_topics",
    "down",
    "read_state",
    "status",
    "up",
]
