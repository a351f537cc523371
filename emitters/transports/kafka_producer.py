"""The librdkafka producer behind the ``kafka`` transport: its settings and its logs.

Settings: the ``kafka`` section's ``client_config()`` (bootstrap servers, security, secrets)
plus ``enable.idempotence``, ``acks=all``, ``linger.ms``, ``message.timeout.ms``
(``emitter.kafka_producer.delivery_timeout_ms``) and any ``emitter.kafka_producer.properties``
(which win). librdkafka's own log lines go to the ``emitters.kafka.librdkafka`` logger at
DEBUG.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer

from emitters.config import EmitterConfig
from lineage_pipeline.errors import TransportError


class _LibrdkafkaLog(logging.LoggerAdapter):  # type: ignore[type-arg]
    """Routes librdkafka's own log lines to DEBUG: connection-refused spam is expected
    while the broker is down, and the transport reports the state change once itself."""

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        self.logger.debug(msg, *args)


def producer_config(config: EmitterConfig) -> dict[str, Any]:
    """Return the librdkafka producer configuration for ``config`` (secrets included)."""
    kc = config.emitter.kafka_producer
    conf: dict[str, Any] = config.kafka.client_config()
    conf.update(
        {
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": kc.linger_ms,
            "message.timeout.ms": kc.delivery_timeout_ms,
            "reconnect.backoff.max.ms": 1000,
        }
    )
    conf.update(kc.properties)
    return conf


def create_producer(conf: dict[str, Any], on_error: Callable[[KafkaError], None]) -> Producer:
    """Return a new ``Producer`` for the settings ``conf`` (from :func:`producer_config`),
    calling ``on_error`` with librdkafka's global errors (e.g. all brokers down). No network
    I/O happens here. Raises :class:`~lineage_pipeline.errors.TransportError` for settings
    librdkafka rejects."""
    settings = dict(conf)
    settings["error_cb"] = on_error
    settings["logger"] = _LibrdkafkaLog(logging.getLogger("emitters.kafka.librdkafka"))
    try:
        return Producer(settings)
    except KafkaException as exc:
        raise TransportError(f"cannot create Kafka producer: {exc}") from exc
