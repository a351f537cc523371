"""Neo4j with authentication and encrypted Bolt only, reached through the graph backend.

The module starts its own Neo4j Community server (:func:`start_neo4j` with
:class:`BoltTls`): a certificate made here with openssl for ``localhost`` and ``127.0.0.1``,
signed by a test CA; ``server.bolt.tls_level=REQUIRED``. The backend is opened the way users
configure it: ``GraphSettings(backend="neo4j", url="bolt+s://...", ca_location=<CA>)``
through :func:`open_backend`. A wrong password, an untrusted certificate and plaintext Bolt
are each refused with a message that says what is wrong, and no password appears in those
messages or in any log the server writes under its data directory.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
import traceback
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from lineage_app.localstack.neo4j_server import BoltTls, start_neo4j
from lineage_pipeline.errors import ConfigError, GraphError, GraphUnavailable
from lineage_pipeline.graph import open_backend
from lineage_pipeline.graph.base import Statement
from lineage_pipeline.settings import GraphSettings, load_settings

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")

WRONG_PASSWORD = f"wrong-{uuid.uuid4().hex}"


@dataclass
class SecureNeo4j:
    """The test's server: its Bolt port, CAs, password and data directory."""

    port: int
    ca: Path
    wrong_ca: Path
    password: str
    data_dir: Path

    def settings(self, **overrides: Any) -> GraphSettings:
        """Graph settings for this server (``overrides`` replace any key)."""
        values: dict[str, Any] = {
            "backend": "neo4j",
            "url": f"bolt+s://127.0.0.1:{self.port}",
            "username": "neo4j",
            "password": self.password,
            "ca_location": self.ca,
            "timeout_s": 3.0,  # also the driver's retry time: refusals come back quickly
            **overrides,
        }
        return GraphSettings.model_validate(values)


def _openssl(d: Path, *args: str) -> None:
    subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)


def _make_certificates(d: Path) -> None:
    """``ca.pem``, an unrelated ``wrong-ca.pem``, and ``server.key``/``server.pem`` (signed by
    the CA, for localhost and 127.0.0.1)."""
    for ca in ("ca", "wrong-ca"):
        _openssl(d, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                 "-keyout", f"{ca}.key", "-out", f"{ca}.pem", "-subj", f"/CN=lineage {ca}")
    _openssl(d, "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key",
             "-out", "server.csr", "-subj", "/CN=localhost")
    (d / "san.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n", "utf-8")
    _openssl(d, "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-CAcreateserial", "-days", "2", "-out", "server.pem", "-extfile", "san.ext")


@pytest.fixture(scope="module")
def secure_neo4j(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureNeo4j]:
    d = tmp_path_factory.mktemp("neo4j-security")
    _make_certificates(d)
    password = secrets.token_urlsafe(18)
    data_dir = d / "stack"
    proc = start_neo4j(data_dir, password=password, heap_mb=512,
                       tls=BoltTls(private_key=d / "server.key", certificate=d / "server.pem"))
    try:
        yield SecureNeo4j(proc.port, d / "ca.pem", d / "wrong-ca.pem", password, data_dir)
    finally:
        proc.stop(30)


def _text(exc: BaseException) -> str:
    """Everything an operator could see of ``exc``: message, chain and traceback."""
    return "".join(traceback.format_exception(exc))


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
@pytest.mark.parametrize("scheme", ["bolt+s", "neo4j+s"])
def test_the_backend_works_over_tls_when_the_ca_is_trusted(
    secure_neo4j: SecureNeo4j, scheme: str, host: str
) -> None:
    backend = open_backend(secure_neo4j.settings(url=f"{scheme}://{host}:{secure_neo4j.port}"))
    uid = f"secure:{uuid.uuid4().hex}"
    try:
        backend.ensure_schema()
        backend.write_batch([Statement("MERGE (j:Job {uid: $uid})", {"uid": uid})])
        rows = backend.query("MATCH (j:Job {uid: $uid}) RETURN j.uid AS uid", {"uid": uid})
        assert rows == [{"uid": uid}]
    finally:
        backend.close()


def test_the_ca_is_configured_like_any_graph_setting(
    secure_neo4j: SecureNeo4j, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LINEAGE_GRAPH__URL", f"bolt+s://localhost:{secure_neo4j.port}")
    monkeypatch.setenv("LINEAGE_GRAPH__PASSWORD", secure_neo4j.password)
    monkeypatch.setenv("LINEAGE_GRAPH__CA_LOCATION", str(secure_neo4j.ca))
    settings = load_settings()
    assert settings.graph.ca_location == secure_neo4j.ca
    backend = open_backend(settings.graph)
    try:
        assert backend.query("RETURN 1 AS one") == [{"one": 1}]
    finally:
        backend.close()


@pytest.mark.parametrize("url", ["bolt://127.0.0.1:7687", "bolt+ssc://127.0.0.1:7687",
                                 "redis://127.0.0.1:6379"])
def test_a_ca_needs_an_encrypted_verified_neo4j_url(
    secure_neo4j: SecureNeo4j, url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"graph.ca_location is for an encrypted Neo4j URL "
                                          r"with a verified certificate: use bolt\+s://"):
        load_settings(graph={"url": url, "ca_location": str(secure_neo4j.ca)})
    with pytest.raises(ConfigError, match=r"graph.ca_location .* is not a file"):
        load_settings(graph={"url": "bolt+s://127.0.0.1:7687",
                             "ca_location": str(tmp_path / "missing.pem")})


def test_a_wrong_password_is_a_graph_error_naming_the_refusal(secure_neo4j: SecureNeo4j) -> None:
    backend = open_backend(secure_neo4j.settings(password=WRONG_PASSWORD))
    try:
        with pytest.raises(GraphError) as info:
            backend.query("RETURN 1")
    finally:
        backend.close()
    assert not isinstance(info.value, GraphUnavailable) and not info.value.is_retryable()
    assert str(info.value).startswith("Neo4j refused the credentials (query): ")
    assert "unauthorized due to authentication failure" in str(info.value)
    text = _text(info.value)
    assert WRONG_PASSWORD not in text and secure_neo4j.password not in text


@pytest.mark.parametrize("trust", ["wrong-ca", "system-cas"])
def test_a_certificate_the_client_does_not_trust_is_refused(
    secure_neo4j: SecureNeo4j, trust: str
) -> None:
    ca = secure_neo4j.wrong_ca if trust == "wrong-ca" else None
    backend = open_backend(secure_neo4j.settings(ca_location=ca))
    try:
        with pytest.raises(GraphError) as info:
            backend.query("RETURN 1")
    finally:
        backend.close()
    message = str(info.value)
    assert not info.value.is_retryable(), message  # retrying cannot make it trusted
    assert message.startswith("Neo4j's TLS certificate is not trusted (query): "), message
    assert "unable to get local issuer certificate" in message
    assert "graph.ca_location" in message
    assert secure_neo4j.password not in _text(info.value)


def test_plaintext_bolt_to_the_tls_port_is_refused(secure_neo4j: SecureNeo4j) -> None:
    backend = open_backend(secure_neo4j.settings(url=f"bolt://127.0.0.1:{secure_neo4j.port}",
                                                 ca_location=None))
    try:
        with pytest.raises(GraphUnavailable) as info:
            backend.query("RETURN 1")
    finally:
        backend.close()
    message = str(info.value)
    assert "closed with incomplete handshake response" in message, message
    assert "if it requires TLS, use bolt+s:// or neo4j+s://" in message
    assert secure_neo4j.password not in _text(info.value)


def test_no_password_in_any_log_or_config_under_the_data_dir(secure_neo4j: SecureNeo4j) -> None:
    """Runs last, after the refusals above."""
    logs = [p for p in secure_neo4j.data_dir.rglob("*") if p.is_file()
            and (p.suffix == ".log" or "logs" in p.parts or p.suffix == ".conf")]
    names = {p.name for p in logs}
    assert {"neo4j.log", "debug.log", "neo4j.conf"} <= names, names
    for path in logs:
        text = path.read_text("utf-8", errors="replace")
        assert secure_neo4j.password not in text, f"the password is in {path}"
        assert WRONG_PASSWORD not in text, f"the wrong password is in {path}"
