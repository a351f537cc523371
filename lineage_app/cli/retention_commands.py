"""PII, retention and erasure commands (:mod:`lineage_queries.pii`, :mod:`graph_sink.retention`).

- ``lineage fields DATASET``: a dataset version's columns with PII tags, statistics hidden
  unless the caller's role allows them;
- ``lineage purge --older-than 90d``: compact finished runs older than that into per-job
  summaries (dataset versions stay);
- ``lineage erase NAMESPACE:NAME``: record the erasure on the compacted topic
  ``topics.erasures`` (waiting for the broker's acknowledgement; nothing changes when the
  broker is down or the topic is missing), then remove the dataset's field statistics and
  record the erasure on its Dataset node. Every sink reads that topic before its first
  write, so the statistics never come back, even when the topics are replayed into a fresh
  graph (:mod:`graph_sink.erasure_log`).

The role comes from ``--role`` or ``$LINEAGE_ROLE``; roles allowed to see statistics of
sensitive fields are ``LINEAGE_PII_ROLES_ALLOWED`` (:class:`lineage_pipeline.pii.PiiPolicy`).
"""

from __future__ import annotations

import json
import os
from typing import Annotated

import typer
from rich.table import Table

from lineage_app.cli.context import console, settings

JsonOption = Annotated[bool, typer.Option("--json", help="JSON for tools.")]
RoleOption = Annotated[
    str | None,
    typer.Option("--role", help="Your role (else $LINEAGE_ROLE); decides whether statistics "
                                "of PII-tagged fields are shown."),
]


def fields(
    dataset: Annotated[str, typer.Argument(
        help="namespace:name (newest version) or namespace:name@version.")],
    role: RoleOption = None,
    as_json: JsonOption = False,
) -> None:
    """Columns of a dataset version: type, PII tags (own and inherited), statistics."""
    from lineage_pipeline.graph import open_backend
    from lineage_pipeline.pii import STAT_KEYS
    from lineage_queries.pii import PiiView

    backend = open_backend(settings().graph)
    try:
        rows = PiiView(backend).fields(dataset, role or os.environ.get("LINEAGE_ROLE"))
    finally:
        backend.close()
    if as_json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    table = Table(title=f"fields of {dataset}")
    for col in ("name", "type", "effectiveTags", *STAT_KEYS):
        table.add_column(col)
    for row in rows:
        table.add_row(str(row.get("name")), str(row.get("type") or ""),
                      ",".join(row["effectiveTags"]),
                      *(str(row.get(k, "")) if row.get(k) is not None else ""
                        for k in STAT_KEYS))
    console.print(table)

def purge(
    older_than: Annotated[str, typer.Option(
        "--older-than", help="Age (90d, 12h, 2w) or time (ISO 8601, epoch ms).")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only report.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Compact finished runs that ended before --older-than into job summaries."""
    from graph_sink.retention import parse_age
    from graph_sink.retention import purge as purge_runs
    from lineage_pipeline.graph import open_backend

    cutoff = parse_age(older_than)
    backend = open_backend(settings().graph)
    try:
        report = purge_runs(backend, cutoff, dry_run=dry_run)
    finally:
        backend.close()
    if as_json:
        print(json.dumps(report, indent=2))
        return
    verb = "would compact" if dry_run else "compacted"
    console.print(f"{verb} {report['runs']} runs of {len(report['jobs'])} jobs "
                  f"(ended before {cutoff} ms); dataset versions kept")

def erase(
    dataset: Annotated[str, typer.Argument(help="The dataset, namespace:name.")],
    reason: Annotated[str, typer.Option("--reason", help="Recorded with the erasure.")]
    = "erasure request",
    timeout: Annotated[float, typer.Option(
        "--timeout", help="Seconds to wait for the Kafka broker.", min=0.1)]
    = 10.0,
    as_json: JsonOption = False,
) -> None:
    """Remove a dataset's PII-bearing metadata (field statistics); record the erasure
    in the graph and on the erasure topic, so no replay brings it back."""
    from graph_sink.erasure_log import ErasureRecord, publish_erasure
    from graph_sink.retention import erase as erase_dataset
    from lineage_pipeline.graph import open_backend

    conf = settings()

    def publish(record: ErasureRecord) -> None:
        publish_erasure(conf, record, timeout_s=timeout)

    backend = open_backend(conf.graph)
    try:
        report = erase_dataset(backend, dataset, reason=reason, publish=publish)
    finally:
        backend.close()
    report["topic"] = conf.topics.erasures
    if as_json:
        print(json.dumps(report, indent=2))
        return
    console.print(f"erased {dataset}: column statistics of {report['versions']} versions removed; "
                  f"erasure recorded at {report['erasedAt']} in the graph and on topic "
                  f"{report['topic']}")


def register(app: typer.Typer) -> None:
    """Mount the commands of this module on ``app``."""
    for command in (fields, purge, erase):
        app.command()(command)
