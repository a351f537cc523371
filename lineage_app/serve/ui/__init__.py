"""The lineage page of ``lineage serve``: static HTML, CSS and JavaScript in ``static/``
(served at ``/ui/`` by :mod:`lineage_app.serve.routes_ui`; nothing is loaded from the
network), and the deep links into it.

The page reads every answer from ``/api/v1/*`` with ``Authorization: Bearer TOKEN``; it takes
the token from the URL fragment (``#token=...`` or ``?token=...`` inside the fragment, which a
browser never sends to the server) or from its login field, and keeps it in
``sessionStorage``. Routes are fragments::

    /ui/#/node/<id>?dir=upstream&depth=10&asOf=<ms>&column=<column>
    /ui/#/run/<runId>
    /ui/#/freshness
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote, urlencode

#: The page's files (``index.html``, ``*.js``, ``*.css``).
STATIC_DIR = Path(__file__).resolve().parent / "static"


def _link(base: str, route: str, params: dict[str, str]) -> str:
    query = urlencode({k: v for k, v in params.items() if v}, quote_via=quote)
    return f"{base.rstrip('/')}/ui/#{route}" + (f"?{query}" if query else "")


def page_url(base: str, run_id: str, token: str | None = None) -> str:
    """The URL of the run page of ``run_id`` (its ranked root cause and its diff against the
    baseline run) on the server at ``base`` (``http://127.0.0.1:8080``). With ``token`` the
    link signs the page in (the token stays in the fragment, never sent to the server)."""
    return _link(base, f"/run/{quote(run_id, safe='')}", {"token": token or ""})


def node_url(base: str, node: str, *, direction: str = "upstream", depth: int | None = None,
             as_of: int | None = None, column: str | None = None, since: int | None = None,
             granularity: str | None = None, token: str | None = None) -> str:
    """The URL of the lineage graph of ``node`` (a NODE string: dataset, version, job or
    run) in ``direction`` (``depth`` hops, default 10), as of ``as_of`` (epoch ms), of one
    ``column``, in the window from ``since`` (epoch ms) and at ``granularity`` when
    given."""
    params = {"dir": direction, "depth": "" if depth is None else str(depth),
              "asOf": "" if as_of is None else str(as_of),
              "column": column or "", "since": "" if since is None else str(since),
              "granularity": granularity or "", "token": token or ""}
    return _link(base, f"/node/{quote(node, safe='')}", params)
