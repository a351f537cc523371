"""Graph servers for the benchmarks, both backends behind one shape, and side-by-side tables.

A benchmark that writes to a graph runs once per backend of :data:`BACKENDS` (or the ones
``--backend`` names) and prints the figures of every backend in one table, one column each.

- Neo4j: Neo4j Community started from the Maven jars
  (:func:`lineage_app.localstack.neo4j_server.start_neo4j`, password generated into
  ``<data_dir>/neo4j/password``, which every process of the bench reads through
  ``LINEAGE_DATA_DIR``). Community serves one database, ``neo4j``: a "fresh graph" on the
  same server is that database emptied (:meth:`GraphServer.fresh_graph` deletes every node in
  transactions of 10,000; constraints stay, they are what ``ensure_schema`` creates anyway).
  :meth:`GraphServer.quiesce` waits until the JVM is idle (under 5 % of a core for a
  whole second; Community has no ``db.checkpoint()`` procedure to force a checkpoint), so no
  background flush or JIT work competes with what is timed next.
- FalkorDB: ``redis-server`` with the ``falkordb.so`` module
  (:func:`lineage_app.localstack.processes.start_falkordb`); a fresh graph is a new
  graph key; :meth:`GraphServer.quiesce` waits until no AOF rewrite or RDB save runs.

:class:`CpuMeter` reads the CPU time (user + system, plus reaped children: FalkorDB forks
for its AOF rewrites) of processes by pid with psutil, so a benchmark can count the whole
cost, the JVM servers included.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from lineage_app.localstack.processes import ManagedProcess
from lineage_pipeline.settings import GraphSettings

#: The graph backends a benchmark compares, in the order they run and are printed.
BACKENDS: tuple[str, ...] = ("neo4j", "falkordb")
#: Printed names of the backends.
TITLES: dict[str, str] = {"neo4j": "Neo4j", "falkordb": "FalkorDB"}


def parse_backends(value: str) -> tuple[str, ...]:
    """Return the backends named by ``value`` (``both``, ``neo4j``, ``falkordb`` or a comma
    list). Raises :class:`ValueError` for an unknown name."""
    if value in ("both", "all", ""):
        return BACKENDS
    names = tuple(v.strip() for v in value.split(",") if v.strip())
    unknown = [n for n in names if n not in BACKENDS]
    if unknown:
        raise ValueError(f"unknown graph backend(s) {unknown}; use {', '.join(BACKENDS)}")
    return names


@dataclass
class GraphServer:
    """A graph server the benchmark started: its process and how to reach its graphs."""

    backend: str
    proc: ManagedProcess
    data_dir: Path
    password: str | None = None
    ready: Callable[[], None] | None = None

    def wait(self) -> None:
        """Wait until the server answers (for servers launched without waiting)."""
        if self.ready is not None:
            self.ready()
            self.ready = None

    def settings(self, name: str | None = None, timeout_s: float = 30.0) -> GraphSettings:
        """Return settings for graph ``name`` (FalkorDB: a graph key, a fresh one by default;
        Neo4j: always the one database ``neo4j``)."""
        if self.backend == "neo4j":
            return GraphSettings.model_validate({
                "backend": "neo4j", "url": f"bolt://127.0.0.1:{self.proc.port}",
                "name": "neo4j", "username": "neo4j", "password": self.password,
                "timeout_s": timeout_s})
        return GraphSettings.model_validate({
            "backend": "falkordb", "url": f"redis://127.0.0.1:{self.proc.port}",
            "name": name or f"bench_{uuid.uuid4().hex[:8]}", "timeout_s": timeout_s})

    def fresh_graph(self, name: str, timeout_s: float = 30.0) -> GraphSettings:
        """Return settings for an empty graph on this server: FalkorDB a new key ``name``,
        Neo4j its one database after deleting everything in it."""
        settings = self.settings(name, timeout_s)
        if self.backend == "neo4j":
            wipe_neo4j(settings)
        return settings

    def quiesce(self, timeout_s: float = 600.0) -> float:
        """Wait until the server does no background persistence work; return seconds."""
        started = time.perf_counter()
        if self.backend == "neo4j":
            wait_idle(self.proc.pid, timeout_s)
        else:
            _falkordb_wait_persistence(self.proc.port, timeout_s)
        return round(time.perf_counter() - started, 1)

    def stop(self) -> None:
        """Stop the server by pid unless it has exited (Neo4j gets 60 s to shut down)."""
        if self.proc.alive():
            self.proc.stop(60.0 if self.backend == "neo4j" else 10.0)


def start_graph(backend: str, data_dir: Path, *, heap_mb: int = 768,
                wait: bool = True) -> GraphServer:
    """Start a ``backend`` server with its state under ``data_dir``; ``wait=False`` returns
    right after the launch (call :meth:`GraphServer.wait`). Raises
    :class:`~lineage_pipeline.errors.StackError` when it does not come up."""
    if backend == "neo4j":
        from lineage_app.localstack.neo4j_server import (
            await_neo4j,
            ensure_password,
            start_neo4j,
        )

        password = ensure_password(data_dir)
        proc = start_neo4j(data_dir, password=password, heap_mb=heap_mb, wait=False)
        server = GraphServer(backend, proc, data_dir, password,
                             ready=lambda: await_neo4j(proc, password))
        if wait:
            server.wait()
        return server
    if backend == "falkordb":
        from lineage_app.localstack.processes import start_falkordb

        return GraphServer(backend, start_falkordb(data_dir), data_dir)
    raise ValueError(f"unknown graph backend {backend!r}")


def _neo4j_run(settings: GraphSettings, cypher: str) -> None:
    import neo4j

    password = settings.password.get_secret_value() if settings.password else ""
    with neo4j.GraphDatabase.driver(settings.url, auth=(settings.username or "neo4j", password),
                                    notifications_min_severity="OFF") as driver:
        with driver.session(database=settings.name) as session:
            session.run(cypher).consume()


def wipe_neo4j(settings: GraphSettings) -> None:
    """Delete every node and relationship of the Neo4j database ``settings`` names."""
    _neo4j_run(settings, "MATCH (n) CALL { WITH n DETACH DELETE n } "
                         "IN TRANSACTIONS OF 10000 ROWS")


def _falkordb_wait_persistence(port: int, timeout_s: float) -> None:
    """Wait until FalkorDB has no AOF rewrite or RDB save running (they fork and compete
    for the CPU)."""
    import redis

    started = time.perf_counter()
    client = redis.Redis(host="127.0.0.1", port=port)
    try:
        while time.perf_counter() - started < timeout_s:
            info = client.info("persistence")
            if not (info.get("aof_rewrite_in_progress") or info.get("aof_rewrite_scheduled")
                    or info.get("rdb_bgsave_in_progress")):
                return
            time.sleep(0.5)
    finally:
        client.close()


def wait_idle(pid: int, timeout_s: float = 120.0, busy: float = 0.05) -> bool:
    """Wait until process ``pid`` uses under ``busy`` CPU seconds in one second; return
    ``False`` if it is still busy after ``timeout_s`` seconds (or gone)."""
    try:
        proc = psutil.Process(pid)
        deadline = time.perf_counter() + timeout_s
        last = sum(proc.cpu_times()[:2])
        while time.perf_counter() < deadline:
            time.sleep(1.0)
            now = sum(proc.cpu_times()[:2])
            if now - last < busy:
                return True
            last = now
    except psutil.Error:
        pass
    return False


def rss_mb(pid: int) -> int | None:
    """Resident set size of ``pid`` in MiB (``None`` if it is gone)."""
    try:
        return round(psutil.Process(pid).memory_info().rss / 1024 / 1024)
    except psutil.Error:
        return None


class CpuMeter:
    """CPU seconds (user + system, plus reaped children) used by named pids between
    :meth:`start` and :meth:`read`.

    ``no_children``: names whose children are not counted (the benchmark's own process,
    whose children are the servers it starts and stops).
    """

    def __init__(self, pids: dict[str, int], no_children: Iterable[str] = ()) -> None:
        self.procs = {name: psutil.Process(pid) for name, pid in pids.items()}
        self.no_children = frozenset(no_children)
        self.base: dict[str, float] = {}

    def _now(self) -> dict[str, float]:
        out = {}
        for name, proc in self.procs.items():
            try:
                t = proc.cpu_times()
            except psutil.Error:
                continue
            out[name] = t.user + t.system
            if name not in self.no_children:
                out[name] += t.children_user + t.children_system
        return out

    def start(self) -> CpuMeter:
        """Take the baseline; return ``self``."""
        self.base = self._now()
        return self

    def read(self) -> dict[str, float]:
        """CPU seconds per name since :meth:`start` (rounded to 10 ms)."""
        now = self._now()
        return {name: round(now[name] - self.base.get(name, 0.0), 2) for name in now}


Row = tuple[str, str, Sequence[str], Sequence[str]]


def side_by_side(title: str, backends: Iterable[str], rows: Sequence[Row]) -> None:
    """Print ``rows`` of (figure, goal, values per backend, met marks per backend) as a rich
    table with one column per backend (plus a ``met`` column when there are goals)."""
    from rich.console import Console
    from rich.table import Table

    names = list(backends)
    has_goal = any(goal for _, goal, _, _ in rows)
    table = Table(title=title)
    table.add_column("figure")
    if has_goal:
        table.add_column("goal", justify="right")
    for name in names:
        table.add_column(TITLES.get(name, name), justify="right")
        if has_goal:
            table.add_column("met", justify="center")
    for figure, goal, values, marks in rows:
        cells: list[str] = [figure] + ([goal] if has_goal else [])
        for i, _ in enumerate(names):
            cells.append(values[i] if i < len(values) else "")
            if has_goal:
                cells.append(marks[i] if i < len(marks) else "")
        table.add_row(*cells)
    Console(width=max(100, 30 + 28 * len(names))).print(table)


def fmt(value: Any, unit: str = "", digits: int = 0) -> str:
    """Format a figure for a table cell: thousands separators, ``-`` for ``None``."""
    if value is None:
        return "-"
    if isinstance(value, float) and digits:
        text = f"{value:,.{digits}f}"
    elif isinstance(value, int | float):
        text = f"{round(value):,}" if not digits else f"{value:,.{digits}f}"
    else:
        text = str(value)
    return f"{text} {unit}".strip()


def mark(flag: bool | None) -> str:
    """``yes`` / ``NO`` for a goal, ``''`` when the figure has none."""
    return "" if flag is None else ("yes" if flag else "NO")
