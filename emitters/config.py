"""Emitter settings: which transport, queue and spool bounds, the size cap.

The emitter reads the same configuration as every other lineage-pipeline process
(:class:`lineage_pipeline.settings.LineageSettings`): Kafka connection from the ``kafka``
section, the topic from ``topics.events``, the data directory from ``data_dir``, and its own
knobs from the ``emitter`` section, validated here by :class:`EmitterSettings`.

Precedence, highest first (per key; nested sections merge key by key):

1. keyword arguments to :func:`load_emitter_config` / ``LineageClient.from_config(**overrides)``;
2. environment variables ``LINEAGE_EMITTER__<KEY>`` (e.g. ``LINEAGE_EMITTER__TRANSPORT=console``,
   ``LINEAGE_EMITTER__KAFKA_PRODUCER__LINGER_MS=10``) and ``LINEAGE_KAFKA__BOOTSTRAP_SERVERS`` etc.;
3. the YAML file given as ``config_file`` (else ``LINEAGE_CONFIG``, else ``./lineage.yaml``)::

       kafka: {bootstrap_servers: "broker:9092"}
       topics: {events: lineage.events}
       emitter:
         transport: kafka          # kafka | spool | console | composite
         queue_size: 10000
         max_event_bytes: 921600
         spool_dir: /var/spool/lineage
         spool_max_bytes: 268435456
         kafka_producer: {linger_ms: 5, delivery_timeout_ms: 30000}
         composite: {transports: [kafka, console], policy: all}

4. the defaults below.

Keyword overrides accept every :class:`EmitterSettings` field at the top level, the
``LineageSettings`` sections (``kafka``, ``topics``, ``data_dir``) and two shortcuts:
``bootstrap_servers`` (= ``kafka.bootstrap_servers``) and ``topic`` (= ``topics.events``).
Unknown keys anywhere raise :class:`~lineage_pipeline.errors.ConfigError` naming the key
(``LINEAGE_*`` environment variables included, :mod:`lineage_pipeline.environment`); the
process-wide client of a job (:func:`emitters.client.get_client`) then keeps its events in
the spool (:func:`spool_fallback_config`) rather than losing them or stopping the job.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lineage_pipeline.errors import ConfigError
from lineage_pipeline.settings import (
    KafkaSettings,
    TopicSettings,
    config_file_path,
    describe_validation_error,
    load_settings,
)

#: Default size cap of one encoded event, bytes (900 KiB: under librdkafka's and the
#: broker's 1 MB message limit with key and headers; a wider event is split into parts that
#: fit, see :mod:`emitters.size_cap`).
DEFAULT_MAX_EVENT_BYTES = 900 * 1024


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class KafkaTransportSettings(_Section):
    """``emitter.kafka_producer``: producer tuning of the ``kafka`` transport (the connection
    settings live in the top-level ``kafka`` section).

    ``delivery_timeout_ms``: librdkafka ``message.timeout.ms``; a message not acknowledged
    in this time goes to the spool. ``linger_ms``: batching delay. ``probe_interval_s``:
    while the broker is unreachable, how often the poller checks whether it is back.
    ``replay_on_start``: replay spool segments left by earlier processes once connected.
    ``properties``: further librdkafka producer properties, passed through unchanged.
    """

    delivery_timeout_ms: int = Field(default=30_000, ge=1_000)
    linger_ms: int = Field(default=5, ge=0)
    probe_interval_s: float = Field(default=1.0, gt=0)
    replay_on_start: bool = True
    properties: dict[str, str | int | float | bool] = {}


class ConsoleTransportSettings(_Section):
    """The ``console`` transport: one JSON line per event on ``stream``.

    ``format``: ``native`` (this project's event model) or ``openlineage`` (RunEvent JSON).
    """

    stream: Literal["stdout", "stderr"] = "stderr"
    format: Literal["native", "openlineage"] = "native"


class CompositeTransportSettings(_Section):
    """The ``composite`` transport: several transports and an explicit failure policy.

    ``policy``: ``all`` (send to every child; failed if any child failed), ``any`` (send to
    every child; failed only if every child failed) or ``first_success`` (try children in
    order, stop at the first that accepts the event; failed if none did).
    """

    transports: list[str] = ["kafka", "console"]
    policy: Literal["all", "any", "first_success"] = "all"


class EmitterSettings(_Section):
    """The ``emitter`` section.

    ``queue_size``: events buffered in memory between ``emit()`` and the background sender;
    beyond it new events are dropped (counted, logged). ``max_event_bytes``: size cap on the
    encoded event (facets are truncated to fit, see :mod:`emitters.size_cap`).
    ``spool_dir``: default ``<data_dir>/spool``; ``spool_max_bytes``: bound on the spool's
    total size; ``spool_segment_bytes``: size at which a spool file is sealed.
    ``drop_log_interval_s``: drops are logged at most once per interval.
    ``close_timeout_s``: how long closing at interpreter exit may wait for delivery.
    """

    transport: str = "kafka"
    queue_size: int = Field(default=10_000, gt=0)
    max_event_bytes: int = Field(default=DEFAULT_MAX_EVENT_BYTES, ge=1024)
    spool_dir: Path | None = None
    spool_max_bytes: int = Field(default=256 * 1024 * 1024, gt=0)
    spool_segment_bytes: int = Field(default=4 * 1024 * 1024, gt=0)
    drop_log_interval_s: float = Field(default=60.0, ge=0)
    close_timeout_s: float = Field(default=5.0, ge=0)
    kafka_producer: KafkaTransportSettings = KafkaTransportSettings()
    console: ConsoleTransportSettings = ConsoleTransportSettings()
    composite: CompositeTransportSettings = CompositeTransportSettings()


@dataclass(frozen=True)
class EmitterConfig:
    """Everything a :class:`~emitters.client.LineageClient` needs, resolved.

    ``emitter``: the emitter's own settings; ``kafka``: connection settings; ``topic``: the
    events topic; ``spool_dir``: absolute spool directory.
    """

    emitter: EmitterSettings
    kafka: KafkaSettings
    topic: str
    spool_dir: Path

    @property
    def transport(self) -> str:
        """The configured transport type name."""
        return self.emitter.transport


_LINEAGE_KEYS = {"kafka", "topics", "data_dir"}
_SHORTCUTS = {"bootstrap_servers", "topic"}


def load_emitter_config(
    config_file: str | Path | None = None, **overrides: Any
) -> EmitterConfig:
    """Resolve the emitter configuration from arguments, environment, file and defaults.

    ``config_file``: a YAML file used instead of ``LINEAGE_CONFIG``/``./lineage.yaml``.
    ``overrides``: see the module docstring. Raises :class:`ConfigError` naming every
    unknown or invalid key; reads the file but performs no network I/O.
    """
    emitter_over: dict[str, Any] = {}
    lineage_over: dict[str, Any] = {}
    allowed = set(EmitterSettings.model_fields) | _LINEAGE_KEYS | _SHORTCUTS
    unknown = sorted(k for k in overrides if k not in allowed)
    if unknown:
        raise ConfigError(
            "unknown emitter configuration key(s) "
            + ", ".join(repr(k) for k in unknown)
            + "; valid keys: "
            + ", ".join(sorted(allowed))
        )
    for key, value in overrides.items():
        if key == "bootstrap_servers":
            lineage_over.setdefault("kafka", {})["bootstrap_servers"] = value
        elif key == "topic":
            lineage_over.setdefault("topics", {})["events"] = value
        elif key in _LINEAGE_KEYS:
            if isinstance(value, BaseModel):
                value = value.model_dump()
            if isinstance(value, dict) and isinstance(lineage_over.get(key), dict):
                lineage_over[key] = {**value, **lineage_over[key]}
            else:
                lineage_over[key] = value
        else:
            if isinstance(value, BaseModel):
                value = value.model_dump()
            emitter_over[key] = value
    if emitter_over:
        lineage_over["emitter"] = emitter_over
    path = Path(config_file) if config_file is not None else None
    settings = load_settings(path, **lineage_over)
    try:
        emitter = EmitterSettings.model_validate(settings.emitter)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc, "emitter")) from exc
    spool_dir = emitter.spool_dir or (settings.data_dir / "spool")
    return EmitterConfig(
        emitter=emitter,
        kafka=settings.kafka,
        topic=settings.topics.events,
        spool_dir=Path(spool_dir).expanduser().absolute(),
    )


def spool_fallback_config(environ: dict[str, str] | None = None) -> EmitterConfig:
    """The configuration of an emitter whose configuration is invalid: the ``spool``
    transport only (every event kept on disk, nothing sent), default settings otherwise.
    The spool directory and events topic are taken from the environment when they are
    given there (``LINEAGE_EMITTER__SPOOL_DIR``, ``LINEAGE_DATA_DIR`` + ``/spool``,
    ``LINEAGE_TOPICS__EVENTS``; the replay sends each event to the topic it was spooled
    for), else the defaults. Never raises."""
    env = os.environ if environ is None else environ
    spool = env.get("LINEAGE_EMITTER__SPOOL_DIR") or str(
        Path(env.get("LINEAGE_DATA_DIR") or ".lineage") / "spool")
    topic = env.get("LINEAGE_TOPICS__EVENTS") or TopicSettings().events
    return EmitterConfig(emitter=EmitterSettings(transport="spool"), kafka=KafkaSettings(),
                         topic=topic, spool_dir=Path(spool).expanduser().absolute())


def config_source_description(config_file: str | Path | None = None) -> str:
    """Return a human-readable note of which file (if any) the configuration comes from."""
    path = Path(config_file) if config_file is not None else config_file_path()
    return f"config file {path}" if path is not None else "no config file (env and defaults)"
