"""The transport interface, the message envelope and rate-limited drop accounting."""

from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

from lineage_pipeline.events import LineageEvent
from lineage_pipeline.metrics import EMITTER_DROPPED, EMITTER_EVENTS

log = logging.getLogger("emitters")


@dataclass(frozen=True, slots=True)
class Envelope:
    """One encoded event ready to send.

    ``event``: the (possibly size-capped) event; ``key``: Kafka message key
    (:meth:`LineageEvent.partition_key`); ``value``: the Avro-framed bytes; ``topic``: where to.
    """

    event: LineageEvent
    key: bytes
    value: bytes
    topic: str


class Transport(ABC):
    """Hands encoded events to a destination. Called from the client's background thread.

    ``send`` must not block for long (no broker round trip); it raises
    :class:`~lineage_pipeline.errors.TransportError` when the event could not be accepted.
    """

    kind: ClassVar[str] = ""

    @abstractmethod
    def send(self, envelope: Envelope) -> None:
        """Accept one event for delivery; raises ``TransportError`` if it cannot."""

    def flush(self, timeout_s: float) -> int:
        """Wait up to ``timeout_s`` seconds for accepted events; return how many still wait."""
        return 0

    def close(self, timeout_s: float) -> None:  # noqa: B027 - optional hook
        """Flush within ``timeout_s`` seconds and release resources. Never raises."""

    def after_fork(self) -> None:  # noqa: B027 - optional hook
        """Reset per-process state in a forked child (threads and sockets do not survive)."""


class DropLog:
    """Counts dropped events in Prometheus and logs them at most once per ``interval_s``.

    ``drop(reason)`` increments ``lineage_emitter_dropped_total{reason}`` and
    ``lineage_emitter_events_total{outcome="dropped"}``; the warning names how many events
    were dropped for each reason since the last warning. Thread-safe; never raises.
    """

    def __init__(self, interval_s: float = 60.0, what: str = "lineage events") -> None:
        self.interval_s = interval_s
        self.what = what
        self._lock = threading.Lock()
        self._pending: dict[str, int] = {}
        self._last = float("-inf")
        self.total = 0

    def drop(self, reason: str, detail: str = "") -> None:
        """Count one dropped event for ``reason``; log if the interval has passed."""
        try:
            EMITTER_DROPPED.labels(reason).inc()
            EMITTER_EVENTS.labels("dropped").inc()
            with self._lock:
                self.total += 1
                self._pending[reason] = self._pending.get(reason, 0) + 1
                now = time.monotonic()
                if now - self._last < self.interval_s:
                    return
                self._last = now
                summary = ", ".join(f"{n} {r}" for r, n in sorted(self._pending.items()))
                self._pending.clear()
            log.warning("dropped %s (%s)%s", self.what, summary, f": {detail}" if detail else "")
        except Exception:  # pragma: no cover - logging must never break the emitter
            pass


class RateLimitedLog:
    """Logs a warning at most once per ``interval_s`` seconds per key; never raises."""

    def __init__(self, interval_s: float = 60.0) -> None:
        self.interval_s = interval_s
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()

    def warning(self, key: str, msg: str, *args: object) -> None:
        """Log ``msg % args`` unless ``key`` was logged within the interval."""
        try:
            now = time.monotonic()
            with self._lock:
                if now - self._last.get(key, float("-inf")) < self.interval_s:
                    return
                self._last[key] = now
            log.warning(msg, *args)
        except Exception:  # pragma: no cover
            pass
