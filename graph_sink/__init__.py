"""The graph sink: consume ``lineage.graph``, write batches, and every other graph write.

- :mod:`graph_sink.service` -- ``python -m graph_sink``: consume ``lineage.graph`` in batches,
  write, then commit offsets (at-least-once + idempotent writes = effectively once); bad
  records go to the DLQ (:mod:`graph_sink.dlq`); retries pause consumption
  (:mod:`graph_sink.retry`); metrics and freshness gauges: :mod:`graph_sink.observe`.
- :mod:`graph_sink.statements` -- the fixed ``UNWIND $rows AS row MERGE ...`` upsert
  statements, one per node label and per (relationship type, from label, to label).
- :mod:`graph_sink.writer` -- groups graph mutations and writes each group with one
  parameterised statement per ``batch_size`` rows; :mod:`graph_sink.refusals` names the
  field of a record the graph refuses.
- :mod:`graph_sink.erasure_log` and :mod:`graph_sink.retention` -- the compacted erasure
  topic, the sink's erasure filter, and the retention / erasure writes ``lineage purge`` and
  ``lineage erase`` run.
- :mod:`graph_sink.merge` -- the dataset-identity merge ``lineage datasets merge`` runs.
- :mod:`graph_sink.testing` -- hand-built mutations and graph snapshots for tests and benchmarks.

The graph backends and the Cypher catalog are shared with the query layer and live in the
core (:mod:`lineage_pipeline.graph`); the queries are :mod:`lineage_queries`.
"""
