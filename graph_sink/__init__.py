"""The graph sink and the lineage query API.

- :mod:`graph_sink.backends` — one :class:`~graph_sink.backends.base.GraphBackend` interface,
  two backends: Neo4j over Bolt (local default, CI and production) and FalkorDB over RESP
  (the light option).
- :mod:`graph_sink.statements` — the fixed ``UNWIND $rows AS row MERGE ...`` upsert
  statements, one per node label and per (relationship type, from label, to label).
- :mod:`graph_sink.writer` — groups graph mutations and writes each group with one
  parameterised statement per ``batch_size`` rows.
- :mod:`graph_sink.service` — ``python -m graph_sink``: consume ``lineage.graph`` in batches,
  write, then commit offsets (at-least-once + idempotent writes = effectively once).
- :mod:`graph_sink.catalog` and ``graph_sink/queries/*.cypher`` — the named query catalog.
- :mod:`graph_sink.api` — :class:`~graph_sink.api.LineageGraph`, the Python query API.
- :mod:`graph_sink.cli` — the ``lineage upstream / downstream / runs / run`` commands.
- :mod:`graph_sink.compare` — schema / column-statistics / property diffs (pure functions).
- :mod:`graph_sink.testing` — hand-built mutations and graph snapshots for tests and benchmarks.
"""
