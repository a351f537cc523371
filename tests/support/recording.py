"""In-memory sinks for what the emitters produce, for tests that need no broker.

:class:`RecordingClient` stands where a :class:`emitters.client.LineageClient` would (the
``emit`` / ``flush`` / ``close`` protocol the capture layers call) and keeps the events;
:class:`RecordingTransport` is a real :class:`emitters.transports.base.Transport` that keeps the
encoded envelopes a client would send.
"""

from __future__ import annotations

import threading

from emitters.transports.base import Envelope, Transport
from lineage_pipeline.events import EventType, LineageEvent


class RecordingClient:
    """Keeps every emitted event in :attr:`events`, in emission order (thread-safe)."""

    closed = False

    def __init__(self) -> None:
        self.events: list[LineageEvent] = []
        self._lock = threading.Lock()

    def emit(self, event: LineageEvent) -> None:
        """Keep ``event``."""
        with self._lock:
            self.events.append(event)

    def flush(self, timeout_s: float = 10.0) -> int:
        """Nothing is ever pending: returns 0."""
        return 0

    def close(self, timeout_s: float = 10.0) -> None:
        """Nothing to release."""

    def of_type(self, event_type: EventType, run_id: str | None = None) -> list[LineageEvent]:
        """The events of ``event_type`` (of run ``run_id`` when given)."""
        return [e for e in self.events
                if e.eventType == event_type and (run_id is None or e.run.runId == run_id)]

    def runs(self) -> dict[str, list[LineageEvent]]:
        """runId -> that run's events, in emission order."""
        out: dict[str, list[LineageEvent]] = {}
        for e in self.events:
            out.setdefault(e.run.runId, []).append(e)
        return out


class RecordingTransport(Transport):
    """Keeps every envelope it is given in :attr:`sent` (thread-safe)."""

    kind = "recording"

    def __init__(self) -> None:
        self.sent: list[Envelope] = []
        self._lock = threading.Lock()

    def send(self, envelope: Envelope) -> None:
        """Keep ``envelope``."""
        with self._lock:
            self.sent.append(envelope)
