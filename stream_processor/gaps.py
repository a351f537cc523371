"""Offsets the processor was never handed: found before the event after them, then read and
handled first, so a commit can never pass an event the processor did not see.

Why: faust-streaming 0.15.3 can ack an input message that never reached the agent, and
then commits past it. Seen in the fault scenarios under CPU load (processor logs tracing
every offset handed to the agent):

- after a restart, the first message after the committed offset is fetched before
  ``Recovery._resume_streams`` seeks and resumes the flow; the stream skips it while flow
  control is still suspended and acks it (``Stream.__aiter__``: a skipped value is acked),
  and the fetch after the seek is dropped as already read (``Consumer._drain_messages``:
  offsets below the read offset are dropped). Offset 15 of a partition was committed and
  never handled; the agent's first event was 16;
- after a broker restart, one message in the middle of a fetch (offset 92 between 91 and
  93) never reached the agent, and a later commit (120) passed it.

How: :class:`OffsetGaps` keeps, per input partition, the next offset the agent should see
(set after each rebalance from the group's committed offset, or the partition's start when
nothing is committed). An event past it means the offsets in between were skipped:
:class:`GapReader` reads them from the broker with a consumer that never joins the group
(assign, no commit) and the processor handles them before that event. An offset that holds
no record (a transaction marker) is read as nothing. An event below the expected offset is a
re-delivery after a seek (handled again; the processor dedupes by event id).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from lineage_pipeline import kafka
from lineage_pipeline.errors import TransportError
from lineage_pipeline.metrics import OFFSET_GAPS
from lineage_pipeline.settings import KafkaSettings, LineageSettings
from stream_processor.decode import message_headers
from stream_processor.dlq import SourceMessage
from stream_processor.lag import group_positions

log = logging.getLogger(__name__)

#: (topic, partition)
Partition = tuple[str, int]
#: Reads ``[start, end)`` of a partition: ``(topic, partition, start, end) -> messages``.
ReadRange = Callable[[str, int, int, int], list[SourceMessage]]
#: The offset a partition's consumption starts at: ``(topic, partition) -> offset``.
StartOffset = Callable[[str, int], int]


class OffsetGaps:
    """The next expected offset per input partition, and the messages missing before an event.

    ``read``: reads a range of offsets (:meth:`GapReader.read`); ``start_of``: the offset a
    partition's consumption starts at when :meth:`reset` was not given it
    (:meth:`GapReader.start_of`). Both may raise :class:`TransportError`.
    """

    def __init__(self, read: ReadRange, start_of: StartOffset) -> None:
        self._read = read
        self._start_of = start_of
        self._next: dict[Partition, int] = {}

    def reset(self, starts: dict[Partition, int] | None = None) -> None:
        """Forget every expectation (call after each rebalance); ``starts`` gives the offset
        each partition starts at now (its committed offset), when known."""
        self._next = dict(starts or {})

    def in_order(self, msg: SourceMessage) -> bool:
        """``True`` (and ``msg`` recorded as seen) when nothing can be missing before ``msg``:
        its partition's expectation is known and ``msg`` is not past it. No I/O; when
        ``False`` nothing changed and :meth:`before` must be called."""
        key = (msg.topic, msg.partition)
        expected = self._next.get(key)
        if expected is None or msg.offset > expected:
            return False
        self._next[key] = msg.offset + 1
        return True

    def before(self, msg: SourceMessage) -> list[SourceMessage]:
        """The messages of ``msg``'s partition that were skipped before it, oldest first
        (usually none); ``msg`` becomes the last offset seen.

        Raises :class:`TransportError` (retryable) when the expected offset or the missing
        range cannot be read; the expectation is then left as it was.
        """
        key = (msg.topic, msg.partition)
        expected = self._next.get(key)
        if expected is None:
            expected = self._start_of(msg.topic, msg.partition)
        missing: list[SourceMessage] = []
        if msg.offset > expected:
            missing = self._read(msg.topic, msg.partition, expected, msg.offset)
            OFFSET_GAPS.inc()
            log.warning("offsets %d-%d of %s[%d] never reached the processor: read %d "
                        "message(s) from the broker and handled them first", expected,
                        msg.offset - 1, msg.topic, msg.partition, len(missing))
        self._next[key] = msg.offset + 1
        return missing


class GapReader:
    """Reads committed offsets and offset ranges of the input topics for :class:`OffsetGaps`.

    ``group``: the processor's consumer group (only read, never joined or committed). The
    consumer (client id ``<group>-gaps``) is created on first use; call :meth:`close` at
    the end. Every method blocks for at most ``timeout_s`` seconds per broker request.
    """

    def __init__(self, kafka_settings: KafkaSettings, group: str, timeout_s: float = 10.0) -> None:
        self.kafka_settings = kafka_settings
        self.group = group
        self.timeout_s = timeout_s
        self._consumer: Consumer | None = None

    def _client(self) -> Consumer:
        if self._consumer is None:
            self._consumer = kafka.consumer(
                self.kafka_settings, self.group, f"{self.group}-gaps",
                overrides={"enable.auto.commit": False, "auto.offset.reset": "earliest",
                           "enable.partition.eof": True},
            )
        return self._consumer

    def starts(self, partitions: Iterable[Partition]) -> dict[Partition, int]:
        """The offset each partition's consumption starts at
        (:func:`~stream_processor.lag.group_positions`). Raises
        :class:`TransportError` when the broker does not answer."""
        wanted = [TopicPartition(t, p) for t, p in partitions]
        try:
            positions = group_positions(self._client(), wanted, self.timeout_s)
        except KafkaException as exc:
            raise TransportError(f"cannot read the committed offsets of {self.group}: {exc}") \
                from exc
        return {key: start for key, (start, _) in positions.items()}

    def start_of(self, topic: str, partition: int) -> int:
        """:meth:`starts` of one partition."""
        return self.starts([(topic, partition)])[(topic, partition)]

    def read(self, topic: str, partition: int, start: int, end: int) -> list[SourceMessage]:
        """The messages of ``[start, end)`` in ``topic[partition]``, oldest first (offsets
        without a record, e.g. transaction markers, give nothing). Raises
        :class:`TransportError` when the range cannot be read within ``timeout_s``."""
        client = self._client()
        out: list[SourceMessage] = []
        client.assign([TopicPartition(topic, partition, start)])
        deadline = time.monotonic() + self.timeout_s
        try:
            while time.monotonic() < deadline:
                msg = client.poll(min(1.0, self.timeout_s))
                if msg is None:
                    continue
                error = msg.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        return out
                    raise TransportError(f"reading {topic}[{partition}] {start}-{end}: {error}")
                offset = msg.offset()
                if offset is None or offset >= end:
                    return out
                out.append(_source_message(msg))
            raise TransportError(f"reading {topic}[{partition}] {start}-{end}: no answer "
                                 f"within {self.timeout_s:.0f} s")
        finally:
            client.unassign()

    def close(self) -> None:
        """Close the consumer (it holds no group membership)."""
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None


async def skipped_before(gaps: OffsetGaps, msg: SourceMessage) -> list[SourceMessage]:
    """``[]`` when :meth:`OffsetGaps.in_order`; else :meth:`OffsetGaps.before` in a worker
    thread, tried again every second while the broker cannot answer (the offsets after a gap
    must not commit before it is read)."""
    if gaps.in_order(msg):
        return []
    failures = 0
    while True:
        try:
            return await asyncio.to_thread(gaps.before, msg)
        except TransportError as exc:
            failures += 1
            if failures == 1:
                log.warning("%s; trying again every second", exc)
            await asyncio.sleep(1.0)


def watch_gaps(app: Any, settings: LineageSettings) -> OffsetGaps:
    """The :class:`OffsetGaps` of the input topics, reset after each rebalance to the
    group's committed offsets (read before the stream partitions resume). ``app``: the
    processor's :class:`faust.App` (its consumer's assignment and its signals)."""
    topics = settings.topics
    inputs = {topics.events, topics.openlineage}
    reader = GapReader(settings.kafka, settings.processor.app_id)
    gaps = OffsetGaps(reader.read, reader.start_of)

    async def on_rebalance_complete(sender: Any, *args: Any, **kwargs: Any) -> None:
        assigned = [(tp.topic, tp.partition) for tp in app.consumer.assignment()
                    if tp.topic in inputs]
        try:
            gaps.reset(await asyncio.to_thread(reader.starts, assigned))
        except TransportError as exc:
            log.warning("%s; each partition's start is read at its first event", exc)
            gaps.reset()

    async def close_reader(sender: Any, *args: Any, **kwargs: Any) -> None:
        await asyncio.to_thread(reader.close)

    app.on_rebalance_complete.connect(on_rebalance_complete)
    app.on_before_shutdown.connect(close_reader)
    return gaps


def _source_message(msg: Any) -> SourceMessage:
    """The :class:`SourceMessage` of a confluent-kafka message."""
    kind, stamp = msg.timestamp()
    return SourceMessage(
        topic=msg.topic(), partition=msg.partition(), offset=msg.offset(), key=msg.key(),
        value=msg.value(), timestamp_ms=stamp if kind and stamp >= 0 else None,
        headers=message_headers(msg.headers()),
    )
