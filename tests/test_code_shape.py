"""Code shape outside the tests: no module over 400 lines, no function over 60 lines.

Both limits come from the project's style rules (one room per job). A module or function may
exceed them only when it is listed in :data:`EXCEPTIONS` with the reason it reads better whole;
a listed one that shrank below the limit must be taken off the list, so the list stays true.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
#: ``path`` or ``path::function`` -> why it reads better whole.
EXCEPTIONS: dict[str, str] = {}


def source_files() -> list[Path]:
    """Every Python file of the project outside ``tests/`` (virtualenvs and caches left out)."""
    skip = {"tests", ".venv", ".git", "build", "node_modules"}
    return sorted(p for p in ROOT.rglob("*.py")
                  if not skip.intersection(p.relative_to(ROOT).parts[:1])
                  and not any(part.startswith(".") for part in p.relative_to(ROOT).parts))


def oversized() -> dict[str, int]:
    """``path`` / ``path::qualified function`` -> line count, for everything over a limit."""
    found: dict[str, int] = {}
    for path in source_files():
        rel = path.relative_to(ROOT).as_posix()
        text = path.read_text(encoding="utf-8")
        lines = len(text.splitlines())
        if lines > MAX_MODULE_LINES:
            found[rel] = lines
        found.update(_long_functions(rel, ast.parse(text)))
    return found


def _long_functions(rel: str, tree: ast.AST, prefix: str = "") -> dict[str, int]:
    out: dict[str, int] = {}
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.ClassDef):
            out.update(_long_functions(rel, node, f"{prefix}{node.name}."))
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            if length > MAX_FUNCTION_LINES:
                out[f"{rel}::{prefix}{node.name}"] = length
            out.update(_long_functions(rel, node, f"{prefix}{node.name}."))
    return out


def test_the_scan_sees_the_project() -> None:
    files = {p.relative_to(ROOT).as_posix() for p in source_files()}
    assert {"emitters/__init__.py", "stream_processor/mapping.py"} <= files
    assert not any(f.startswith("tests/") for f in files)


def test_the_scan_finds_a_long_function() -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES))
    tree = ast.parse(f"class C:\n  def f(self):\n{body}\n")
    assert _long_functions("m.py", tree) == {"m.py::C.f": MAX_FUNCTION_LINES + 1}


@pytest.mark.parametrize("limit", ["module", "function"])
def test_no_module_or_function_over_its_limit(limit: str) -> None:
    found = {k: n for k, n in oversized().items() if ("::" in k) == (limit == "function")}
    unexplained = {k: n for k, n in found.items() if k not in EXCEPTIONS}
    assert not unexplained, f"over the {limit} limit (split it, or list it with a reason)"


def test_every_exception_is_still_needed() -> None:
    stale = set(EXCEPTIONS) - set(oversized())
    assert not stale, f"within the limits now: take them off EXCEPTIONS: {sorted(stale)}"
