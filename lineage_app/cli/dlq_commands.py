"""``lineage dlq list | show | fetch | replay``: inspect dead-lettered events, fetch the
original of one that keeps only a prefix, and replay them.

The Kafka side (:mod:`lineage_app.dlq`) is imported when a command runs.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from lineage_app.cli.context import console, settings

dlq_app = typer.Typer(help="Inspect the dead-letter queue and replay records after a fix.")


def _when(ms: int | None) -> str:
    if ms is None:
        return "?"
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


@dlq_app.command("list")
def list_records(
    reason: Annotated[str | None, typer.Option(help="Only records with this reason.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON for tools.")] = False,
) -> None:
    """List DLQ records: id, time, reason, origin, size."""
    from lineage_app import dlq

    records = [r for r in dlq.read_dlq(settings()) if reason is None or r.reason == reason]
    if as_json:
        print(json.dumps([r.summary() for r in records], indent=2))
        return
    table = Table(title=f"{settings().topics.dlq}: {len(records)} records")
    for col in ("id", "time (UTC)", "reason", "from", "bytes", "detail"):
        table.add_column(col)
    for r in records:
        s = r.summary()
        table.add_row(
            r.id, _when(s["dlq_time_ms"]), r.reason,
            f"{s['source_topic']}[{s['source_partition']}]@{s['source_offset']}",
            f"{s['bytes']} of {s['value_bytes']}" if s["truncated"] else str(s["bytes"]),
            str(s["detail"])[:60],
        )
    console.print(table)


@dlq_app.command("show")
def show(
    record_id: Annotated[str, typer.Argument(help="PARTITION:OFFSET from `lineage dlq list`.")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Show one record: why it was dead-lettered, where from, and its payload."""
    from lineage_app import dlq

    record = dlq.get_record(settings(), record_id)
    summary = record.summary()
    payload = dlq.payload_text(record.value)
    if as_json:
        print(json.dumps({**summary, "payload": payload}, indent=2))
        return
    for key, value in summary.items():
        console.print(f"[bold]{key}[/bold]: {value}")
    if record.truncated:
        console.print(
            f"The record keeps the first {len(record.value):,} of {summary['value_bytes']:,} "
            f"bytes (SHA-256 {summary['value_sha256']}). The original is message "
            f"{summary['source_topic']}[{summary['source_partition']}]@"
            f"{summary['source_offset']} while that topic retains it: "
            f"`lineage dlq fetch {record_id} --out FILE` writes it (checked against the size "
            f"and SHA-256); `lineage dlq replay {record_id}` replays it.",
            markup=False, soft_wrap=True)
    console.print("[bold]payload[/bold]" + (" (prefix)" if record.truncated else "") + ":")
    console.print(payload, markup=False)


@dlq_app.command("fetch")
def fetch(
    record_id: Annotated[str, typer.Argument(help="PARTITION:OFFSET from `lineage dlq list`.")],
    out: Annotated[Path, typer.Option("--out", help="File to write the original value to.")],
) -> None:
    """Write a record's original value to a file: the record's own, or, when it keeps only a
    prefix, the message fetched from its source topic and checked against its SHA-256."""
    from lineage_app import dlq

    record = dlq.get_record(settings(), record_id)
    _key, value = dlq.original(settings(), record)
    out.write_bytes(value)
    console.print(f"wrote {len(value):,} bytes of {record_id}'s original to {out}")


@dlq_app.command("replay")
def replay(
    record_id: Annotated[str, typer.Argument(help="PARTITION:OFFSET from `lineage dlq list`.")],
    fixed: Annotated[
        Path | None, typer.Option("--file", help="Replay this corrected payload instead.")
    ] = None,
    to: Annotated[str | None, typer.Option("--to", help="Topic (default: the source).")] = None,
) -> None:
    """Publish a record (or its corrected payload) back to its source topic."""
    from lineage_app import dlq

    record = dlq.get_record(settings(), record_id)
    value = fixed.read_bytes() if fixed is not None else None
    topic = dlq.replay(settings(), record, value, to)
    console.print(f"replayed {record_id} ({record.reason}) to {topic}")
