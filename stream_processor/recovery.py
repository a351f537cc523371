"""Table recovery that reads each changelog partition to its true end.

Faust rebuilds a table at start-up (and after every rebalance) by reading its changelog
topic from the beginning up to the partition's high watermark, taken once from a
ListOffsets(LATEST) request, and then declares recovery done
(``faust.tables.recovery.Recovery``). Kafka answers ListOffsets with the offset after the last
record. Tansu 0.6 (the local broker) answers with the base offset of the last record *batch*
plus one, so when the producer sent the last changelog records in one batch (it batches
whatever is queued within ``producer_linger``), recovery stops at that batch's first record
and the table comes back without the newest states of the runs in it, although the source
offsets of the events that wrote them were committed. Those events are not read again, so
the next event of such a run was stitched onto an older state and the processor republished
that older state (found by ``tests/faults/test_processor_kills.py``: about 1 run in 5 lost
its metrics after a SIGKILL).

:class:`EndProbingRecovery` asks Faust for the high watermarks as usual and then reads each
non-empty changelog partition from ``highwater - 1`` until the broker has nothing more; the
true end is one past the last offset seen (never less than the broker's answer). Against
Kafka this reads one record per partition and changes nothing. It is installed with Faust's
documented ``TableManager`` setting (:func:`end_probing_table_manager`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from faust.tables import TableManager
from faust.tables.recovery import Recovery
from faust.types import TP

log = logging.getLogger(__name__)

#: Longest a probe waits for the broker to return more records of one partition (seconds).
PROBE_POLL_S = 0.5


def true_end_offsets(client_config: Mapping[str, Any],
                     reported: Mapping[tuple[str, int], int]) -> dict[tuple[str, int], int]:
    """Return the offset after the last record of each ``(topic, partition)``.

    ``reported``: the broker's ListOffsets(LATEST) answer per partition (Tansu's can stop at
    the start of the last record batch). Partitions whose answer is 0 are empty and keep 0.
    Each other partition is read from ``reported - 1`` until a poll of :data:`PROBE_POLL_S`
    returns nothing; the result is ``max(reported, last offset read + 1)``.
    ``client_config``: librdkafka settings (bootstrap, TLS, SASL) of the cluster.

    Raises :class:`confluent_kafka.KafkaException` when the broker cannot be read.
    """
    out = dict(reported)
    todo = [TopicPartition(t, p, end - 1) for (t, p), end in reported.items() if end > 0]
    if not todo:
        return out
    consumer = Consumer({
        **client_config,
        "group.id": "lineage-recovery-probe",
        "enable.auto.commit": False,
        "fetch.wait.max.ms": 20,
        "enable.partition.eof": True,
    })
    try:
        consumer.assign(todo)
        waiting = {(tp.topic, tp.partition) for tp in todo}
        while waiting:
            batch = consumer.consume(num_messages=1000, timeout=PROBE_POLL_S)
            if not batch:
                break
            for msg in batch:
                key = (str(msg.topic()), int(msg.partition() or 0))
                err = msg.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        waiting.discard(key)
                        continue
                    raise KafkaException(err)
                offset = msg.offset()
                if offset is not None:
                    out[key] = max(out[key], offset + 1)
    finally:
        consumer.close()
    return out


class EndProbingRecovery(Recovery):
    """Faust's :class:`~faust.tables.recovery.Recovery` with high watermarks corrected by
    :func:`true_end_offsets` (see the module docstring).

    ``client_config``: librdkafka settings of the cluster the changelogs live on; the other
    arguments are Faust's.
    """

    def __init__(self, *args: Any, client_config: Mapping[str, Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.client_config = dict(client_config)

    async def _build_highwaters(self, consumer: Any, tps: set[TP], destination: Any,
                                title: str) -> None:
        await super()._build_highwaters(consumer, tps, destination, title)
        # Faust stores "highwater - 1" (the last offset); -1 means empty.
        reported = {(tp.topic, tp.partition): int(destination[tp]) + 1 for tp in tps
                    if tp in destination}
        loop = asyncio.get_running_loop()
        try:
            ends = await loop.run_in_executor(None, true_end_offsets, self.client_config,
                                              reported)
        except KafkaException as exc:
            log.warning("could not probe %s changelog ends (%s); using the broker's", title,
                        exc)
            return
        for tp in tps:
            end = ends.get((tp.topic, tp.partition))
            if end is not None and end - 1 > destination[tp]:
                log.info("changelog %s[%d]: broker reported end %d, records run to %d",
                         tp.topic, tp.partition, destination[tp] + 1, end)
                destination[tp] = end - 1


def end_probing_table_manager(client_config: Mapping[str, Any]) -> type[TableManager]:
    """Return a Faust ``TableManager`` class (Faust's documented ``TableManager`` setting,
    https://faust-streaming.github.io/faust/userguide/settings.html) whose recovery is an
    :class:`EndProbingRecovery` reading with ``client_config`` (librdkafka settings)."""
    config = dict(client_config)

    class EndProbingTableManager(TableManager):
        @property
        def recovery(self) -> Recovery:
            if self._recovery is None:
                self._recovery = EndProbingRecovery(self.app, self, beacon=self.beacon,
                                                    loop=self.loop, client_config=config)
            return self._recovery

    return EndProbingTableManager
