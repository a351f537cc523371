"""Graph backends behind one interface: :func:`open_backend` picks one from the settings.

``graph.backend = "falkordb"`` -> :class:`~graph_sink.backends.falkordb.FalkorDBBackend`
(RESP; local default and CI); ``"neo4j"`` -> :class:`~graph_sink.backends.neo4j.Neo4jBackend`
(Bolt; production).
"""

from __future__ import annotations

from graph_sink.backends.base import BackendStats, GraphBackend, Statement, WriteSummary
from lineage_pipeline.errors import ConfigError
from lineage_pipeline.settings import GraphSettings

__all__ = ["BackendStats", "GraphBackend", "Statement", "WriteSummary", "open_backend"]


def open_backend(settings: GraphSettings) -> GraphBackend:
    """Return the backend ``settings.backend`` names, configured but not yet connected.

    Raises :class:`~lineage_pipeline.errors.ConfigError` for an unknown backend and
    :class:`~lineage_pipeline.errors.GraphError` for a URL the backend cannot use.
    """
    if settings.backend == "falkordb":
        from graph_sink.backends.falkordb import FalkorDBBackend

        return FalkorDBBackend(settings)
    if settings.backend == "neo4j":
        from graph_sink.backends.neo4j import Neo4jBackend

        return Neo4jBackend(settings)
    raise ConfigError(f"graph.backend {settings.backend!r} is unknown; use falkordb or neo4j")
