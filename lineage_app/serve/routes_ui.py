"""The lineage page: ``GET /ui/`` and its static files (:mod:`lineage_app.serve.ui`).

The files hold no data, so they are served without a token; the page then calls the
``/api/v1/*`` endpoints with the token the user gives it. Only the files shipped in
``lineage_app/serve/ui/static`` are served (by name, no paths), with a Content-Security-Policy
that lets the page load and call nothing but this server.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse, RedirectResponse, Response

from lineage_app.serve.ui import STATIC_DIR

router = APIRouter(include_in_schema=False)

#: What the page may load and call: this server only.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
          ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}
#: name -> path of every file the page consists of.
FILES = {p.name: p for p in STATIC_DIR.iterdir() if p.is_file() and p.suffix in _TYPES}


def _file(name: str) -> Response:
    path = FILES.get(name)
    if path is None:
        raise HTTPException(404, f"no file {name!r} in the lineage page")
    return FileResponse(path, media_type=_TYPES[path.suffix], headers={
        "Content-Security-Policy": CSP, "Cache-Control": "no-cache",
        "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff"})


@router.get("/ui")
def ui_root() -> RedirectResponse:
    """``/ui`` -> ``/ui/``."""
    return RedirectResponse("/ui/", status_code=307)


@router.get("/ui/")
def ui_index() -> Response:
    """The lineage page (no token needed: it holds no data)."""
    return _file("index.html")


@router.get("/ui/{name}")
def ui_file(name: str) -> Response:
    """One of the page's files (script, style), by name."""
    return _file(name)
