"""The processor's Faust options come from LineageSettings: brokers, TLS/SASL, timeouts."""

from __future__ import annotations

from pathlib import Path

import faust
import pytest

from lineage_pipeline.errors import ConfigError
from lineage_pipeline.settings import load_settings
from stream_processor.app import build_app, faust_options


def test_brokers_partitions_and_timeouts() -> None:
    settings = load_settings(
        kafka={"bootstrap_servers": "h1:9092, h2:9093", "extra": {"session.timeout.ms": "6000"}},
        processor={"app_id": "proc-x"},
        data_dir="/tmp/lineage-x",
    )
    opts = faust_options(settings, partitions=6)
    assert opts["broker"] == ["kafka://h1:9092", "kafka://h2:9093"]
    assert opts["broker_credentials"] is None
    assert opts["topic_partitions"] == 6
    assert opts["broker_session_timeout"] == 6.0
    assert opts["broker_heartbeat_interval"] == 2.0
    assert opts["datadir"] == str(Path("/tmp/lineage-x/processor"))
    assert opts["consumer_auto_offset_reset"] == "earliest"


def test_sasl_ssl_credentials_pass_through() -> None:
    settings = load_settings(kafka={
        "security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_username": "lineage", "sasl_password": "s3cret",
    })
    creds = faust_options(settings, 1)["broker_credentials"]
    assert isinstance(creds, faust.SASLCredentials)
    assert (creds.username, creds.password) == ("lineage", "s3cret")
    assert creds.mechanism.value == "SCRAM-SHA-512"
    assert creds.ssl_context is not None
    assert "s3cret" not in repr(creds)


def test_ssl_with_an_unreadable_ca_is_a_config_error(tmp_path: Path) -> None:
    settings = load_settings(kafka={"security_protocol": "SSL",
                                    "ssl_ca_location": str(tmp_path / "missing.pem")})
    with pytest.raises(ConfigError, match="TLS"):
        faust_options(settings, 1)


def test_bad_timeout_is_a_config_error() -> None:
    settings = load_settings(kafka={"extra": {"session.timeout.ms": "soon"}})
    with pytest.raises(ConfigError, match=r"session\.timeout\.ms"):
        faust_options(settings, 1)


def test_app_builds_without_network_io() -> None:
    settings = load_settings(kafka={"bootstrap_servers": "127.0.0.1:1"},
                             processor={"app_id": "offline-build", "stale_after_s": 60})
    app = build_app(settings, partitions=2)
    assert app.conf.id == "offline-build"
    assert set(app.tables) == {"runs", "dataset-versions", "dataset-aliases"}
    from stream_processor.topics import changelog_topics

    configs = {t.topic: t.config for t in changelog_topics(app)}
    assert configs["offline-build-runs-changelog"] == {"cleanup.policy": "compact"}
