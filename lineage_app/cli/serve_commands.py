"""``lineage serve [--host H] [--port P]``: the HTTP API (:mod:`lineage_app.serve`,
``docs/api.md``), and its API tokens: ``lineage serve token add NAME --role ROLE`` (prints
the new token once; only its salted hash is stored), ``token list``, ``token revoke NAME``.

Mounted by :mod:`lineage_app.cli.app` with :func:`register`. FastAPI, uvicorn and the query
layer are imported when the server starts, so ``lineage --help`` does not load them.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer

from lineage_app.cli.context import console, settings

if TYPE_CHECKING:
    from lineage_app.serve.auth import TokenStore

serve_app = typer.Typer(
    help="The HTTP API: every query, OpenLineage ingestion (`lineage serve` starts it).",
    invoke_without_command=True, no_args_is_help=False)
token_app = typer.Typer(help="API tokens of `lineage serve` (hashed at rest).",
                        no_args_is_help=True)
serve_app.add_typer(token_app, name="token")


def _store() -> TokenStore:
    from lineage_app.serve.auth import TokenStore

    s = settings()
    return TokenStore(s.serve.tokens_file or s.data_dir / "serve" / "tokens.json")


@serve_app.callback()
def serve(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(
        "--host", help="Address to listen on (default serve.host, 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(
        "--port", min=0, max=65535, help="Port (default serve.port, 8080).")] = None,
) -> None:
    """Serve the HTTP API until interrupted (Ctrl-C or SIGTERM)."""
    if ctx.invoked_subcommand is not None:
        return
    from lineage_pipeline.errors import MissingExtraError

    try:
        import uvicorn

        from lineage_app.serve.app import create_app
    except ImportError as exc:
        raise MissingExtraError("serve", "lineage serve") from exc
    s = settings()
    app = create_app(s)
    where = f"http://{host or s.serve.host}:{port if port is not None else s.serve.port}"
    console.print(f"lineage API on {where} (OpenAPI: {where}/openapi.json, with a token)")
    uvicorn.run(app, host=host or s.serve.host,
                port=port if port is not None else s.serve.port,
                log_level="info", access_log=False)


@token_app.command("add")
def token_add(
    name: Annotated[str, typer.Argument(help="Who or what uses the token (unique).")],
    role: Annotated[str, typer.Option(
        "--role", help="reader, writer, privacy-officer or admin.")],
) -> None:
    """Make a token; print it once (store it now: only its salted hash is kept)."""
    token = _store().add(name, role)
    typer.echo(token)


@token_app.command("list")
def token_list(
    as_json: Annotated[bool, typer.Option("--json", help="JSON for tools.")] = False,
) -> None:
    """The tokens' names, roles and creation times (never the tokens)."""
    entries = _store().entries()
    if as_json:
        typer.echo(json.dumps(entries, indent=2))
        return
    for e in entries:
        console.print(f"{e['name']}\t{e['role']}\t{e['created']}")


@token_app.command("revoke")
def token_revoke(name: Annotated[str, typer.Argument(help="The token's name.")]) -> None:
    """Remove a token; requests carrying it are refused from then on."""
    from lineage_pipeline.errors import QueryError

    if not _store().revoke(name):
        raise QueryError(f"no token named {name!r} (see `lineage serve token list`)")
    console.print(f"revoked {name}")


def register(app: typer.Typer) -> None:
    """Mount ``serve`` (with ``serve token``) on ``app``."""
    app.add_typer(serve_app, name="serve")
