"""``python -m stream_processor``: run the stream processor until SIGTERM/SIGINT.

Configuration comes from :class:`~lineage_pipeline.settings.LineageSettings` (environment
``LINEAGE_<SECTION>__<KEY>``, the YAML file named by ``LINEAGE_CONFIG``, defaults). It exposes
Prometheus metrics on ``processor.metrics_port``, creates missing topics (the tables'
changelogs too), then runs the Faust worker; the log line ``stream processor ready`` marks
the first completed partition assignment. Exit status: 0 after a clean stop, 2 on a
configuration error, 1 when the broker cannot be reached.
"""

from __future__ import annotations

import logging
import sys

from lineage_pipeline.errors import ConfigError, LineageError
from lineage_pipeline.gc_tuning import tune_for_service
from lineage_pipeline.metrics import serve_metrics
from lineage_pipeline.settings import load_settings

log = logging.getLogger("stream_processor")


def main() -> int:
    """Run the processor; return the process exit status."""
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = load_settings()
    except ConfigError as exc:
        log.error("configuration error: %s", exc)
        return 2
    import faust  # deferred: importing Faust is slow and only needed from here on

    from stream_processor.app import build_app
    from stream_processor.topics import changelog_topics, create_missing, ensure_topics

    try:
        partitions = ensure_topics(settings)
        app = build_app(settings, partitions)
        create_missing(settings, changelog_topics(app))  # visible before the group join
    except ConfigError as exc:
        log.error("configuration error: %s", exc)
        return 2
    except LineageError as exc:
        log.error("%s", exc)
        return 1
    serve_metrics(settings.processor.metrics_port, settings.processor.metrics_addr)
    log.info("processor %s: broker %s, metrics on :%d", settings.processor.app_id,
             settings.kafka.bootstrap_servers, settings.processor.metrics_port)
    worker = faust.Worker(app, loglevel="INFO", quiet=True)
    tune_for_service()
    worker.execute_from_commandline()  # returns via SystemExit when stopped
    return 0


if __name__ == "__main__":
    sys.exit(main())
