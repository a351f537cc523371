"""The ``kafka`` transport: confluent-kafka Producer, asynchronous, with a spool fallback.

- ``send`` calls ``Producer.produce`` with a delivery callback and returns: no flush, no
  broker round trip on the caller's path (OpenLineage's KafkaTransport flushes after every
  event by default). A background thread serves ``poll()`` (delivery callbacks, errors).
- Producer settings (:mod:`.kafka_producer`): the ``kafka`` section's ``client_config()``
  plus ``acks=all``, one request in flight (order kept), ``linger.ms``, ``message.timeout.ms``
  (``emitter.kafka_producer.delivery_timeout_ms``) and any
  ``emitter.kafka_producer.properties``. Message key: ``event.partition_key()``.
- Each message carries the ``lineage-crc32`` integrity header of its value
  (:func:`lineage_pipeline.codec.integrity_header`), recomputed on replay.
- A failed delivery (error in the delivery callback) writes the message to the spool.
  When librdkafka reports ``_ALL_BROKERS_DOWN`` (or a delivery times out), the transport
  switches to *spooling*: queued messages are purged into the spool and new ones go straight
  there, so nothing waits for a broker. Every ``probe_interval_s`` the poller asks the broker
  for metadata; once it answers, a replay thread drains the spool (oldest first, each
  record removed only after its delivery is confirmed, see :mod:`.spool`) and the transport
  switches back to direct produce when the spool is empty — so one producer's events keep
  their order. Leftover segments of earlier processes are replayed on start
  (``emitter.kafka_producer.replay_on_start``). A single failed delivery (broker up) is
  spooled and replayed the same way one probe interval later.
- ``flush`` waits until nothing is in flight and nothing this transport spooled is left
  (so it returns as soon as the replay after an outage is confirmed); ``close`` waits only
  for what is in flight: spooled events stay safe on disk for a later replay.
"""

from __future__ import annotations

import logging
import threading
import time

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from emitters.config import EmitterConfig
from emitters.transports.base import DropLog, Envelope, RateLimitedLog, Transport
from emitters.transports.kafka_producer import (
    DOWN_CODES,
    create_producer,
    produce_confirmed,
    producer_config,
)
from emitters.transports.spool import ReplayResult, Spool, SpoolRecord
from lineage_pipeline.codec import integrity_header
from lineage_pipeline.errors import TransportError
from lineage_pipeline.metrics import EMITTER_EVENTS

log = logging.getLogger("emitters.kafka")
_DELIVERED = EMITTER_EVENTS.labels("delivered")
_SPOOLED = EMITTER_EVENTS.labels("spooled")


class KafkaTransport(Transport):
    """Asynchronous Kafka producer with spool fallback and automatic replay.

    ``config``: the resolved emitter configuration; ``spool``: where undeliverable events
    go (``None``: they are dropped and counted). The constructor does no network I/O: the
    producer and its poller start with the first ``send``.
    """

    kind = "kafka"

    def __init__(
        self,
        config: EmitterConfig,
        spool: Spool | None = None,
        drops: DropLog | None = None,
    ) -> None:
        self.config = config
        self.spool = spool
        self.drops = drops or DropLog(config.emitter.drop_log_interval_s)
        self._warn = RateLimitedLog(config.emitter.drop_log_interval_s)
        producer_config(config)  # unusable kafka settings raise ConfigError here, not later
        self._probe_interval = config.emitter.kafka_producer.probe_interval_s
        self._lock = threading.Lock()
        self._producer: Producer | None = None
        self._poller: threading.Thread | None = None
        self._replayer: threading.Thread | None = None
        self._stop = threading.Event()
        self._spooling = False
        self._down = False
        self._purge_needed = False
        self._next_probe = 0.0
        self._next_replay = 0.0
        self._closed = False
        self._replay_pending = False
        self._fatal = False
        #: messages this transport spooled since its spool was last drained
        self._spooled_pending = 0

    # -- lifecycle -----------------------------------------------------------------------
    def _ensure_started(self) -> Producer:
        producer = self._producer
        if producer is not None:
            return producer
        with self._lock:
            if self._producer is None:
                self._producer = self._new_producer()
                self._stop.clear()
                self._poller = threading.Thread(
                    target=self._poll_loop, name="lineage-kafka-poller", daemon=True
                )
                self._poller.start()
                if (
                    self.spool is not None
                    and self.config.emitter.kafka_producer.replay_on_start
                    and self._has_replayable()
                ):
                    self._next_replay = 0.0
                    self._replay_pending = True
            return self._producer

    def _new_producer(self) -> Producer:
        return create_producer(self.config, self._on_error)

    def _has_replayable(self) -> bool:
        assert self.spool is not None
        try:
            return self.spool.has_replayable()
        except OSError:
            return False

    def _replace_fatal_producer(self, old: Producer) -> None:
        """A fatal error (e.g. a sequence failure with ``enable.idempotence`` set) makes a
        producer unusable: its messages go to the spool and a new producer takes over."""
        self._fatal = False
        try:
            old.purge(in_queue=True, in_flight=True, blocking=False)
            old.poll(0)
        except Exception as exc:
            self._warn.warning("fatal-purge", "purging the failed producer: %s", exc)
        with self._lock:
            self._producer = self._new_producer()

    # -- sending -------------------------------------------------------------------------
    def send(self, envelope: Envelope) -> None:
        """Produce asynchronously, or append to the spool while the broker is unreachable."""
        if self._closed:
            raise TransportError("Kafka transport is closed")
        producer = self._ensure_started()
        with self._lock:
            if self._spooling:
                self._to_spool(envelope.topic, envelope.key, envelope.value)
                return
        try:
            producer.produce(
                envelope.topic, envelope.value, envelope.key, on_delivery=self._on_delivery,
                headers=[integrity_header(envelope.value)],
            )
        except BufferError:
            self._to_spool(envelope.topic, envelope.key, envelope.value)
        except KafkaException as exc:
            self._warn.warning("produce", "Kafka produce failed, spooling: %s", exc)
            self._to_spool(envelope.topic, envelope.key, envelope.value)

    def _to_spool(self, topic: str, key: bytes | None, value: bytes | None) -> None:
        if value is None:
            return
        if self.spool is None:
            self.drops.drop("broker_unreachable", "no spool configured")
            return
        try:
            ok = self.spool.append(SpoolRecord(topic, key or b"", value))
        except OSError as exc:
            self.drops.drop("spool_error", f"cannot write spool {self.spool.directory}: {exc}")
            return
        if ok:
            _SPOOLED.inc()
            self._spooled_pending += 1
            if not self._spooling:  # a single failed delivery: replay it soon
                self._next_replay = time.monotonic() + self._probe_interval
                self._replay_pending = True
        else:
            self.drops.drop("spool_full", f"spool {self.spool.directory} is full")

    def _on_delivery(self, err: KafkaError | None, msg: Message) -> None:
        if err is None:
            _DELIVERED.inc()
            return
        if err.code() in DOWN_CODES:
            self._mark_down(err)
        elif err.code() != KafkaError._PURGE_QUEUE:
            self._warn.warning("delivery", "Kafka delivery failed, spooling: %s", err)
        self._to_spool(msg.topic() or self.config.topic, msg.key(), msg.value())

    def _on_error(self, err: KafkaError) -> None:
        if err.code() == KafkaError._ALL_BROKERS_DOWN:
            self._mark_down(err)
        elif err.fatal():
            self._warn.warning("fatal", "Kafka producer fatal error, replacing it: %s", err)
            self._fatal = True
            self._mark_down(err)

    def _mark_down(self, err: KafkaError) -> None:
        with self._lock:
            if not self._down:
                self._warn.warning(
                    "down",
                    "Kafka broker %s unreachable (%s); spooling lineage events to %s",
                    self.config.kafka.bootstrap_servers,
                    err.name(),
                    self.spool.directory if self.spool else "nowhere (no spool)",
                )
            self._down = True
            self._spooling = True
            self._purge_needed = True
            self._next_probe = time.monotonic() + self._probe_interval

    # -- background ----------------------------------------------------------------------
    def _poll_loop(self) -> None:
        while not self._stop.is_set():
            producer = self._producer
            if producer is None:
                return
            try:
                producer.poll(0.05)
                if self._fatal:
                    self._replace_fatal_producer(producer)
                    continue
                if self._purge_needed:
                    self._purge_needed = False
                    producer.purge(in_queue=True, in_flight=False, blocking=False)
                    producer.poll(0)
                now = time.monotonic()
                if self._down and now >= self._next_probe:
                    self._next_probe = now + self._probe_interval
                    if self._probe(producer):
                        log.info("Kafka broker reachable again; replaying the spool")
                        with self._lock:
                            self._down = False
                        self._replay_pending = True
                        self._next_replay = 0.0
                if (
                    (self._replay_pending or (self._spooling and not self._down))
                    and now >= self._next_replay
                    and (self._replayer is None or not self._replayer.is_alive())
                ):
                    self._replay_pending = False
                    self._replayer = threading.Thread(
                        target=self._replay_loop, name="lineage-spool-replay", daemon=True
                    )
                    self._replayer.start()
            except Exception as exc:  # keep polling whatever happens
                self._warn.warning("poller", "Kafka poller error: %s", exc)
                time.sleep(0.1)

    @staticmethod
    def _probe(producer: Producer) -> bool:
        try:
            producer.list_topics(timeout=1.0)
            return True
        except KafkaException:
            return False

    def _replay_loop(self) -> None:
        try:
            while not self._stop.is_set():
                result = self.replay()
                if result.busy or result.remaining:
                    self._next_replay = time.monotonic() + 5 * self._probe_interval
                    self._replay_pending = True  # try again then
                    return
                with self._lock:
                    if self.spool is not None and self.spool.active_records:
                        self.spool.seal()
                        continue
                    self._spooling = False
                    self._spooled_pending = 0
                    return
        except Exception as exc:
            self._warn.warning("replay", "spool replay failed: %s", exc)
            self._next_replay = time.monotonic() + 5 * self._probe_interval

    def replay(self, wait_s: float = 0.0) -> ReplayResult:
        """Replay the spool's sealed and orphaned segments through this producer."""
        if self.spool is None:
            return ReplayResult()
        self._ensure_started()
        result = self.spool.replay(self.deliver, wait_s=wait_s, stop=self._stop)
        if result.delivered or result.remaining:
            log.info(
                "spool replay: %d delivered, %d remaining, %d corrupt",
                result.delivered, result.remaining, result.corrupt,
            )
        for _ in range(result.corrupt):
            self.drops.drop("spool_corrupt")
        return result

    def deliver(self, records: list[SpoolRecord]) -> list[bool]:
        """Produce ``records`` and wait for each delivery report; ``True`` = confirmed.

        Waits at most the delivery timeout plus 5 s; unconfirmed records count as failed
        (:func:`~emitters.transports.kafka_producer.produce_confirmed`).
        """
        timeout_s = self.config.emitter.kafka_producer.delivery_timeout_ms / 1000 + 5
        return produce_confirmed(self._ensure_started(), records, timeout_s,
                                 down=lambda: self._down, mark_down=self._mark_down,
                                 warn=self._warn)

    # -- flush / close -------------------------------------------------------------------
    def _flush_producer(self, timeout_s: float) -> int:
        """Wait for the producer's outstanding deliveries; return how many are in flight."""
        producer = self._producer
        if producer is None:
            return 0
        try:
            return int(producer.flush(max(timeout_s, 0.0)))
        except KafkaException:
            return len(producer)

    def _spool_drained(self) -> bool:
        """``True`` when nothing this transport spooled waits for a replay."""
        if self.spool is None or self._spooled_pending == 0:
            return True
        replaying = self._replayer is not None and self._replayer.is_alive()
        return not (self._spooling or self._replay_pending or replaying
                    or self.spool.active_records)

    def flush(self, timeout_s: float) -> int:
        """Wait up to ``timeout_s`` seconds until every message is delivered: none in flight
        and none of this transport's spooled messages left (the spool drains by itself once
        the broker answers, see the module docstring). Returns as soon as that holds, else
        after ``timeout_s`` with the number still undelivered (in flight plus spooled)."""
        deadline = time.monotonic() + max(timeout_s, 0.0)
        while True:
            in_flight = self._flush_producer(min(0.1, max(deadline - time.monotonic(), 0.0)))
            drained = self._spool_drained()
            if in_flight == 0 and drained:
                return 0
            if time.monotonic() >= deadline:
                return in_flight + (0 if drained else self._spooled_pending)
            if in_flight == 0:
                time.sleep(0.02)

    def close(self, timeout_s: float) -> None:
        """Flush within ``timeout_s``; what is still undelivered goes to the spool.

        A message still in flight at that point may have reached the broker although
        unconfirmed; spooling it can repeat it later (the processor dedupes by eventId).
        """
        if self._closed:
            return
        self._closed = True
        producer = self._producer
        try:
            if producer is not None:
                deadline = time.monotonic() + timeout_s
                remaining = self._flush_producer(timeout_s)  # spooled events stay safe
                if remaining:
                    producer.purge(in_queue=True, in_flight=True, blocking=True)
                    producer.poll(0)
                self._stop.set()
                for thread in (self._replayer, self._poller):
                    if thread is not None and thread is not threading.current_thread():
                        thread.join(max(deadline - time.monotonic(), 0.1))
                producer.poll(0)
        except Exception as exc:
            self._warn.warning("close", "Kafka transport close failed: %s", exc)
        finally:
            self._stop.set()
            if self.spool is not None:
                self.spool.close()

    def after_fork(self) -> None:
        """The parent's producer and threads do not exist in a forked child: start anew."""
        self._lock = threading.Lock()
        self._producer = None
        self._poller = None
        self._replayer = None
        self._stop = threading.Event()
        self._spooling = self._down = self._purge_needed = self._fatal = False
        self._closed = False
        if self.spool is not None:
            self.spool.after_fork()


__all__ = ["KafkaTransport", "producer_config"]
