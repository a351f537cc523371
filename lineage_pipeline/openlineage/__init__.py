"""Conversion between :class:`LineageEvent` and OpenLineage RunEvent JSON.

Built with openlineage-python's model (``openlineage.client.event_v2`` and the generated
facet classes), so names and shapes are the spec's (https://openlineage.io/spec/2-0-2/):

=================================  ===============================================
LineageEvent                       OpenLineage RunEvent
=================================  ===============================================
eventTime (epoch ms)               eventTime (ISO 8601, UTC, milliseconds)
run.parent                         run.facets.parent (with root)
run.facets.nominalTime (ms)        run.facets.nominalTime (ISO 8601)
run.facets.error                   run.facets.errorMessage
run.facets.parameters              run.facets.executionParameters (key, value)
run.facets.codeVersion             job.facets.sourceCodeLocation (type git, url/repoUrl,
                                   version, branch, path) + lineagePipeline_codeVersion
                                   (dirty)
run.facets.environment             run.facets.processing_engine (python, its version) +
                                   lineagePipeline_environment (packages, host, ...)
job.facets.jobType / sql           job.facets.jobType / sql
dataset.kind                       facets.datasetType (upper case)
dataset.facets.schema              facets.schema (field ``tags`` -> facets.tags, per field)
dataset.facets.columnLineage       facets.columnLineage (fields; ``dataset`` part kept)
dataset.facets.symlinks            facets.symlinks
dataset.facets.dataSource          facets.dataSource
dataset.version                    facets.version (datasetVersion)
dataset.facets.statistics          inputFacets.dataQualityMetrics /
                                   outputFacets.outputStatistics (standard view) and
                                   facets.lineagePipeline_statistics (exact, with means)
=================================  ===============================================

What OpenLineage has no facet for travels in custom facets named with the prefix
``lineagePipeline_`` (each with ``_producer`` and ``_schemaURL``): run facets ``_event``
(eventId, truncated), ``_codeVersion`` (what ``sourceCodeLocation`` cannot say),
``_metrics``, ``_environment``; dataset facets ``_contentDigest``, ``_dataset`` (a kind
``datasetType`` cannot carry), ``_statistics``. Events of older SDK versions, which sent
``_parameters``, a whole ``_codeVersion`` and always ``_dataset``, still read the same. A third
party's ``sourceCodeLocation`` also gives the run's code version and stays a job facet.

The ``extra`` maps (facet name -> JSON text) become facets of that name; input/output
facets are kept in a dataset's ``extra`` as ``inputFacets.<name>`` / ``outputFacets.<name>``.
``to -> from`` returns the typed part unchanged (extras compare as JSON values). Reading a
third-party event: unknown facets go to ``extra``; the event id is the ``_event`` facet's,
else a UUIDv5 of the event's canonical JSON (so a redelivered event keeps its id).

Modules: :mod:`~lineage_pipeline.openlineage.run_event` (events, run and job facets),
:mod:`~lineage_pipeline.openlineage.datasets` (datasets and their facets),
:mod:`~lineage_pipeline.openlineage.facets` (the custom facet classes) and
:mod:`~lineage_pipeline.openlineage.values` (times, JSON facet text).
"""

from __future__ import annotations

from lineage_pipeline.openlineage.facets import (
    PREFIX,
    SCHEMA_BASE,
    CodeVersionRunFacet,
    ContentDigestDatasetFacet,
    DatasetKindDatasetFacet,
    EnvironmentRunFacet,
    EventRunFacet,
    MetricsRunFacet,
    ParametersRunFacet,
    StatisticsDatasetFacet,
)
from lineage_pipeline.openlineage.run_event import (
    from_openlineage_dict,
    from_openlineage_json,
    to_openlineage_dict,
    to_openlineage_event,
    to_openlineage_json,
)
from lineage_pipeline.openlineage.values import iso_to_ms, ms_to_iso

__all__ = [
    "PREFIX",
    "SCHEMA_BASE",
    "CodeVersionRunFacet",
    "ContentDigestDatasetFacet",
    "DatasetKindDatasetFacet",
    "EnvironmentRunFacet",
    "EventRunFacet",
    "MetricsRunFacet",
    "ParametersRunFacet",
    "StatisticsDatasetFacet",
    "from_openlineage_dict",
    "from_openlineage_json",
    "iso_to_ms",
    "ms_to_iso",
    "to_openlineage_dict",
    "to_openlineage_event",
    "to_openlineage_json",
]
