"""``lineage check``: what a proposed schema change to a dataset would break downstream.

A change is a column dropped, renamed or retyped (``--drop``, ``--rename A=B``,
``--type COL=T``), or the difference between the dataset's newest schema in the graph and a
proposed one (an Avro record schema or a JSON Schema object: :func:`schema_columns`):
columns missing from it are drops, columns with another type are type changes, new columns
change nothing downstream. Each changed column's downstream is its column-level impact
(:func:`lineage_queries.impact.impact`: declared column lineage, else the column of the same
name, into models as a whole).

Verdict per change: a drop or a rename *breaks* every dataset, column, job and model that
reads the column (their readers ask for a name that is gone); a type change *changes* them
(they may still work: reported, not failing). ``breaks`` is true when any change breaks
something; the CLI then exits 1, so the check can stop a CI job.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypedDict

from lineage_pipeline.errors import NotFoundError, QueryError

if TYPE_CHECKING:
    from lineage_queries.api import LineageGraph

#: Changes that break what reads the column, and those that only change it.
BREAKING = ("drop", "rename")


class Change(TypedDict):
    """One proposed change: ``column``, ``change`` (drop, rename, type) and ``detail`` (the
    new name or type, else ``None``)."""

    column: str
    change: str
    detail: str | None


class CheckedChange(Change):
    """A change with what it reaches downstream."""

    breaks: bool
    datasets: list[dict[str, Any]]
    columns: list[dict[str, Any]]
    jobs: list[str]
    models: list[str]
    runs: list[str]


class CheckReport(TypedDict):
    """``lineage check``'s answer."""

    dataset: str
    breaks: bool
    summary: str
    changes: list[CheckedChange]


def _type_text(avro_type: Any) -> str | None:
    """A readable type of an Avro field type (a union's non-null branch, a named or logical
    type's name)."""
    if isinstance(avro_type, list):
        branches = [t for t in avro_type if t != "null"]
        return _type_text(branches[0]) if len(branches) == 1 else str(branches)
    if isinstance(avro_type, dict):
        return str(avro_type.get("logicalType") or avro_type.get("name")
                   or avro_type.get("type"))
    return None if avro_type is None else str(avro_type)


def schema_columns(doc: Any) -> dict[str, str | None]:
    """The columns (name -> type, ``None`` when not said) of a proposed schema: an Avro record
    schema (``{"type": "record", "fields": [{"name", "type"}]}``) or a JSON Schema object
    (``{"properties": {name: {"type": ...}}}``). Raises :class:`QueryError` for anything
    else."""
    if isinstance(doc, dict) and isinstance(doc.get("fields"), list):
        return {str(f["name"]): _type_text(f.get("type")) for f in doc["fields"]
                if isinstance(f, dict) and "name" in f}
    if isinstance(doc, dict) and isinstance(doc.get("properties"), dict):
        out: dict[str, str | None] = {}
        for name, spec in doc["properties"].items():
            kind = spec.get("type") if isinstance(spec, dict) else None
            if isinstance(kind, list):
                kind = next((k for k in kind if k != "null"), None)
            out[str(name)] = None if kind is None else str(kind)
        return out
    raise QueryError("a proposed schema is an Avro record schema (with 'fields') or a JSON "
                     "Schema object (with 'properties')")


def schema_changes(current: dict[str, str | None],
                   proposed: dict[str, str | None]) -> list[Change]:
    """The changes from ``current`` to ``proposed`` columns: missing columns dropped, types
    that differ (both known) changed; sorted by column."""
    out: list[Change] = []
    for column in sorted(current):
        if column not in proposed:
            out.append({"column": column, "change": "drop", "detail": None})
        elif None not in (current[column], proposed[column]) and \
                str(current[column]).lower() != str(proposed[column]).lower():
            out.append({"column": column, "change": "type", "detail": proposed[column]})
    return out


def current_columns(graph: LineageGraph, dataset: str) -> dict[str, str | None]:
    """The columns (name -> type) of the newest version of ``dataset`` in the graph. Raises
    :class:`QueryError` when it has none."""
    rows = graph.query("pii_latest_version", dataset=graph.resolve(dataset).uid)
    if not rows:
        raise NotFoundError(f"no version of dataset {dataset!r} in the graph")
    fields = graph.fields([str(rows[0]["uid"])]).get(str(rows[0]["uid"]), [])
    return {str(f["name"]): (str(f["type"]) if f.get("type") else None) for f in fields}


def check(graph: LineageGraph, dataset: str, changes: list[Change]) -> CheckReport:
    """What ``changes`` to ``dataset`` reach downstream (see the module docstring). Raises
    :class:`QueryError` for an unknown dataset or column."""
    root = graph.resolve(dataset)
    out: list[CheckedChange] = []
    for change in changes:
        answer = graph.impact(root.uid, column=change["column"])
        runs = sorted(n["id"] for n in answer["subgraph"]["nodes"] if n.get("label") == "Run")
        out.append({**change, "breaks": change["change"] in BREAKING and bool(
            answer["datasets"]),
            "datasets": [{"id": d["id"], "kind": d["kind"]} for d in answer["datasets"]],
            "columns": [{"dataset": c["dataset"], "column": c["column"]}
                        for c in answer["columns"]],
            "jobs": [j["id"] for j in answer["jobs"]], "models": list(answer["models"]),
            "runs": runs})
    broken = [c for c in out if c["breaks"]]
    reached = {d["id"] for c in out for d in c["datasets"]}
    summary = (f"{len(broken)} of {len(out)} changes break downstream: "
               f"{len(reached)} datasets, "
               f"{len({m for c in broken for m in c['models']})} models reached"
               if broken else f"no change breaks anything downstream ({len(out)} checked, "
                              f"{len(reached)} datasets reached)")
    return {"dataset": root.uid, "breaks": bool(broken), "summary": summary, "changes": out}
