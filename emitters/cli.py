"""``lineage spool ...``: inspect and replay the emitter's local spool.

``spool_app`` is a typer sub-app; ``lineage_app.cli.app`` mounts it as ``lineage spool``.
Both commands read the emitter configuration (``--config``, else ``LINEAGE_CONFIG`` /
``./lineage.yaml``, environment, defaults; see :mod:`emitters.config`).

- ``lineage spool status``: segments with their state, records and bytes.
- ``lineage spool replay``: send every sealed (or orphaned) segment to Kafka; each record is
  removed only after its delivery is confirmed. Exit code 1 when records remain.
  ``--follow`` keeps replaying every ``--interval`` seconds until SIGTERM or Ctrl-C: run it
  beside jobs (a sidecar, a systemd unit) and what a job left in the spool when it ended
  during a broker outage reaches Kafka within that interval of the broker coming back.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from emitters.config import EmitterConfig, load_emitter_config
from emitters.transports import make_spool

spool_app = typer.Typer(
    help="The emitter's local spool of lineage events not yet delivered to Kafka.",
    no_args_is_help=True,
)
console = Console()

ConfigOpt = Annotated[
    Path | None, typer.Option("--config", "-c", help="YAML configuration file.")
]
DirOpt = Annotated[
    Path | None, typer.Option("--spool-dir", help="Spool directory (else emitter.spool_dir).")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _config(config: Path | None, spool_dir: Path | None, **more: Any) -> EmitterConfig:
    overrides: dict[str, Any] = {k: v for k, v in more.items() if v is not None}
    if spool_dir is not None:
        overrides["spool_dir"] = spool_dir
    return load_emitter_config(config, **overrides)


@spool_app.command("status")
def status(config: ConfigOpt = None, spool_dir: DirOpt = None, as_json: JsonOpt = False) -> None:
    """Show the spool's segments: state (sealed, open, orphaned), records and bytes."""
    cfg = _config(config, spool_dir)
    st = make_spool(cfg).status()
    if as_json:
        console.print_json(json.dumps({
            "directory": str(st.directory),
            "records": st.records,
            "bytes": st.bytes,
            "max_bytes": st.max_bytes,
            "segments": [
                {"file": s.path.name, "state": s.state, "records": s.records, "bytes": s.bytes,
                 "corrupt": s.corrupt}
                for s in st.segments
            ],
        }))
        return
    table = Table(title=f"spool {st.directory}")
    for col in ("segment", "state", "records", "bytes", "corrupt"):
        table.add_column(col, justify="left" if col in ("segment", "state") else "right")
    for s in st.segments:
        table.add_row(s.path.name, s.state, str(s.records), str(s.bytes), str(s.corrupt))
    console.print(table)
    console.print(
        f"{st.records} records, {st.bytes} bytes in {len(st.segments)} segments "
        f"(bound {st.max_bytes} bytes)"
    )


def _follow(transport: Any, interval_s: float) -> None:
    """Replay every ``interval_s`` seconds until SIGTERM or SIGINT; print each round that
    delivered or left something."""
    import signal
    import threading

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    console.print(f"replaying {transport.config.spool_dir} every {interval_s:g} s "
                  "(SIGTERM or Ctrl-C stops)")
    while not stop.is_set():
        try:
            result = transport.replay()
        except Exception as exc:  # a failed round is tried again at the next one
            console.print(f"replay failed ({type(exc).__name__}: {exc}); next try in "
                          f"{interval_s:g} s")
            stop.wait(interval_s)
            continue
        if result.delivered or result.remaining or result.corrupt:
            console.print(f"{result.delivered} delivered, {result.remaining} remaining, "
                          f"{result.corrupt} corrupt skipped")
        stop.wait(interval_s)


@spool_app.command("replay")
def replay(
    config: ConfigOpt = None,
    spool_dir: DirOpt = None,
    bootstrap_servers: Annotated[
        str | None, typer.Option("--bootstrap-servers", help="Kafka bootstrap servers.")
    ] = None,
    wait_s: Annotated[
        float, typer.Option("--wait", help="Seconds to wait for another replayer's lock.")
    ] = 30.0,
    as_json: JsonOpt = False,
    follow: Annotated[bool, typer.Option(
        "--follow", help="Keep replaying every --interval seconds until SIGTERM/Ctrl-C.")] = False,
    interval_s: Annotated[float, typer.Option("--interval", min=0.1)] = 2.0,
) -> None:
    """Deliver the spooled events to Kafka, each exactly once; remove them as confirmed."""
    from emitters.transports.kafka import KafkaTransport

    cfg = _config(config, spool_dir, bootstrap_servers=bootstrap_servers)
    cfg.emitter.kafka_producer.replay_on_start = False
    transport = KafkaTransport(cfg, make_spool(cfg))
    try:
        if follow:
            _follow(transport, interval_s)
            return
        result = transport.replay(wait_s=wait_s)
    finally:
        transport.close(10.0)
    summary = {
        "delivered": result.delivered,
        "remaining": result.remaining,
        "corrupt": result.corrupt,
        "segments_done": result.segments,
        "busy": result.busy,
    }
    if as_json:
        console.print_json(json.dumps(summary))
    elif result.busy:
        console.print(f"[yellow]another replay holds the spool lock ({cfg.spool_dir})[/yellow]")
    else:
        color = "green" if not result.remaining else "yellow"
        console.print(
            f"[{color}]{result.delivered} delivered[/{color}], {result.remaining} remaining, "
            f"{result.corrupt} corrupt skipped ({cfg.spool_dir})"
        )
    if result.busy or result.remaining:
        raise typer.Exit(1)
