"""Emitter configuration: precedence (args > env > file > defaults), unknown keys rejected,
transports by name, and the composite transport's failure policies."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from emitters.client import LineageClient
from emitters.config import load_emitter_config
from emitters.transports import create_transport
from emitters.transports.composite import CompositeTransport
from emitters.transports.console import ConsoleTransport
from emitters.transports.kafka_producer import producer_config
from lineage_pipeline.errors import ConfigError
from tests.test_emitter_kafka import counter, sample_event


@pytest.fixture
def config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("LINEAGE_CONFIG", "LINEAGE_EMITTER__QUEUE_SIZE", "LINEAGE_EMITTER__TRANSPORT"):
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "lineage.yaml"
    path.write_text(
        "kafka: {bootstrap_servers: 'file-host:9092'}\n"
        "topics: {events: from.file}\n"
        "emitter:\n"
        "  transport: console\n"
        "  queue_size: 11\n"
        "  max_event_bytes: 2048\n"
        "  kafka_producer: {linger_ms: 7}\n"
    )
    return path


def test_precedence_is_arguments_then_environment_then_file_then_defaults(
    config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = load_emitter_config(config_file)
    assert (cfg.transport, cfg.emitter.queue_size, cfg.topic) == ("console", 11, "from.file")
    assert cfg.kafka.bootstrap_servers == "file-host:9092"
    assert cfg.emitter.kafka_producer.linger_ms == 7
    assert cfg.emitter.spool_max_bytes == 256 * 1024 * 1024, "default"

    monkeypatch.setenv("LINEAGE_EMITTER__QUEUE_SIZE", "22")
    monkeypatch.setenv("LINEAGE_KAFKA__BOOTSTRAP_SERVERS", "env-host:9092")
    cfg = load_emitter_config(config_file)
    assert (cfg.emitter.queue_size, cfg.kafka.bootstrap_servers) == (22, "env-host:9092")
    assert cfg.transport == "console", "keys the environment does not set come from the file"

    cfg = load_emitter_config(config_file, queue_size=33, bootstrap_servers="arg-host:1",
                              topic="from.arg")
    assert (cfg.emitter.queue_size, cfg.kafka.bootstrap_servers, cfg.topic) == (
        33, "arg-host:1", "from.arg")
    assert cfg.emitter.max_event_bytes == 2048


def test_unknown_keys_are_rejected_with_their_name(
    config_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ConfigError, match="queue_sise"):
        load_emitter_config(config_file, queue_sise=1)
    bad = tmp_path / "bad.yaml"
    bad.write_text("emitter: {transport: kafka, spool_dri: /tmp/x}\n")
    with pytest.raises(ConfigError, match=r"unknown configuration key 'emitter\.spool_dri'"):
        load_emitter_config(bad)
    with pytest.raises(ConfigError, match=r"emitter\.queue_size"):
        load_emitter_config(config_file, queue_size=0)
    with pytest.raises(ConfigError, match="unknown emitter transport 'carrier-pigeon'"):
        LineageClient.from_config(config_file, transport="carrier-pigeon")
    monkeypatch.setenv("LINEAGE_CONFIG", str(tmp_path / "missing.yaml"))
    with pytest.raises(ConfigError, match=r"missing\.yaml"):
        load_emitter_config()


def test_config_builds_named_transports_without_network_io(config_file: Path) -> None:
    cfg = load_emitter_config(config_file, transport="composite",
                              composite={"transports": ["kafka", "spool"], "policy": "any"})
    transport = create_transport(cfg)
    assert isinstance(transport, CompositeTransport)
    assert [t.kind for t in transport.transports] == ["kafka", "spool"]
    assert transport.policy == "any"
    assert not cfg.spool_dir.exists(), "nothing is touched before the first event"


def test_producer_keeps_order_with_one_request_in_flight() -> None:
    conf = producer_config(load_emitter_config(bootstrap_servers="broker:9092"))
    assert conf["acks"] == "all"
    assert conf["max.in.flight.requests.per.connection"] == 1, "order per key kept on retries"
    assert conf["enable.idempotence"] is False, "idempotent librdkafka spins while 5 in flight"
    again = producer_config(load_emitter_config(
        bootstrap_servers="broker:9092",
        kafka_producer={"properties": {"enable.idempotence": True}}))
    assert again["enable.idempotence"] is True, "properties win"


def _broken() -> ConsoleTransport:
    stream = io.StringIO()
    stream.close()
    return ConsoleTransport(stream)


@pytest.mark.parametrize(
    ("policy", "fails", "lines"),
    [("all", True, [1, 1]), ("any", False, [1, 1]), ("first_success", False, [1, 0])],
)
def test_composite_failure_policies(policy: str, fails: bool, lines: list[int]) -> None:
    good = [io.StringIO(), io.StringIO()]
    transport = CompositeTransport(
        [_broken(), ConsoleTransport(good[0]), ConsoleTransport(good[1])], policy
    )
    client = LineageClient(transport)
    before = counter("lineage_emitter_events_total", outcome="failed")
    client.emit(sample_event())
    assert client.flush(5.0) == 0
    assert (counter("lineage_emitter_events_total", outcome="failed") - before == 1) is fails
    assert [len(s.getvalue().splitlines()) for s in good] == lines
    client.close()
