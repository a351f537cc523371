"""A Neo4j Community server with Bolt on loopback and authentication on, from Maven jars.

Layout under ``<data_dir>/neo4j/``: ``conf/neo4j.conf`` (written at every start), ``data/``
(the databases and transaction logs), ``logs/``, ``password`` (mode 0600: the generated
password of the ``neo4j`` user, never printed) and, with TLS, ``certificates/bolt/``.
The server is ``org.neo4j.server.CommunityEntryPoint --home-dir --config-dir`` (the class the
``neo4j console`` script runs; Neo4j Operations Manual, "Configuration settings").

First start: the server comes up with the built-in ``neo4j``/``neo4j`` credentials marked
expired; :func:`start_neo4j` then connects once over Bolt and sets the generated password
with a parameterised ``ALTER CURRENT USER SET PASSWORD FROM $old TO $new`` (Cypher manual,
"Managing users"), so the secret never appears on a command line or in a log.
"""

from __future__ import annotations

import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from lineage_app.localstack.engines import NEO4J_VERSION, classpath, java_binary
from lineage_app.localstack.processes import (
    ManagedProcess,
    await_ready,
    free_port,
    launch,
    port_open,
)
from lineage_pipeline.errors import StackError

#: The single database of Neo4j Community (``graph.name`` must be this on Community).
DEFAULT_DATABASE = "neo4j"
_INITIAL_PASSWORD = "neo4j"
PASSWORD_FILE = "password"


@dataclass(frozen=True)
class BoltTls:
    """Encrypted Bolt: a PEM private key and certificate the server presents.

    With TLS the server accepts only encrypted Bolt (``server.bolt.tls_level=REQUIRED``);
    clients use ``bolt+s://`` (verifying against their CA) or ``bolt+ssc://``.
    """

    private_key: Path
    certificate: Path


def password_path(data_dir: Path) -> Path:
    """Return where the local stack keeps the ``neo4j`` user's password."""
    return data_dir / "neo4j" / PASSWORD_FILE


def ensure_password(data_dir: Path) -> str:
    """Return the stack's Neo4j password, generating it (mode 0600) on first use."""
    path = password_path(data_dir)
    if path.exists():
        return path.read_text("utf-8").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(24)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(value + "\n")
    return value


def _config(home: Path, bolt_port: int, heap_mb: int, tls: BoltTls | None) -> str:
    lines = {
        "server.directories.data": home / "data",
        "server.directories.logs": home / "logs",
        "server.directories.run": home / "run",
        "server.directories.plugins": home / "plugins",
        "server.directories.import": home / "import",
        "server.directories.lib": home / "lib",
        "server.default_listen_address": "127.0.0.1",
        "server.bolt.enabled": "true",
        "server.bolt.listen_address": f"127.0.0.1:{bolt_port}",
        "server.http.enabled": "false",
        "server.https.enabled": "false",
        "dbms.security.auth_enabled": "true",
        "server.memory.pagecache.size": f"{max(64, heap_mb // 2)}m",
        "db.tx_log.rotation.retention_policy": "2 files",
        "dbms.usage_report.enabled": "false",
        "server.logs.gc.enabled": "false",
    }
    text: dict[str, object] = dict(lines)
    if tls is not None:
        base = home / "certificates" / "bolt"
        text.update({
            "server.bolt.tls_level": "REQUIRED",
            "dbms.ssl.policy.bolt.enabled": "true",
            "dbms.ssl.policy.bolt.base_directory": base,
            "dbms.ssl.policy.bolt.private_key": tls.private_key,
            "dbms.ssl.policy.bolt.public_certificate": tls.certificate,
            "dbms.ssl.policy.bolt.client_auth": "NONE",
        })
        (base / "trusted").mkdir(parents=True, exist_ok=True)
        (base / "revoked").mkdir(parents=True, exist_ok=True)
    return "".join(f"{k}={v}\n" for k, v in text.items())


def start_neo4j(
    data_dir: Path,
    bolt_port: int | None = None,
    *,
    password: str | None = None,
    tls: BoltTls | None = None,
    heap_mb: int = 768,
    timeout_s: float = 120.0,
    wait: bool = True,
) -> ManagedProcess:
    """Start Neo4j Community with its state under ``data_dir/neo4j``.

    ``password``: the ``neo4j`` user's password (default: the stack's generated one, see
    :func:`ensure_password`). ``tls``: encrypted Bolt only. ``wait=False`` returns right after
    the launch; then call :func:`await_neo4j`. Raises :class:`StackError` when the jars are
    missing or the server does not accept the password within ``timeout_s`` seconds.
    """
    java, cp = java_binary(), classpath("neo4j", NEO4J_VERSION)
    bolt_port = bolt_port or free_port()
    home = data_dir / "neo4j"
    conf = home / "conf"
    conf.mkdir(parents=True, exist_ok=True)
    if password is None:
        password = ensure_password(data_dir)
    (conf / "neo4j.conf").write_text(_config(home, bolt_port, heap_mb, tls), "utf-8")
    argv = [
        java, f"-Xmx{heap_mb}m", f"-Xms{min(heap_mb, 256)}m", "-XX:+UseG1GC",
        "-XX:+ExitOnOutOfMemoryError", "-Djava.awt.headless=true",
        "-Dfile.encoding=UTF-8", "-cp", cp, "org.neo4j.server.CommunityEntryPoint",
        f"--home-dir={home}", f"--config-dir={conf}",
    ]
    proc = launch("neo4j", argv, bolt_port, data_dir / "logs" / "neo4j.log")
    if wait:
        await_neo4j(proc, password, tls is not None, timeout_s)
    return proc


def await_neo4j(proc: ManagedProcess, password: str, encrypted: bool = False,
                timeout_s: float = 120.0) -> None:
    """Wait until the server answers Bolt with ``password`` (setting it on first start)."""
    started = time.monotonic()
    await_ready(proc, lambda: port_open(proc.port), timeout_s)
    remaining = max(5.0, timeout_s - (time.monotonic() - started))
    await_ready(proc, lambda: _login(proc.port, password, encrypted), remaining)


def _login(port: int, password: str, encrypted: bool) -> bool:
    """Return ``True`` once ``neo4j``/``password`` can run a query; set it if still initial."""
    import neo4j
    from neo4j.exceptions import AuthError, Neo4jError, ServiceUnavailable

    url = f"{'bolt+ssc' if encrypted else 'bolt'}://127.0.0.1:{port}"
    try:
        with neo4j.GraphDatabase.driver(url, auth=("neo4j", password),
                                        connection_timeout=3.0) as driver:
            driver.execute_query("RETURN 1", database_=DEFAULT_DATABASE)
            return True
    except AuthError:
        pass
    except (ServiceUnavailable, Neo4jError, OSError):
        return False
    try:
        with neo4j.GraphDatabase.driver(url, auth=("neo4j", _INITIAL_PASSWORD),
                                        connection_timeout=3.0) as driver:
            driver.execute_query("ALTER CURRENT USER SET PASSWORD FROM $old TO $new",
                                 old=_INITIAL_PASSWORD, new=password, database_="system")
    except AuthError as exc:
        raise StackError(
            "Neo4j refuses both the stack's password and the initial one: the data directory "
            "was made with another password; restore its `neo4j/password` file, or remove "
            "`neo4j/data` to start with an empty graph"
        ) from exc
    except (ServiceUnavailable, Neo4jError, OSError):
        return False
    return False


__all__ = [
    "DEFAULT_DATABASE",
    "BoltTls",
    "await_neo4j",
    "ensure_password",
    "password_path",
    "start_neo4j",
]
