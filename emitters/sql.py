"""SQL step lineage: tables read and written and column lineage, from the SQL text alone.

Parsing is openlineage-sql's (``openlineage_sql.parse``, the Rust parser OpenLineage's
integrations use). Tables are named ``qualified_name`` (``schema.table`` or
``database.schema.table`` as written, ``default_schema`` applied by the parser) in the
namespace given (the database's OpenLineage namespace, e.g. ``postgres://host:5432``).

Each output table gets a ``columnLineage`` facet (output column <- input columns) and a
``schema`` facet listing its derived columns. openlineage-sql does not classify
transformations, so this module does: an output column with exactly one input column of the
same name is ``DIRECT``/``IDENTITY``; any other is ``DIRECT``/``TRANSFORMATION``. Statements
that do not parse are reported in ``errors`` and contribute nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from lineage_pipeline.errors import MissingExtraError
from lineage_pipeline.events import (
    ColumnLineageField,
    Dataset,
    DatasetFacets,
    InputField,
    SchemaField,
    Transformation,
)


@dataclass
class SqlLineage:
    """Datasets of one SQL text: ``inputs``, ``outputs`` (with column lineage), parse ``errors``."""

    inputs: list[Dataset] = field(default_factory=list)
    outputs: list[Dataset] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def _table_name(meta: Any) -> str:
    return str(meta.qualified_name)


_AGGREGATE = re.compile(
    r"\b(?:count|sum|avg|mean|min|max|median|stddev\w*|variance|var_\w+|array_agg|"
    r"string_agg|listagg|group_concat|percentile\w*|approx_\w+|any_value)\s*\(",
    re.IGNORECASE,
)
_NAME = r"(?:[A-Za-z_][\w$]*|\"[^\"]+\"|`[^`]+`|\[[^\]]+\])"
_COLUMN = re.compile(rf"^(?:{_NAME}\.)*{_NAME}$")
_ALIASED = re.compile(rf"^(?P<expr>.+?)\s+(?:AS\s+)?(?P<alias>{_NAME})$", re.IGNORECASE | re.DOTALL)


def _unquote(name: str) -> str:
    return name.strip('"`[]').lower()


def _keyword_at(lowered: str, i: int, word: str) -> bool:
    end = i + len(word)
    return lowered.startswith(word, i) and not (lowered[end : end + 1].isalnum()
                                                or lowered[end : end + 1] == "_")


def _top_level_select(sql: str) -> list[str]:
    """Return the items of the first top-level SELECT list (``[]`` if none is found)."""
    depth, quote, i, start = 0, "", 0, -1
    items: list[str] = []
    item_start = 0
    lowered = sql.lower()
    while i < len(sql):
        ch = sql[i]
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"`":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif depth == 0 and (i == 0 or not (sql[i - 1].isalnum() or sql[i - 1] == "_")):
            if start < 0 and _keyword_at(lowered, i, "select"):
                start = item_start = i + 6
                i += 6
                continue
            if start >= 0 and _keyword_at(lowered, i, "from"):
                items.append(sql[item_start:i])
                return [it.strip() for it in items if it.strip()]
        if start >= 0 and depth == 0 and not quote and ch == ",":
            items.append(sql[item_start:i])
            item_start = i + 1
        i += 1
    if start >= 0:
        items.append(sql[item_start:])
    return [it.strip() for it in items if it.strip()]


def _select_expressions(sql: str) -> dict[str, str]:
    """Map each output name of the top-level SELECT list (lower case) to its expression."""
    found: dict[str, str] = {}
    for item in _top_level_select(sql):
        item = re.sub(r"^(?:DISTINCT|ALL)\s+", "", item, flags=re.IGNORECASE)
        match = _ALIASED.match(item)
        if match and not re.search(r"[-+*/%|&=<>,(.]$", match["expr"].rstrip()):
            found[_unquote(match["alias"])] = match["expr"].strip()
        elif _COLUMN.match(item):
            found[_unquote(item.rsplit(".", 1)[-1])] = item
    return found


def _classify(expressions: dict[str, str], out_col: str) -> str:
    """Return IDENTITY, AGGREGATION or TRANSFORMATION for one output column."""
    expr = expressions.get(out_col.lower())
    if expr is None:
        return "TRANSFORMATION"
    if _COLUMN.match(expr):
        return "IDENTITY"
    if _AGGREGATE.search(expr):
        return "AGGREGATION"
    return "TRANSFORMATION"


def sql_lineage(
    sql: str | list[str],
    *,
    namespace: str,
    dialect: str | None = None,
    default_schema: str | None = None,
) -> SqlLineage:
    """Return the table and column lineage of ``sql`` (one text or a list of statements).

    ``dialect``: openlineage-sql dialect name (``postgres``, ``snowflake``, ``bigquery``,
    ``mysql``, ``hive``, ``sqlite``...; ``None`` = generic). Never raises for bad SQL: parse
    problems are listed in ``errors``. Raises
    :class:`~lineage_pipeline.errors.MissingExtraError` without openlineage-sql (the ``sql``
    extra).
    """
    try:
        import openlineage_sql
    except ModuleNotFoundError as exc:
        raise MissingExtraError("sql", "sql_lineage") from exc

    statements = [sql] if isinstance(sql, str) else list(sql)
    result = SqlLineage()
    try:
        meta = openlineage_sql.parse(statements, dialect=dialect, default_schema=default_schema)
    except Exception as exc:  # the Rust binding raises plain exceptions
        result.errors.append(f"{type(exc).__name__}: {exc}")
        return result
    result.errors = [str(e) for e in meta.errors]
    out_names = [_table_name(t) for t in meta.out_tables]
    columns = _column_lineage(meta, statements, namespace, out_names)
    seen: set[str] = set()
    for table in meta.in_tables:
        name = _table_name(table)
        if name not in seen:
            seen.add(name)
            result.inputs.append(Dataset(namespace=namespace, name=name, kind="table"))
    for name in dict.fromkeys(out_names):
        derived = columns.get(name, {})
        facets = DatasetFacets()
        if derived:
            facets.columnLineage = [
                ColumnLineageField(field=col, inputFields=inputs)
                for col, inputs in derived.items()
            ]
            facets.schema_ = [SchemaField(name=col) for col in derived]
        result.outputs.append(Dataset(namespace=namespace, name=name, kind="table", facets=facets))
    return result


def _column_lineage(
    meta: Any, statements: list[str], namespace: str, out_names: list[str]
) -> dict[str, dict[str, list[InputField]]]:
    """Output table -> output column -> its input columns (``DIRECT`` with the subtype of
    :func:`_classify`), from openlineage-sql's ``column_lineage``; columns whose target
    table is unknown go to the first output table."""
    expressions: dict[str, str] = {}
    for statement in statements:
        expressions.update(_select_expressions(statement))
    columns: dict[str, dict[str, list[InputField]]] = {name: {} for name in out_names}
    for cl in meta.column_lineage:
        target = cl.descendant.origin
        table = _table_name(target) if target is not None else (out_names[0] if out_names else None)
        if table is None or table not in columns:
            continue
        subtype = _classify(expressions, cl.descendant.name)
        fields = columns[table].setdefault(cl.descendant.name, [])
        for src in cl.lineage:
            if src.origin is None:
                continue
            fields.append(
                InputField(
                    namespace=namespace,
                    name=_table_name(src.origin),
                    field=src.name,
                    transformations=[Transformation(type="DIRECT", subtype=subtype)],
                )
            )
    return columns
