"""The package layout's import rules (docs/architecture.md), checked on the source with ``ast``.

Every ``import`` and ``from ... import`` counts, wherever it is: at module level, inside
functions (lazy imports), under ``if TYPE_CHECKING:``. Relative imports are resolved.

- the core ``lineage_pipeline`` imports none of the runtime packages, the queries or the shell;
- the runtime packages ``emitters``, ``stream_processor`` and ``graph_sink`` import none of
  each other (they meet only through Kafka topics), nor the queries, nor the shell;
- ``lineage_queries`` imports the core only: no runtime package (so no sink service), no shell;
- ``schemas`` (the Avro files and their loader) imports no project package;
- nothing but the tests and the benchmarks imports the shell ``lineage_app``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

CORE = "lineage_pipeline"
RUNTIME = ("emitters", "stream_processor", "graph_sink")
QUERIES = "lineage_queries"
SHELL = "lineage_app"
SCHEMAS = "schemas"
PACKAGES = (CORE, *RUNTIME, QUERIES, SHELL, SCHEMAS)

#: package -> the project packages it must not import
FORBIDDEN: dict[str, frozenset[str]] = {
    CORE: frozenset({*RUNTIME, QUERIES, SHELL}),
    **{p: frozenset({*(set(RUNTIME) - {p}), QUERIES, SHELL}) for p in RUNTIME},
    QUERIES: frozenset({*RUNTIME, SHELL}),
    SCHEMAS: frozenset({CORE, *RUNTIME, QUERIES, SHELL}),
    SHELL: frozenset(),
}


def module_name(path: Path, root: Path = ROOT) -> str:
    """``lineage_app/cli/app.py`` -> ``lineage_app.cli.app`` (``__init__`` -> the package)."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(source: str, module: str, is_package: bool = False) -> list[tuple[int, str]]:
    """Return ``(line, absolute module name)`` of every import in ``source`` (any depth)."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                package = module.split(".")
                if not is_package:
                    package.pop()
                base = package[: len(package) - (node.level - 1)]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            found.append((node.lineno, target))  # the rules look at its top-level package
    return found


def violations(package: str, source: str, module: str, is_package: bool = False) -> list[str]:
    """Return the imports of ``source`` (module ``module`` of ``package``) that break a rule."""
    bad = []
    for line, name in imported_modules(source, module, is_package):
        top = name.split(".")[0]
        if top in FORBIDDEN[package]:
            bad.append(f"{module}:{line} imports {name} ({package} may not import {top})")
    return sorted(set(bad))


def python_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*.py") if "__pycache__" not in p.parts)


def _project_files() -> list[Path]:
    """Every Python file of the repository outside the venv, caches and build output."""
    skip = {".venv", ".git", "build", "__pycache__", ".mypy_cache", ".ruff_cache"}
    return sorted(p for p in ROOT.rglob("*.py")
                  if not skip.intersection(p.relative_to(ROOT).parts))


@pytest.mark.parametrize("package", [p for p in PACKAGES if p != SHELL])
def test_package_imports_follow_the_layout(package: str) -> None:
    files = python_files(ROOT / package)
    assert files, f"no Python files under {package}/"
    bad: list[str] = []
    for path in files:
        bad += violations(package, path.read_text("utf-8"), module_name(path),
                          path.name == "__init__.py")
    assert not bad, "import rules broken (docs/architecture.md):\n" + "\n".join(bad)


def test_only_tests_and_benchmarks_import_the_shell() -> None:
    bad = []
    for path in _project_files():
        top = path.relative_to(ROOT).parts[0]
        if top in (SHELL, "tests", "bench"):
            continue
        for line, name in imported_modules(path.read_text("utf-8"), module_name(path),
                                           path.name == "__init__.py"):
            if name.split(".")[0] == SHELL:
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    assert not bad, "only tests/ and bench/ may import lineage_app:\n" + "\n".join(sorted(bad))


def test_the_checker_sees_lazy_relative_and_type_checking_imports() -> None:
    """The rules can fail: imports hidden in functions, under TYPE_CHECKING and relative
    ones are all found and judged."""
    source = (
        "from typing import TYPE_CHECKING\n"
        "import json\n"
        "if TYPE_CHECKING:\n"
        "    from lineage_queries.api import LineageGraph\n"
        "def f():\n"
        "    import lineage_app.cli.app\n"
        "    from ..graph_sink import service\n"
        "    from lineage_pipeline.graph import open_backend\n"
    )
    assert violations(CORE, source, "lineage_pipeline.x.y") == [
        "lineage_pipeline.x.y:4 imports lineage_queries.api (lineage_pipeline may not import "
        "lineage_queries)",
        "lineage_pipeline.x.y:6 imports lineage_app.cli.app (lineage_pipeline may not import "
        "lineage_app)",
    ]
    # relative: from lineage_pipeline.x.y, ``..graph_sink`` is lineage_pipeline.graph_sink
    assert imported_modules("from ..graph_sink import service\n", "lineage_pipeline.x.y")[0] \
        == (1, "lineage_pipeline.graph_sink")
    assert violations("stream_processor", "def f():\n    from graph_sink import writer\n",
                      "stream_processor.app") == [
        "stream_processor.app:2 imports graph_sink (stream_processor may not import graph_sink)",
    ]
    assert violations(QUERIES, "from graph_sink.service import SinkService\n",
                      "lineage_queries.api")
    assert not violations(QUERIES, "from lineage_pipeline.graph import open_backend\n",
                          "lineage_queries.api")
