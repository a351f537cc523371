"""The named query catalog: ``lineage_pipeline/graph/queries/*.cypher``, shared by every backend.

File format: a query starts at a line ``// name: <query_name>``; the ``//`` lines right
after it are its description; the query text runs until the next ``// name:`` line.
Comment lines are removed from the text sent to the server. Lines before the first
``// name:`` describe the file. Query names are unique across files. Parameters are the
``$names`` in the text; :func:`named_query` callers must pass exactly those.

Rules for queries added here: parameterised (never formatted), Cypher that both FalkorDB and
Neo4j accept (no APOC, no ``elementId``, times as epoch-millisecond numbers), and results of
plain values or property maps (``properties(n)``), never node objects.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lineage_pipeline.errors import QueryError

if TYPE_CHECKING:
    from lineage_pipeline.graph.base import GraphBackend

#: Where the ``.cypher`` files live.
QUERY_DIR = Path(__file__).resolve().parent / "queries"

_NAME = re.compile(r"^//\s*name:\s*([A-Za-z_][A-Za-z0-9_]*)\s*$")
_PARAM = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


@dataclass(frozen=True, slots=True)
class NamedQuery:
    """One catalog entry: ``name``, Cypher ``text``, ``params`` it needs, ``doc``, ``source``."""

    name: str
    text: str
    params: frozenset[str]
    doc: str
    source: str


def parse_catalog_file(source: str, content: str) -> list[NamedQuery]:
    """Return the named queries in one ``.cypher`` file's ``content``."""
    queries: list[NamedQuery] = []
    name: str | None = None
    doc: list[str] = []
    body: list[str] = []

    def flush() -> None:
        if name is not None:
            text = "\n".join(body).strip()
            if not text:
                raise ValueError(f"{source}: query {name!r} has no text")
            queries.append(
                NamedQuery(name, text, frozenset(_PARAM.findall(text)), " ".join(doc), source)
            )

    for line in content.splitlines():
        match = _NAME.match(line.strip())
        if match:
            flush()
            name, doc, body = match.group(1), [], []
        elif name is None:
            continue
        elif line.strip().startswith("//"):
            if not body:
                doc.append(line.strip()[2:].strip())
        elif line.strip():
            body.append(line.rstrip())
    flush()
    return queries


@cache
def catalog() -> dict[str, NamedQuery]:
    """Return every named query shipped in ``lineage_pipeline/graph/queries``, by name."""
    found: dict[str, NamedQuery] = {}
    # next to this module (package data; also right for editable installs)
    for entry in sorted(QUERY_DIR.glob("*.cypher")):
        for query in parse_catalog_file(entry.name, entry.read_text("utf-8")):
            if query.name in found:
                raise ValueError(
                    f"query {query.name!r} defined in {found[query.name].source} and {entry.name}"
                )
            found[query.name] = query
    return found


def named_query(name: str) -> NamedQuery:
    """Return catalog query ``name``; raises :class:`QueryError` if there is none."""
    try:
        return catalog()[name]
    except KeyError:
        raise QueryError(f"no query named {name!r} in lineage_pipeline/graph/queries") from None


def run_query(backend: GraphBackend, name: str, **params: Any) -> list[dict[str, Any]]:
    """Run catalog query ``name`` on ``backend`` with exactly its parameters; return its
    records. Raises :class:`QueryError` for an unknown query or missing/unexpected
    parameters."""
    q = named_query(name)
    given = set(params)
    if given != q.params:
        raise QueryError(
            f"query {name!r} takes parameters {sorted(q.params)}, got {sorted(given)}"
        )
    return backend.query(q.text, params)
