"""Neo4j backend: schema DDL and session/transaction handling, with the real neo4j driver.

No Neo4j server runs here (it is exercised only in the docker-compose deployment). The driver
talks to a scripted Bolt 5.0 peer on loopback that records every message and answers as a
server would (Bolt spec: handshake, chunked PackStream messages HELLO, BEGIN, RUN, PULL,
COMMIT, RESET, GOODBYE; SUCCESS, RECORD, FAILURE, IGNORED).
"""

from __future__ import annotations

import re
import socket
import struct
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from pydantic import SecretStr

from graph_sink.backends import open_backend
from graph_sink.backends.base import Statement
from graph_sink.backends.neo4j import CONSTRAINT_DDL, Neo4jBackend
from graph_sink.statements import NODE_UPSERT
from graph_sink.writer import GraphWriter
from lineage_pipeline.errors import GraphError, GraphUnavailable
from lineage_pipeline.graph_model import GraphMutations, NodeLabel, NodeUpsert
from lineage_pipeline.localstack.processes import free_port
from lineage_pipeline.settings import GraphSettings

# -- a minimal PackStream v1 codec (Bolt spec, "PackStream") ---------------------------------------


@dataclass
class Struct:
    tag: int
    fields: list[Any]


def pack(v: Any) -> bytes:
    if v is None:
        return b"\xc0"
    if v is True:
        return b"\xc3"
    if v is False:
        return b"\xc2"
    if isinstance(v, int):
        if -16 <= v < 128:
            return struct.pack(">b", v)
        return b"\xcb" + struct.pack(">q", v)
    if isinstance(v, float):
        return b"\xc1" + struct.pack(">d", v)
    if isinstance(v, str):
        b = v.encode()
        head = bytes([0x80 | len(b)]) if len(b) < 16 else b"\xd2" + struct.pack(">I", len(b))
        return head + b
    if isinstance(v, list):
        head = bytes([0x90 | len(v)]) if len(v) < 16 else b"\xd6" + struct.pack(">I", len(v))
        return head + b"".join(pack(x) for x in v)
    if isinstance(v, dict):
        head = bytes([0xA0 | len(v)]) if len(v) < 16 else b"\xda" + struct.pack(">I", len(v))
        return head + b"".join(pack(k) + pack(x) for k, x in v.items())
    if isinstance(v, Struct):
        return bytes([0xB0 | len(v.fields), v.tag]) + b"".join(pack(x) for x in v.fields)
    raise TypeError(type(v))


def unpack(buf: bytes, i: int = 0) -> tuple[Any, int]:
    m = buf[i]
    i += 1
    hi = m & 0xF0
    if m < 0x80:
        return m, i
    if m >= 0xF0:
        return m - 0x100, i
    if hi in (0x80, 0x90, 0xA0, 0xB0):
        return _sized(buf, i, hi, m & 0x0F)
    if m == 0xC0:
        return None, i
    if m in (0xC2, 0xC3):
        return m == 0xC3, i
    if m == 0xC1:
        return struct.unpack(">d", buf[i:i + 8])[0], i + 8
    ints = {0xC8: ">b", 0xC9: ">h", 0xCA: ">i", 0xCB: ">q"}
    if m in ints:
        n = struct.calcsize(ints[m])
        return struct.unpack(ints[m], buf[i:i + n])[0], i + n
    sizes = {0xD0: (0x80, ">B"), 0xD1: (0x80, ">H"), 0xD2: (0x80, ">I"),
             0xD4: (0x90, ">B"), 0xD5: (0x90, ">H"), 0xD6: (0x90, ">I"),
             0xD8: (0xA0, ">B"), 0xD9: (0xA0, ">H"), 0xDA: (0xA0, ">I")}
    kind, fmt = sizes[m]
    n = struct.calcsize(fmt)
    return _sized(buf, i + n, kind, struct.unpack(fmt, buf[i:i + n])[0])


def _sized(buf: bytes, i: int, kind: int, size: int) -> tuple[Any, int]:
    if kind == 0x80:
        return buf[i:i + size].decode(), i + size
    if kind == 0xB0:
        tag, i = buf[i], i + 1
        fields = []
        for _ in range(size):
            v, i = unpack(buf, i)
            fields.append(v)
        return Struct(tag, fields), i
    items = []
    for _ in range(size * (2 if kind == 0xA0 else 1)):
        v, i = unpack(buf, i)
        items.append(v)
    if kind == 0xA0:
        return dict(zip(items[::2], items[1::2], strict=True)), i
    return items, i


# -- the scripted Bolt peer ------------------------------------------------------------------
NAMES = {0x01: "HELLO", 0x02: "GOODBYE", 0x0F: "RESET", 0x10: "RUN", 0x11: "BEGIN",
         0x12: "COMMIT", 0x13: "ROLLBACK", 0x2F: "DISCARD", 0x3F: "PULL"}
SUCCESS, RECORD, IGNORED, FAILURE = 0x70, 0x71, 0x7E, 0x7F

#: answer(cypher, params) -> (columns, rows) or a FAILURE (code, message)
Answer = Callable[[str, dict[str, Any]], "tuple[list[str], list[list[Any]]] | Failure"]


@dataclass
class Failure:
    code: str
    message: str


@dataclass
class BoltPeer:
    """Accepts Bolt connections on loopback; records (message name, fields) per message."""

    answer: Answer
    port: int = 0
    messages: list[tuple[str, list[Any]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def names(self) -> list[str]:
        return [n for n, _ in self.messages if n not in ("HELLO", "GOODBYE", "RESET")]

    def close(self) -> None:
        self._sock.close()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            if self._read(conn, 20)[:4] != b"\x60\x60\xb0\x17":
                return
            conn.sendall(b"\x00\x00\x00\x05")  # Bolt 5.0
            failed = False
            pending_rows: list[list[Any]] = []
            columns: list[str] = []
            while True:
                msg = self._message(conn)
                if msg is None:
                    return
                name = NAMES.get(msg.tag, hex(msg.tag))
                self.messages.append((name, msg.fields))
                if name == "GOODBYE":
                    return
                if name == "RESET":
                    failed = False
                    self._send(conn, SUCCESS, {})
                elif failed:
                    self._send(conn, IGNORED)
                elif name == "HELLO":
                    self._send(conn, SUCCESS, {"server": "Neo4j/5.26.0", "connection_id": "b-1"})
                elif name == "RUN":
                    result = self.answer(msg.fields[0], msg.fields[1])
                    if isinstance(result, Failure):
                        failed = True
                        self._send(conn, FAILURE, {"code": result.code, "message": result.message})
                    else:
                        columns, pending_rows = result
                        self._send(conn, SUCCESS, {"fields": columns, "t_first": 0, "qid": 0})
                elif name == "PULL":
                    for row in pending_rows:
                        self._send(conn, RECORD, row)
                    pending_rows = []
                    stats = {"nodes-created": 1, "properties-set": 2} if not columns else {}
                    self._send(conn, SUCCESS, {"has_more": False, "t_last": 0, "stats": stats})
                elif name == "COMMIT":
                    self._send(conn, SUCCESS, {"bookmark": "bm-1"})
                else:  # BEGIN, ROLLBACK, DISCARD
                    self._send(conn, SUCCESS, {})

    @staticmethod
    def _read(conn: socket.socket, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = conn.recv(n - len(data))
            if not chunk:
                raise ConnectionError
            data += chunk
        return data

    def _message(self, conn: socket.socket) -> Struct | None:
        body = b""
        try:
            while True:
                (size,) = struct.unpack(">H", self._read(conn, 2))
                if size == 0:
                    if body:
                        break
                    continue  # NOOP chunk
                body += self._read(conn, size)
        except (ConnectionError, OSError):
            return None
        value, _ = unpack(body)
        assert isinstance(value, Struct)
        return value

    @staticmethod
    def _send(conn: socket.socket, tag: int, *fields: Any) -> None:
        data = pack(Struct(tag, list(fields)))
        conn.sendall(struct.pack(">H", len(data)) + data + b"\x00\x00")


def ok(cypher: str, params: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    return [], []


@pytest.fixture
def peer() -> Iterator[BoltPeer]:
    p = BoltPeer(ok)
    yield p
    p.close()


def backend_for(port: int, timeout_s: float = 2.0) -> Neo4jBackend:
    settings = GraphSettings(backend="neo4j", url=f"bolt://127.0.0.1:{port}", name="lineage",
                             username="neo4j", password=SecretStr("s3cret"), timeout_s=timeout_s)
    backend = open_backend(settings)
    assert isinstance(backend, Neo4jBackend)
    return backend


# -- schema DDL -----------------------------------------------------------------------------
def test_constraint_ddl_is_one_idempotent_unique_constraint_per_label() -> None:
    assert set(CONSTRAINT_DDL) == set(NodeLabel)
    for label, ddl in CONSTRAINT_DDL.items():
        assert re.fullmatch(
            rf"CREATE CONSTRAINT lineage_[a-z_]+_uid IF NOT EXISTS "
            rf"FOR \(n:{label.value}\) REQUIRE n\.uid IS UNIQUE", ddl), ddl
    assert CONSTRAINT_DDL[NodeLabel.DATASET_VERSION].startswith(
        "CREATE CONSTRAINT lineage_dataset_version_uid ")


def test_ensure_schema_runs_each_constraint_auto_commit_in_the_database(peer: BoltPeer) -> None:
    backend = backend_for(peer.port)
    backend.ensure_schema()
    backend.close()
    runs = [(f[0], f[2]) for n, f in peer.messages if n == "RUN"]
    assert runs == [(ddl, {"db": "lineage"}) for ddl in CONSTRAINT_DDL.values()]
    assert "BEGIN" not in peer.names()


# -- connection settings --------------------------------------------------------------------------
def test_auth_comes_from_settings_and_the_secret_stays_out_of_repr(peer: BoltPeer) -> None:
    backend = backend_for(peer.port)
    assert "s3cret" not in repr(backend)
    backend.query("RETURN 1 AS one")
    backend.close()
    hello = next(f[0] for n, f in peer.messages if n == "HELLO")
    assert (hello["scheme"], hello["principal"], hello["credentials"]) == (
        "basic", "neo4j", "s3cret")
    assert hello["user_agent"] == "lineage-pipeline-graph-sink"


@pytest.mark.parametrize(("url", "encrypted"), [
    ("neo4j+s://graph.example.com:7687", True), ("bolt+s://graph.example.com", True),
    ("neo4j://graph.example.com:7687", False), ("bolt://127.0.0.1:7687", False),
])
def test_tls_follows_the_url_scheme(url: str, encrypted: bool) -> None:
    backend = open_backend(GraphSettings(backend="neo4j", url=url, username="u",
                                         password=SecretStr("p")))
    assert isinstance(backend, Neo4jBackend)
    assert backend.driver.encrypted is encrypted  # no connection made
    backend.close()


def test_a_redis_url_is_refused_for_neo4j() -> None:
    with pytest.raises(GraphError, match="not a Neo4j URL"):
        open_backend(GraphSettings(backend="neo4j", url="redis://127.0.0.1:6379"))


# -- managed transactions -------------------------------------------------------------------------
def test_write_batch_is_one_managed_write_transaction_of_the_shared_cypher(peer: BoltPeer) -> None:
    backend = backend_for(peer.port)
    m = GraphMutations("e", 5, 5, [
        NodeUpsert(NodeLabel.JOB, "ns:j", {"name": "j", "observed_at": 5}),
        NodeUpsert(NodeLabel.RUN, "r1", {"state": "START", "observed_at": 5}),
    ])
    result = GraphWriter(backend, batch_size=10).write([m])
    backend.close()
    assert peer.names() == ["BEGIN", "RUN", "PULL", "RUN", "PULL", "COMMIT"]
    begin = next(f[0] for n, f in peer.messages if n == "BEGIN")
    assert begin == {"db": "lineage"}  # no "mode": write
    runs = [f for n, f in peer.messages if n == "RUN"]
    assert [r[0] for r in runs] == [NODE_UPSERT[NodeLabel.JOB], NODE_UPSERT[NodeLabel.RUN]]
    assert runs[1][1] == {"rows": [{"uid": "r1", "first": 5, "last": 5, "props": {},
                                    "state": "START"}]}
    assert (result.summary.nodes_created, result.summary.properties_set) == (2, 4)
    assert (backend.stats.statements, backend.stats.round_trips) == (2, 3)


def test_query_is_a_read_transaction_returning_plain_dicts() -> None:
    def answer(cypher: str, params: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
        return ["uid", "props"], [[params["id"], {"a": [1, 2]}], ["x", None]]

    peer = BoltPeer(answer)
    backend = backend_for(peer.port)
    rows = backend.query("MATCH (n {uid: $id}) RETURN n.uid AS uid, properties(n) AS props",
                         {"id": "r1"})
    backend.close()
    peer.close()
    assert rows == [{"uid": "r1", "props": {"a": [1, 2]}}, {"uid": "x", "props": None}]
    assert next(f[0] for n, f in peer.messages if n == "BEGIN") == {"db": "lineage", "mode": "r"}
    assert peer.names()[-1] == "COMMIT"


def test_transient_errors_are_retried_by_the_driver_inside_execute_write() -> None:
    failures = [Failure("Neo.TransientError.Transaction.DeadlockDetected", "deadlock")]

    def answer(cypher: str, params: dict[str, Any]) -> Any:
        return failures.pop() if failures else ([], [])

    peer = BoltPeer(answer)
    backend = backend_for(peer.port)
    backend.write_batch([Statement("RETURN 1", {}, "one")])
    backend.close()
    peer.close()
    names = peer.names()
    assert names.count("BEGIN") == 2 and names[-1] == "COMMIT"


def test_client_errors_are_not_retried_and_not_retryable() -> None:
    def answer(cypher: str, params: dict[str, Any]) -> Failure:
        return Failure("Neo.ClientError.Statement.SyntaxError", "Invalid input 'X'")

    peer = BoltPeer(answer)
    backend = backend_for(peer.port)
    with pytest.raises(GraphError) as err:
        backend.write_batch([Statement("X", {}, "bad")])
    backend.close()
    peer.close()
    assert not err.value.is_retryable()
    assert "Neo.ClientError.Statement.SyntaxError" in str(err.value)
    assert peer.names().count("BEGIN") == 1


def test_an_unreachable_server_is_graph_unavailable() -> None:
    backend = backend_for(free_port(), timeout_s=0.3)
    with pytest.raises(GraphUnavailable) as err:
        backend.write_batch([Statement("RETURN 1", {}, "one")])
    backend.close()
    assert err.value.is_retryable()

