"""``lineage serve``: the HTTP API over the lineage graph (FastAPI on uvicorn; the ``serve``
extra).

- :mod:`.app`: :func:`~lineage_app.serve.app.create_app`, the application;
- :mod:`.routes_query`: every query of the CLI, the same answers as its ``--json``;
- :mod:`.routes_ingest`: OpenLineage RunEvents over HTTP (as Marquez), produced to Kafka;
- :mod:`.routes_ops`: health, metrics, the OpenAPI document, the dead-letter queue;
- :mod:`.auth`: API tokens (salted hashes at rest) and roles; :mod:`.limits`: body size and
  rate limits; :mod:`.state`: what the routes share; :mod:`.errors`: statuses of errors;
  :mod:`.models`: the shapes of the OpenAPI document; :mod:`.observe`: Prometheus metrics.

``docs/api.md`` describes the endpoints, authentication, roles and limits. Nothing here is
imported by ``lineage --help``: the CLI imports this package when ``lineage serve`` runs.
"""
