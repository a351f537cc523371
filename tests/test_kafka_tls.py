"""Kafka security on a real Apache Kafka broker: SASL_SSL, SCRAM-SHA-512 and ACLs.

The module starts its own broker (:func:`start_kafka` with :func:`sasl_ssl_properties`): one
``SASL_SSL`` listener whose certificate (made here with openssl, signed by a test CA, for
``localhost`` and ``127.0.0.1``) sits in a PKCS12 keystore; SCRAM-SHA-512 users ``admin``
(the super user, also used between brokers), ``emitter`` and ``pipeline`` (the processor
and the sink); the controller listener on loopback (SASL/PLAIN, admin only); the
``StandardAuthorizer``, so only what an ACL allows is allowed. The ACLs are created by the
admin with ``AdminClient.create_acls``: the emitter may WRITE and DESCRIBE the event topics
and nothing else; the pipeline may read the event topics, read and write its own topics and
use consumer groups named ``lineage-*``.

Every client is configured through ``KafkaSettings.client_config()`` (the emitter's producer
through the SDK's ``producer_config``, the sink through ``run_sink``, and each kind of client
through the project's factory :mod:`lineage_pipeline.kafka`): what users configure is what
is tested; the tests add only callbacks and timeouts.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    NewTopic,
    ResourcePatternType,
    ResourceType,
)

from emitters.config import EmitterConfig, EmitterSettings
from emitters.transports.kafka import producer_config
from graph_sink.service import SinkBatch, SinkHooks, run_sink
from graph_sink.testing import VersionSpec, counts, run_mutations
from lineage_app.localstack.kafka_server import sasl_ssl_properties, start_kafka
from lineage_app.localstack.processes import free_port, start_falkordb
from lineage_pipeline import kafka
from lineage_pipeline.codec import AvroCodec
from lineage_pipeline.graph import open_backend
from lineage_pipeline.settings import (
    GraphSettings,
    KafkaSettings,
    LineageSettings,
    SinkSettings,
    TopicSettings,
)

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")

TOPICS = TopicSettings()
EVENT_TOPICS = (TOPICS.events, TOPICS.openlineage)
OTHER_TOPICS = (TOPICS.graph, TOPICS.dlq, TOPICS.erasures)
USERS = ("admin", "emitter", "pipeline")


@dataclass
class SecureKafka:
    """The test's broker: its TLS port, CAs, users' passwords and data directory."""

    port: int
    ca: Path
    wrong_ca: Path
    passwords: dict[str, str]
    data_dir: Path
    falkordb_port: int

    def settings(self, user: str, **overrides: Any) -> KafkaSettings:
        """Client settings of ``user`` (``overrides`` replace any key)."""
        values: dict[str, Any] = {
            "bootstrap_servers": f"localhost:{self.port}", "security_protocol": "SASL_SSL",
            "ssl_ca_location": str(self.ca), "sasl_mechanism": "SCRAM-SHA-512",
            "sasl_username": user, "sasl_password": self.passwords[user], **overrides,
        }
        return KafkaSettings.model_validate(values)


def _openssl(d: Path, *args: str, env: dict[str, str] | None = None) -> None:
    subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True,
                   env={**os.environ, **(env or {})})


def _make_certificates(d: Path, keystore_password: str) -> None:
    """A CA, a second unrelated CA, and ``server.p12``: the server's key and certificate
    (signed by the CA, for localhost and 127.0.0.1) with the CA in its chain."""
    for ca in ("ca", "wrong-ca"):
        _openssl(d, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                 "-keyout", f"{ca}.key", "-out", f"{ca}.pem", "-subj", f"/CN=lineage {ca}")
    _openssl(d, "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key",
             "-out", "server.csr", "-subj", "/CN=localhost")
    (d / "san.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n", "utf-8")
    _openssl(d, "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-CAcreateserial", "-days", "2", "-out", "server.pem", "-extfile", "san.ext")
    _openssl(d, "pkcs12", "-export", "-in", "server.pem", "-inkey", "server.key",
             "-certfile", "ca.pem", "-out", "server.p12", "-passout", "env:KEYSTORE_PASSWORD",
             env={"KEYSTORE_PASSWORD": keystore_password})


def _acl(principal: str, resource: ResourceType, name: str, op: AclOperation,
         pattern: ResourcePatternType = ResourcePatternType.LITERAL) -> AclBinding:
    return AclBinding(resource, name, pattern, f"User:{principal}", "*", op,
                      AclPermissionType.ALLOW)


def _acls() -> list[AclBinding]:
    """Least privilege: the emitter writes events; the pipeline reads events, owns the rest."""
    topic, group = ResourceType.TOPIC, ResourceType.GROUP
    read, write, describe = AclOperation.READ, AclOperation.WRITE, AclOperation.DESCRIBE
    acls = [_acl("emitter", topic, t, op) for t in EVENT_TOPICS for op in (write, describe)]
    acls += [_acl("pipeline", topic, t, op) for t in EVENT_TOPICS for op in (read, describe)]
    acls += [_acl("pipeline", topic, t, op) for t in OTHER_TOPICS
             for op in (read, write, describe)]
    acls.append(_acl("pipeline", group, "lineage-", read, ResourcePatternType.PREFIXED))
    return acls


def _setup_topics_and_acls(admin: AdminClient) -> None:
    """Create the topics and ACLs as the admin; return once the broker enforces them."""
    for future in admin.create_topics(
            [NewTopic(t, 1, 1) for t in (*EVENT_TOPICS, *OTHER_TOPICS)]).values():
        future.result(timeout=30)
    wanted = _acls()
    for future in admin.create_acls(wanted).values():
        future.result(timeout=30)
    anything: Any = None  # matches any name, principal and host (the stubs say str)
    everything = AclBindingFilter(ResourceType.ANY, anything, ResourcePatternType.ANY, anything,
                                  anything, AclOperation.ANY, AclPermissionType.ANY)
    deadline = time.monotonic() + 30
    while len(admin.describe_acls(everything).result(timeout=10)) < len(wanted):
        assert time.monotonic() < deadline, "the broker does not show the ACLs"
        time.sleep(0.1)


@pytest.fixture(scope="module")
def secure_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureKafka]:
    d = tmp_path_factory.mktemp("kafka-security")
    keystore_password = uuid.uuid4().hex
    _make_certificates(d, keystore_password)
    passwords = {user: f"{user}-{uuid.uuid4().hex}" for user in USERS}
    port, controller_port = free_port(), free_port()
    props = sasl_ssl_properties(
        port, controller_port, keystore=d / "server.p12", keystore_password=keystore_password,
        truststore=d / "ca.pem", admin_user="admin", admin_password=passwords["admin"])
    broker = start_kafka(d / "stack", port, controller_port=controller_port, properties=props,
                         scram_users=passwords)
    falkordb = None
    try:
        falkordb = start_falkordb(d / "stack")
        kafka = SecureKafka(port, d / "ca.pem", d / "wrong-ca.pem", passwords, d / "stack",
                            falkordb.port)
        _setup_topics_and_acls(AdminClient(kafka.settings("admin").client_config()))
        yield kafka
    finally:
        if falkordb is not None:
            falkordb.stop()
        broker.stop(30)


# ------------------------------------------------------------------------------ helpers --


def _emitter_producer(kafka: SecureKafka, tmp_path: Path) -> Producer:
    """The producer the emitter SDK builds (idempotent, acks=all) for the emitter user."""
    config = EmitterConfig(EmitterSettings(), kafka.settings("emitter"), TOPICS.events,
                           tmp_path / "spool")
    return Producer({**producer_config(config), "message.timeout.ms": 20000})


def _deliver(producer: Producer, topic: str, value: bytes) -> KafkaError | None:
    """Produce one record and return its delivery error (``None``: acknowledged)."""
    results: list[KafkaError | None] = []
    producer.produce(topic, value, key=b"k", on_delivery=lambda err, _msg: results.append(err))
    assert producer.flush(30) == 0 and len(results) == 1, f"no delivery report for {topic}"
    return results[0]


def _first_message(consumer: Consumer, timeout_s: float = 30.0) -> Message:
    """The first message or error the consumer hands out."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is not None:
            return msg
    raise AssertionError("the consumer got nothing")


class _Lines(logging.Handler):
    """Keeps the text of every record (librdkafka's log lines, routed through ``logger``)."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def _refusal(settings: KafkaSettings, phrase: str, timeout_s: float = 20.0) -> list[str]:
    """Ask for metadata with ``settings``: it must fail. Return what the client reported
    (``NAME: text`` of each error callback, then its log lines) once one has ``phrase``."""
    errors: list[KafkaError] = []
    logger = logging.getLogger(f"tests.rdkafka.{uuid.uuid4().hex}")
    logger.propagate, handler = False, _Lines()
    logger.setLevel(logging.DEBUG)  # the disconnect lines are INFO
    logger.addHandler(handler)
    producer = Producer({**settings.client_config(), "error_cb": errors.append,
                         "logger": logger})

    def reports() -> list[str]:
        return [f"{e.name()}: {e.str()}" for e in errors] + handler.lines

    with pytest.raises(KafkaException, match="Failed to get metadata"):
        producer.list_topics(timeout=3)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not any(phrase in r for r in reports()):
        producer.poll(0.2)
    return reports()


# -------------------------------------------------------------------------------- tests --


def test_the_emitter_produces_the_event_topics(secure_kafka: SecureKafka, tmp_path: Path) -> None:
    producer = _emitter_producer(secure_kafka, tmp_path)
    for topic in EVENT_TOPICS:
        assert _deliver(producer, topic, b"an event") is None, topic


def test_the_emitter_sees_only_the_event_topics(secure_kafka: SecureKafka) -> None:
    admin = AdminClient(secure_kafka.settings("emitter").client_config())
    assert set(admin.list_topics(timeout=20).topics) == set(EVENT_TOPICS)


@pytest.mark.parametrize("topic", OTHER_TOPICS)
def test_the_emitter_may_not_write_other_topics(
    secure_kafka: SecureKafka, tmp_path: Path, topic: str
) -> None:
    err = _deliver(_emitter_producer(secure_kafka, tmp_path), topic, b"not allowed")
    assert err is not None and err.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, err
    assert "Topic authorization failed" in err.str()


@pytest.mark.parametrize("topic", EVENT_TOPICS)
def test_the_emitter_may_not_read_the_event_topics(secure_kafka: SecureKafka, topic: str) -> None:
    consumer = Consumer({**secure_kafka.settings("emitter").client_config(),
                         "group.id": "lineage-emitter-reads"})
    errors: list[KafkaError] = []
    try:
        consumer.assign([TopicPartition(topic, 0, 0)])
        # the group's coordinator lookup may be refused first (no group ACL either)
        while not any(e.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED for e in errors):
            err = _first_message(consumer).error()
            assert err is not None, f"the emitter read a record of {topic}"
            errors.append(err)
    finally:
        consumer.close()
    assert {e.code() for e in errors} <= {KafkaError.TOPIC_AUTHORIZATION_FAILED,
                                          KafkaError.GROUP_AUTHORIZATION_FAILED}, errors
    assert any("Fetch from broker 1 failed: Broker: Topic authorization failed" in e.str()
               for e in errors), errors


def test_the_emitter_may_not_join_groups_create_topics_or_grant_itself_acls(
    secure_kafka: SecureKafka,
) -> None:
    conf = secure_kafka.settings("emitter").client_config()
    consumer = Consumer({**conf, "group.id": "lineage-processor"})
    try:
        consumer.subscribe([TOPICS.events])
        err = _first_message(consumer).error()
    finally:
        consumer.close()
    assert err is not None and err.code() == KafkaError.GROUP_AUTHORIZATION_FAILED, err
    admin = AdminClient(conf)
    (created,) = admin.create_topics([NewTopic("lineage.emitter-made", 1, 1)]).values()
    with pytest.raises(KafkaException, match=r"(?i)authorization failed") as info:
        created.result(timeout=20)
    assert info.value.args[0].code() in (KafkaError.TOPIC_AUTHORIZATION_FAILED,
                                         KafkaError.CLUSTER_AUTHORIZATION_FAILED)
    grant = _acl("emitter", ResourceType.TOPIC, TOPICS.graph, AclOperation.WRITE)
    (granted,) = admin.create_acls([grant]).values()
    with pytest.raises(KafkaException) as refused:
        granted.result(timeout=20)
    assert refused.value.args[0].code() == KafkaError.CLUSTER_AUTHORIZATION_FAILED


def test_a_wrong_password_is_refused_with_an_authentication_error(
    secure_kafka: SecureKafka,
) -> None:
    reports = _refusal(secure_kafka.settings("emitter", sasl_password="not-the-one"),
                       "invalid credentials")
    assert any(r.startswith("_AUTHENTICATION: ") and "SASL authentication error: Authentication "
               "failed during authentication due to invalid credentials with SASL mechanism "
               "SCRAM-SHA-512" in r for r in reports), reports
    assert not any("not-the-one" in r for r in reports)


def test_a_server_certificate_from_another_ca_is_refused(secure_kafka: SecureKafka) -> None:
    reports = _refusal(
        secure_kafka.settings("emitter", ssl_ca_location=str(secure_kafka.wrong_ca)),
        "certificate verify failed")
    assert any(r.startswith("_SSL: ") and "SSL handshake failed" in r
               and "certificate verify failed" in r for r in reports), reports


@pytest.mark.parametrize("protocol", ["PLAINTEXT", "SASL_PLAINTEXT"])
def test_plaintext_to_the_tls_port_is_refused(secure_kafka: SecureKafka, protocol: str) -> None:
    """The broker closes a connection that does not start with a TLS handshake; librdkafka
    says so (its first request, ApiVersion, is answered by a disconnect) and never gets
    as far as authenticating."""
    reports = _refusal(secure_kafka.settings("emitter", security_protocol=protocol),
                       "APIVERSION_QUERY")
    assert any("Disconnected: connection closed by peer" in r and "APIVERSION_QUERY" in r
               for r in reports), reports
    assert not any("AUTH_REQ" in r or r.startswith("_AUTHENTICATION") for r in reports)


def test_the_pipeline_principal_runs_events_to_graph_on_the_secure_listener(
    secure_kafka: SecureKafka, tmp_path: Path
) -> None:
    """emitter -> lineage.events -> processor (pipeline user, group lineage-processor) ->
    lineage.graph -> the real graph sink (``run_sink``, pipeline user) -> FalkorDB."""
    marker = uuid.uuid4().hex.encode()
    assert _deliver(_emitter_producer(secure_kafka, tmp_path), TOPICS.events, marker) is None
    pipeline = secure_kafka.settings("pipeline")
    consumer = Consumer({**pipeline.client_config(), "group.id": "lineage-processor",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    try:
        consumer.subscribe([TOPICS.events])
        msg = _first_message(consumer)
        while msg.error() is None and msg.value() != marker:
            msg = _first_message(consumer)
        assert msg.error() is None, msg.error()
        consumer.commit(message=msg, asynchronous=False)
    finally:
        consumer.close()
    run_id = f"secure-{marker.decode()[:8]}"
    mutations = run_mutations(("secure", "job"), run_id, time_ms=1_000,
                              inputs=[VersionSpec("file", "/in.csv", "v1")],
                              outputs=[VersionSpec("file", "/out.csv", "v1")])
    producer = Producer({**pipeline.client_config(), "acks": "all"})
    value = AvroCodec("graph_mutations").encode(mutations.to_record())
    assert _deliver(producer, TOPICS.graph, value) is None

    graph = GraphSettings(url=f"redis://127.0.0.1:{secure_kafka.falkordb_port}",
                          name=f"secure_{marker.decode()[:8]}", timeout_s=5.0)
    settings = LineageSettings(
        data_dir=tmp_path, kafka=pipeline, graph=graph,
        sink=SinkSettings(batch_timeout_s=0.2, max_retries=0, metrics_port=0))
    committed, stop, failure = threading.Event(), threading.Event(), []

    def run() -> None:
        try:
            run_sink(settings, stop, hooks=SinkHooks(after_commit=on_commit))
        except BaseException as exc:  # handed to the test
            failure.append(exc)
            committed.set()

    def on_commit(_batch: SinkBatch) -> None:
        committed.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        assert committed.wait(60), "the sink committed nothing"
        assert not failure, failure
    finally:
        stop.set()
        thread.join(30)
    backend = open_backend(graph)
    try:
        assert counts(backend).get("Run") == 1
    finally:
        backend.close()


def test_no_password_reaches_the_broker_log(secure_kafka: SecureKafka) -> None:
    logs = [p for p in secure_kafka.data_dir.rglob("*.log") if p.is_file()]
    assert logs
    text = "\n".join(p.read_text("utf-8", errors="replace") for p in logs)
    for user, password in secure_kafka.passwords.items():
        assert password not in text, f"{user}'s password is in a log under the data dir"
    config = secure_kafka.data_dir / "kafka" / "server.properties"
    assert config.stat().st_mode & 0o077 == 0  # it holds the admin's JAAS password


def test_the_client_factory_builds_working_clients_and_logs_no_secret(
    secure_kafka: SecureKafka, caplog: pytest.LogCaptureFixture
) -> None:
    """A producer, a consumer and an admin client from :mod:`lineage_pipeline.kafka`, built
    from SASL_SSL settings alone, work on the secure listener; librdkafka's lines (at debug
    ``security,broker,conf``) reach each client's ``lineage.kafka.<name>`` logger, and
    neither they nor the factory's own lines hold the password."""
    settings = secure_kafka.settings("pipeline", extra={"debug": "security,broker,conf"})
    password = secure_kafka.passwords["pipeline"]
    tag = uuid.uuid4().hex[:8]
    names = {role: f"tests-factory-{role}-{tag}" for role in ("admin", "producer", "consumer")}
    caplog.set_level(logging.DEBUG)
    admin = kafka.admin(settings, names["admin"])
    assert TOPICS.graph in admin.list_topics(timeout=20).topics
    admin.poll(0)  # hands librdkafka's queued lines to the logger
    producer = kafka.producer(settings, names["producer"], overrides={"acks": "all"})
    marker = uuid.uuid4().hex.encode()
    delivered: list[Message] = []
    producer.produce(TOPICS.graph, marker, key=b"factory",
                     on_delivery=lambda err, msg: delivered.append(msg) if err is None else None)
    assert producer.flush(30) == 0 and len(delivered) == 1, "not acknowledged"
    consumer = kafka.consumer(settings, f"lineage-factory-{tag}", names["consumer"],
                              overrides={"enable.auto.commit": False})
    try:
        consumer.assign([TopicPartition(TOPICS.graph, delivered[0].partition() or 0,
                                        delivered[0].offset() or 0)])
        msg = _first_message(consumer)
        assert msg.error() is None and msg.value() == marker, msg.error()
    finally:
        consumer.close()
    by_logger = {name: [r.getMessage() for r in caplog.records
                        if r.name == f"{kafka.LOGGER_PREFIX}.{name}"] for name in names.values()}
    assert all(by_logger.values()), {n: len(lines) for n, lines in by_logger.items()}
    assert any("SASL" in line or "sasl" in line for line in by_logger[names["producer"]])
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "***" in text  # the factory's own line, with the password redacted
    for form in (password, password.encode().hex()):
        assert form not in text
