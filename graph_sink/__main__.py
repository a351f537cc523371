"""``python -m graph_sink``: run the graph sink with the settings in effect (env / YAML).

Serves Prometheus metrics on ``sink.metrics_port`` first (the local stack waits for that port),
then runs :func:`graph_sink.service.run_sink` until SIGTERM or SIGINT: the in-flight batch is
finished and committed, then the process exits 0. A second signal exits at once (130).

Exit status: 0 stopped cleanly; 1 a fatal error; 2 bad configuration; 75 (EX_TEMPFAIL) the
graph (or the DLQ topic) stayed unavailable for ``sink.max_retries`` attempts (nothing
uncommitted is lost: a restart re-reads it). Log level: ``LINEAGE_LOG_LEVEL`` (default INFO).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from types import FrameType

from graph_sink.service import run_sink
from lineage_pipeline.errors import ConfigError, LineageError
from lineage_pipeline.gc_tuning import tune_for_service
from lineage_pipeline.metrics import serve_metrics
from lineage_pipeline.settings import load_settings

log = logging.getLogger("graph_sink")

EX_TEMPFAIL = 75


def main() -> int:
    """Run the sink process; return its exit status."""
    logging.basicConfig(
        level=os.environ.get("LINEAGE_LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        settings = load_settings()
    except ConfigError as exc:
        log.error("configuration: %s", exc)
        return 2
    try:
        serve_metrics(settings.sink.metrics_port, settings.sink.metrics_addr)
    except OSError as exc:
        log.error("cannot serve metrics on port %d: %s", settings.sink.metrics_port, exc)
        return 1
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        if stop.is_set():
            log.warning("second %s: exiting without finishing the batch",
                        signal.Signals(signum).name)
            os._exit(130)
        log.info("%s: finishing the in-flight batch, then stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    tune_for_service()
    try:
        run_sink(settings, stop)
    except ConfigError as exc:
        log.error("configuration: %s", exc)
        return 2
    except LineageError as exc:
        if exc.is_retryable():  # the graph (or the DLQ) stayed unavailable
            log.error("giving up after sink.max_retries attempts: %s", exc)
            return EX_TEMPFAIL
        log.error("graph sink failed: %s", exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
