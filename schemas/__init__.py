"""Versioned Avro schemas of the project's topics.

- ``lineage_event.v<N>.avsc`` — records on ``lineage.events`` (see lineage_pipeline.events).
- ``graph_record.v<N>.avsc`` — records on ``lineage.graph`` (see lineage_pipeline.graph_record).
- ``graph_mutations.v<N>.avsc`` — the generic node/relationship records an earlier version
  published on ``lineage.graph``; still read by the sink.

A schema file is never edited once released; a change is a new version file that stays
readable by the previous reader (Avro schema resolution), checked by the compatibility test.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

#: Schema names shipped in this package.
SCHEMA_NAMES = ("lineage_event", "graph_mutations", "graph_record")


@cache
def load_schema_text(name: str, version: int) -> str:
    """Return the JSON text of schema ``name`` at ``version``.

    Raises ``FileNotFoundError`` when no such schema version ships.
    """
    return resources.files(__name__).joinpath(f"{name}.v{version}.avsc").read_text("utf-8")


def load_schema(name: str, version: int) -> dict[str, Any]:
    """Return schema ``name`` at ``version`` as a JSON object (not yet parsed by fastavro)."""
    loaded: dict[str, Any] = json.loads(load_schema_text(name, version))
    return loaded


def available_versions(name: str) -> list[int]:
    """Return the versions of schema ``name`` that ship, ascending."""
    versions = []
    for entry in resources.files(__name__).iterdir():
        stem = entry.name
        if stem.startswith(f"{name}.v") and stem.endswith(".avsc"):
            versions.append(int(stem[len(name) + 2 : -len(".avsc")]))
    return sorted(versions)
