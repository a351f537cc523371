"""``lineage serve`` in the tests: the real app on a real uvicorn server on a free loopback
port (in a thread of the test process), and a small HTTP client (urllib)."""

from __future__ import annotations

import gzip
import json
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import uvicorn
from fastapi import FastAPI

from lineage_app.localstack.processes import free_port
from tests.support.waiting import wait_until


@contextmanager
def running(app: FastAPI, timeout_s: float = 60.0) -> Iterator[str]:
    """Serve ``app`` on a free loopback port; yield its base URL; stop the server after."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    if not wait_until(lambda: server.started or not thread.is_alive(), timeout_s, 0.02) \
            or not server.started:
        raise RuntimeError(f"the API server on port {port} did not start")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)


@dataclass
class Answer:
    """An HTTP answer: status, headers (lower-case names), body text and its JSON."""

    status: int
    headers: dict[str, str]
    text: str

    def json(self) -> Any:
        return json.loads(self.text)


def call(base: str, path: str, *, token: str | None = None,
         params: Mapping[str, Any] | None = None, method: str = "GET",
         body: Any = None, raw: bytes | None = None, gzipped: bool = False,
         headers: Mapping[str, str] | None = None, timeout_s: float = 120.0) -> Answer:
    """``method`` ``base + path`` with query ``params`` (lists repeat the key), a JSON
    ``body`` (or ``raw`` bytes) and a bearer ``token``; every status is answered, never
    raised."""
    url = base + path
    if params:
        url += "?" + urllib.parse.urlencode(
            [(k, x) for k, v in params.items() if v is not None
             for x in (v if isinstance(v, list) else [v])])
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    sent = {"Content-Type": "application/json", **(headers or {})}
    if gzipped and data is not None:
        data, sent["Content-Encoding"] = gzip.compress(data), "gzip"
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=data, method=method, headers=sent)
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as resp:
            return Answer(resp.status, {k.lower(): v for k, v in resp.headers.items()},
                          resp.read().decode())
    except urllib.error.HTTPError as err:
        return Answer(err.code, {k.lower(): v for k, v in err.headers.items()},
                      err.read().decode())
