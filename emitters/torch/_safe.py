"""Failure isolation for capture code: log, count, never raise into the training loop.

Every piece of capture that runs on the user's thread goes through :class:`CaptureGuard`.
An ``Exception`` inside capture is logged (the first time per site with its traceback,
afterwards at most once per :data:`LOG_INTERVAL_S` per site) and counted, both on the guard
(``guard.errors``) and in the process-wide Prometheus counter
``lineage_emitter_capture_errors_total{integration="pytorch"}``. ``BaseException`` that is not
an ``Exception`` (``KeyboardInterrupt``, ``SystemExit``) is never swallowed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from lineage_pipeline.metrics import EMITTER_CAPTURE_ERRORS

log = logging.getLogger("emitters.torch")

#: Seconds between two log lines of the same failing capture site.
LOG_INTERVAL_S = 60.0

T = TypeVar("T")


class CaptureGuard:
    """Run capture callables so that their failures are logged and counted, not raised.

    ``errors`` is the number of failures seen by this guard (one guard per run, plus one
    process-wide guard for the checkpoint hooks).
    """

    def __init__(self, integration: str = "pytorch") -> None:
        self.errors = 0
        self._integration = integration
        self._last_log: dict[str, float] = {}
        self._lock = threading.Lock()

    def call(self, site: str, fn: Callable[[], T], default: T) -> T:
        """Return ``fn()``, or ``default`` if it raised an ``Exception`` (logged and counted)."""
        try:
            return fn()
        except Exception as exc:  # capture must never reach the caller
            self.record(site, exc)
            return default

    def record(self, site: str, exc: BaseException) -> None:
        """Count and (rate-limited) log one capture failure at ``site``; never raises."""
        try:
            with self._lock:
                self.errors += 1
                now = time.monotonic()
                last = self._last_log.get(site)
                first = last is None
                should_log = first or now - (last or 0.0) >= LOG_INTERVAL_S
                if should_log:
                    self._last_log[site] = now
            EMITTER_CAPTURE_ERRORS.labels(integration=self._integration).inc()
            if should_log:
                log.warning(
                    "lineage capture failed at %s (training continues): %s: %s",
                    site,
                    type(exc).__name__,
                    exc,
                    exc_info=exc if first else None,
                )
        except Exception:  # pragma: no cover - logging itself failed
            pass
