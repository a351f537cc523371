"""The ``lineage`` command: the local stack, lineage queries, spool and DLQ operations.

Errors the user can fix print one line saying what was wrong and how to fix it, and exit
with status 2 (bad input or configuration) or 1 (a service is unavailable).

Start-up stays light: the command modules import only typer and rich at module level and
load what a command needs (settings, the query layer, the local stack, Kafka clients)
when it runs; ``lineage spool`` (the emitter SDK's commands) is mounted as a lazy group
whose module is imported only when ``spool`` is invoked.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from typer.core import TyperGroup

from lineage_app.cli import (
    context,
    dlq_commands,
    export_commands,
    identity_commands,
    migrate_commands,
    query_commands,
    retention_commands,
    serve_commands,
    stack_commands,
)
from lineage_pipeline.errors import ConfigError, LineageError, QueryError

if TYPE_CHECKING:
    # typer 0.29 ships its own copy of click; its groups speak these types
    from typer._click.core import Command, Context

#: Command groups of other packages: name -> (module, typer app attribute, one-line help).
LAZY_GROUPS: dict[str, tuple[str, str, str]] = {
    "spool": ("emitters.cli", "spool_app",
              "The emitter's local spool of lineage events not yet delivered to Kafka."),
}


class LineageGroup(TyperGroup):
    """The top-level group: lists the lazy groups by their help text and imports one only
    when it is invoked (or its own ``--help`` is asked for)."""

    def list_commands(self, ctx: Context) -> list[str]:
        return [*super().list_commands(ctx), *LAZY_GROUPS]

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        if cmd_name in LAZY_GROUPS:
            # a stand-in with the help text, for listings; resolve_command loads the real one
            return TyperGroup(name=cmd_name, help=LAZY_GROUPS[cmd_name][2])
        return super().get_command(ctx, cmd_name)

    def resolve_command(
        self, ctx: Context, args: list[str]
    ) -> tuple[str | None, Command | None, list[str]]:
        name, command, rest = super().resolve_command(ctx, args)
        if name in LAZY_GROUPS:
            module, attr, _ = LAZY_GROUPS[name]
            command = typer.main.get_group(getattr(importlib.import_module(module), attr))
            command.name = name
        return name, command, rest


app = typer.Typer(
    name="lineage",
    cls=LineageGroup,
    help="Data and model lineage for ML pipelines: the local stack and incident queries.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def _global_options(
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="YAML configuration file (else $LINEAGE_CONFIG)."),
    ] = None,
) -> None:
    context.use_config_file(config)


stack_commands.register(app)
app.add_typer(dlq_commands.dlq_app, name="dlq")
identity_commands.register(app)
retention_commands.register(app)
migrate_commands.register(app)
export_commands.register(app)
serve_commands.register(app)
query_commands.register(app, context.open_graph)


def run() -> int:
    """Run the command of ``sys.argv``; return its exit status (0 done, 1 a service is down,
    2 fix the input). Errors are printed, never raised."""
    try:
        app()
    except SystemExit as done:  # typer ends every command this way
        return done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    except (ConfigError, QueryError) as exc:
        context.err_console.print(f"[red]error:[/red] {exc}")
        return 2
    except LineageError as exc:
        hint = ""
        if exc.is_retryable():
            hint = " (retryable: is the local stack running? try `lineage status`)"
        context.err_console.print(f"[red]error:[/red] {exc}{hint}")
        return 1
    return 0


def main() -> None:
    """Entry point of the ``lineage`` console script: :func:`run`, then the process ends
    without the interpreter's teardown (``os._exit`` once output and logs are flushed).
    The command has closed what it opened by then; tearing down the few hundred modules a
    query loads (the graph driver's among them) cost a fifth of a query's wall time."""
    status = run()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more can be said
            pass
    os._exit(status)


if __name__ == "__main__":
    main()
