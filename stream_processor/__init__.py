"""The stream processor: ``lineage.events`` (Avro lineage events) -> ``lineage.graph`` (Avro
graph mutations), bad input -> ``lineage.dlq``. Run it with ``python -m stream_processor``.

Start reading here (each module has one job; only :mod:`stream_processor.app` knows Faust):

- :mod:`lineage_pipeline.naming` (the core: the queries resolve names by it too) — one
  (namespace, name) per dataset (OpenLineage naming).
- :mod:`stream_processor.stitch` — the events of a run merged into one order-independent state.
- :mod:`stream_processor.mapping` — a stitched run -> nodes, relationships and their properties.
- :mod:`stream_processor.decode`, :mod:`stream_processor.dlq` — bytes in, dead letters out.
- :mod:`stream_processor.state` — the run and dataset-version stores (interfaces).
- :mod:`stream_processor.processor` — the per-message pipeline, free of Kafka.
- :mod:`stream_processor.app` — the Faust wiring: topics, tables, batched agent, stale timer.
- :mod:`stream_processor.table_stores` — those stores (and the aliases) on Faust tables.
- :mod:`stream_processor.topics` — creates the topics the processor uses when missing.
"""
