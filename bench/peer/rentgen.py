"""The peer: data-rentgen, installed into a venv of its own, with its DB and consumer.

Install (:func:`ensure_peer`): ``python -m venv .venv/peer`` (:data:`DEFAULT_VENV`, made by
the base interpreter of the project's venv; never committed: ``.venv/`` is ignored) and
``pip install "data-rentgen[server,consumer,postgres]==V"`` for the first of
:data:`PEER_VERSIONS` that installs and imports, with :data:`PEER_CONSTRAINTS`. The
``server`` extra is needed by the consumer too: it brings uvicorn (the consumer runs as
FastStream's ASGI app) and asgi-correlation-id (used by every bundled logging preset). A
venv that already holds one of those versions is reused.

Start (read from the installed package: its ``__main__`` modules and settings classes):
``python -m data_rentgen.db.migrations upgrade head``, then ``python -m
data_rentgen.db.scripts.create_partitions``, then ``python -m data_rentgen.consumer``,
configured only by its ``DATA_RENTGEN__*`` environment variables: the database URL, the
Kafka bootstrap servers, the topic, the group id, ``earliest`` offset reset; everything
else at its defaults. :class:`PgProbe` counts its rows over one connection
(:mod:`bench.peer.pg_probe`, run by the peer's interpreter).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from lineage_app.localstack.processes import ManagedProcess, await_ready, free_port, launch
from lineage_pipeline.errors import StackError

PEER_PACKAGE = "data-rentgen"
#: Versions tried in order: the one measured by hand (the newest for Python 3.11: 0.4.0 and
#: later require Python >= 3.12, which the project's venv is not), then the one before it.
PEER_VERSIONS: tuple[str, ...] = ("0.3.1", "0.3.0")
PEER_EXTRAS = "server,consumer,postgres"
#: sqlalchemy-utils 0.41 (data-rentgen 0.3's pin) fails to import on SQLAlchemy 2.1.
PEER_CONSTRAINTS: tuple[str, ...] = ("sqlalchemy>=2.0.35,<2.1",)
#: The peer's venv: inside the project's (``<sys.prefix>/peer``, i.e. ``.venv/peer``), beside
#: the engines.
DEFAULT_VENV = Path(sys.prefix) / "peer"


class PeerInstallError(RuntimeError):
    """data-rentgen could not be installed; the message names each version that failed."""


@dataclass(frozen=True)
class PeerInstall:
    """An installed peer: its interpreter and data-rentgen's version."""

    python: Path
    version: str


def _installed_version(python: Path) -> str | None:
    if not python.exists():
        return None
    done = subprocess.run(
        [str(python), "-c", "import data_rentgen, sqlalchemy_utils, uvicorn, asyncpg; "
                            "print(data_rentgen.__version__)"],
        capture_output=True, text=True, check=False)
    return done.stdout.strip() if done.returncode == 0 else None


def ensure_peer(venv: Path = DEFAULT_VENV) -> PeerInstall:
    """Return the peer in ``venv``, creating the venv and installing data-rentgen first
    when it holds none of :data:`PEER_VERSIONS`. Raises :class:`PeerInstallError`."""
    python = venv / "bin" / "python"
    found = _installed_version(python)
    if found in PEER_VERSIONS:
        return PeerInstall(python, found)
    if not python.exists():
        base = getattr(sys, "_base_executable", None) or sys.executable
        made = subprocess.run([base, "-m", "venv", str(venv)], capture_output=True,
                              text=True, check=False)
        if made.returncode != 0:
            raise PeerInstallError(f"python -m venv {venv} failed: {made.stderr.strip()}")
    failures = []
    for version in PEER_VERSIONS:
        spec = f"{PEER_PACKAGE}[{PEER_EXTRAS}]=={version}"
        print(f"installing {spec} into {venv}", flush=True)
        done = subprocess.run([str(python), "-m", "pip", "install", "--quiet", spec,
                               *PEER_CONSTRAINTS], capture_output=True, text=True, check=False)
        found = _installed_version(python)
        if done.returncode == 0 and found == version:
            return PeerInstall(python, version)
        errors = [ln for ln in done.stderr.splitlines() if ln.startswith("ERROR")]
        why = ("; ".join(errors) or done.stderr.strip()[-400:] if done.returncode
               else "installed but not importable")
        failures.append(f"{spec} (with {', '.join(PEER_CONSTRAINTS)}): {why}")
    raise PeerInstallError("could not install the peer:\n  " + "\n  ".join(failures))


def peer_env(pg_url: str, bootstrap: str, topic: str, group: str) -> dict[str, str]:
    """data-rentgen's settings for the bench (environment variables)."""
    return {
        "DATA_RENTGEN__DATABASE__URL": pg_url,
        "DATA_RENTGEN__KAFKA__BOOTSTRAP_SERVERS": json.dumps([bootstrap]),
        "DATA_RENTGEN__CONSUMER__TOPICS_LIST": json.dumps([topic]),
        "DATA_RENTGEN__CONSUMER__GROUP_ID": group,
        "DATA_RENTGEN__CONSUMER__AUTO_OFFSET_RESET": "earliest",
        "DATA_RENTGEN__PRODUCER__MALFORMED_TOPIC": f"{topic}__malformed",
        "PYTHONUNBUFFERED": "1",
    }


def _run_peer(peer: PeerInstall, args: list[str], env: dict[str, str], what: str) -> None:
    done = subprocess.run([str(peer.python), *args], env={**os.environ, **env},
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise StackError(f"data-rentgen {peer.version} {what} failed ({done.returncode}): "
                         f"{(done.stderr or done.stdout).strip()[-800:]}")


def prepare_db(peer: PeerInstall, env: dict[str, str], earliest_ms: int) -> None:
    """Run data-rentgen's migrations and create its monthly partitions from the month of
    ``earliest_ms`` (epoch ms: the oldest run in the workload) to the end of next month
    (the script's default end)."""
    _run_peer(peer, ["-m", "data_rentgen.db.migrations", "upgrade", "head"], env,
              "migrations")
    first = datetime.fromtimestamp(earliest_ms / 1000, UTC).date().replace(day=1)
    now = datetime.now(UTC).date()
    months = now.year * 12 + now.month + 1  # data-rentgen's default end: two months ahead
    end = date(months // 12, months % 12 + 1, 1)
    _run_peer(peer, ["-m", "data_rentgen.db.scripts.create_partitions", "--start",
                     first.isoformat(), "--end", end.isoformat(), "--granularity", "month"],
              env, "create_partitions")


def start_consumer(peer: PeerInstall, env: dict[str, str], log_dir: Path,
                   timeout_s: float = 90.0) -> ManagedProcess:
    """Start ``python -m data_rentgen.consumer`` (its ASGI health port on a free loopback
    port); return once it logs that it started. Raises :class:`StackError`."""
    port = free_port()
    proc = launch("data-rentgen", [str(peer.python), "-m", "data_rentgen.consumer",
                                   "--host", "127.0.0.1", "--port", str(port)],
                  port, log_dir / "data-rentgen.log", env)

    await_ready(proc, lambda: proc.logged(b"started successfully"), timeout_s)
    return proc


class PgProbe:
    """SQL over one connection, through :mod:`bench.peer.pg_probe` in the peer's venv."""

    def __init__(self, peer: PeerInstall, dsn: str) -> None:
        script = Path(__file__).with_name("pg_probe.py")
        self.proc = subprocess.Popen([str(peer.python), str(script), dsn],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def query(self, sql: str) -> list[list[Any]]:
        """Rows of ``sql`` (one line). Raises :class:`StackError` on an SQL error."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(sql.replace("\n", " ") + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise StackError(f"pg_probe exited ({self.proc.poll()})")
        out = json.loads(line)
        if isinstance(out, dict):
            raise StackError(f"pg_probe: {out['error']}")
        rows: list[list[Any]] = out
        return rows

    def scalar(self, sql: str) -> int:
        """The single integer ``sql`` returns."""
        return int(self.query(sql)[0][0])

    def close(self) -> None:
        """End the helper (closing its stdin ends it; killed after 10 s)."""
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


#: Rows per data-rentgen table after a run, for the report.
TABLES = ("run", "operation", "job", "dataset", "schema", "input", "output", "column_lineage",
          "dataset_column_relation")


def succeeded_runs(probe: PgProbe) -> int:
    """Runs in state SUCCEEDED (status 1: a COMPLETE event was stored)."""
    return probe.scalar("SELECT count(*) FROM run WHERE status = 1")


def table_rows(probe: PgProbe) -> dict[str, int]:
    """Row count of each of :data:`TABLES`."""
    return {t: probe.scalar(f"SELECT count(*) FROM {t}") for t in TABLES}  # noqa: S608
