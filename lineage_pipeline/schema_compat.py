"""Avro schema compatibility: can a reader schema read data written with a writer schema?

Implements the resolution rules of the Avro 1.11 specification, section "Schema
Resolution": type promotions (int -> long, float, double; long -> float, double;
float -> double; string <-> bytes), records matched by name with reader fields either
present in the writer or defaulted, enums whose writer symbols the reader knows (or a
reader default), arrays and maps by their items and values, and unions branch by branch.

:func:`problems` returns human-readable reasons (empty when compatible). The test suite
runs it over every pair of shipped versions in both directions, so an incompatible edit of
``schemas/`` fails ``make test``.
"""

from __future__ import annotations

from typing import Any

from fastavro.schema import expand_schema, parse_schema

_PROMOTIONS = {
    "int": {"int", "long", "float", "double"},
    "long": {"long", "float", "double"},
    "float": {"float", "double"},
    "string": {"string", "bytes"},
    "bytes": {"bytes", "string"},
}


_PRIMITIVES = {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}


def _norm(schema: Any) -> Any:
    """``{"type": "long", "logicalType": ...}`` -> ``"long"``; anything else unchanged."""
    if isinstance(schema, dict) and schema.get("type") in _PRIMITIVES:
        return schema["type"]
    return schema


def _type(schema: Any) -> str:
    if isinstance(schema, str):
        return schema
    if isinstance(schema, list):
        return "union"
    return str(schema["type"])


def _short_name(name: str) -> str:
    return name.rsplit(".", 1)[-1]


def problems(reader: Any, writer: Any, path: str = "$") -> list[str]:
    """Return why ``reader`` cannot read data written with ``writer`` (``[]`` if it can).

    Both are Avro schemas as JSON objects; named types are expanded first.
    """
    r = _norm(expand_schema(parse_schema(reader))) if path == "$" else _norm(reader)
    w = _norm(expand_schema(parse_schema(writer))) if path == "$" else _norm(writer)
    rt, wt = _type(r), _type(w)
    if wt == "union":
        out: list[str] = []
        for i, branch in enumerate(w):
            out += problems(r, branch, f"{path}<writer branch {i}>")
        return out
    if rt == "union":
        for branch in r:
            if not problems(branch, w, path):
                return []
        return [f"{path}: no branch of the reader union reads writer type {wt}"]
    if wt in _PROMOTIONS and rt in _PROMOTIONS[wt]:
        return []
    if rt != wt:
        return [f"{path}: reader type {rt} cannot read writer type {wt}"]
    if rt in ("null", "boolean", "double"):
        return []
    if rt == "array":
        return problems(r["items"], w["items"], f"{path}[]")
    if rt == "map":
        return problems(r["values"], w["values"], f"{path}{{}}")
    if rt == "enum":
        missing = set(w["symbols"]) - set(r["symbols"])
        if missing and "default" not in r:
            return [f"{path}: reader enum lacks writer symbols {sorted(missing)}"]
        return []
    if rt == "fixed":
        if r["size"] != w["size"]:
            return [f"{path}: fixed size {r['size']} != {w['size']}"]
        return []
    if rt == "record":
        return _record_problems(r, w, path)
    return [f"{path}: unsupported type {rt}"]


def _record_problems(r: dict[str, Any], w: dict[str, Any], path: str) -> list[str]:
    names = {_short_name(r["name"]), *(_short_name(a) for a in r.get("aliases", []))}
    if _short_name(w["name"]) not in names:
        return [f"{path}: record {w['name']} is not {r['name']}"]
    out: list[str] = []
    writer_fields = {f["name"]: f for f in w["fields"]}
    for field in r["fields"]:
        candidates = [field["name"], *field.get("aliases", [])]
        match = next((writer_fields[c] for c in candidates if c in writer_fields), None)
        if match is None:
            if "default" not in field:
                out.append(f"{path}.{field['name']}: new reader field has no default")
            continue
        out += problems(field["type"], match["type"], f"{path}.{field['name']}")
    return out


def compatible_both_ways(old: Any, new: Any) -> list[str]:
    """Return the problems of ``new`` reading ``old`` data and ``old`` reading ``new`` data."""
    return [f"backward: {p}" for p in problems(new, old)] + [
        f"forward: {p}" for p in problems(old, new)
    ]
