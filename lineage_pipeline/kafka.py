"""The one Kafka client factory: every confluent-kafka producer, consumer and admin client.

Every client of the project's processes is built here from the ``kafka`` settings
(:class:`~lineage_pipeline.settings.KafkaSettings`), so bootstrap servers, the security
protocol, TLS files and SASL credentials are applied the same way everywhere:

    configuration = defaults | KafkaSettings.client_config() | overrides | client.id, logger

- ``defaults``: the caller's tuning that ``kafka.extra`` may still change (e.g. the sink's
  ``fetch.wait.max.ms``);
- ``KafkaSettings.client_config()``: bootstrap, ``security.protocol``, ``ssl.*``, ``sasl.*``
  and ``kafka.extra``;
- ``overrides``: what the caller needs whatever the settings say (``group.id``, ``acks``...).

Consumer-only properties (:data:`CONSUMER_ONLY`, e.g. ``session.timeout.ms`` in
``kafka.extra`` for the processor) are left out of producer and admin configurations, where
librdkafka would only warn that it ignores them.

``client.id`` is the ``name`` given (the client's role, e.g. ``lineage-graph-sink``), and
librdkafka's own log lines go to the Python logger ``lineage.kafka.<name>`` (delivered when
the client is polled). Secrets (``sasl.password``, ``ssl.key.password``...) are passed to
librdkafka only: the factory logs the configuration with them redacted, and librdkafka
redacts them in its own configuration dumps.

Construction does no network I/O beyond what confluent-kafka starts itself (librdkafka
connects to the bootstrap servers in the background). A configuration librdkafka refuses
raises :class:`~lineage_pipeline.errors.ConfigError` naming the property (never its value).

:func:`ssl_context` gives non-librdkafka clients (the processor's aiokafka, through Faust)
the same TLS material as an :class:`ssl.SSLContext`.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Mapping
from typing import Any

from confluent_kafka import Consumer, KafkaException, Producer
from confluent_kafka.admin import AdminClient

from lineage_pipeline.errors import ConfigError
from lineage_pipeline.settings import KafkaSettings

log = logging.getLogger(__name__)

#: Prefix of the loggers librdkafka's log lines go to: ``lineage.kafka.<client name>``.
LOGGER_PREFIX = "lineage.kafka"

#: librdkafka consumer-only properties: dropped from producer and admin configurations.
CONSUMER_ONLY = frozenset({
    "session.timeout.ms", "heartbeat.interval.ms", "group.id", "group.instance.id",
    "auto.offset.reset", "enable.auto.commit", "auto.commit.interval.ms",
    "max.poll.interval.ms", "fetch.wait.max.ms", "fetch.min.bytes", "fetch.max.bytes",
    "enable.partition.eof", "partition.assignment.strategy", "isolation.level",
})

#: Property names whose values are secrets (never logged).
_SECRET_WORDS = ("password", "secret", "oauthbearer.config", "key.pem", "jaas")


def is_secret(name: str) -> bool:
    """``True`` for a librdkafka property name whose value must never be logged."""
    return any(word in name for word in _SECRET_WORDS)


def redacted(conf: Mapping[str, Any]) -> dict[str, Any]:
    """``conf`` with every secret value replaced by ``"***"`` and callables by their names
    (for logging)."""
    shown: dict[str, Any] = {}
    for name, value in conf.items():
        if is_secret(name):
            shown[name] = "***"
        elif callable(value) or isinstance(value, logging.Logger | logging.LoggerAdapter):
            shown[name] = (getattr(value, "name", None) or getattr(value, "__qualname__", None)
                           or type(value).__name__)
        else:
            shown[name] = value
    return shown


class _Demoted(logging.LoggerAdapter):  # type: ignore[type-arg]
    """Routes every librdkafka line to DEBUG (for clients whose caller reports broker
    trouble itself, e.g. the emitter while the broker is down)."""

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        self.logger.debug(msg, *args)


def client_logger(name: str, *, quiet: bool = False) -> logging.Logger | logging.LoggerAdapter:  # type: ignore[type-arg]
    """The logger librdkafka's lines of client ``name`` go to (``lineage.kafka.<name>``);
    ``quiet``: every line at DEBUG."""
    logger = logging.getLogger(f"{LOGGER_PREFIX}.{name}")
    return _Demoted(logger, {}) if quiet else logger


def client_config(
    kafka: KafkaSettings,
    name: str,
    *,
    defaults: Mapping[str, Any] | None = None,
    overrides: Mapping[str, Any] | None = None,
    consumer: bool = False,
    quiet: bool = False,
) -> dict[str, Any]:
    """The librdkafka configuration of client ``name`` (see the module docstring for the
    order); secrets included, so never log the result (use :func:`redacted`). Raises
    :class:`ConfigError` for SASL without a mechanism."""
    conf: dict[str, Any] = dict(defaults or {})
    conf.update(kafka.client_config())
    conf.update(overrides or {})
    if not consumer:
        conf = {k: v for k, v in conf.items() if k not in CONSUMER_ONLY}
    conf.setdefault("client.id", name)
    conf["logger"] = client_logger(name, quiet=quiet)
    return conf


def _build(kind: type[Any], conf: dict[str, Any], name: str) -> Any:
    log.debug("kafka %s %s: %s", kind.__name__, name, redacted(conf))
    try:
        return kind(conf)
    except (KafkaException, ValueError, TypeError) as exc:
        # librdkafka names the property, never echoes a secret's value
        raise ConfigError(f"cannot create Kafka {kind.__name__} {name!r}: {exc}") from exc


def producer(
    kafka: KafkaSettings,
    name: str,
    *,
    defaults: Mapping[str, Any] | None = None,
    overrides: Mapping[str, Any] | None = None,
    quiet: bool = False,
) -> Producer:
    """A :class:`confluent_kafka.Producer` named ``name`` (its ``client.id`` and logger).

    ``defaults``/``overrides``: librdkafka properties below / above the settings' (times in
    ms as librdkafka wants them; callbacks such as ``error_cb`` go in ``overrides``).
    Raises :class:`ConfigError` when librdkafka refuses the configuration.
    """
    conf = client_config(kafka, name, defaults=defaults, overrides=overrides, quiet=quiet)
    producer_: Producer = _build(Producer, conf, name)
    return producer_


def consumer(
    kafka: KafkaSettings,
    group_id: str,
    name: str,
    *,
    defaults: Mapping[str, Any] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Consumer:
    """A :class:`confluent_kafka.Consumer` of group ``group_id`` named ``name``.

    ``group.id`` is ``group_id`` whatever the settings say; the rest as :func:`producer`.
    The consumer neither subscribes nor joins the group here. Raises :class:`ConfigError`
    when librdkafka refuses the configuration.
    """
    conf = client_config(kafka, name, defaults=defaults,
                         overrides={**(overrides or {}), "group.id": group_id}, consumer=True)
    consumer_: Consumer = _build(Consumer, conf, name)
    return consumer_


def admin(kafka: KafkaSettings, name: str,
          *, overrides: Mapping[str, Any] | None = None) -> AdminClient:
    """An :class:`confluent_kafka.admin.AdminClient` named ``name`` (requests are sent only
    when called). Raises :class:`ConfigError` when librdkafka refuses the configuration."""
    conf = client_config(kafka, name, overrides=overrides)
    admin_: AdminClient = _build(AdminClient, conf, name)
    return admin_


def ssl_context(kafka: KafkaSettings) -> ssl.SSLContext | None:
    """The TLS material of ``kafka`` as an :class:`ssl.SSLContext` for clients that are not
    librdkafka (aiokafka): ``None`` unless ``security_protocol`` is ``SSL`` or ``SASL_SSL``.

    The server certificate is verified against ``ssl_ca_location`` (else the system's CAs),
    its host name unless ``ssl_check_hostname`` is false; a client certificate/key (with
    ``ssl_key_password``) is loaded when configured. Raises :class:`ConfigError` when a
    file cannot be read or is not valid PEM (the message names no secret).
    """
    if kafka.security_protocol not in ("SSL", "SASL_SSL"):
        return None
    try:
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=kafka.ssl_ca_location)
        if kafka.ssl_certificate_location:
            password = (kafka.ssl_key_password.get_secret_value()
                        if kafka.ssl_key_password else None)
            ctx.load_cert_chain(kafka.ssl_certificate_location, kafka.ssl_key_location,
                                password)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"kafka TLS settings unusable: {exc}") from exc
    if not kafka.ssl_check_hostname:
        ctx.check_hostname = False  # the certificate chain is still verified
    return ctx
