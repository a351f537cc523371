"""Why the graph refused a record: :func:`diagnose` names the field at fault.

:meth:`graph_sink.writer.GraphWriter.write_isolating` bisects a refused batch down to single
records; each one the graph refuses on its own goes to the DLQ with the ``field`` and
``detail`` this module finds, checked against what the backends refuse (Neo4j 5 and
FalkorDB 4: property names that are empty, hold NUL or a lone surrogate, or on FalkorDB a
backtick; values that are not a boolean, 64-bit integer, float, string or a homogeneous
list of one of them), else read from the graph's own message.
"""

from __future__ import annotations

import re
from typing import Any

from lineage_pipeline.errors import GraphError
from lineage_pipeline.graph_model import GraphMutations, PropValue

#: Properties the writer manages itself; never copied from a mutation's ``props``.
RESERVED = frozenset({"uid", "observedAt", "updatedAt"})

_INT64 = range(-(2**63), 2**63)
#: Neo4j names the property of an index that refused a value: ``schema=(:Label {prop})``.
_INDEX_SCHEMA = re.compile(r"schema=\(:(\w+) \{(\w+)\}\)")
_TOKEN_NAME = re.compile(r"'(.*)' is not a valid token name", re.DOTALL)


def diagnose(m: GraphMutations, exc: GraphError, backend: str = "") -> tuple[str, str]:
    """Return ``(field, detail)`` for record ``m`` the graph refused with ``exc``.

    The record is checked against what the backends refuse: property names that are empty or
    hold NUL, a lone surrogate or (FalkorDB) a backtick; values that are not a boolean,
    integer (64-bit), float, string or a list of one of them. When no check fires, the field
    is taken from the graph's message where it names one, else it is ``"unknown"``. The
    detail ends with the graph's message (first 300 characters).
    """
    graph = f"graph: {str(exc)[:300]}"
    items: list[tuple[str, str, dict[str, PropValue]]] = [
        (n.label.value, f"node {n.uid[:120]!r}", n.props) for n in m.nodes]
    items += [(e.type.value, f"relationship {e.from_uid[:60]!r}->{e.to_uid[:60]!r}", e.props)
              for e in m.relationships]
    for owner, where, props in items:
        for key, value in props.items():
            if key in RESERVED:
                continue
            problem = _name_problem(key, backend) or _value_problem(value)
            if problem:
                name = key if key.isidentifier() else f"props[{key[:60]!r}]"
                return f"{owner}.{name}", f"{problem} ({where}); {graph}"
    message = str(exc)
    index = _INDEX_SCHEMA.search(message)
    if index:
        return f"{index.group(1)}.{index.group(2)}", f"value too large to index; {graph}"
    token = _TOKEN_NAME.search(message)
    if token:
        return f"props[{token.group(1)[:60]!r}]", f"invalid property name; {graph}"
    return "unknown", graph


def _name_problem(key: str, backend: str) -> str:
    if not key:
        return "empty property name"
    if "\x00" in key:
        return "property name holds NUL"
    if any("\ud800" <= ch <= "\udfff" for ch in key):
        return "property name holds a lone surrogate"
    if backend == "falkordb" and "`" in key:
        return "property name holds a backtick (FalkorDB cannot carry it)"
    return ""


def _value_problem(value: Any) -> str:
    if isinstance(value, list):
        kinds = {_scalar_kind(v) for v in value}
        if len(kinds) > 1 or "" in kinds:
            return "list value mixing types or holding non-scalars"
        return "" if all(_in_range(v) for v in value) else "integer outside the 64-bit range"
    if value is None or _scalar_kind(value):
        return "" if _in_range(value) else "integer outside the 64-bit range"
    return f"{type(value).__name__} value (only scalars and lists of one scalar type store)"


def _scalar_kind(value: Any) -> str:
    """``"bool"``, ``"number"``, ``"str"``, or ``""`` for anything a property cannot hold."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return "str" if isinstance(value, str) else ""


def _in_range(value: Any) -> bool:
    return not isinstance(value, int) or isinstance(value, bool) or value in _INT64
