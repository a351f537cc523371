"""The lineage client: ``emit()`` enqueues, a background thread encodes and sends.

``emit(event)`` on the caller's thread only appends to a bounded in-memory queue (a
``collections.deque``; a few hundred nanoseconds) and wakes the sender when it sleeps. It
never blocks and never raises: when the queue is full the event is dropped, counted in
``lineage_emitter_dropped_total{reason="queue_full"}`` and logged at most once per
``drop_log_interval_s``.

The sender thread takes every queued event at each wake-up, applies the size cap
(:mod:`emitters.size_cap`), encodes with :class:`~emitters.avro_writer.EventEncoder` (the
bytes of :class:`~lineage_pipeline.codec.EventCodec`, from a writer compiled for the schema)
and hands the bytes to the transport (:mod:`emitters.transports`). Transport failures are
counted (``lineage_emitter_events_total{outcome="failed"}``) and logged, rate-limited.

Lifecycle: threads start with the first ``emit``; ``flush()`` waits for the queue and the
transport; ``close()`` flushes and stops. Every client still open at interpreter exit is
closed with ``emitter.close_timeout_s``. A forked child starts with an empty queue and its
own transport state.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import threading
import time
import weakref
from collections import deque
from pathlib import Path
from typing import Any

from emitters.avro_writer import EventEncoder
from emitters.config import (
    DEFAULT_MAX_EVENT_BYTES,
    EmitterConfig,
    load_emitter_config,
    spool_fallback_config,
)
from emitters.size_cap import SizeCap
from emitters.transports import DropLog, Envelope, Transport, create_transport
from emitters.transports.base import RateLimitedLog
from lineage_pipeline.codec import AvroCodec, EventCodec, registry_client
from lineage_pipeline.errors import ConfigError
from lineage_pipeline.events import LineageEvent
from lineage_pipeline.metrics import EMITTER_CONFIG_ERRORS, EMITTER_EVENTS

log = logging.getLogger("emitters.client")
_QUEUED = EMITTER_EVENTS.labels("queued")
_FAILED = EMITTER_EVENTS.labels("failed")

_LIVE: weakref.WeakSet[LineageClient] = weakref.WeakSet()


class LineageClient:
    """Sends lineage events without blocking the caller.

    ``transport``: where events go; ``topic``: the Kafka topic put in each envelope;
    ``codec``: the wire codec (default Avro single-object encoding); ``queue_size``: bound
    of the in-memory queue; ``max_event_bytes``: size cap of one encoded event;
    ``drop_log_interval_s``: drops are logged at most this often; ``close_timeout_s``: the
    flush budget when closed at interpreter exit. No I/O happens in the constructor.
    """

    def __init__(
        self,
        transport: Transport,
        *,
        topic: str = "lineage.events",
        codec: EventCodec | None = None,
        queue_size: int = 10_000,
        max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
        drop_log_interval_s: float = 60.0,
        close_timeout_s: float = 5.0,
        config: EmitterConfig | None = None,
    ) -> None:
        self.transport = transport
        self.topic = topic
        self.config = config
        self.codec = codec or EventCodec()
        self.encoder = EventEncoder(self.codec)
        self.size_cap = SizeCap(self.encoder, max_event_bytes)
        self.queue_size = queue_size
        self.close_timeout_s = close_timeout_s
        self.drops = DropLog(drop_log_interval_s)
        self._warn = RateLimitedLog(drop_log_interval_s)
        self._init_runtime()
        _LIVE.add(self)

    def _init_runtime(self) -> None:
        self._queue: deque[LineageEvent] = deque()
        self._wake = threading.Event()
        self._idle = threading.Condition()
        self._inflight = 0
        self._worker: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._stopping = False
        self._closed = False

    @classmethod
    def from_config(cls, config_file: str | Path | None = None, **overrides: Any) -> LineageClient:
        """Build a client from arguments > environment > config file > defaults.

        With ``kafka.schema_registry_url`` set, events use the Confluent wire format
        (schema registered on the first send, not here). See :mod:`emitters.config` for
        the keys; raises
        :class:`~lineage_pipeline.errors.ConfigError` on unknown or invalid ones.
        """
        return cls.from_resolved(load_emitter_config(config_file, **overrides))

    @classmethod
    def from_resolved(cls, config: EmitterConfig) -> LineageClient:
        """Build a client from a resolved :class:`~emitters.config.EmitterConfig`; no
        network I/O (the transport connects on first use)."""
        drops = DropLog(config.emitter.drop_log_interval_s)
        transport = create_transport(config, drops=drops)
        e = config.emitter
        registry = registry_client(config.kafka.schema_registry_url)
        codec = EventCodec(AvroCodec("lineage_event", registry=registry)) if registry else None
        client = cls(
            transport,
            topic=config.topic,
            codec=codec,
            queue_size=e.queue_size,
            max_event_bytes=e.max_event_bytes,
            drop_log_interval_s=e.drop_log_interval_s,
            close_timeout_s=e.close_timeout_s,
            config=config,
        )
        client.drops = drops
        return client

    # -- caller's thread -----------------------------------------------------------------
    def emit(self, event: LineageEvent) -> None:
        """Queue ``event`` for sending. Never blocks, never raises.

        A full queue or a closed client drops the event (counted, logged rate-limited).
        """
        try:
            queue = self._queue
            if len(queue) >= self.queue_size:
                self.drops.drop("queue_full", f"queue of {self.queue_size} events is full")
                return
            if self._worker is None:
                if self._closed:
                    self.drops.drop("closed", "emit() after close()")
                    return
                self._start()
            queue.append(event)
            if not self._wake.is_set():
                self._wake.set()
        except Exception:  # emit never raises into the job
            with contextlib.suppress(Exception):
                self.drops.drop("emit_error")

    def _start(self) -> None:
        with self._start_lock:
            if self._worker is None:
                worker = threading.Thread(target=self._run, name="lineage-emitter", daemon=True)
                worker.start()
                self._worker = worker

    # -- sender thread -------------------------------------------------------------------
    def _run(self) -> None:
        queue = self._queue
        wake = self._wake
        while True:
            while True:
                self._inflight = 1
                try:
                    event = queue.popleft()
                except IndexError:
                    self._inflight = 0
                    break
                try:
                    self._send(event)
                finally:
                    self._inflight = 0
            with self._idle:
                self._idle.notify_all()
            if self._stopping:
                return
            wake.clear()
            if queue:
                continue
            wake.wait(0.5)

    def _send(self, event: LineageEvent) -> None:
        try:
            _QUEUED.inc()
            fitted = self.size_cap.fit_all(event)  # a wide event: several, none cut
            if not fitted:
                self.drops.drop(
                    "oversize", f"event {event.eventId} exceeds {self.size_cap.max_bytes} bytes"
                )
                return
            for capped, data in fitted:
                self.transport.send(Envelope(capped, capped.partition_key(), data, self.topic))
        except Exception as exc:
            _FAILED.inc()
            self._warn.warning(
                f"send:{type(exc).__name__}", "lineage event not sent (%s): %s",
                type(exc).__name__, exc,
            )

    # -- flush / close -------------------------------------------------------------------
    def pending(self) -> int:
        """Events queued or being sent right now (not counting the transport's buffers)."""
        return len(self._queue) + self._inflight

    def flush(self, timeout_s: float = 10.0) -> int:
        """Wait up to ``timeout_s`` seconds until every queued event is handed over and the
        transport has delivered it (with the ``kafka`` transport: none in flight and none of
        its spooled events left, see :meth:`KafkaTransport.flush
        <emitters.transports.kafka.KafkaTransport.flush>`); returns as soon as that holds.
        Return the events still pending (queued, in flight or spooled)."""
        deadline = time.monotonic() + timeout_s
        if self._worker is not None:
            with self._idle:
                while self.pending() and time.monotonic() < deadline:
                    if not self._wake.is_set():
                        self._wake.set()
                    self._idle.wait(min(0.05, max(deadline - time.monotonic(), 0.0)))
        try:
            in_transport = self.transport.flush(max(deadline - time.monotonic(), 0.0))
        except Exception as exc:
            self._warn.warning("flush", "lineage transport flush failed: %s", exc)
            in_transport = 0
        return self.pending() + in_transport

    def close(self, timeout_s: float = 10.0) -> None:
        """Flush within ``timeout_s`` seconds, stop the sender and close the transport.

        Events still queued afterwards are dropped (counted). Never raises; idempotent.
        """
        if self._closed:
            return
        deadline = time.monotonic() + timeout_s
        try:
            if self._worker is not None:
                with self._idle:
                    while self.pending() and time.monotonic() < deadline:
                        self._wake.set()
                        self._idle.wait(min(0.05, max(deadline - time.monotonic(), 0.0)))
            self._closed = True
            self._stopping = True
            self._wake.set()
            if self._worker is not None:
                self._worker.join(max(deadline - time.monotonic(), 0.1))
            for _ in range(len(self._queue)):
                self.drops.drop("closed", "client closed before the event was sent")
            self._queue.clear()
            self._worker = None
            self.transport.close(max(deadline - time.monotonic(), 0.0))
        except Exception as exc:
            self._warn.warning("close", "lineage client close failed: %s", exc)
        finally:
            self._closed = True
            _LIVE.discard(self)

    @property
    def closed(self) -> bool:
        """``True`` once :meth:`close` ran."""
        return self._closed

    def _after_fork(self) -> None:
        self._init_runtime()
        with contextlib.suppress(Exception):
            self.transport.after_fork()

    def __enter__(self) -> LineageClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- process-wide default -------------------------------------------------------------------
_default: LineageClient | None = None
_default_lock = threading.Lock()


def get_client() -> LineageClient:
    """Return the process-wide client, creating it from config file and environment on
    first use. Never raises for configuration: when the configuration is invalid (an
    unknown ``LINEAGE_*`` variable, a bad value), the client keeps every event in the local
    spool (:func:`~emitters.config.spool_fallback_config`) and a warning names what is
    wrong, so the job goes on and its lineage is sent later (``lineage spool replay``, or
    the next correctly configured client, which replays the spool when it connects)."""
    global _default
    client = _default
    if client is not None and not client.closed:
        return client
    with _default_lock:
        if _default is None or _default.closed:
            try:
                _default = LineageClient.from_config()
            except ConfigError as exc:
                fallback = spool_fallback_config()
                log.warning("lineage configuration is invalid: %s. Events of this process "
                            "go to the spool at %s until it is fixed (then `lineage spool "
                            "replay`, or the next run, sends them)", exc, fallback.spool_dir)
                EMITTER_CONFIG_ERRORS.inc()
                _default = LineageClient.from_resolved(fallback)
        return _default


def set_client(client: LineageClient | None) -> None:
    """Make ``client`` the process-wide default (``None``: create lazily again)."""
    global _default
    with _default_lock:
        _default = client


def _close_all() -> None:
    for client in list(_LIVE):
        with contextlib.suppress(Exception):
            client.close(client.close_timeout_s)


def _reset_after_fork() -> None:
    for client in list(_LIVE):
        client._after_fork()


atexit.register(_close_all)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)
