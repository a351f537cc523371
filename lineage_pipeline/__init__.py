"""lineage-pipeline core: the event model, its Avro codec, configuration and errors.

Start reading here:

- :mod:`lineage_pipeline.events` — the lineage event (an OpenLineage RunEvent with typed facets).
- :mod:`lineage_pipeline.codec` — Avro wire formats (single-object encoding, Confluent).
- :mod:`lineage_pipeline.graph_model` — node labels, relationship types and ``uid`` rules.
- :mod:`lineage_pipeline.naming` — one (namespace, name) per dataset (OpenLineage naming):
  the processor names datasets by it, the queries resolve a NODE by it.
- :mod:`lineage_pipeline.errors` — the one exception root, :class:`LineageError`.
"""

__version__ = "0.1.0"
