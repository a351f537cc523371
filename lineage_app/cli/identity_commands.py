"""``lineage datasets merge`` and ``lineage alias list | apply``: one node per dataset.

The stream processor records new events under the canonical dataset names of the
``identity`` settings section (:mod:`stream_processor.identity`). Nodes written *before* an
alias was configured are merged into their canonical dataset here
(:func:`graph_sink.merge.merge_dataset`): ``lineage alias apply`` does it for every configured
alias and prefix rule, ``lineage datasets merge ALIAS CANONICAL`` for one pair.
Restart the processor after changing the alias table so new events use it too.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from lineage_app.cli.context import console, settings
from lineage_pipeline.errors import NotFoundError

JsonOption = Annotated[bool, typer.Option("--json", help="JSON for tools.")]


def _print_summaries(rows: list[dict[str, object]], as_json: bool, title: str) -> None:
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table(title=title)
    for col in ("alias", "canonical", "datasets", "versions", "fields"):
        table.add_column(col)
    for row in rows:
        table.add_row(*(str(row.get(c, "")) for c in
                        ("alias", "canonical", "datasets", "versions", "fields")))
    console.print(table)


def _merge_pairs(pairs: list[tuple[str, str]], dry_run: bool) -> list[dict[str, object]]:
    """Merge each ``(alias uid, canonical uid)``; return one summary dict per merged alias."""
    from graph_sink.merge import MergeSummary, merge_dataset
    from lineage_pipeline.graph import open_backend
    from stream_processor.identity import normalize_name

    backend = open_backend(settings().graph)
    try:
        out: list[dict[str, object]] = []
        for alias, canonical in pairs:
            if dry_run:
                found = backend.query("MATCH (n:Dataset {uid: $uid}) RETURN count(n) AS n",
                                      {"uid": alias})
                if found and found[0]["n"]:
                    out.append(MergeSummary(alias, canonical, datasets=1).to_dict())
                continue
            summary = merge_dataset(backend, alias, *normalize_name(canonical))
            if summary.merged:
                out.append(summary.to_dict())
        return out
    finally:
        backend.close()


def merge(
    alias: Annotated[str, typer.Argument(help="Dataset uid to merge away, 'namespace:name'.")],
    canonical: Annotated[str, typer.Argument(help="Dataset uid to keep, 'namespace:name'.")],
    as_json: JsonOption = False,
) -> None:
    """Merge dataset ALIAS (its versions, fields and every relationship) into CANONICAL."""
    from stream_processor.identity import normalize_uid

    target = normalize_uid(canonical)
    aliases = list(dict.fromkeys([alias, normalize_uid(alias)]))
    rows = _merge_pairs([(a, target) for a in aliases if a != target], dry_run=False)
    if not rows:
        raise NotFoundError(f"no dataset {alias!r} in the graph (see `lineage upstream`)")
    _print_summaries(rows, as_json, f"merged into {target}")

def list_aliases(as_json: JsonOption = False) -> None:
    """Show the configured alias table and prefix rules."""
    ident = settings().identity
    data = {"aliases": ident.aliases, "prefixes": ident.prefixes, "symlinks": ident.symlinks}
    if as_json:
        print(json.dumps(data, indent=2))
        return
    table = Table(title="dataset aliases")
    table.add_column("alias / prefix")
    table.add_column("canonical")
    for key, value in {**ident.aliases, **ident.prefixes}.items():
        table.add_row(key, value)
    console.print(table)
    console.print(f"symlinks facets honoured: {ident.symlinks}")

def apply(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only list what would merge.")]
    = False,
    as_json: JsonOption = False,
) -> None:
    """Merge the graph's datasets named by the alias table into their canonical ones."""
    from graph_sink.merge import dataset_uids_with_prefix
    from lineage_pipeline.graph import open_backend
    from stream_processor.identity import DatasetIdentity, normalize_uid

    ident = DatasetIdentity.from_settings(settings().identity)
    candidates: list[str] = []
    for key in settings().identity.aliases:
        candidates.extend(dict.fromkeys([key, normalize_uid(key)]))
    if ident.prefixes:
        backend = open_backend(settings().graph)
        try:
            for prefix, _ in ident.prefixes:
                candidates.extend(dataset_uids_with_prefix(backend, prefix))
        finally:
            backend.close()
    pairs = []
    for uid in dict.fromkeys(candidates):
        target = ident.configured_uid(uid)
        if target != uid:
            pairs.append((uid, target))
    rows = _merge_pairs(pairs, dry_run)
    verb = "would merge" if dry_run else "merged"
    _print_summaries(rows, as_json, f"{verb} {len(rows)} aliased datasets")


def register(app: typer.Typer) -> None:
    """Add the ``datasets`` and ``alias`` command groups to ``app``."""
    datasets_app = typer.Typer(help="Dataset identity operations on the graph.")
    datasets_app.command("merge")(merge)
    alias_app = typer.Typer(help="The dataset alias table (identity.aliases, .prefixes).")
    alias_app.command("list")(list_aliases)
    alias_app.command("apply")(apply)
    app.add_typer(datasets_app, name="datasets")
    app.add_typer(alias_app, name="alias")
