"""Authentication, roles and limits of ``lineage serve`` (issue 19, point 3), on a real
server (uvicorn on loopback) over a real Neo4j graph holding a PII-tagged column:

- no endpoint but ``/healthz`` and ``/metrics`` answers without a valid token (401), every
  one listed in the OpenAPI document included;
- roles: ``writer`` only ingests, ``reader`` and ``privacy-officer`` only query, ``admin``
  all, the DLQ included (403 otherwise);
- statistics of PII-tagged fields are redacted by the token's role exactly as the CLI's
  ``$LINEAGE_ROLE`` / ``--role`` redacts them (:class:`lineage_queries.pii.PiiView`);
- tokens are stored as salted hashes (``lineage serve token add`` prints the token once),
  apply without a restart, and stop working when revoked;
- a body over ``serve.max_body_bytes`` (declared, chunked or gzip-inflated) is a 413; a
  token over its rate is a 429 with ``Retry-After``, other tokens unaffected.
"""

from __future__ import annotations

import http.client
import json
import os
import stat
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from graph_sink.writer import GraphWriter
from lineage_app.localstack.processes import free_port
from lineage_app.serve.app import create_app
from lineage_app.serve.auth import ADMIN, PRIVACY_OFFICER, READER, WRITER, TokenStore
from lineage_pipeline.codec import EventCodec
from lineage_pipeline.events import LineageEvent
from lineage_pipeline.graph import GraphBackend, open_backend
from lineage_pipeline.graph_record import GraphRecordCodec
from lineage_pipeline.pii import REDACTED, current_policy
from lineage_pipeline.settings import GraphSettings, LineageSettings, load_settings
from lineage_queries.pii import PiiView
from stream_processor.dlq import SourceMessage
from stream_processor.processor import EventProcessor
from stream_processor.state import MemoryRunStore, MemoryVersionStore
from tests.conftest import GraphFactory
from tests.serve_support import Answer, call, running

ROLES = (READER, WRITER, PRIVACY_OFFICER, ADMIN)
RAW = "crm:customers"


def _events() -> list[LineageEvent]:
    """A run reading nothing and writing ``crm:customers`` whose ``email`` is tagged
    ``pii.email`` (with statistics) and whose ``id`` is not."""
    base: dict[str, Any] = {"producer": "tests/serve", "run": {"runId": str(uuid.uuid4())},
                            "job": {"namespace": "crm", "name": "load"}}
    out = {"namespace": "crm", "name": "customers", "version": "1", "facets": {
        "schema": [{"name": "id", "type": "integer", "tags": []},
                   {"name": "email", "type": "string", "tags": ["pii.email"]}],
        "statistics": {"rowCount": 3, "columns": [
            {"name": "email", "nullCount": 0, "distinctCount": 3},
            {"name": "id", "nullCount": 0, "min": 1.0, "max": 3.0}]}}}
    return [LineageEvent.model_validate({**base, "eventType": "START", "eventTime": 1000}),
            LineageEvent.model_validate({**base, "eventType": "COMPLETE", "eventTime": 2000,
                                         "outputs": [out]})]


def _load(backend: GraphBackend) -> None:
    """The events through the processor's logic and the sink's writer."""
    proc = EventProcessor(graph_topic="graph", dlq_topic="dlq", runs=MemoryRunStore(),
                          versions=MemoryVersionStore())
    for offset, event in enumerate(_events()):
        proc.handle(SourceMessage("events", 0, offset, b"k", EventCodec().encode(event)))
    records = proc.drain()
    assert {r.topic for r in records} == {"graph"}
    backend.ensure_schema()
    GraphWriter(backend).write([GraphRecordCodec().decode(r.value) for r in records])


class Server:
    """A server over the tagged graph: URL, tokens by role, settings, the token store."""

    def __init__(self, url: str, tokens: dict[str, str], settings: LineageSettings,
                 store: TokenStore, backend: GraphBackend) -> None:
        self.url, self.tokens, self.settings = url, tokens, settings
        self.store, self.backend = store, backend

    def get(self, path: str, role: str, **params: Any) -> Answer:
        return call(self.url, path, token=self.tokens[role], params=params)


def _settings(root: Path, graph: GraphSettings, **serve: Any) -> LineageSettings:
    """Settings over ``graph``; no broker (the DLQ endpoint answers 503, never 403)."""
    return load_settings(data_dir=root, graph=graph.model_dump(),
                         kafka={"bootstrap_servers": f"127.0.0.1:{free_port()}"},
                         serve={"tokens_file": str(root / "tokens.json"), **serve})


@pytest.fixture(scope="module")
def server(graphs: GraphFactory, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    current_policy.cache_clear()  # the default policy: pii.* sensitive, privacy-officer sees
    root = tmp_path_factory.mktemp("serve-auth")
    with graphs.fresh("neo4j") as graph:
        backend = open_backend(graph)
        _load(backend)
        settings = _settings(root, graph, rate_limit_per_s=0)
        store = TokenStore(root / "tokens.json")
        tokens = {role: store.add(f"{role}-1", role) for role in ROLES}
        with running(create_app(settings)) as url:
            yield Server(url, tokens, settings, store, backend)
        backend.close()


def _operations(server: Server) -> list[tuple[str, str]]:
    doc = server.get("/openapi.json", READER).json()
    return [(method.upper(), path.replace("{record_id}", "0:1"))
            for path, item in doc["paths"].items() for method in item]


def test_every_endpoint_but_health_and_metrics_needs_a_token(server: Server) -> None:
    operations = [*_operations(server), ("GET", "/openapi.json")]
    assert len(operations) >= 15
    for method, path in operations:
        body: dict[str, Any] | None = {} if method == "POST" else None
        for token in (None, "lps_not-a-token", server.tokens[READER][:-1]):
            answer = call(server.url, path, method=method, token=token, body=body)
            if path in ("/healthz", "/metrics"):
                assert answer.status == 200, path
                continue
            assert answer.status == 401, (method, path, answer.text)
            assert answer.headers["www-authenticate"] == "Bearer"
            assert "API token" in answer.json()["detail"]


@pytest.mark.parametrize(("method", "path", "allowed"), [
    ("GET", "/api/v1/upstream", {READER, PRIVACY_OFFICER, ADMIN}),
    ("GET", "/api/v1/fields", {READER, PRIVACY_OFFICER, ADMIN}),
    ("POST", "/api/v1/lineage", {WRITER, ADMIN}),
    ("POST", "/api/v1/lineage/batch", {WRITER, ADMIN}),
    ("GET", "/api/v1/dlq/0:1", {ADMIN}),
])
def test_roles_decide_what_a_token_may_use(server: Server, method: str, path: str,
                                           allowed: set[str]) -> None:
    for role in ROLES:
        # an invalid event: 422, never produced
        body: dict[str, Any] | None = {"run": {}} if method == "POST" else None
        answer = call(server.url, path, method=method, token=server.tokens[role],
                      params={"node": RAW, "dataset": RAW}, body=body)
        if role in allowed:
            assert answer.status != 403, (role, path, answer.text)
        else:
            assert answer.status == 403, (role, path, answer.text)
            assert role in answer.json()["detail"]


def test_pii_statistics_are_redacted_by_role_as_the_cli_does(server: Server) -> None:
    view = PiiView(server.backend)
    for role in (READER, PRIVACY_OFFICER, ADMIN):
        fields = server.get("/api/v1/fields", role, dataset=RAW).json()
        assert fields == json.loads(json.dumps(view.fields(RAW, role)))
        email = next(f for f in fields if f["name"] == "email")
        shown = role in current_policy().roles_allowed
        assert (email["distinctCount"] == REDACTED) is not shown, role
        sub = server.get("/api/v1/downstream", role, node=RAW, column="email").json()
        column = next(n for n in sub["nodes"] if n["label"] == "Field")
        assert (column["distinctCount"] == REDACTED) is not shown, role
    reader_id = next(f for f in server.get("/api/v1/fields", READER, dataset=RAW).json()
                     if f["name"] == "id")
    assert reader_id["max"] == 3.0  # untagged statistics stay visible to every role


def _lineage_cli(settings: LineageSettings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LINEAGE_DATA_DIR": str(settings.data_dir),
           "LINEAGE_SERVE__TOKENS_FILE": str(settings.serve.tokens_file)}
    return subprocess.run([sys.executable, "-m", "lineage_app.cli.app", *args], env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def test_tokens_are_hashed_at_rest_apply_at_once_and_can_be_revoked(server: Server) -> None:
    made = _lineage_cli(server.settings, "serve", "token", "add", "ci-job", "--role", "reader")
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    assert token.startswith("lps_") and len(token) > 40
    path = server.settings.serve.tokens_file
    assert path is not None
    text = path.read_text("utf-8")
    assert all(t not in text for t in [token, *server.tokens.values()])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    entry = next(e for e in json.loads(text)["tokens"] if e["name"] == "ci-job")
    assert set(entry) == {"name", "role", "salt", "sha256", "created"}
    # the running server takes the new token without a restart
    assert call(server.url, "/api/v1/fields", token=token, params={"dataset": RAW}).status \
        == 200
    listed = _lineage_cli(server.settings, "serve", "token", "list", "--json")
    assert {"name": "ci-job", "role": "reader"}.items() <= next(
        e for e in json.loads(listed.stdout) if e["name"] == "ci-job").items()
    assert token not in listed.stdout
    revoked = _lineage_cli(server.settings, "serve", "token", "revoke", "ci-job")
    assert revoked.returncode == 0, revoked.stderr
    assert call(server.url, "/api/v1/fields", token=token, params={"dataset": RAW}).status \
        == 401
    refused = _lineage_cli(server.settings, "serve", "token", "add", "x", "--role", "root")
    assert refused.returncode == 2 and "unknown role" in refused.stderr


def _chunked_post(url: str, path: str, token: str, chunks: list[bytes]) -> int:
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    try:
        conn.request("POST", path, body=iter(chunks), encode_chunked=True,
                     headers={"Authorization": f"Bearer {token}",
                              "Content-Type": "application/json"})
        return conn.getresponse().status
    finally:
        conn.close()


def test_bodies_over_the_limit_are_413(graphs: GraphFactory, tmp_path: Path) -> None:
    with graphs.fresh("neo4j") as graph:
        settings = _settings(tmp_path, graph, max_body_bytes=2048)
        token = TokenStore(tmp_path / "tokens.json").add("w", WRITER)
        with running(create_app(settings)) as url:
            big = call(url, "/api/v1/lineage", token=token, method="POST",
                       raw=b"[" + b" " * 4096 + b"]")
            assert big.status == 413
            assert "2048" in big.json()["detail"]
            assert _chunked_post(url, "/api/v1/lineage/batch", token, [b"[" + b" " * 1500,
                                                                       b" " * 1500 + b"]"]
                                 ) == 413
            small = _chunked_post(url, "/api/v1/lineage/batch", token, [b"[", b"]"])
            assert small == 200  # an empty batch within the limit is taken
            bomb = call(url, "/api/v1/lineage/batch", token=token, method="POST",
                        raw=b"[" + b" " * 100_000 + b"]", gzipped=True)
            assert bomb.status == 413  # small on the wire, over the limit inflated


def test_a_token_over_its_rate_is_429_and_others_are_not(graphs: GraphFactory, tmp_path: Path
                                                         ) -> None:
    with graphs.fresh("neo4j") as graph:
        settings = _settings(tmp_path, graph, rate_limit_per_s=0.01, rate_limit_burst=3)
        store = TokenStore(tmp_path / "tokens.json")
        first, second = store.add("a", READER), store.add("b", READER)
        with running(create_app(settings)) as url:
            params = {"node": "crm:nothing"}
            statuses = [call(url, "/api/v1/upstream", token=first, params=params).status
                        for _ in range(4)]
            assert statuses[:3] == [404, 404, 404]  # allowed (an unknown node)
            limited = call(url, "/api/v1/upstream", token=first, params=params)
            assert (statuses[3], limited.status) == (429, 429)
            assert int(limited.headers["retry-after"]) >= 1
            assert call(url, "/api/v1/upstream", token=second, params=params).status == 404
            assert call(url, "/healthz").status == 200
