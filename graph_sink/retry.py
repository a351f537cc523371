"""Retries of the sink's graph writes and DLQ deliveries, with consumption paused meanwhile.

A retryable :class:`~lineage_pipeline.errors.LineageError` (the graph is unavailable, the
broker did not acknowledge dead letters) is retried with exponential backoff and jitter
(0.2 s doubling to :data:`MAX_BACKOFF_S`) up to ``sink.max_retries`` attempts (0 = until it
works) or until the stop event is set. Between attempts the consumer's partitions are paused
and it keeps polling, so it stays in its group; a record fetched before the pause is sought
back so it is consumed after the resume. While a
:class:`~lineage_pipeline.errors.GraphUnavailable` is being retried the gauge
``lineage_sink_graph_waiting`` is 1.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from confluent_kafka import Consumer, KafkaException, TopicPartition
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_never,
    stop_when_event_set,
    wait_exponential_jitter,
)

from lineage_pipeline import metrics
from lineage_pipeline.errors import GraphUnavailable, LineageError

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Longest wait between two retries of a failed write, seconds.
MAX_BACKOFF_S = 10.0


class PausingRetry:
    """Runs a callable until it succeeds, pausing ``consumer`` (once set) between attempts."""

    def __init__(self, max_retries: int, stop_event: threading.Event) -> None:
        self.max_retries = max_retries
        self.stop_event = stop_event
        self.consumer: Consumer | None = None
        self.paused = False

    def __call__(self, fn: Callable[[], T], what: str) -> T:
        """Return ``fn()``, retrying retryable errors; the last error propagates."""
        attempts = self.max_retries
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
