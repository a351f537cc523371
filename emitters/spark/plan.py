"""Spark plan trees as plain Python objects, parsed from Catalyst's ``TreeNode.toJSON``.

Spark serialises any plan or expression tree to a JSON array in pre-order: every node is an
object with ``class`` (the JVM class name), ``num-children`` and its constructor fields
(source: ``org.apache.spark.sql.catalyst.trees.TreeNode.jsonValue``/``jsonFields``). Fields
that hold trees themselves are nested arrays of the same shape: one expression
(``"condition": [...]``), a sequence of expressions (``"projectList": [[...], [...]]``), or a
plan held outside the children (a subquery's ``"plan"``, a command's ``"query"``). Fields
Spark cannot serialise (e.g. a ``HadoopFsRelation``) are ``null``; the emitter asks the JVM
for those directly (:mod:`emitters.spark.jvm`).

One py4j call (``plan.toJSON()``) thus carries the whole analysed plan, with class names,
attribute names, data types and expression ids, instead of one round trip per node.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from lineage_pipeline.errors import EventError


@dataclass
class TreeNode:
    """One node of a Catalyst plan or expression tree.

    ``cls``: the full JVM class name; ``fields``: constructor fields, where every nested tree
    is already parsed into a :class:`TreeNode` (or a list of them); ``children``: the node's
    children in order.
    """

    cls: str
    fields: dict[str, Any] = field(default_factory=dict)
    children: list[TreeNode] = field(default_factory=list)

    @property
    def name(self) -> str:
        """The short class name, e.g. ``Project`` or ``AttributeReference``."""
        return self.cls.rsplit(".", 1)[-1].rstrip("$")

    @property
    def is_expression(self) -> bool:
        """True for Catalyst expressions (as opposed to plan nodes)."""
        return ".expressions." in self.cls or self.cls.endswith("UDF")

    @property
    def expr_id(self) -> int | None:
        """The ``exprId`` of an attribute or alias, else ``None``."""
        raw = self.fields.get("exprId")
        if isinstance(raw, dict) and isinstance(raw.get("id"), int):
            return int(raw["id"])
        return None

    @property
    def attr_name(self) -> str | None:
        """The ``name`` field of an attribute or alias."""
        value = self.fields.get("name")
        return value if isinstance(value, str) else None

    def trees(self, key: str) -> list[TreeNode]:
        """Return the trees held in field ``key`` (one, a sequence, or nested sequences, as
        ``Expand.projections``), flattened in order, else ``[]``."""
        return _flatten_trees(self.fields.get(key))

    def field_trees(self) -> Iterator[tuple[str, TreeNode]]:
        """Yield ``(field name, tree)`` for every tree held in any field of this node."""
        for key in self.fields:
            for tree in self.trees(key):
                yield key, tree

    def walk(self) -> Iterator[TreeNode]:
        """Yield this node and its descendants (children only), pre-order."""
        stack = [self]
        while stack:
            node = stack.pop()
            yield node
            stack.extend(reversed(node.children))


def _flatten_trees(value: Any) -> list[TreeNode]:
    if isinstance(value, TreeNode):
        return [value]
    if isinstance(value, list):
        out: list[TreeNode] = []
        for item in value:
            out.extend(_flatten_trees(item))
        return out
    return []


def _is_tree_array(value: Any) -> bool:
    return (
        isinstance(value, list)
        and len(value) > 0
        and all(isinstance(v, dict) and "class" in v and "num-children" in v for v in value)
    )


def _parse_value(value: Any) -> Any:
    if _is_tree_array(value):
        return parse_tree(value)
    if isinstance(value, list):
        return [_parse_value(v) for v in value]
    return value


def parse_tree(nodes: list[dict[str, Any]]) -> TreeNode:
    """Build a :class:`TreeNode` from one pre-order JSON array.

    Raises :class:`~lineage_pipeline.errors.EventError` when the array is not a well-formed
    pre-order tree (a child count that runs past the end).
    """
    pos = 0

    def build() -> TreeNode:
        nonlocal pos
        if pos >= len(nodes):
            raise EventError("malformed Spark plan JSON: child count runs past the end")
        raw = nodes[pos]
        pos += 1
        count = int(raw.get("num-children", 0))
        fields = {
            k: _parse_value(v) for k, v in raw.items() if k not in ("class", "num-children")
        }
        node = TreeNode(cls=str(raw["class"]), fields=fields)
        node.children = [build() for _ in range(count)]
        return node

    return build()


def parse_plan_json(text: str) -> TreeNode:
    """Parse the text of ``LogicalPlan.toJSON()`` into its root :class:`TreeNode`.

    Raises :class:`~lineage_pipeline.errors.EventError` if the text is not a plan array.
    """
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise EventError(f"Spark plan JSON does not parse: {exc}") from exc
    if not _is_tree_array(data):
        raise EventError("Spark plan JSON is not a tree array")
    return parse_tree(data)


def expression_nodes(tree: TreeNode) -> Iterator[TreeNode]:
    """Yield every node of an expression tree, pre-order, not entering subquery plans."""
    yield from tree.walk()


def subquery_plans(expr: TreeNode) -> list[TreeNode]:
    """Return the plans of subquery expressions inside ``expr`` (their ``plan`` field)."""
    out: list[TreeNode] = []
    for node in expr.walk():
        for tree in node.trees("plan"):
            if not tree.is_expression:
                out.append(tree)
    return out


def all_plan_nodes(root: TreeNode) -> Iterator[TreeNode]:
    """Yield every plan node reachable from ``root``: children, subquery plans inside
    expressions, and plans held in fields (a command's ``query``), each once."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        yield node
        stack.extend(reversed(node.children))
        for _key, tree in node.field_trees():
            if tree.is_expression:
                stack.extend(subquery_plans(tree))
            else:
                stack.append(tree)


_SIMPLE_TYPES = {
    "long": "bigint",
    "integer": "int",
    "short": "smallint",
    "byte": "tinyint",
}


def spark_type_name(data_type: Any) -> str:
    """Return Spark's SQL name (``simpleString``) of a JSON data type.

    ``"long"`` -> ``"bigint"``, ``"integer"`` -> ``"int"``, ``{"type": "array",
    "elementType": "string", ...}`` -> ``"array<string>"``; unknown shapes fall back to
    compact JSON text. Source: ``org.apache.spark.sql.types.DataType.json``/``simpleString``.
    """
    if isinstance(data_type, str):
        return _SIMPLE_TYPES.get(data_type, data_type)
    if isinstance(data_type, dict):
        kind = data_type.get("type")
        if kind == "array":
            return f"array<{spark_type_name(data_type.get('elementType'))}>"
        if kind == "map":
            key = spark_type_name(data_type.get("keyType"))
            value = spark_type_name(data_type.get("valueType"))
            return f"map<{key},{value}>"
        if kind == "struct":
            parts = [
                f"{f.get('name')}:{spark_type_name(f.get('type'))}"
                for f in data_type.get("fields", [])
                if isinstance(f, dict)
            ]
            return f"struct<{','.join(parts)}>"
        if kind == "udt":
            return str(data_type.get("sqlType", "udt"))
    return json.dumps(data_type, separators=(",", ":"), sort_keys=True)
