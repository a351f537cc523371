"""Column-level lineage from an analysed Spark plan, by tracing expression ids.

Every attribute in a Catalyst plan carries an ``exprId``; a new value (``expr AS name``)
gets a fresh one. The tracer records, per node, which ids a new id is computed from and how,
and which ids only *influence* the rows (keys and conditions). Resolving an output column's
id back to the ids produced by the leaf relations gives its input columns.

Classification follows the OpenLineage column lineage facet 1-2-0
(https://openlineage.io/docs/spec/facets/dataset-facets/column_lineage_facet):

- ``DIRECT`` when the input value flows into the output value, with subtype ``IDENTITY``
  (copied as is; an alias or a cast counts as a copy), ``TRANSFORMATION`` (computed from
  it) or ``AGGREGATION`` (under an aggregate function, also as a window function). A chain
  takes its strongest step: ``IDENTITY < TRANSFORMATION < AGGREGATION``.
- ``INDIRECT`` when the input only decides which rows exist or how they are ordered:
  ``JOIN`` (join condition), ``FILTER`` (filter condition, ``IN``/``EXISTS`` subqueries,
  ``INTERSECT``/``EXCEPT``), ``GROUP_BY``, ``SORT``, ``WINDOW`` (partition and order keys).
  As in the OpenLineage Spark integration, an indirect input applies to every output column
  of the write (the rows of a linear query are the same rows throughout).
- ``masking`` is true when a hash, a ``mask`` or a ``count`` hides the input value.

Plan nodes understood: Project, Aggregate, Window, Filter, Join, Sort, Generate, Expand,
Union, Intersect, Except, WithCTE/CTERelationDef/CTERelationRef, subquery expressions; any
other node passes its children's ids through unchanged (SubqueryAlias, View, Limit,
Repartition, Deduplicate, ...).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from emitters.spark.plan import TreeNode, all_plan_nodes, subquery_plans
from lineage_pipeline.events import ColumnLineageField, InputField, Transformation

IDENTITY, TRANSFORMATION, AGGREGATION = 0, 1, 2
_SUBTYPE_NAMES = {
    IDENTITY: "IDENTITY",
    TRANSFORMATION: "TRANSFORMATION",
    AGGREGATION: "AGGREGATION",
}

#: Expressions that copy their child's value unchanged for lineage purposes.
IDENTITY_WRAPPERS = frozenset(
    {
        "Alias",
        "Cast",
        "UpCast",
        "KnownNullable",
        "KnownNotNull",
        "AssertNotNull",
        "KnownFloatingPointNormalized",
        "OuterReference",
    }
)
#: Expressions whose output hides the input value (OpenLineage ``masking``).
MASKING_EXPRESSIONS = frozenset(
    {"Sha1", "Sha2", "Md5", "Crc32", "Murmur3Hash", "XxHash64", "HiveHash", "Mask", "Count"}
)
_LEFT_ONLY_JOINS = ("LeftSemi", "LeftAnti")


@dataclass(frozen=True, order=True)
class ColumnRef:
    """A column of an input dataset: OpenLineage ``namespace``, dataset ``name``, ``field``."""

    namespace: str
    name: str
    field: str


@dataclass(frozen=True)
class _Dep:
    source: int
    subtype: int
    masking: bool


class PlanLineage:
    """Traces expression ids through one analysed plan.

    ``root``: the plan (or the query of a write command); ``sources``: expression id of a
    leaf relation's attribute -> the dataset columns it reads (a relation over several
    paths maps one attribute to several columns). Pure Python; raises nothing on unknown
    node types (they pass ids through).
    """

    def __init__(self, root: TreeNode, sources: dict[int, list[ColumnRef]]) -> None:
        self.root = root
        self.sources = sources
        self.deps: dict[int, list[_Dep]] = {}
        self.indirect: list[tuple[int, str]] = []
        self._outputs: dict[int, list[int]] = {}
        self._cte_defs: dict[int, TreeNode] = {}
        self._memo: dict[int, dict[ColumnRef, tuple[int, bool]]] = {}
        nodes = list(all_plan_nodes(root))
        for node in nodes:
            if node.name == "CTERelationDef" and isinstance(node.fields.get("id"), int):
                self._cte_defs[int(node.fields["id"])] = node
        for node in nodes:
            self._register(node)

    # -- outputs -------------------------------------------------------------------------
    def output_ids(self, node: TreeNode) -> list[int]:
        """Expression ids of the attributes ``node`` produces, in order."""
        key = id(node)
        cached = self._outputs.get(key)
        if cached is None:
            cached = self._compute_output_ids(node)
            self._outputs[key] = cached
        return cached

    def _compute_output_ids(self, node: TreeNode) -> list[int]:
        name = node.name
        kids = node.children
        if name == "Project":
            return _ids(node.trees("projectList"))
        if name == "Aggregate":
            return _ids(node.trees("aggregateExpressions"))
        if name == "Window":
            base = self.output_ids(kids[0]) if kids else []
            return base + _ids(node.trees("windowExpressions"))
        if name == "Generate":
            base = self.output_ids(kids[0]) if kids else []
            return base + _ids(node.trees("generatorOutput"))
        if name == "Join" and len(kids) == 2:
            left = self.output_ids(kids[0])
            if _join_type(node).startswith(_LEFT_ONLY_JOINS):
                return left
            return left + self.output_ids(kids[1])
        if name in ("Union", "Intersect", "Except") and kids:
            return self.output_ids(kids[0])
        if name == "WithCTE" and kids:
            return self.output_ids(kids[-1])
        if name == "Expand" or (not kids and node.trees("output")):
            return _ids(node.trees("output"))
        out: list[int] = []
        for child in kids:
            out.extend(self.output_ids(child))
        return out

    # -- registration ----------------------------------------------------------------------
    def _register(self, node: TreeNode) -> None:
        name = node.name
        if name == "Project":
            self._named(node.trees("projectList"))
        elif name == "Aggregate":
            self._named(node.trees("aggregateExpressions"))
            self._indirect(node.trees("groupingExpressions"), "GROUP_BY")
        elif name == "Window":
            self._named(node.trees("windowExpressions"))
            self._indirect(node.trees("partitionSpec") + node.trees("orderSpec"), "WINDOW")
        elif name == "Filter":
            self._indirect(node.trees("condition"), "FILTER")
        elif name == "Join":
            self._indirect(node.trees("condition"), "JOIN")
        elif name == "Sort":
            self._indirect(node.trees("order"), "SORT")
        elif name == "Generate":
            direct, indirect = self._classify_all(node.trees("generator"), force=TRANSFORMATION)
            self.indirect.extend(indirect)
            for out in _ids(node.trees("generatorOutput")):
                self.deps.setdefault(out, []).extend(direct)
        elif name == "Expand":
            self._expand(node)
        elif name == "Union" and node.children:
            first = self.output_ids(node.children[0])
            for child in node.children[1:]:
                self._positional(first, self.output_ids(child))
        elif name in ("Intersect", "Except") and len(node.children) == 2:
            for ref in self.output_ids(node.children[1]):
                self.indirect.append((ref, "FILTER"))
        elif name == "CTERelationRef":
            cte = self._cte_defs.get(int(node.fields.get("cteId", -1)))
            if cte is not None and cte.children:
                self._positional(_ids(node.trees("output")), self.output_ids(cte.children[0]))

    def _positional(self, outputs: list[int], inputs: list[int]) -> None:
        for out, src in zip(outputs, inputs, strict=False):
            if out != src:
                self.deps.setdefault(out, []).append(_Dep(src, IDENTITY, False))

    def _expand(self, node: TreeNode) -> None:
        outputs = _ids(node.trees("output"))
        projections = node.fields.get("projections")
        if not isinstance(projections, list):
            return
        for projection in projections:
            exprs = projection if isinstance(projection, list) else [projection]
            for out, expr in zip(outputs, exprs, strict=False):
                if not isinstance(expr, TreeNode):
                    continue
                direct, indirect = self._classify(expr)
                self.indirect.extend(indirect)
                self.deps.setdefault(out, []).extend(d for d in direct if d.source != out)

    def _named(self, exprs: Iterable[TreeNode]) -> None:
        for expr in exprs:
            if expr.name != "Alias" or expr.expr_id is None or not expr.children:
                continue  # a plain attribute keeps its id: nothing to record
            direct, indirect = self._classify(expr.children[0])
            self.deps.setdefault(expr.expr_id, []).extend(direct)
            self.indirect.extend(indirect)

    def _indirect(self, exprs: Iterable[TreeNode], subtype: str) -> None:
        for expr in exprs:
            direct, indirect = self._classify(expr)
            self.indirect.extend((d.source, subtype) for d in direct)
            self.indirect.extend(indirect)

    def _classify_all(
        self, exprs: Iterable[TreeNode], force: int | None = None
    ) -> tuple[list[_Dep], list[tuple[int, str]]]:
        direct: list[_Dep] = []
        indirect: list[tuple[int, str]] = []
        for expr in exprs:
            d, i = self._classify(expr)
            if force is not None:
                d = [_Dep(x.source, max(x.subtype, force), x.masking) for x in d]
            direct.extend(d)
            indirect.extend(i)
        return direct, indirect

    def _classify(self, expr: TreeNode) -> tuple[list[_Dep], list[tuple[int, str]]]:
        """Return the ids ``expr`` reads as values (with subtype and masking) and the ids it
        reads only as window keys (``WINDOW``)."""
        direct: list[_Dep] = []
        indirect: list[tuple[int, str]] = []

        def visit(node: TreeNode, in_agg: bool, masking: bool, identity: bool) -> None:
            name = node.name
            if name == "AttributeReference":
                if node.expr_id is not None:
                    sub = IDENTITY if identity else (AGGREGATION if in_agg else TRANSFORMATION)
                    direct.append(_Dep(node.expr_id, sub, masking))
                return
            if name == "WindowSpecDefinition":
                for inner in node.walk():
                    if inner.name == "AttributeReference" and inner.expr_id is not None:
                        indirect.append((inner.expr_id, "WINDOW"))
                return
            sub = AGGREGATION if in_agg else TRANSFORMATION
            for plan in subquery_plans_of(node):
                direct.extend(_Dep(i, sub, masking) for i in self.output_ids(plan))
            in_agg = in_agg or name == "AggregateExpression"
            masking = masking or name in MASKING_EXPRESSIONS
            identity = identity and name in IDENTITY_WRAPPERS
            for child in node.children:
                visit(child, in_agg, masking, identity)

        visit(expr, False, False, True)
        return direct, indirect

    # -- resolution ------------------------------------------------------------------------
    def resolve(self, expr_id: int) -> dict[ColumnRef, tuple[int, bool]]:
        """Return the input columns an id derives from: column -> (subtype rank, masking)."""
        return self._resolve(expr_id, set())

    def _resolve(self, expr_id: int, active: set[int]) -> dict[ColumnRef, tuple[int, bool]]:
        cached = self._memo.get(expr_id)
        if cached is not None:
            return cached
        if expr_id in active:
            return {}
        active.add(expr_id)
        out: dict[ColumnRef, tuple[int, bool]] = {}
        for col in self.sources.get(expr_id, []):
            _merge(out, col, IDENTITY, False)
        for dep in self.deps.get(expr_id, []):
            for col, (sub, mask) in self._resolve(dep.source, active).items():
                _merge(out, col, max(sub, dep.subtype), mask or dep.masking)
        active.discard(expr_id)
        self._memo[expr_id] = out
        return out

    def column_lineage(self, outputs: list[tuple[str, int]]) -> list[ColumnLineageField]:
        """Return the OpenLineage column lineage of the output columns ``(name, exprId)``.

        Output columns without any input column are left out; input fields and their
        transformations are sorted, so equal plans give equal facets.
        """
        indirect: dict[ColumnRef, set[str]] = {}
        for expr_id, subtype in self.indirect:
            for col in self.resolve(expr_id):
                indirect.setdefault(col, set()).add(subtype)
        result: list[ColumnLineageField] = []
        for name, expr_id in outputs:
            per_col: dict[ColumnRef, list[Transformation]] = {}
            for col, (sub, mask) in self.resolve(expr_id).items():
                per_col.setdefault(col, []).append(
                    Transformation(type="DIRECT", subtype=_SUBTYPE_NAMES[sub], masking=mask)
                )
            for col, subtypes in indirect.items():
                for subtype in sorted(subtypes):
                    per_col.setdefault(col, []).append(
                        Transformation(type="INDIRECT", subtype=subtype)
                    )
            if not per_col:
                continue
            fields = [
                InputField(
                    namespace=col.namespace,
                    name=col.name,
                    field=col.field,
                    transformations=per_col[col],
                )
                for col in sorted(per_col)
            ]
            result.append(ColumnLineageField(field=name, inputFields=fields))
        return result


def subquery_plans_of(node: TreeNode) -> list[TreeNode]:
    """Plans of a subquery expression node itself (its ``plan`` field), not of descendants."""
    return [t for t in node.trees("plan") if not t.is_expression]


def _merge(out: dict[ColumnRef, tuple[int, bool]], col: ColumnRef, sub: int, mask: bool) -> None:
    prev = out.get(col)
    if prev is None:
        out[col] = (sub, mask)
    else:
        out[col] = (max(prev[0], sub), prev[1] or mask)


def _ids(exprs: Iterable[TreeNode]) -> list[int]:
    return [e.expr_id for e in exprs if e.expr_id is not None]


def _join_type(node: TreeNode) -> str:
    raw = node.fields.get("joinType")
    if isinstance(raw, dict):
        text = str(raw.get("object") or raw.get("product-class") or "")
        return text.rsplit(".", 1)[-1].rstrip("$")
    return ""


__all__ = ["ColumnRef", "PlanLineage", "subquery_plans"]
