"""Benchmarks, one sub-package each, run together by ``python -m bench`` (``make bench``).

Each sub-package ``bench.<name>`` exposes ``run() -> dict`` (its figures, with a boolean
``goal_met`` when it has a goal) and ``main() -> int`` (prints them; ``python -m
bench.<name>``); those that take flags also expose ``run_kwargs(argv) -> dict``, so
``python -m bench <name> --flag ...`` works too. Known: ``emit``, ``fuzz``, ``spark``,
``torch``, ``query``, ``pipeline``, ``peer`` (against data-rentgen, on Neo4j by default),
``soak`` (the local stack under chaos: kills and restarts, hostile records), ``serve``
(the HTTP API under 50 clients, queries and OpenLineage ingestion).

Every benchmark starts the servers it needs itself and stops them by pid: Apache Kafka
(KRaft) for ``emit`` and ``pipeline``; for ``query`` and ``pipeline`` each graph backend in
turn, Neo4j Community then FalkorDB (:mod:`bench.graphs`), their figures printed side by side
in one table and one JSON object per backend under ``backends``.
"""

#: Benchmarks in the order ``python -m bench`` runs them.
BENCHES = ("emit", "fuzz", "spark", "torch", "query", "pipeline", "peer", "soak", "serve")
