"""``lineage up``, ``lineage down``, ``lineage status`` (:mod:`lineage_app.localstack.stack`,
imported when a command runs)."""

from __future__ import annotations

import typer
from rich.table import Table

from lineage_app.cli.context import console, settings


def register(app: typer.Typer) -> None:
    """Add the stack commands to ``app``."""

    @app.command()
    def up() -> None:
        """Start the local stack (Kafka, Neo4j, sink, processor, spool follower) in the
        background."""
        from lineage_app.localstack import stack

        with console.status("starting the local stack") as status:
            services = stack.up(settings(), progress=lambda msg: status.update(msg))
        table = Table(title="lineage local stack")
        for col in ("service", "pid", "listens on", "log"):
            table.add_column(col)
        for info in services.values():
            table.add_row(info.name, str(info.pid), info.address, info.log)
        console.print(table)
        console.print("Stop it with [bold]lineage down[/bold].")

    @app.command()
    def down() -> None:
        """Stop the local stack's processes by pid."""
        from lineage_app.localstack import stack

        stopped = stack.down(settings())
        console.print(f"stopped: {', '.join(stopped) if stopped else 'nothing was running'}")

    @app.command()
    def status() -> None:
        """Show each service of the local stack, its pid, address and whether it runs; the
        sink shows "waiting for the graph" while the graph is down (its
        ``lineage_sink_graph_waiting`` gauge). Exits 1 when a service is stopped or the sink
        is waiting."""
        from lineage_app.localstack import stack

        rows = stack.status(settings())
        if not rows:
            console.print(
                "The local stack is not running here. Start it with [bold]lineage up[/bold]."
            )
            raise typer.Exit(1)
        table = Table(title="lineage local stack")
        for col in ("service", "state", "pid", "listens on", "log"):
            table.add_column(col)
        healthy = True
        for info, alive in rows:
            state = "[green]running[/green]" if alive else "[red]stopped[/red]"
            if alive and info.name == "sink" and stack.sink_waiting(info):
                state = "[yellow]waiting for the graph[/yellow]"
                healthy = False
            healthy = healthy and alive
            table.add_row(info.name, state, str(info.pid), info.address, info.log)
        console.print(table)
        if not healthy:
            raise typer.Exit(1)
