"""Transports by type name, like openlineage-python's transport factory.

Built in: ``kafka`` (:mod:`.kafka`), ``spool`` (:mod:`.spool`), ``console`` (:mod:`.console`)
and ``composite`` (:mod:`.composite`). Add one with :func:`register_transport`::

    register_transport("mine", lambda config, drops: MyTransport(...))

:func:`create_transport` builds the configured one; it performs no network I/O.
"""

from __future__ import annotations

from collections.abc import Callable

from emitters.config import EmitterConfig
from emitters.transports.base import DropLog, Envelope, Transport
from emitters.transports.spool import Spool
from lineage_pipeline.errors import ConfigError

#: factory(config, drops) -> Transport
TransportFactory = Callable[[EmitterConfig, DropLog], Transport]

_REGISTRY: dict[str, TransportFactory] = {}


def register_transport(kind: str, factory: TransportFactory) -> None:
    """Register ``factory`` under type name ``kind`` (replacing any earlier one)."""
    _REGISTRY[kind] = factory


def transport_kinds() -> list[str]:
    """Return the registered type names."""
    return sorted(_REGISTRY)


def make_spool(config: EmitterConfig) -> Spool:
    """Return the spool configured in ``config`` (no file is touched yet)."""
    e = config.emitter
    return Spool(config.spool_dir, e.spool_max_bytes, e.spool_segment_bytes)


def create_transport(
    config: EmitterConfig, kind: str | None = None, drops: DropLog | None = None
) -> Transport:
    """Build the transport named ``kind`` (default: ``config.emitter.transport``).

    Raises :class:`ConfigError` for an unknown name, naming the known ones.
    """
    kind = kind or config.emitter.transport
    factory = _REGISTRY.get(kind)
    if factory is None:
        raise ConfigError(
            f"unknown emitter transport {kind!r}; known: {', '.join(transport_kinds())}"
        )
    return factory(config, drops or DropLog(config.emitter.drop_log_interval_s))


def _kafka(config: EmitterConfig, drops: DropLog) -> Transport:
    from emitters.transports.kafka import KafkaTransport

    return KafkaTransport(config, make_spool(config), drops)


def _spool(config: EmitterConfig, drops: DropLog) -> Transport:
    from emitters.transports.spool import SpoolTransport

    return SpoolTransport(make_spool(config), drops)


def _console(config: EmitterConfig, drops: DropLog) -> Transport:
    from emitters.transports.console import ConsoleTransport

    c = config.emitter.console
    return ConsoleTransport(c.stream, c.format)


def _composite(config: EmitterConfig, drops: DropLog) -> Transport:
    from emitters.transports.composite import CompositeTransport

    c = config.emitter.composite
    if "composite" in c.transports:
        raise ConfigError("emitter.composite.transports cannot contain 'composite'")
    return CompositeTransport([create_transport(config, k, drops) for k in c.transports], c.policy)


register_transport("kafka", _kafka)
register_transport("spool", _spool)
register_transport("console", _console)
register_transport("composite", _composite)

__all__ = [
    "DropLog",
    "Envelope",
    "Transport",
    "TransportFactory",
    "create_transport",
    "make_spool",
    "register_transport",
    "transport_kinds",
]
