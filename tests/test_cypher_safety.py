"""Cypher safety: no query text is ever built from data.

Static part (``ast``): every expression that builds a string from pieces — an f-string, ``+``,
``%`` or ``.format()`` on a string literal — and whose literal text contains Cypher clauses is
found in the project's packages. Such building is allowed only in the *statement tables*:
functions of :data:`TABLE_MODULES` that are called at import (module level) to build fixed
texts from the :class:`NodeLabel` / :class:`RelType` allow-lists. In them, every interpolated
value must be an enum member's ``.value``, another such builder's result, a module constant
made of literals, or a parameter that every call site passes a literal for.

Dynamic part: the generated tables hold only labels and relationship types of the allow-lists.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from lineage_pipeline.graph_model import NodeLabel, RelType

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("lineage_pipeline", "emitters", "stream_processor", "graph_sink", "bench", "schemas")
#: Modules allowed to hold import-time statement tables built from the enums.
TABLE_MODULES = {
    "graph_sink/statements.py",
    "graph_sink/merge.py",
    "graph_sink/migrate.py",
    "graph_sink/relationship_uids.py",
    "lineage_pipeline/graph/falkordb.py",
    "lineage_pipeline/graph/neo4j.py",
}
#: Functions from outside a table module it may call with literal arguments: they build no
#: clause (a name; the Cypher expression of a keyed relationship's uid from the expressions
#: of its key and ends).
HELPERS = ("_snake", "keyed_relationship_uid_cypher")
CLAUSES = re.compile(
    r"\b(MATCH|MERGE|UNWIND|CREATE|DELETE|DETACH|RETURN|REMOVE|CALL|FOREACH|LOAD\s+CSV)\b")


def literal_text(node: ast.AST) -> str:
    """The literal parts of a string-building expression, concatenated."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value for v in node.values if isinstance(v, ast.Constant)
                       and isinstance(v.value, str))
    if isinstance(node, ast.BinOp):
        return literal_text(node.left) + literal_text(node.right)
    return ""


def built_cypher(tree: ast.AST) -> list[ast.AST]:
    """String-building expressions whose literal text holds a Cypher clause."""
    found: list[ast.AST] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr) and any(
                isinstance(v, ast.FormattedValue) for v in node.values):
            text = literal_text(node)
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Mod):
            text = literal_text(node)
            if not any(isinstance(side, ast.Constant | ast.JoinedStr)
                       for side in (node.left, node.right)):
                continue
            if all(isinstance(side, ast.Constant) for side in (node.left, node.right)):
                continue  # two literals: still a literal
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr == "format"):
            text = literal_text(node.func.value)
        else:
            continue
        if CLAUSES.search(text):
            found.append(node)
    return found


def source_files() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py"))


def enclosing_functions(tree: ast.Module) -> dict[ast.AST, ast.FunctionDef | None]:
    owner: dict[ast.AST, ast.FunctionDef | None] = {}

    def visit(node: ast.AST, fn: ast.FunctionDef | None) -> None:
        for child in ast.iter_child_nodes(node):
            owner[child] = fn
            visit(child, child if isinstance(child, ast.FunctionDef) else fn)

    visit(tree, None)
    return owner


def test_no_cypher_is_built_from_strings_outside_the_statement_tables() -> None:
    offenders = []
    for path in source_files():
        rel = path.relative_to(ROOT).as_posix()
        if rel in TABLE_MODULES:
            continue
        for node in built_cypher(ast.parse(path.read_text("utf-8"))):
            offenders.append(f"{rel}:{getattr(node, 'lineno', 0)}: {ast.unparse(node)[:120]}")
    assert offenders == [], "Cypher built from strings:\n" + "\n".join(offenders)


def test_the_detector_finds_string_built_cypher() -> None:
    bad = '''
def q(name):
    a = f"MATCH (n {{name: '{name}'}}) RETURN n"
    b = "MATCH (n) WHERE n.name = '" + name + "' RETURN n"
    c = "MATCH (n:%s) RETURN n" % name
    d = "MERGE (n:{}) RETURN n".format(name)
    ok = "MATCH (n) WHERE n.name = $name RETURN n"
    return a, b, c, d, ok
'''
    assert {getattr(n, "lineno", 0) for n in built_cypher(ast.parse(bad))} == {3, 4, 5, 6}


def comprehension_scopes(tree: ast.Module) -> dict[ast.AST, list[ast.comprehension]]:
    """For every node inside a comprehension, the generators that enclose it."""
    scopes: dict[ast.AST, list[ast.comprehension]] = {}

    def visit(node: ast.AST, gens: list[ast.comprehension]) -> None:
        if isinstance(node, ast.ListComp | ast.SetComp | ast.DictComp | ast.GeneratorExp):
            gens = gens + list(node.generators)
        for child in ast.iter_child_nodes(node):
            scopes[child] = gens
            visit(child, gens)

    visit(tree, [])
    return scopes


def is_enum_source(expr: ast.AST, enum_constants: set[str]) -> bool:
    """``NodeLabel``, ``RelType``, or a module constant holding a tuple of their members."""
    return isinstance(expr, ast.Name) and (expr.id in ("NodeLabel", "RelType")
                                           or expr.id in enum_constants)


@pytest.mark.parametrize("rel", sorted(TABLE_MODULES))
def test_statement_tables_interpolate_only_enum_values_at_import(rel: str) -> None:
    tree = ast.parse((ROOT / rel).read_text("utf-8"))
    owner = enclosing_functions(tree)
    scopes = comprehension_scopes(tree)
    functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    enum_constants = {
        t.id for n in tree.body if isinstance(n, ast.Assign) for t in n.targets
        if isinstance(t, ast.Name) and isinstance(n.value, ast.Tuple) and all(
            isinstance(e, ast.Attribute) and isinstance(e.value, ast.Name)
            and e.value.id in ("NodeLabel", "RelType") for e in n.value.elts)}
    constants = {t.id for n in tree.body if isinstance(n, ast.Assign)
                 for t in n.targets if isinstance(t, ast.Name)}
    problems: list[str] = []

    def names_in(gens: list[ast.comprehension]) -> tuple[set[str], set[str]]:
        enums: set[str] = set()
        literals: set[str] = set()
        for gen in gens:
            if isinstance(gen.target, ast.Name):
                if is_enum_source(gen.iter, enum_constants):
                    enums.add(gen.target.id)
                elif isinstance(gen.iter, ast.Tuple) and all(
                        isinstance(e, ast.Constant) for e in gen.iter.elts):
                    literals.add(gen.target.id)
        return enums, literals

    def safe(expr: ast.AST, enums: set[str], literals: set[str]) -> bool:
        if isinstance(expr, ast.Constant):
            return True
        if isinstance(expr, ast.Attribute) and expr.attr == "value":
            return isinstance(expr.value, ast.Name) and expr.value.id in enums
        if isinstance(expr, ast.Name):
            return expr.id in literals or expr.id in enums or expr.id in constants
        if isinstance(expr, ast.Call):
            args = [*expr.args, *(k.value for k in expr.keywords)]
            if isinstance(expr.func, ast.Name) and (expr.func.id in functions
                                                    or expr.func.id in HELPERS):
                return all(safe(a, enums, literals) for a in args)
            if isinstance(expr.func, ast.Attribute) and expr.func.attr == "format":
                return safe(expr.func.value, enums, literals) and all(
                    safe(a, enums, literals) for a in args)
        return False

    builders: set[str] = set()
    for node in built_cypher(tree):
        fn = owner.get(node)
        if fn is None:  # a module-level comprehension over the enums
            enums, literals = names_in(scopes.get(node, []))
        else:
            builders.add(fn.name)
            params = {a.arg: a.annotation for a in fn.args.args}
            enums = {p for p, ann in params.items()
                     if ann is not None and ast.unparse(ann) in ("NodeLabel", "RelType")}
            literals = (set(params) - enums) | _local_literals(fn)
        parts: list[ast.AST] = []
        if isinstance(node, ast.JoinedStr):
            parts = [v.value for v in node.values if isinstance(v, ast.FormattedValue)]
        else:
            parts = [node]
        for expr in parts:
            if not safe(expr, enums, literals):
                line = getattr(expr, "lineno", 0)
                problems.append(f"{rel}:{line}: interpolates {ast.unparse(expr)}")
    # builders run at import only, with enum members or literals as arguments
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                and node.func.id in builders:
            caller = owner.get(node)
            if caller is not None and caller.name not in builders:
                problems.append(f"{rel}:{node.lineno}: {node.func.id} called at query time "
                                f"from {caller.name}")
                continue
            if caller is None:
                enums, literals = names_in(scopes.get(node, []))
            else:
                enums, literals = set(), set()
            for arg in node.args:
                if not (isinstance(arg, ast.Constant) or (isinstance(arg, ast.Name) and (
                        arg.id in enums or arg.id in literals))):
                    problems.append(f"{rel}:{node.lineno}: {node.func.id}({ast.unparse(arg)})"
                                    " is not an enum member or a literal")
    assert problems == [], "\n".join(problems)


def _local_literals(fn: ast.FunctionDef) -> set[str]:
    """Local names of ``fn`` only ever assigned a literal, or a conditional choice between
    literals and module constants."""
    names: dict[str, bool] = {}
    for node in ast.walk(fn):
        if isinstance(node, ast.Assign) and len(node.targets) == 1 \
                and isinstance(node.targets[0], ast.Name):
            value = node.value
            choices = [value.body, value.orelse] if isinstance(value, ast.IfExp) else [value]
            literal = all(isinstance(c, ast.Constant) or (
                isinstance(c, ast.Name) and c.id.lstrip("_").isupper()) for c in choices)
            name = node.targets[0].id
            names[name] = names.get(name, True) and literal
    return {n for n, lit in names.items() if lit}


def test_generated_tables_name_only_allow_listed_labels_and_types() -> None:
    from graph_sink import statements
    from lineage_pipeline.graph import falkordb

    labels = {label.value for label in NodeLabel}
    types = {rel.value for rel in RelType}
    texts = [*statements.NODE_UPSERT.values(), *statements.RELATIONSHIP_UPSERT.values(),
             *falkordb.INDEX_DDL.values()]
    try:
        from graph_sink import merge

        texts += [v for table in (merge.READ_EXISTING, merge.UPSERT, merge.REPOINT)
                  for v in table.values()]
    except ImportError:
        pass
    from graph_sink import migrate

    texts += [*migrate.COUNT_NODES.values(), *migrate.COUNT_RELATIONSHIPS.values(),
              *migrate.PAGE_UIDS.values()]
    texts += [text for table in (migrate.RENAME_NODES, migrate.RENAME_RELATIONSHIPS)
              for per_old in table.values() for pair in per_old.values() for text in pair]
    assert texts
    for text in texts:
        for found in re.findall(r"\(\w*:(\w+)", text):
            assert found in labels, (found, text)
        for found in re.findall(r"\[\w*:(\w+)\]", text):
            assert found in types, (found, text)


def test_the_migration_names_only_properties_of_its_fixed_table() -> None:
    """``lineage migrate`` puts property names in its statements (they cannot be parameters):
    only those of the fixed rename table, each a plain identifier."""
    from graph_sink import migrate
    from lineage_pipeline.graph_model import LEGACY_PROPERTY_NAMES

    allowed = {*LEGACY_PROPERTY_NAMES, *LEGACY_PROPERTY_NAMES.values(), "uid"}
    assert all(re.fullmatch(r"[a-z][A-Za-z_]*", name) for name in allowed)
    texts = [text for table in (migrate.RENAME_NODES, migrate.RENAME_RELATIONSHIPS)
             for per_old in table.values() for pair in per_old.values() for text in pair]
    texts += [*migrate.COUNT_NODES.values(), *migrate.COUNT_RELATIONSHIPS.values()]
    for text in texts:
        assert set(re.findall(r"\b[nr]\.(\w+)", text)) <= allowed, text
