"""The Faust wiring of the stream processor (the only module that imports Faust).

faust-streaming (https://faust-streaming.github.io/faust/) runs one agent over
``topics.events`` (Avro) and ``topics.openlineage`` (OpenLineage JSON) that takes messages in
batches (``Stream.take_events(batch_size,
within=batch_timeout_s)``), hands each to :class:`~stream_processor.processor.EventProcessor`
and publishes the batch's graph and DLQ records through the producer's own batching. Faust
acks (and later commits) a batch's offsets only after the agent body returns, and flushes the
producer before each offset commit, so processing is at-least-once; the graph writes are
idempotent. :mod:`stream_processor.delivery` closes the two gaps Faust leaves in that
(a flush that gives up, a batch acked when a stop cancels its publication), and
:mod:`stream_processor.gaps` a third (an input message acked without reaching the agent):
the agent reads skipped offsets from the broker and handles them first.

State lives in three Faust tables (changelog topics ``<app_id>-<table>-changelog``):

- ``runs`` (Table, co-partitioned with ``topics.events``): runId -> stitched run state as
  bytes (``value_type=bytes``: Faust's raw serializer; the format is
  :class:`~stream_processor.table_stores.FaustRunStore`'s); a finished run becomes a small
  summary after ``processor.finished_grace_s`` and leaves after
  ``processor.departed_memory_s`` (:mod:`stream_processor.processor`);
- ``dataset-versions`` (GlobalTable): dataset uid -> latest generated version, readable by
  every worker whatever partition produced it; keys are digests of the uid and values
  packed bytes (:class:`~stream_processor.table_stores.FaustVersionStore`);
- ``dataset-aliases`` (GlobalTable): dataset uid -> canonical uid learned from OpenLineage
  ``symlinks`` facets (:mod:`stream_processor.identity`).

There is no dedupe table: each run remembers its latest event ids in its own state
(:attr:`~stream_processor.stitch.RunState.seen`), so they leave with it. The ``event-ids``
table (and the windowed ``dedupe`` table before it) is no longer read: the
``<app_id>-event-ids-changelog`` and ``<app_id>-dedupe-changelog`` topics can be deleted.

At start-up and after each rebalance Faust rebuilds the tables from their changelogs, up to
each partition's high watermark (Kafka's is the offset after the last record). Processing is
at-least-once: after a restart the records from the committed offsets on are handled again,
and Faust's recovery itself may hand the agent records once before and once after it seeks
the stream partitions to their committed offsets (``Recovery._resume_streams`` resumes the
partitions before the seek while its fetcher runs). The graph writes are idempotent; a
record sent to the DLQ can appear there more than once (same source topic, partition and
offset in its headers).

Faust tables write their changelog to the partition of the *current event*
(``faust.streams.current_event()``, a task-local ContextVar). ``take_events`` hands the agent
a batch without setting it in the agent's task, so :func:`_as_current_event` sets it per
message, in the agent's task only: each run's state stays in its events' partition. (Not
``Stream._set_current_event``: that also rebinds ``stream.current_event``, which Faust's
background take-buffer task reads concurrently.)
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import faust
import faust.streams

from lineage_pipeline import kafka as kafka_clients
from lineage_pipeline.codec import AvroCodec, EventCodec
from lineage_pipeline.errors import ConfigError
from lineage_pipeline.graph_record import GraphRecordCodec
from lineage_pipeline.metrics import init_label_values
from lineage_pipeline.settings import (
    KafkaSettings,
    LineageSettings,
    ProcessorSettings,
    TopicSettings,
)
from stream_processor.decode import message_headers
from stream_processor.delivery import finish_publishing, make_buffer_flush_complete
from stream_processor.dlq import OutRecord, SourceMessage
from stream_processor.gaps import OffsetGaps, skipped_before, watch_gaps
from stream_processor.identity import DatasetIdentity
from stream_processor.lag import register_lag_timer
from stream_processor.processor import EventProcessor
from stream_processor.table_stores import (
    FaustAliasStore,
    FaustRunStore,
    FaustVersionStore,
)
from stream_processor.watchdog import register_watchdog

log = logging.getLogger(__name__)

#: librdkafka consumer properties in ``kafka.extra`` that map onto Faust settings (seconds).
_EXTRA_TIMEOUTS = {
    "session.timeout.ms": "broker_session_timeout",
    "heartbeat.interval.ms": "broker_heartbeat_interval",
    "request.timeout.ms": "broker_request_timeout",
}


def broker_urls(bootstrap_servers: str) -> list[str]:
    """``"h1:9092,h2:9092"`` -> ``["kafka://h1:9092", "kafka://h2:9092"]``."""
    return [f"kafka://{hp.strip()}" for hp in bootstrap_servers.split(",") if hp.strip()]


def broker_credentials(kafka: KafkaSettings) -> Any:
    """Faust ``broker_credentials`` for ``kafka.security_protocol`` (``None`` for PLAINTEXT).

    SSL: the context of :func:`lineage_pipeline.kafka.ssl_context` (the same TLS files as
    every librdkafka client: ``ssl_ca_location``, client certificate/key); SASL_PLAINTEXT /
    SASL_SSL: :class:`faust.SASLCredentials` with ``sasl_mechanism`` (PLAIN, SCRAM-SHA-256,
    SCRAM-SHA-512). Raises :class:`ConfigError` for SASL without a mechanism, and when a
    certificate file cannot be read.
    """
    protocol = kafka.security_protocol
    if protocol == "PLAINTEXT":
        return None
    ctx = kafka_clients.ssl_context(kafka)  # the TLS material every client uses
    if protocol == "SSL":
        return faust.SSLCredentials(ctx)
    if not kafka.sasl_mechanism:
        raise ConfigError("kafka.security_protocol uses SASL but kafka.sasl_mechanism is not set")
    return faust.SASLCredentials(
        username=kafka.sasl_username,
        password=kafka.sasl_password.get_secret_value() if kafka.sasl_password else None,
        ssl_context=ctx,
        mechanism=kafka.sasl_mechanism,
    )


def faust_options(settings: LineageSettings, partitions: int) -> dict[str, Any]:
    """The :class:`faust.App` keyword options for ``settings`` (no I/O).

    ``partitions`` is the events topic's partition count (tables are co-partitioned with it).
    ``kafka.extra`` may carry ``session.timeout.ms``, ``heartbeat.interval.ms`` and
    ``request.timeout.ms``; they become Faust's broker timeouts. A small session timeout
    (e.g. 6000, Kafka's minimum) moves a killed processor's partitions on within seconds.
    """
    options: dict[str, Any] = {
        "broker": broker_urls(settings.kafka.bootstrap_servers),
        "broker_credentials": broker_credentials(settings.kafka),
        "store": "memory://",
        "datadir": str(Path(settings.data_dir) / "processor"),
        "web_enabled": False,
        "topic_partitions": partitions,
        "topic_replication_factor": settings.topics.replication_factor,
        "consumer_auto_offset_reset": "earliest",
        "producer_linger": 0.005,
        "table_cleanup_interval": 60.0,
    }
    for key, option in _EXTRA_TIMEOUTS.items():
        if key in settings.kafka.extra:
            try:
                options[option] = float(settings.kafka.extra[key]) / 1000.0
            except ValueError as exc:
                raise ConfigError(f"kafka.extra.{key} must be milliseconds: {exc}") from exc
    session = options.get("broker_session_timeout")
    if session is not None and "broker_heartbeat_interval" not in options:
        options["broker_heartbeat_interval"] = min(3.0, session / 3)
    return options


#: Longest time a fetch may wait at the broker for data, ms (aiokafka ``fetch_max_wait_ms``).
#: Faust hard-codes 1500. Kafka answers a parked fetch as soon as data arrives, so a short
#: wait only costs idle fetch requests, and it bounds how long a fetch that the broker holds
#: delays the events behind it. ``kafka.extra["fetch.wait.max.ms"]`` overrides it.
DEFAULT_FETCH_MAX_WAIT_MS = 50


def limit_fetch_wait(max_wait_ms: int) -> None:
    """Make Faust's aiokafka worker consumers fetch with ``fetch_max_wait_ms = max_wait_ms``.

    Faust offers no setting for it, so this wraps its consumer factory (process-wide,
    idempotent: the last call's value wins). The attribute is aiokafka's
    ``AIOKafkaConsumer._fetch_max_wait_ms``, read when the consumer starts.
    """
    from faust.transport.drivers import aiokafka as driver

    thread_cls: Any = driver.AIOKafkaConsumerThread
    original = getattr(thread_cls, "_lineage_original_create", None)
    if original is None:
        original = thread_cls._create_worker_consumer
        thread_cls._lineage_original_create = original

    def create(self: Any, transport: Any) -> Any:
        consumer = original(self, transport)
        if hasattr(consumer, "_fetch_max_wait_ms"):
            consumer._fetch_max_wait_ms = max_wait_ms
        return consumer

    thread_cls._create_worker_consumer = create


def _as_current_event(event: Any) -> None:
    """Make ``event`` Faust's current event in this task (``None`` clears it)."""
    # faust.streams.current_event() reads this ContextVar; Faust sets it the same way when a
    # stream is iterated directly.
    faust.streams._current_event.set(weakref.ref(event) if event is not None else None)


def _as_current_message(events: dict[tuple[str, int, int], Any], msg: SourceMessage) -> None:
    """Make the Faust event ``msg`` came with (``events``: by topic, partition, offset) the
    current event (see :func:`_as_current_event`)."""
    _as_current_event(events[msg.topic, msg.partition, msg.offset])


def _codecs(settings: LineageSettings) -> tuple[EventCodec, GraphRecordCodec]:
    url = settings.kafka.schema_registry_url
    if not url:
        return EventCodec(), GraphRecordCodec()
    from confluent_kafka.schema_registry import SchemaRegistryClient

    registry = SchemaRegistryClient({"url": url})
    return (
        EventCodec(AvroCodec("lineage_event", registry=registry)),
        GraphRecordCodec(registry),
    )


#: Publishes a batch's output records (graph records and dead letters) to their topics.
Publish = Callable[[list[OutRecord]], Awaitable[None]]


@dataclass(frozen=True)
class _Tables:
    """The processor's Faust tables (see the module docstring)."""

    runs: Any
    versions: Any
    aliases: Any


def _new_app(settings: LineageSettings, parts: int) -> faust.App:
    """The bare Faust app, with the fetch wait of ``kafka.extra["fetch.wait.max.ms"]``.

    Raises :class:`ConfigError` for a fetch wait that is no number of milliseconds.
    """
    app = faust.App(settings.processor.app_id, **faust_options(settings, parts))
    try:
        limit_fetch_wait(int(settings.kafka.extra.get("fetch.wait.max.ms",
                                                      DEFAULT_FETCH_MAX_WAIT_MS)))
    except ValueError as exc:
        raise ConfigError(f"kafka.extra.fetch.wait.max.ms must be milliseconds: {exc}") from exc
    return app


def _raw_topic(app: faust.App, *names: str, partitions: int | None = None) -> Any:
    """A topic (or topics, consumed as one) of raw bytes keys and values."""
    return app.topic(*names, partitions=partitions, key_type=bytes, value_type=bytes,
                     key_serializer="raw", value_serializer="raw")


def _publisher(app: faust.App, topics: TopicSettings) -> Publish:
    """A :data:`Publish` over the graph and DLQ topics."""
    out_topics = {topics.graph: _raw_topic(app, topics.graph),
                  topics.dlq: _raw_topic(app, topics.dlq)}

    async def publish(records: list[OutRecord]) -> None:
        # Topic.send only appends to the producer's batch (aiokafka accumulator); Faust
        # flushes the producer before it commits the offsets of this batch.
        for rec in records:
            await out_topics[rec.topic].send(
                key=rec.key, value=rec.value, headers=list(rec.headers) or None
            )

    return publish


def _tables(app: faust.App, parts: int) -> _Tables:
    """Create the ``runs``, ``dataset-versions`` and ``dataset-aliases`` tables."""
    return _Tables(
        # values are bytes (raw serializer): see stream_processor.table_stores.FaustRunStore
        runs=app.Table("runs", default=None, key_type=str, value_type=bytes, partitions=parts),
        # bytes keys and values (raw serializers): see table_stores.FaustVersionStore
        versions=app.GlobalTable("dataset-versions", default=None, key_type=bytes,
                                 value_type=bytes, partitions=parts),
        aliases=app.GlobalTable("dataset-aliases", default=None, key_type=str,
                                partitions=parts),
    )


def _event_processor(settings: LineageSettings, tables: _Tables) -> EventProcessor:
    """The Kafka-free processor over the tables' stores and the configured codecs."""
    proc_settings, topics = settings.processor, settings.topics
    event_codec, graph_codec = _codecs(settings)
    return EventProcessor(
        graph_topic=topics.graph,
        dlq_topic=topics.dlq,
        runs=FaustRunStore(tables.runs),
        versions=FaustVersionStore(tables.versions),
        codec=event_codec,
        graph_codec=graph_codec,
        stale_after_s=proc_settings.stale_after_s,
        finished_grace_s=proc_settings.finished_grace_s,
        departed_memory_s=proc_settings.departed_memory_s,
        openlineage_topic=topics.openlineage,
        identity=DatasetIdentity.from_settings(settings.identity, FaustAliasStore(tables.aliases)),
    )


def _source_message(msg: Any) -> SourceMessage:
    """The :class:`SourceMessage` of a Faust message (its timestamp is seconds, ours ms)."""
    return SourceMessage(
        topic=msg.topic,
        partition=msg.partition,
        offset=msg.offset,
        key=msg.key,
        value=msg.value,
        timestamp_ms=int(msg.timestamp * 1000) if msg.timestamp else None,
        headers=message_headers(msg.headers),
    )


def _add_agent(app: faust.App, events_topic: Any, proc_settings: ProcessorSettings,
               processor: EventProcessor, publish: Publish, gaps: OffsetGaps) -> None:
    """The agent: batches of ``batch_size`` (or what ``batch_timeout_s`` brought), each
    message handled as Faust's current event (after any offsets skipped before it, see
    :mod:`stream_processor.gaps`), the batch's records published at its end."""

    @app.agent(events_topic, name="lineage-events")
    async def process_events(stream: Any) -> None:
        async for batch in stream.take_events(proc_settings.batch_size,
                                              within=proc_settings.batch_timeout_s):
            events: dict[tuple[str, int, int], Any] = {}  # message -> the event it came with
            for event in batch:
                _as_current_event(event)  # tables write to this event's partition
                msg = _source_message(event.message)
                for missed in await skipped_before(gaps, msg):
                    events[missed.topic, missed.partition, missed.offset] = event
                    processor.handle(missed)
                events[msg.topic, msg.partition, msg.offset] = event
                processor.handle(msg)
            records = processor.drain(partial(_as_current_message, events))
            _as_current_event(None)
            try:
                # a stop cancelling us here must not get the batch acked before it is handed
                # over
                await finish_publishing(publish(records))
            except BaseException:
                processor.forget_published()  # what the batch carried may not have landed
                raise


def _add_stale_timer(app: faust.App, stale_after_s: float, processor: EventProcessor,
                     publish: Publish) -> None:
    """A timer publishing the stale-run records every ``stale_after_s / 4`` seconds (1 to
    60); none when ``stale_after_s`` is 0."""
    if stale_after_s > 0:
        interval = min(60.0, max(1.0, stale_after_s / 4))

        @app.timer(interval)  # type: ignore[untyped-decorator]  # Faust's decorator is untyped
        async def mark_stale_runs() -> None:
            await publish(processor.stale_records())


def _log_when_ready(app: faust.App, settings: LineageSettings) -> None:
    """Log the app and its topics once each rebalance completes."""
    proc_settings, topics = settings.processor, settings.topics

    async def on_ready(sender: Any, *args: Any, signal: Any, **kwargs: Any) -> None:
        log.info("stream processor ready: app %s consuming %s, %s -> %s (dlq %s)",
                 proc_settings.app_id, topics.events, topics.openlineage, topics.graph,
                 topics.dlq)

    # mode's SignalHandlerT spells the ``signal`` keyword's type as a string mypy cannot match
    app.on_rebalance_complete.connect(on_ready)  # type: ignore[arg-type]


def build_app(settings: LineageSettings, partitions: int | None = None) -> faust.App:
    """Return the processor's Faust app for ``settings`` (no network I/O until it runs).

    ``partitions``: the events topic's partition count (default ``topics.partitions``).
    Raises :class:`ConfigError` for unusable Kafka settings (see :func:`faust_options`).
    """
    parts = partitions or settings.topics.partitions
    topics = settings.topics
    app = _new_app(settings, parts)
    make_buffer_flush_complete(app.producer.buffer)  # table writes delivered before commits
    # one agent over both inputs: Avro lineage events and OpenLineage JSON
    events_topic = _raw_topic(app, topics.events, topics.openlineage, partitions=parts)
    publish = _publisher(app, topics)
    processor = _event_processor(
        settings, _tables(app, parts)
    )
    _add_agent(app, events_topic, settings.processor, processor, publish,
               watch_gaps(app, settings))
    _add_stale_timer(app, settings.processor.stale_after_s, processor, publish)
    _log_when_ready(app, settings)
    init_label_values("processor")  # DLQ reasons exported at 0 from the start
    register_lag_timer(app, settings)  # lineage_consumer_lag_messages of the processor group
    register_watchdog(app, settings.processor.recovery_stall_s)  # restart when recovery stalls
    return app
