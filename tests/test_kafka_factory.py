"""The Kafka client factory's configuration (no broker; the clients against a real SASL_SSL
broker are in tests/test_kafka_tls.py)."""

from __future__ import annotations

import logging

import pytest

from lineage_pipeline import kafka
from lineage_pipeline.errors import ConfigError
from lineage_pipeline.settings import KafkaSettings

SECURE = KafkaSettings.model_validate({
    "bootstrap_servers": "localhost:1", "security_protocol": "SASL_SSL",
    "sasl_mechanism": "SCRAM-SHA-512", "sasl_username": "u", "sasl_password": "s3cret-pw",
    "ssl_key_password": "key-pw", "extra": {"session.timeout.ms": "6000", "linger.ms": "7"},
})


def test_order_of_the_parts_and_consumer_only_properties() -> None:
    conf = kafka.client_config(SECURE, "role", defaults={"linger.ms": 1, "acks": "1"},
                               overrides={"acks": "all"})
    assert conf["linger.ms"] == "7" and conf["acks"] == "all"  # extra > defaults < overrides
    assert "session.timeout.ms" not in conf  # consumer-only: left out of a producer's
    assert conf["client.id"] == "role" and conf["sasl.password"] == "s3cret-pw"
    assert conf["logger"].name == "lineage.kafka.role"
    consumer = kafka.client_config(SECURE, "c", consumer=True)
    assert consumer["session.timeout.ms"] == "6000"


def test_secrets_are_redacted_in_the_factory_log(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="lineage_pipeline.kafka")
    kafka.producer(SECURE, "redaction").flush(0)
    kafka.consumer(SECURE, "g", "redaction-c").close()
    kafka.admin(SECURE, "redaction-a")
    text = caplog.text
    assert text.count("'sasl.password': '***'") == 3 and "'ssl.key.password': '***'" in text
    assert "s3cret-pw" not in text and "key-pw" not in text


def test_refused_configuration_names_the_client() -> None:
    with pytest.raises(ConfigError, match="'bad'"):
        kafka.producer(KafkaSettings(extra={"no.such.property": "1"}), "bad")
    assert kafka.ssl_context(KafkaSettings()) is None
    with pytest.raises(ConfigError, match="TLS settings unusable"):
        kafka.ssl_context(KafkaSettings(security_protocol="SSL", ssl_ca_location="/nonexistent"))
