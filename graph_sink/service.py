"""The graph sink service: ``lineage.graph`` -> graph, at least once, idempotently.

Loop (:func:`run_sink`)::

    at start-up: read topics.erasures to its end and apply the erasure list to the graph
    (graph_sink.erasure_log), so even the first write leaves erased statistics out
    at start-up: seed the freshness gauges from the graph's write history (the writes
    `lineage freshness` counts), so datasets whose jobs have stopped keep their series
    take up to sink.batch_size records: wait at most sink.batch_timeout_s for the first,
    then the ones already fetched
    decode each with AvroCodec("graph_mutations")    -> undecodable: dead letter
    write all mutations with GraphWriter (one round trip, UNWIND ... MERGE per group)
    send dead letters to topics.dlq and wait for the broker's ack
    hooks.after_write(batch)                            (tests simulate a crash here)
    commit the batch's offsets (synchronous)            -> only now is the batch done
    metrics; hooks.after_commit(batch)

A crash anywhere before the commit leaves the offsets where they were: the restarted sink
reads the records again and rewrites them, which changes nothing (MERGE with min/max/terminal
rules), so the graph ends equal to that of an uninterrupted run.

Failures:

- retryable (:class:`GraphUnavailable`, a DLQ the broker did not ack): the assigned
  partitions are paused (the consumer keeps polling so it stays in its group; anything it still
  hands out is sought back), the write is retried with exponential backoff and jitter
  (tenacity; 0.2 s doubling to 10 s) up to ``sink.max_retries`` attempts (0 = until it works),
  then consumption resumes. While a :class:`GraphUnavailable` is being retried the gauge
  ``lineage_sink_graph_waiting`` is 1 (``lineage status`` shows it). When the attempts run out
  :func:`run_sink` raises :class:`GraphUnavailable` without committing.
- not retryable (:class:`GraphError`: the graph refuses the batch): the batch is bisected
  (:meth:`GraphWriter.write_isolating`: halves written again until each refused range is one
  record; every write still retried as above), the good records are written and each refused
  one goes to the DLQ (reason ``graph_rejected``, ``detail`` starting ``field <Label.prop>:``).
  When every record of a batch of several is refused, the graph is probed with a read first:
  a probe that fails too means the graph, not the data, is at fault, and the error propagates
  instead of dead-lettering the batch. One bad record never blocks the topic.
- stop requested (SIGTERM/SIGINT via ``stop_event``): the in-flight batch is finished and
  committed, then the consumer closes; if the graph is down at that moment the batch is
  abandoned uncommitted (it will be re-read).

Consumer settings: ``group.id = sink.group_id``, ``enable.auto.commit = false``,
``auto.offset.reset = earliest``, ``fetch.wait.max.ms = 50`` (Tansu holds a fetch for all
of it), ``session.timeout.ms = 10000`` (a Tansu broker answers a JoinGroup after half the
session timeout); override either with ``kafka.extra``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_never,
    stop_when_event_set,
    wait_exponential_jitter,
)

from graph_sink.dlq import DeadLetter
from graph_sink.erasure_log import ErasureLog
from graph_sink.retention import ErasureList
from graph_sink.writer import GraphWriter
from lineage_pipeline import metrics
from lineage_pipeline.codec import AvroCodec
from lineage_pipeline.errors import (
    DecodeError,
    GraphUnavailable,
    LineageError,
    TransportError,
)
from lineage_pipeline.freshness import DatasetWriteTracker
from lineage_pipeline.graph import GraphBackend, open_backend
from lineage_pipeline.graph.history import write_history
from lineage_pipeline.graph_model import GraphMutations, NodeLabel, RelType
from lineage_pipeline.settings import LineageSettings

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Longest wait between two retries of a failed write, seconds.
MAX_BACKOFF_S = 10.0
#: How long to wait for the broker to acknowledge dead letters, seconds.
DLQ_FLUSH_TIMEOUT_S = 30.0
#: Consumer ``fetch.wait.max.ms`` unless ``kafka.extra`` sets it (see :func:`consumer_config`).
FETCH_MAX_WAIT_MS = 50


@dataclass(slots=True)
class SinkBatch:
    """One batch as it went through the sink.

    ``records``: records consumed; ``written``: mutation records written to the graph;
    ``mutations``: node + edge upserts written; ``dead_letters``: records sent to the DLQ;
    ``offsets``: next offset to commit per (topic, partition); ``write_seconds``: graph write
    time including retries; ``written_at_ms``: when the graph write succeeded (epoch ms).
    """

    records: int = 0
    written: int = 0
    mutations: int = 0
    dead_letters: int = 0
    offsets: dict[tuple[str, int], int] = field(default_factory=dict)
    write_seconds: float = 0.0
    written_at_ms: int = 0


@dataclass(slots=True)
class SinkHooks:
    """Callbacks into :func:`run_sink`, for tests and benchmarks (all optional).

    ``after_write(batch)``: the graph write and the DLQ succeeded, the offsets are not yet
    committed (raise here to simulate a crash at the worst moment).
    ``after_commit(batch)``: the batch's offsets are committed.
    """

    after_write: Callable[[SinkBatch], None] | None = None
    after_commit: Callable[[SinkBatch], None] | None = None


@dataclass(slots=True)
class SinkStats:
    """Totals of one :func:`run_sink` call."""

    batches: int = 0
    records: int = 0
    written: int = 0
    mutations: int = 0
    dead_letters: int = 0


def consumer_config(settings: LineageSettings) -> dict[str, Any]:
    """Return the librdkafka configuration of the sink's consumer (see the module docstring)."""
    conf: dict[str, Any] = {
        "auto.offset.reset": "earliest",
        "session.timeout.ms": 10000,
        "client.id": "lineage-graph-sink",
        # a broker that sits on a fetch until this runs out even when data arrives (Tansu
        # 0.6; librdkafka's default is 500 ms) would add up to that much to every record's
        # latency; Kafka answers at once, so a short wait only costs idle fetch requests
        "fetch.wait.max.ms": FETCH_MAX_WAIT_MS,
    }
    conf.update(settings.kafka.client_config())
    conf.update({"group.id": settings.sink.group_id, "enable.auto.commit": False})
    return conf


def run_sink(
    settings: LineageSettings,
    stop_event: threading.Event,
    *,
    hooks: SinkHooks | None = None,
    backend: GraphBackend | None = None,
) -> SinkStats:
    """Run the sink until ``stop_event`` is set; return what it did.

    ``backend``: write here instead of opening ``settings.graph`` (the caller then closes it).
    Raises :class:`GraphUnavailable` (or :class:`TransportError` for the DLQ) when a write
    still fails after ``sink.max_retries`` attempts, :class:`LineageError` on a fatal Kafka
    error; exceptions raised by hooks propagate. Offsets of unfinished batches are never
    committed.
    """
    own_backend = backend is None
    graph = backend if backend is not None else open_backend(settings.graph)
    sink = _Sink(settings, stop_event, hooks or SinkHooks(), graph)
    try:
        return sink.run()
    finally:
        sink.close()
        if own_backend:
            graph.close()


class _Sink:
    def __init__(
        self, settings: LineageSettings, stop_event: threading.Event, hooks: SinkHooks,
        backend: GraphBackend,
    ) -> None:
        self.settings = settings
        self.stop_event = stop_event
        self.hooks = hooks
        self.backend = backend
        self.erasure_log = ErasureLog(settings)  # no I/O here: loaded by run()
        self.erasures = ErasureList(backend, log=self.erasure_log)
        self.writer = GraphWriter(backend, settings.sink.batch_size, erasures=self.erasures)
        self.codec = AvroCodec("graph_mutations")
        self.stats = SinkStats()
        self.consumer: Consumer | None = None
        self.producer: Producer | None = None
        self.paused = False
        self.freshness = DatasetWriteTracker(settings.freshness)
        self._kafka_errors: set[int] = set()

    # -- lifecycle ---------------------------------------------------------------------------
    def run(self) -> SinkStats:
        topic = self.settings.topics.graph
        log.info("graph sink starting: topic %s, group %s, graph %s (%s)", topic,
                 self.settings.sink.group_id, self.settings.graph.name, self.backend.name)
        try:
            self._retry(self.backend.ensure_schema, "graph schema setup")
        except GraphUnavailable:
            if self.stop_event.is_set():
                return self.stats
            raise
        try:
            self._retry(self._load_erasures, "erasure list load")
        except LineageError as exc:
            if exc.is_retryable() and self.stop_event.is_set():
                return self.stats
            raise
        metrics.init_label_values("sink")
        self._seed_freshness()
        self.consumer = Consumer(consumer_config(self.settings))
        self.consumer.subscribe([topic], on_assign=_log_assign, on_revoke=_log_revoke)
        sink = self.settings.sink
        while not self.stop_event.is_set():
            messages = self._next_batch(sink.batch_size, sink.batch_timeout_s)
            if messages:
                try:
                    self._process(messages)
                except LineageError as exc:
                    if exc.is_retryable() and self.stop_event.is_set():
                        log.warning("stopping while retrying (%s): the last batch stays "
                                    "uncommitted and will be read again", exc)
                        break
                    raise
        log.info("graph sink stopped: %s", self.stats)
        return self.stats

    def _next_batch(self, size: int, timeout_s: float) -> list[Message]:
        """Up to ``size`` records: wait at most ``timeout_s`` for the first, then take the
        ones already fetched without waiting. (``consume(size, timeout)`` would wait out the
        whole timeout unless ``size`` records come, adding it to every record's latency under
        light load; under heavy load the records pile up while a batch is written, so the
        batches stay full.)"""
        assert self.consumer is not None
        first = self.consumer.poll(timeout_s)
        if first is None:
            return []
        if size <= 1:
            return [first]
        return [first, *self.consumer.consume(num_messages=size - 1, timeout=0)]

    def _load_erasures(self) -> None:
        """Read the erasure topic from its beginning to its end, then read the graph's
        erasures and scrub the graph for any only the topic knows (before the first write)."""
        self.erasure_log.load()
        self.erasures.records()

    def close(self) -> None:
        self.erasure_log.close()
        if self.consumer is not None:
            try:
                self.consumer.close()
            except (KafkaException, RuntimeError) as exc:
                log.warning("closing the consumer: %s", exc)
            self.consumer = None
        if self.producer is not None:
            left = self.producer.flush(5.0)
            if left:
                log.error("%d dead letters not delivered at shutdown", left)
            self.producer = None

    # -- one batch ---------------------------------------------------------------------------
    def _process(self, messages: Sequence[Message]) -> None:
        batch = SinkBatch()
        items: list[tuple[Message, GraphMutations]] = []
        dead: list[DeadLetter] = []
        for msg in messages:
            err = msg.error()
            if err is not None:
                self._kafka_error(err)
                continue
            topic, partition, offset = msg.topic(), msg.partition(), msg.offset()
            assert topic is not None and partition is not None and offset is not None
            key = (topic, partition)
            batch.offsets[key] = max(batch.offsets.get(key, 0), offset + 1)
            batch.records += 1
            try:
                items.append((msg, self._decode(msg.value())))
            except DecodeError as exc:
                dead.append(_dead(msg, exc.reason, exc.detail))
        if batch.records == 0:
            return
        started = time.perf_counter()
        written, refused = self._write(items) if items else ([], [])
        batch.write_seconds = time.perf_counter() - started
        batch.written_at_ms = int(time.time() * 1000)
        dead += refused
        if dead:
            self._retry(lambda: self._send_dead_letters(dead), "dead-letter delivery")
        batch.written = len(written)
        batch.mutations = sum(len(m.nodes) + len(m.edges) for m in written)
        batch.dead_letters = len(dead)
        if self.hooks.after_write is not None:
            self.hooks.after_write(batch)
        self._commit(batch)
        self._observe(batch, written)
        if self.hooks.after_commit is not None:
            self.hooks.after_commit(batch)

    def _decode(self, value: bytes | None) -> GraphMutations:
        record = self.codec.decode(value or b"")
        try:
            return GraphMutations.from_record(record)
        except (KeyError, ValueError, TypeError) as exc:
            raise DecodeError("invalid_mutations", f"{type(exc).__name__}: {exc}") from exc

    def _write(
        self, items: list[tuple[Message, GraphMutations]]
    ) -> tuple[list[GraphMutations], list[DeadLetter]]:
        """Write all mutations; on a refused batch, bisect it (refused records -> DLQ)."""
        mutations = [m for _, m in items]
        result = self.writer.write_isolating(
            mutations, attempt=lambda write: self._retry(write, "graph write"))
        if result.writes > 1:
            metrics.SINK_WRITE_ERRORS.labels(retryable="false").inc()
            log.error("graph refused a batch of %d records; bisected in %d writes: %d refused",
                      len(items), result.writes, len(result.rejected))
        if result.rejected and not result.written and len(items) > 1:
            # everything refused: make sure it is the data, not the graph (e.g. credentials)
            self._retry(partial(self.backend.query, "RETURN 1 AS ok"), "graph probe")
        dead = [_dead(items[r.index][0], "graph_rejected", r.reason()) for r in result.rejected]
        return [mutations[i] for i in result.written], dead

    def _send_dead_letters(self, dead: list[DeadLetter]) -> None:
        if self.producer is None:
            conf = self.settings.kafka.client_config()
            conf.update({"client.id": "lineage-graph-sink-dlq", "acks": "all", "linger.ms": 5})
            self.producer = Producer(conf)
        errors: list[str] = []

        def delivered(err: KafkaError | None, _msg: Message) -> None:
            if err is not None:
                errors.append(str(err))

        topic = self.settings.topics.dlq
        for d in dead:
            self.producer.produce(topic, value=d.value, key=d.key, headers=d.headers(),
                                  on_delivery=delivered)
        left = self.producer.flush(DLQ_FLUSH_TIMEOUT_S)
        if left or errors:
            raise TransportError(
                f"DLQ {topic}: {left} dead letters unacknowledged, errors: {errors[:3]}"
            )
        for d in dead:
            metrics.SINK_DLQ.labels(reason=d.reason).inc()
            log.warning("dead letter %s[%d]@%d: %s %s", d.source_topic, d.source_partition,
                        d.source_offset, d.reason, d.detail[:200])

    def _commit(self, batch: SinkBatch) -> None:
        assert self.consumer is not None
        offsets = [TopicPartition(t, p, o) for (t, p), o in sorted(batch.offsets.items())]
        try:
            self.consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            # e.g. the partitions were reassigned meanwhile: the new owner re-reads and
            # rewrites these records, which the idempotent writes make harmless.
            log.warning("offset commit failed (%s); the records will be written again", exc)

    # -- retries and pausing -----------------------------------------------------------------
    def _retry(self, fn: Callable[[], T], what: str) -> T:
        attempts = self.settings.sink.max_retries
        retrying = Retrying(
            retry=retry_if_exception(
                lambda e: isinstance(e, LineageError) and e.is_retryable()
            ),
            wait=wait_exponential_jitter(initial=0.2, max=MAX_BACKOFF_S, jitter=0.2),
            stop=(stop_after_attempt(attempts) if attempts > 0 else stop_never)
            | stop_when_event_set(self.stop_event),
            sleep=self._pause_and_wait,
            before_sleep=lambda state: self._on_retry(state, what),
            reraise=True,
        )
        try:
            return retrying(fn)
        finally:
            metrics.SINK_GRAPH_WAITING.set(0)
            self._resume()

    def _on_retry(self, state: RetryCallState, what: str) -> None:
        exc = state.outcome.exception() if state.outcome else None
        metrics.SINK_WRITE_ERRORS.labels(retryable="true").inc()
        if isinstance(exc, GraphUnavailable):
            metrics.SINK_GRAPH_WAITING.set(1)
        wait = state.next_action.sleep if state.next_action else 0.0
        log.warning("%s failed (attempt %d): %s; consumption paused, retrying in %.1f s",
                    what, state.attempt_number, exc, wait)

    def _pause_and_wait(self, seconds: float) -> None:
        """Sleep ``seconds`` with the partitions paused, polling to stay in the group."""
        consumer = self.consumer
        deadline = time.monotonic() + seconds
        if consumer is None:
            self.stop_event.wait(seconds)
            return
        if not self.paused:
            consumer.pause(consumer.assignment())
            self.paused = True
        rewound: set[tuple[str, int]] = set()
        while not self.stop_event.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            msg = consumer.poll(min(remaining, 0.25))
            if msg is not None and msg.error() is None:
                # fetched before the pause: rewind so it is consumed after the resume
                key = (msg.topic() or "", msg.partition() or 0)
                if key not in rewound:
                    rewound.add(key)
                    try:
                        consumer.seek(TopicPartition(key[0], key[1], msg.offset() or 0))
                    except KafkaException as exc:
                        log.warning("cannot rewind %s[%d]: %s", key[0], key[1], exc)

    def _resume(self) -> None:
        if self.paused and self.consumer is not None:
            self.consumer.resume(self.consumer.assignment())
        self.paused = False

    # -- metrics -----------------------------------------------------------------------------
    def _observe(self, batch: SinkBatch, written: list[GraphMutations]) -> None:
        self.stats.batches += 1
        self.stats.records += batch.records
        self.stats.written += batch.written
        self.stats.mutations += batch.mutations
        self.stats.dead_letters += batch.dead_letters
        if written:
            metrics.SINK_BATCH_SIZE.observe(batch.mutations)
            metrics.SINK_WRITE_SECONDS.observe(batch.write_seconds)
            metrics.SINK_RECORDS.inc(batch.written)
        for m in written:
            latency = (batch.written_at_ms - m.event_time) / 1000
            metrics.EVENT_TO_GRAPH_SECONDS.observe(max(0.0, latency))
            self._dataset_writes(m)
        self._lag(batch)

    def _seed_freshness(self) -> None:
        """Seed the freshness tracker with every dataset's writes already in the graph (the
        ``dataset_writes`` query of ``lineage freshness``), so a restarted sink exports the
        last-write and SLA gauges of datasets whose jobs have stopped, and keeps them stale.

        A failing query is logged and skipped: the gauges then fill in as writes arrive.
        """
        try:
            history = write_history(self.backend)
        except LineageError as exc:
            log.warning("freshness not seeded from the graph: %s", exc)
            return
        for ds in history:
            self.freshness.seed(ds.dataset, ds.namespace, ds.kind, ds.times)
        log.info("freshness seeded from the graph: %d datasets", len(history))

    def _dataset_writes(self, m: GraphMutations) -> None:
        """Record a write of every dataset a GENERATED edge of a COMPLETE run of ``m`` wrote,
        in the freshness tracker that publishes the last-write and expected-interval (SLA)
        gauges (the writes ``lineage freshness`` counts).

        The write time is the version's ``observed_at`` (its first observation), so the
        same version republished with a later run state is one write, not several.
        """
        complete = {n.uid for n in m.nodes
                    if n.label is NodeLabel.RUN and n.props.get("state") == "COMPLETE"}
        generated = {e.to_uid for e in m.edges
                     if e.type is RelType.GENERATED and e.from_uid in complete}
        if not generated:
            return
        for n in m.nodes:
            if n.label is not NodeLabel.DATASET_VERSION or n.uid not in generated:
                continue
            dataset = n.props.get("dataset_uid")
            if not isinstance(dataset, str):
                continue
            observed = n.props.get("observed_at")
            when_ms = observed if isinstance(observed, int | float) else m.event_time
            self.freshness.record(
                dataset,
                str(n.props.get("namespace") or ""),
                str(n.props.get("kind") or "dataset"),
                when_ms / 1000,
            )

    def _lag(self, batch: SinkBatch) -> None:
        assert self.consumer is not None
        lag: dict[str, int] = {}
        for (topic, partition), next_offset in batch.offsets.items():
            try:
                _, high = self.consumer.get_watermark_offsets(
                    TopicPartition(topic, partition), cached=True
                )
            except KafkaException:
                continue
            if high >= 0:
                lag[topic] = lag.get(topic, 0) + max(0, high - next_offset)
        for topic, value in lag.items():
            group = self.settings.sink.group_id
            metrics.CONSUMER_LAG.labels(consumer=group, topic=topic).set(value)

    def _kafka_error(self, err: KafkaError) -> None:
        if err.fatal():
            raise LineageError(f"fatal Kafka consumer error: {err}")
        if err.code() not in self._kafka_errors:  # log each kind once
            self._kafka_errors.add(err.code())
            log.warning("Kafka consumer: %s", err)


def _dead(msg: Message, reason: str, detail: str) -> DeadLetter:
    return DeadLetter(
        key=msg.key(),
        value=msg.value(),
        reason=reason,
        detail=detail,
        source_topic=msg.topic() or "",
        source_partition=msg.partition() or 0,
        source_offset=msg.offset() or 0,
    )


def _log_assign(_consumer: Consumer, partitions: list[TopicPartition]) -> None:
    log.info("assigned %s", [f"{p.topic}[{p.partition}]" for p in partitions])


def _log_revoke(_consumer: Consumer, partitions: list[TopicPartition]) -> None:
    log.info("revoked %s", [f"{p.topic}[{p.partition}]" for p in partitions])
