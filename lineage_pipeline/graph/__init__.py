"""How every package talks to the graph: backends, the named Cypher catalog, write history.

The graph sink (writes) and :mod:`lineage_queries` (reads) both use this subpackage, so it
lives in the core and neither imports the other.

- :func:`open_backend` picks a backend from the settings: ``graph.backend = "neo4j"`` ->
  :class:`~lineage_pipeline.graph.neo4j.Neo4jBackend` (Bolt; local default, CI and
  production), ``"falkordb"`` -> :class:`~lineage_pipeline.graph.falkordb.FalkorDBBackend`
  (RESP; the light option). A driver is imported only when its backend is opened.
- :mod:`lineage_pipeline.graph.base` -- the :class:`GraphBackend` interface and its types.
- :mod:`lineage_pipeline.graph.catalog` and ``lineage_pipeline/graph/queries/*.cypher`` --
  the named query catalog (reads, and the retention writes the CLI triggers).
- :mod:`lineage_pipeline.graph.history` -- every dataset's write history (freshness).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lineage_pipeline.errors import ConfigError
from lineage_pipeline.graph.base import BackendStats, GraphBackend, Statement, WriteSummary

if TYPE_CHECKING:
    from lineage_pipeline.settings import GraphSettings

__all__ = ["BackendStats", "GraphBackend", "Statement", "WriteSummary", "open_backend"]


def open_backend(settings: GraphSettings) -> GraphBackend:
    """Return the backend ``settings.backend`` names, configured but not yet connected.

    Raises :class:`~lineage_pipeline.errors.ConfigError` for an unknown backend and
    :class:`~lineage_pipeline.errors.GraphError` for a URL the backend cannot use.
    """
    if settings.backend == "falkordb":
        from lineage_pipeline.graph.falkordb import FalkorDBBackend

        return FalkorDBBackend(settings)
    if settings.backend == "neo4j":
        from lineage_pipeline.graph.neo4j import Neo4jBackend

        return Neo4jBackend(settings)
    raise ConfigError(f"graph.backend {settings.backend!r} is unknown; use falkordb or neo4j")
