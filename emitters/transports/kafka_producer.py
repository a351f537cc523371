"""The librdkafka producer behind the ``kafka`` transport: its settings and its logs.

Built by the project's one client factory (:func:`lineage_pipeline.kafka.producer`) from the
``kafka`` section (bootstrap servers, security, secrets) with the emitter's tuning as
overrides: ``acks=all``, one request in flight (``max.in.flight=1``, not idempotent),
``linger.ms``, ``message.timeout.ms`` (``emitter.kafka_producer.delivery_timeout_ms``) and any
``emitter.kafka_producer.properties`` (which win).

Why not librdkafka's idempotent producer: with it, once its five requests per partition are in
flight and a batch is ready, librdkafka's broker thread polls without sleeping until an answer
comes (hundreds of thousands of wake-ups per 10,000 events, 15-45 us of CPU per event in
``python -m bench emit``: a third of the emitter's whole cost). With one request in flight it
sleeps instead (~1-3 us per event) and delivers as fast here. Order is kept all the same:
librdkafka puts a failed request's messages back in front of the queue in their order and
sends nothing else meanwhile, so one key's events (one run hierarchy) stay in order. What
idempotence added was no duplicate when a request whose answer was lost is sent again; the
emitter's spool can repeat an event anyway (see :meth:`KafkaTransport.close
<emitters.transports.kafka.KafkaTransport.close>`) and the stream processor drops repeated
event ids. ``properties: {enable.idempotence: true}`` brings it back.

``client.id`` is ``lineage-emitter``; librdkafka's own log lines go to the
``lineage.kafka.lineage-emitter`` logger at DEBUG: connection-refused spam is expected while
the broker is down, and the transport reports the state change once itself.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from emitters.config import EmitterConfig
from emitters.transports.base import RateLimitedLog
from emitters.transports.segments import SpoolRecord
from lineage_pipeline import kafka
from lineage_pipeline.codec import integrity_header
from lineage_pipeline.errors import ConfigError, TransportError
from lineage_pipeline.metrics import EMITTER_EVENTS

#: The producer's ``client.id`` (and its logger ``lineage.kafka.<id>``).
CLIENT_ID = "lineage-emitter"


def producer_overrides(config: EmitterConfig) -> dict[str, Any]:
    """Return the emitter's producer tuning (librdkafka properties, above the ``kafka``
    settings; no secrets)."""
    kc = config.emitter.kafka_producer
    conf: dict[str, Any] = {
        "enable.idempotence": False,
        "max.in.flight.requests.per.connection": 1,
        "acks": "all",
        "linger.ms": kc.linger_ms,
        "message.timeout.ms": kc.delivery_timeout_ms,
        "reconnect.backoff.max.ms": 1000,
    }
    conf.update(kc.properties)
    return conf


def producer_config(config: EmitterConfig) -> dict[str, Any]:
    """Return the whole librdkafka configuration of the emitter's producer (secrets
    included: never log it), as :func:`create_producer` builds it."""
    return kafka.client_config(config.kafka, CLIENT_ID, overrides=producer_overrides(config),
                               quiet=True)


def create_producer(config: EmitterConfig, on_error: Callable[[KafkaError], None]) -> Producer:
    """Return a new ``Producer`` for ``config``, calling ``on_error`` with librdkafka's global
    errors (e.g. all brokers down). No network I/O happens here. Raises
    :class:`~lineage_pipeline.errors.TransportError` for settings librdkafka rejects."""
    overrides = {**producer_overrides(config), "error_cb": on_error}
    try:
        return kafka.producer(config.kafka, CLIENT_ID, overrides=overrides, quiet=True)
    except ConfigError as exc:
        raise TransportError(f"cannot create Kafka producer: {exc}") from exc


#: Delivery errors that mean the broker is unreachable (the transport switches to spooling).
DOWN_CODES = {
    KafkaError._ALL_BROKERS_DOWN,
    KafkaError._MSG_TIMED_OUT,
    KafkaError._TIMED_OUT,
}


def produce_confirmed(producer: Producer, records: list[SpoolRecord], timeout_s: float, *,
                      down: Callable[[], bool], mark_down: Callable[[KafkaError], None],
                      warn: RateLimitedLog) -> list[bool]:
    """Produce spooled ``records`` (each with its ``lineage-crc32`` header) and wait up to
    ``timeout_s`` seconds for their delivery reports; return one bool per record, ``True``
    when the broker confirmed it. Stops producing once ``down()``; a report with a
    :data:`DOWN_CODES` error calls ``mark_down``. Never raises for Kafka errors."""
    outcome = [False] * len(records)
    done = threading.Semaphore(0)
    produced = 0

    def callback(index: int) -> Any:
        def on_delivery(err: KafkaError | None, _msg: Message) -> None:
            if err is None:
                outcome[index] = True
                EMITTER_EVENTS.labels("delivered").inc()
            elif err.code() in DOWN_CODES:
                mark_down(err)
            done.release()

        return on_delivery

    for index, record in enumerate(records):
        if down():
            break
        while True:
            try:
                producer.produce(
                    record.topic, record.value, record.key or None,
                    on_delivery=callback(index), headers=[integrity_header(record.value)],
                )
                produced += 1
                break
            except BufferError:
                producer.poll(0.1)
            except KafkaException as exc:
                warn.warning("replay-produce", "replay produce failed: %s", exc)
                break
    deadline = time.monotonic() + timeout_s
    for _ in range(produced):
        while not done.acquire(timeout=0.05):
            producer.poll(0)
            if time.monotonic() >= deadline:
                return outcome
    return outcome
