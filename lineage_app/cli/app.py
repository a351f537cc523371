"""The ``lineage`` command: the local stack, lineage queries, spool and DLQ operations.

Errors the user can fix print one line saying what was wrong and how to fix it, and exit
with status 2 (bad input or configuration) or 1 (a service is unavailable).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from lineage_app.cli import context, identity_commands, retention_commands, stack_commands
from lineage_app.cli.dlq_commands import dlq_app
from lineage_pipeline.errors import ConfigError, LineageError, QueryError

app = typer.Typer(
    name="lineage",
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
app.add_typer(dlq_app, name="dlq")
identity_commands.register(app)
retention_commands.register(app)


def _mount_optional_parts() -> None:
    """Mount the command groups of the other packages."""
    from emitters.cli import spool_app
    from lineage_app.cli.query_commands import register as register_graph

    register_graph(app, context.open_graph)
    app.add_typer(spool_app, name="spool")


_mount_optional_parts()


def main() -> None:
    """Entry point of the ``lineage`` console script."""
    try:
        app()
    except (ConfigError, QueryError) as exc:
        context.err_console.print(f"[red]error:[/red] {exc}")
        sys.exit(2)
    except LineageError as exc:
        hint = ""
        if exc.is_retryable():
            hint = " (retryable: is the local stack running? try `lineage status`)"
        context.err_console.print(f"[red]error:[/red] {exc}{hint}")
        sys.exit(1)


if __name__ == "__main__":
    main()
