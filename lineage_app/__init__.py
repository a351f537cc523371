"""The application shell: the ``lineage`` CLI, the local stack, the demo and pictures.

- :mod:`lineage_app.cli` -- the ``lineage`` command (``lineage_app.cli.app:main``).
- :mod:`lineage_app.localstack` -- ``lineage up / down / status``: Kafka and Neo4j from
  Maven jars, the processor and the sink, as background processes on loopback.
- :mod:`lineage_app.demo` -- ``make demo`` (``python -m lineage_app.demo``).
- :mod:`lineage_app.render` -- DOT, PNG, SVG and HTML pictures of a subgraph.
- :mod:`lineage_app.dlq` -- ``lineage dlq list / show / replay``.

It may import every other package; nothing but the tests and the benchmarks imports it.
"""
