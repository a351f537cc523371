"""The lineage query layer: typed answers over the graph (reads only).

- :mod:`lineage_queries.api` -- :class:`~lineage_queries.api.LineageGraph`, the Python query
  API the CLI, the demo and tools use.
- :mod:`lineage_queries.walk` -- upstream / downstream walks, as-of filtering, subgraphs.
- :mod:`lineage_queries.rootcause`, :mod:`lineage_queries.impact`,
  :mod:`lineage_queries.models`, :mod:`lineage_queries.freshness` -- the incident questions.
- :mod:`lineage_queries.compare` -- schema / column-statistics / property diffs (pure).
- :mod:`lineage_queries.pii` -- PII-tagged fields and what a role may see.
- :mod:`lineage_queries.answers` -- the shape of every answer (``TypedDict``; ``docs/queries.md``).
- :mod:`lineage_queries.shapes` -- builds the node / subgraph / run dicts answers are made of.

Cypher comes from the named catalog :mod:`lineage_pipeline.graph.catalog`; the package
imports the core only (never the sink, the processor, the emitters or the app shell).
"""
