"""Shared state of one ``lineage`` invocation: settings, console, graph connection.

Settings (pydantic) and the query layer are imported on first use, not at start-up.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

if TYPE_CHECKING:
    from lineage_pipeline.settings import LineageSettings
    from lineage_queries.api import LineageGraph

console = Console()
err_console = Console(stderr=True)


def use_config_file(path: Path | None) -> None:
    """Make ``path`` the configuration file for this invocation (``--config``)."""
    if path is not None:
        os.environ["LINEAGE_CONFIG"] = str(path)
        settings.cache_clear()


@cache
def settings() -> LineageSettings:
    """Return the settings in effect (raises ConfigError on bad configuration)."""
    from lineage_pipeline.settings import load_settings

    return load_settings()


def open_graph() -> LineageGraph:
    """Connect to the configured graph and return the query API (no I/O until queried)."""
    from lineage_pipeline.graph import open_backend
    from lineage_queries.api import LineageGraph

    return LineageGraph(open_backend(settings().graph))
