"""A single-node Apache Kafka broker in KRaft mode, its log on disk, started from Maven jars.

Layout under ``<data_dir>/kafka/``: ``server.properties`` (written at every start from the
ports and options given), ``log4j2.properties``, and ``data/`` (the log directories and the
KRaft metadata log, formatted once with ``kafka.tools.StorageTool format``). The broker is
``kafka.Kafka server.properties`` in combined mode (``process.roles=broker,controller``),
node id 1, a static one-voter quorum on ``controller_port`` (Kafka docs, "KRaft"). Topics and
consumer offsets survive a restart and a SIGKILL (the log is on disk; acknowledged writes are
in the page cache).

Secured listeners (SASL_SSL, SCRAM, ACLs) are given as extra ``properties`` plus the SCRAM
credentials to create at format time (``scram_users``); see :func:`start_kafka`.
:func:`sasl_ssl_properties` builds those properties for the usual secure shape: one
``SASL_SSL`` client listener (SCRAM-SHA-512, also used between brokers as an admin super
user), the controller listener on loopback authenticated with SASL/PLAIN, and the
``StandardAuthorizer`` denying whatever no ACL allows.
"""

from __future__ import annotations

import base64
import re
import subprocess
import uuid
from collections.abc import Mapping
from pathlib import Path

from lineage_app.localstack.engines import KAFKA_VERSION, classpath, java_binary
from lineage_app.localstack.processes import (
    ManagedProcess,
    await_ready,
    free_port,
    launch,
)
from lineage_pipeline.errors import StackError

#: The line the broker logs once it serves requests (logger kafka.server.KafkaRaftServer).
READY_LINE = b"Kafka Server started"

_LOG4J2 = """\
status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.stdout.ref = STDOUT
logger.raftserver.name = kafka.server.KafkaRaftServer
logger.raftserver.level = INFO
logger.state.name = state.change.logger
logger.state.level = ERROR
"""


def base_properties(
    log_dir: Path, port: int, controller_port: int, advertised: str | None = None
) -> dict[str, str]:
    """Return the broker configuration of a one-node KRaft cluster on loopback.

    ``advertised`` (``host:port``) is what clients are told to use, else ``127.0.0.1:port``.
    Internal topics get one replica; consumer-group joins start without delay.
    """
    return {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@127.0.0.1:{controller_port}",
        "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://{advertised or f'127.0.0.1:{port}'}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "log.dirs": str(log_dir),
        "num.partitions": "1",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "10",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        "auto.create.topics.enable": "true",
        # a message is at most ~1 MB (the producers' default), as in production
        "message.max.bytes": "1048588",
    }


_JAAS_SAFE = re.compile(r"[!#-\[\]-~]+")  # printable ASCII without space, '"' and '\\'


def _jaas_value(what: str, value: str) -> str:
    """Return ``value`` quoted for a JAAS option (it is written into server.properties)."""
    if not _JAAS_SAFE.fullmatch(value):
        raise ValueError(f"{what} must be printable ASCII without spaces, quotes or backslashes")
    return f'"{value}"'


def sasl_ssl_properties(
    port: int,
    controller_port: int,
    *,
    keystore: Path,
    keystore_password: str,
    truststore: Path,
    admin_user: str,
    admin_password: str,
    advertised_host: str = "localhost",
    keystore_type: str = "PKCS12",
) -> dict[str, str]:
    """Return broker properties (for :func:`start_kafka`) of a SASL_SSL-only, ACL-guarded node.

    - Clients: ``SASL_SSL://127.0.0.1:port`` advertised as ``advertised_host:port`` (the
      name the server certificate in ``keystore`` must carry), SCRAM-SHA-512 only; the
      SCRAM credentials live in the cluster metadata (create them with ``scram_users``).
    - Between brokers: the same listener, as ``admin_user`` with SCRAM-SHA-512 (also the
      one super user); ``truststore`` (a PEM CA bundle) verifies the brokers' certificates.
    - Controller: ``127.0.0.1:controller_port`` with SASL/PLAIN (KRaft controllers cannot
      read SCRAM credentials, which live in the metadata they serve); only ``admin_user``
      is accepted, so no unauthenticated principal needs to be a super user.
    - Authorization: ``StandardAuthorizer``; without an ACL allowing it, everything but the
      super user's requests is refused. Topics are not created on first use.

    ``keystore``: the server's private key and certificate chain, ``keystore_type`` PKCS12
    (or PEM). Passwords must be printable ASCII without spaces, quotes or backslashes.
    Raises :class:`ValueError` otherwise. The properties hold the passwords:
    :func:`start_kafka` writes them to a file only its owner may read.
    """
    admin = _jaas_value("admin_user", admin_user)
    secret = _jaas_value("admin_password", admin_password)
    _jaas_value("keystore_password", keystore_password)
    return {
        "listeners": f"SASL_SSL://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        "advertised.listeners": f"SASL_SSL://{advertised_host}:{port}",
        "listener.security.protocol.map": "CONTROLLER:SASL_PLAINTEXT,SASL_SSL:SASL_SSL",
        "inter.broker.listener.name": "SASL_SSL",
        **_sasl_properties(admin, secret, admin_user),
        "ssl.keystore.type": keystore_type,
        "ssl.keystore.location": str(keystore),
        "ssl.keystore.password": keystore_password,
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": str(truststore),
        "ssl.client.auth": "none",
        "ssl.endpoint.identification.algorithm": "https",
        "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "super.users": f"User:{admin_user}",
        "allow.everyone.if.no.acl.found": "false",
        "auto.create.topics.enable": "false",
    }


def _sasl_properties(admin: str, secret: str, admin_user: str) -> dict[str, str]:
    """SCRAM-SHA-512 on the SASL_SSL listener (also between brokers); SASL/PLAIN on the
    controller listener, accepting ``admin_user`` only (``admin``/``secret``: JAAS values)."""
    scram = "org.apache.kafka.common.security.scram.ScramLoginModule"
    plain = "org.apache.kafka.common.security.plain.PlainLoginModule"
    return {
        "sasl.mechanism.inter.broker.protocol": "SCRAM-SHA-512",
        "listener.name.sasl_ssl.sasl.enabled.mechanisms": "SCRAM-SHA-512",
        "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config":
            f"{scram} required username={admin} password={secret};",
        "sasl.mechanism.controller.protocol": "PLAIN",
        "listener.name.controller.sasl.enabled.mechanisms": "PLAIN",
        "listener.name.controller.plain.sasl.jaas.config":
            f"{plain} required username={admin} password={secret} "
            f"user_{admin_user}={secret};",
    }


def new_cluster_id() -> str:
    """Return a random Kafka cluster id: 16 random bytes, URL-safe base64, unpadded (22
    characters), never starting with ``-`` (the storage tool would read it as an option;
    Kafka's own ``org.apache.kafka.common.Uuid.randomUuid`` draws again in that case too)."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode("ascii").rstrip("=")
        if not text.startswith("-"):
            return text


def _write_properties(path: Path, props: Mapping[str, str]) -> None:
    path.write_text("".join(f"{k}={v}\n" for k, v in props.items()), "utf-8")
    path.chmod(0o600)  # may hold JAAS configuration with passwords


def _format_storage(
    java: str, cp: str, config: Path, log_dir: Path, scram_users: Mapping[str, str], log: Path
) -> None:
    """Format the log directory once (KRaft needs a cluster id and metadata before start)."""
    if (log_dir / "meta.properties").exists():
        return
    argv = [java, "-cp", cp, "kafka.tools.StorageTool", "format",
            "-t", new_cluster_id(), "-c", str(config), "--ignore-formatted"]
    for user, password in scram_users.items():
        argv += ["--add-scram", f"SCRAM-SHA-512=[name={user},password={password}]"]
    with open(log, "ab") as out:
        done = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, check=False,
                              timeout=120)
    if done.returncode != 0:
        raise StackError(f"formatting Kafka storage in {log_dir} failed; see {log}")


def start_kafka(
    data_dir: Path,
    port: int | None = None,
    *,
    controller_port: int | None = None,
    advertised: str | None = None,
    properties: Mapping[str, str] | None = None,
    scram_users: Mapping[str, str] | None = None,
    heap_mb: int = 512,
    timeout_s: float = 90.0,
    wait: bool = True,
) -> ManagedProcess:
    """Start Apache Kafka (KRaft, one node) with its log under ``data_dir/kafka``.

    ``port``: the PLAINTEXT client port on 127.0.0.1 (a free one by default); ``controller_port``
    likewise. ``properties`` are added to (and override) :func:`base_properties`, e.g. a
    ``SASL_SSL`` listener. ``scram_users`` (user -> password) are created as SCRAM-SHA-512
    credentials when the storage is first formatted. ``wait=False`` returns right after the
    launch (then call :func:`await_kafka`). Raises :class:`StackError` when the jars are
    missing, formatting fails, or the broker is not serving within ``timeout_s`` seconds.
    """
    java, cp = java_binary(), classpath("kafka", KAFKA_VERSION)
    port = port or free_port()
    controller_port = controller_port or free_port()
    home = data_dir / "kafka"
    log_dir = home / "data"
    home.mkdir(parents=True, exist_ok=True)
    props = {**base_properties(log_dir, port, controller_port, advertised), **(properties or {})}
    config = home / "server.properties"
    _write_properties(config, props)
    log4j = home / "log4j2.properties"
    log4j.write_text(_LOG4J2, "utf-8")
    log_path = data_dir / "logs" / "kafka.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    _format_storage(java, cp, config, log_dir, scram_users or {}, log_path)
    argv = [
        java, f"-Xmx{heap_mb}m", f"-Xms{min(heap_mb, 256)}m", "-XX:+UseG1GC",
        "-Djava.awt.headless=true", f"-Dlog4j2.configurationFile={log4j}",
        f"-Dkafka.logs.dir={home / 'logs'}", "-cp", cp, "kafka.Kafka", str(config),
    ]
    proc = launch("kafka", argv, port, log_path)  # readiness: what it logs past the format
    if wait:
        await_kafka(proc, timeout_s)
    return proc


def await_kafka(proc: ManagedProcess, timeout_s: float = 90.0) -> None:
    """Wait until the broker started by :func:`start_kafka` logs that it serves requests."""

    await_ready(proc, lambda: proc.logged(READY_LINE), timeout_s)


__all__ = [
    "READY_LINE",
    "await_kafka",
    "base_properties",
    "sasl_ssl_properties",
    "start_kafka",
]
