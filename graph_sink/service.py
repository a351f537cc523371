"""The graph sink service: ``lineage.graph`` -> graph, at least once, idempotently.

Loop (:func:`run_sink`)::

    at start-up: read topics.erasures to its end and apply the erasure list to the graph
    (graph_sink.erasure_log), so even the first write leaves erased statistics out
    at start-up: seed the freshness gauges from the graph's write history (the writes
    `lineage freshness` counts), so datasets whose jobs have stopped keep their series
    take up to sink.batch_size records: wait at most sink.batch_timeout_s for the first,
    then the ones already fetched
    decode each (GraphRecordCodec: graph records; generic records of earlier versions)
                                                        -> undecodable: dead letter
    expand them into upserts and write them with GraphWriter (one round trip,
    UNWIND ... MERGE per group)
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

Parts: retries with consumption paused (:mod:`graph_sink.retry`), dead letters
(:mod:`graph_sink.dlq`), totals, metrics and freshness gauges (:mod:`graph_sink.observe`).

Consumer settings: ``group.id = sink.group_id``, ``enable.auto.commit = false``,
``auto.offset.reset = earliest``, ``fetch.wait.max.ms = 50`` (a record reaches the sink at
most that long after it was written when the topic is idle), ``session.timeout.ms = 10000``
(a dead sink's partitions move to another after at most that long); override either with
``kafka.extra``. Built by
:func:`lineage_pipeline.kafka.consumer` (``client.id = lineage-graph-sink``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from graph_sink.dlq import DeadLetter, DeadLetterSender
from graph_sink.erasure_log import ErasureLog
from graph_sink.observe import SinkBatch, SinkObserver, SinkStats
from graph_sink.retention import ErasureList
from graph_sink.retry import PausingRetry
from graph_sink.writer import GraphWriter
from lineage_pipeline import kafka, metrics
from lineage_pipeline.codec import registry_client
from lineage_pipeline.errors import DecodeError, GraphUnavailable, LineageError
from lineage_pipeline.graph import GraphBackend, open_backend
from lineage_pipeline.graph_model import GraphMutations
from lineage_pipeline.graph_record import GraphRecordCodec
from lineage_pipeline.settings import LineageSettings

log = logging.getLogger(__name__)

__all__ = ["SinkBatch", "SinkHooks", "SinkStats", "run_sink"]

#: Consumer ``fetch.wait.max.ms`` unless ``kafka.extra`` sets it (:data:`CONSUMER_DEFAULTS`).
FETCH_MAX_WAIT_MS = 50


@dataclass(slots=True)
class SinkHooks:
    """Callbacks into :func:`run_sink`, for tests and benchmarks (all optional).

    ``after_write(batch)``: the graph write and the DLQ succeeded, the offsets are not yet
    committed (raise here to simulate a crash at the worst moment).
    ``after_commit(batch)``: the batch's offsets are committed.
    """

    after_write: Callable[[SinkBatch], None] | None = None
    after_commit: Callable[[SinkBatch], None] | None = None


#: The consumer's ``client.id`` (and its librdkafka logger ``lineage.kafka.<id>``).
CLIENT_ID = "lineage-graph-sink"
#: The consumer's tuning, below the ``kafka`` settings (``kafka.extra`` may change it).
CONSUMER_DEFAULTS: dict[str, Any] = {
    "auto.offset.reset": "earliest",
    "session.timeout.ms": 10000,
    # the longest a parked fetch waits (librdkafka's default is 500 ms); Kafka answers as
    # soon as data arrives, so a short wait only costs idle fetch requests
    "fetch.wait.max.ms": FETCH_MAX_WAIT_MS,
}


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
        self.codec = GraphRecordCodec(registry_client(settings.kafka.schema_registry_url))
        self.observer = SinkObserver(settings)
        self.dead_letters = DeadLetterSender(settings)
        self._retry = PausingRetry(settings.sink.max_retries, stop_event)
        self.consumer: Consumer | None = None
        self._kafka_errors: set[int] = set()

    @property
    def stats(self) -> SinkStats:
        return self.observer.stats

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
        self.observer.seed_freshness(self.backend)
        self.consumer = kafka.consumer(self.settings.kafka, self.settings.sink.group_id,
                                       CLIENT_ID, defaults=CONSUMER_DEFAULTS,
                                       overrides={"enable.auto.commit": False})
        self._retry.consumer = self.consumer
        self.consumer.subscribe([topic], on_assign=_log_assign, on_revoke=_log_revoke)
        sink = self.settings.sink
        while not self.stop_event.is_set():
            self.observer.refresh_completeness(self.backend)
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
            self._retry.consumer = None
        self.dead_letters.close()

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
            self._retry(lambda: self.dead_letters.send(dead), "dead-letter delivery")
        batch.written = len(written)
        batch.mutations = sum(len(m.nodes) + len(m.relationships) for m in written)
        batch.dead_letters = len(dead)
        if self.hooks.after_write is not None:
            self.hooks.after_write(batch)
        assert self.consumer is not None
        self._commit(batch)
        self.observer.observe(batch, written, self.consumer)
        if self.hooks.after_commit is not None:
            self.hooks.after_commit(batch)

    def _decode(self, value: bytes | None) -> GraphMutations:
        try:
            return self.codec.decode(value or b"")
        except (KeyError, IndexError, ValueError, TypeError) as exc:
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

    def _commit(self, batch: SinkBatch) -> None:
        assert self.consumer is not None
        offsets = [TopicPartition(t, p, o) for (t, p), o in sorted(batch.offsets.items())]
        try:
            self.consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            # e.g. the partitions were reassigned meanwhile: the new owner re-reads and
            # rewrites these records, which the idempotent writes make harmless.
            log.warning("offset commit failed (%s); the records will be written again", exc)

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
