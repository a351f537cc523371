"""The custom OpenLineage facets of this project (``lineagePipeline_*``).

What OpenLineage has no standard facet for travels in facets named with the prefix
:data:`PREFIX`. Each is an openlineage-python facet class (an ``attr`` class deriving from
``RunFacet`` or ``DatasetFacet``, so it carries ``_producer`` and ``_schemaURL``); the JSON
Schema of each lives in ``schemas/openlineage-facets.json`` (:data:`SCHEMA_BASE`).
"""

from __future__ import annotations

from typing import Any

import attr
from openlineage.client.generated.base import DatasetFacet, RunFacet

#: Name prefix of this project's custom facets (OpenLineage's convention for custom facets).
PREFIX = "lineagePipeline_"
#: The ``_schemaURL`` base of the custom facets (a ``$defs`` entry name follows).
SCHEMA_BASE = (
    "https://github.com/lineage-pipeline/lineage-pipeline/blob/main/schemas/"
    "openlineage-facets.json#/$defs/"
)


# -- run facets ------------------------------------------------------------------------------
@attr.define
class EventRunFacet(RunFacet):
    """``lineagePipeline_event``: this project's event id and the facets the size cap cut."""

    eventId: str = attr.field(default="")
    truncated: list[str] = attr.field(factory=list)

    @staticmethod
    def _get_schema() -> str:
        return SCHEMA_BASE + "EventRunFacet"


@attr.define
class CodeVersionRunFacet(RunFacet):
    """``lineagePipeline_codeVersion``: git sha, dirty flag, repository, branch, entry point."""

    gitSha: str | None = attr.field(default=None)
    dirty: bool | None = attr.field(default=None)
    repository: str | None = attr.field(default=None)
    branch: str | None = attr.field(default=None)
    entryPoint: str | None = attr.field(default=None)

    @staticmethod
    def _get_schema() -> str:
        return SCHEMA_BASE + "CodeVersionRunFacet"


@attr.define
class ParametersRunFacet(RunFacet):
    """``lineagePipeline_parameters``: the run's parameters (name -> text)."""

    parameters: dict[str, str] = attr.field(factory=dict)

    @staticmethod
    def _get_schema() -> str:
        return SCHEMA_BASE + "ParametersRunFacet"


@attr.define
class MetricsRunFacet(RunFacet):
    """``lineagePipeline_metrics``: the run's metrics (name -> number)."""

    metrics: dict[str, float] = attr.field(factory=dict)

    @staticmethod
    def _get_schema() -> str:
        return SCHEMA_BASE + "MetricsRunFacet"


@attr.define
class EnvironmentRunFacet(RunFacet):
    """``lineagePipeline_environment``: Python and package versions, host, user, platform."""

    pythonVersion: str | None = attr.field(default=None)
    packages: dict[str, str] = attr.field(factory=dict)
    host: str | None = attr.field(default=None)
    user: str | None = attr.field(default=None)
    platform: str | None = attr.field(default=None)

    @staticmethod
    def _get_schema() -> str:
        return SCHEMA_BASE + "EnvironmentRunFacet"


# -- dataset facets --------------------------------------------------------------------------
@attr.define
class ContentDigestDatasetFacet(DatasetFacet):
    """``lineagePipeline_contentDigest``: digest algorithm and lower-case hex."""

    algorithm: str = attr.field(default="sha256")
    hex: str = attr.field(default="")

    @staticmethod
    def _get_schema() -> str:
        return SCHEMA_BASE + "ContentDigestDatasetFacet"


@attr.define
class DatasetKindDatasetFacet(DatasetFacet):
    """``lineagePipeline_dataset``: the dataset's kind (table, file, model, features, ...)."""

    kind: str = attr.field(default="table")

    @staticmethod
    def _get_schema() -> str:
        return SCHEMA_BASE + "DatasetKindDatasetFacet"


@attr.define
class StatisticsDatasetFacet(DatasetFacet):
    """``lineagePipeline_statistics``: row count, bytes and per-column statistics."""

    rowCount: int | None = attr.field(default=None)
    bytes: int | None = attr.field(default=None)
    columns: list[dict[str, Any]] = attr.field(factory=list)

    @staticmethod
    def _get_schema() -> str:
        return SCHEMA_BASE + "StatisticsDatasetFacet"
