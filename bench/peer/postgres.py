"""A private PostgreSQL cluster from Debian's packages, for the peer benchmark.

:func:`postgres_bindir` finds the newest ``/usr/lib/postgresql/<major>/bin`` and installs
Debian's ``postgresql`` package with apt-get when there is none (as ``make sysdeps`` does for
other packages; Debian's package also creates its own ``main`` cluster, which nothing here
starts). :func:`start_postgres` makes a new cluster with ``initdb`` in a directory of its own
(as the ``postgres`` user when the benchmark runs as root: ``initdb`` refuses root) and starts
``postgres`` on a free loopback port with Debian's default settings, the socket in that
directory; :meth:`PostgresServer.stop` stops it by pid (SIGINT: PostgreSQL's fast shutdown,
which ends the backends too; SIGQUIT after a timeout).
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from lineage_app.localstack.processes import ManagedProcess, await_ready, free_port
from lineage_pipeline.errors import StackError

#: Where Debian installs the server binaries, one directory per major version.
DEBIAN_ROOT = Path("/usr/lib/postgresql")
#: The database data-rentgen gets.
DATABASE = "data_rentgen"


def _bindirs() -> list[Path]:
    found = [p.parent for p in DEBIAN_ROOT.glob("*/bin/postgres")]
    return sorted(found, key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0)


def postgres_bindir(install: bool = True) -> Path:
    """The ``bin`` directory of the newest Debian PostgreSQL, installing the ``postgresql``
    package with apt-get first when none is there (and ``install``). Raises
    :class:`StackError` when there is none and the install fails."""
    if not _bindirs() and install:
        print("installing Debian package postgresql (apt-get)", flush=True)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for argv in (["apt-get", "update", "-qq"],
                     ["apt-get", "install", "-y", "-qq", "postgresql"]):
            done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise StackError(f"{' '.join(argv)} failed ({done.returncode}): "
                                 f"{done.stderr.strip()[-800:]}")
    dirs = _bindirs()
    if not dirs:
        raise StackError(f"no PostgreSQL server under {DEBIAN_ROOT}/*/bin (Debian package "
                         "postgresql)")
    return dirs[-1]


def _run_as() -> str | None:
    """The user the server runs as: ``postgres`` when we are root, else ourselves."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError as exc:
        raise StackError("running as root and there is no 'postgres' user for initdb") from exc
    return "postgres"


@dataclass
class PostgresServer:
    """A running private cluster: its postmaster process, binaries and socket directory."""

    proc: ManagedProcess
    bindir: Path
    home: Path
    user: str | None

    @property
    def port(self) -> int:
        """The TCP port on 127.0.0.1."""
        return self.proc.port

    def url(self, driver: str = "postgresql+asyncpg") -> str:
        """The SQLAlchemy URL of :data:`DATABASE` (user ``postgres``, trust authentication)."""
        return f"{driver}://postgres@127.0.0.1:{self.port}/{DATABASE}"

    def ready(self) -> bool:
        """``True`` when the server accepts connections (``pg_isready``)."""
        done = subprocess.run([str(self.bindir / "pg_isready"), "-q", "-h", "127.0.0.1",
                               "-p", str(self.port)], check=False)
        return done.returncode == 0

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop the postmaster by pid: fast shutdown (SIGINT), immediate (SIGQUIT) after
        ``timeout_s`` seconds, SIGKILL as the last resort."""
        popen = self.proc.popen
        for sig, wait_s in ((signal.SIGINT, timeout_s), (signal.SIGQUIT, 10.0),
                            (signal.SIGKILL, 10.0)):
            if not self.proc.alive():
                return
            try:
                os.kill(self.proc.pid, sig)
            except ProcessLookupError:
                return
            deadline = time.monotonic() + wait_s
            while time.monotonic() < deadline and self.proc.alive():
                time.sleep(0.05)
        if popen is not None and popen.poll() is None:
            popen.wait(timeout=10)


def _initdb(bindir: Path, data: Path, user: str | None) -> None:
    done = subprocess.run(
        [str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust",
         "-E", "UTF8", "--no-sync"], user=user, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise StackError(f"initdb failed ({done.returncode}): {done.stderr.strip()[-800:]}")


def start_postgres(home: Path, bindir: Path | None = None,
                   timeout_s: float = 60.0) -> PostgresServer:
    """Create a cluster in ``home/data`` and start it on a free port of 127.0.0.1, then
    create :data:`DATABASE`. Raises :class:`StackError` when it does not come up."""
    bindir = bindir or postgres_bindir()
    user = _run_as()
    home.mkdir(parents=True, exist_ok=True)
    if user is not None:
        shutil.chown(home, user, user)
    _initdb(bindir, home / "data", user)
    port = free_port()
    log_path = home / "postgres.log"
    with open(log_path, "ab") as log:
        popen = subprocess.Popen(
            [str(bindir / "postgres"), "-D", str(home / "data"), "-p", str(port),
             "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={home}"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, user=user)
    server = PostgresServer(ManagedProcess("postgres", popen.pid, port, log_path, popen),
                            bindir, home, user)
    try:
        await_ready(server.proc, server.ready, timeout_s)
        done = subprocess.run([str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port),
                               "-U", "postgres", DATABASE],
                              capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise StackError(f"createdb failed: {done.stderr.strip()[-400:]}")
    except BaseException:
        server.stop()
        raise
    return server
