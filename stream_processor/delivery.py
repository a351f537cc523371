"""What the processor hands to Kafka is delivered before the offsets that caused it commit.

The processor's promise is at-least-once: an event's offset is committed only after its table
updates (changelog records) and its graph and DLQ records were acknowledged by the broker.
Faust (faust-streaming 0.15.3) flushes its producer before each offset commit, but two gaps
let a commit pass records still on their way; a SIGKILL right after such a commit lost them
(the fault scenario ``processor-kills`` under CPU load: a run's RUNNING update was missing from
its state after the restart):

1. ``ProducerBuffer.flush`` (table changelog writes queue there, because a table is updated
   synchronously) gives up after 0.1 s without progress, and counts a message as sent once
   the buffer's task took it from the queue, before it reached the Kafka client. On a loaded
   machine both happen. :func:`make_buffer_flush_complete` makes the flush wait until the
   queue is empty and no message is on its way, in order (one send at a time, FIFO).
2. ``Stream.take_events`` acks a batch in a ``finally``, also when a stop cancels the agent
   while it hands the batch's records to the producer; the stop then commits those offsets.
   :func:`finish_publishing` completes the hand-over before the cancellation goes on (bounded
   by ``timeout_s``; past it the process exits at once with status 70 and commits nothing, so
   the batch is consumed again after the restart).

Neither imports Faust: they work on the objects ``stream_processor.app`` passes in.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger(__name__)

#: Exit status when a stopping processor cannot hand a batch's records to the producer.
EXIT_UNPUBLISHED = 70


def make_buffer_flush_complete(buffer: Any) -> None:
    """Replace ``flush`` of Faust's ``ProducerBuffer`` ``buffer`` (attributes ``pending``:
    an ``asyncio.Queue`` of messages, ``_send_pending(message)``: hands one to the Kafka
    client) with one that returns only once every queued message was handed over.

    Sends are serialised by a lock, so changelog records keep their order (the last record of
    a key is the state a restore rebuilds). Call before the buffer's service starts (its task
    reads ``_send_pending`` when it starts)."""
    send = buffer._send_pending
    lock = asyncio.Lock()
    in_flight = 0

    async def send_in_order(message: Any) -> None:
        nonlocal in_flight
        in_flight += 1
        try:
            async with lock:
                await send(message)
        finally:
            in_flight -= 1

    async def flush() -> None:
        while buffer.pending.qsize() or in_flight:
            if buffer.pending.qsize() and not in_flight:
                await send_in_order(buffer.pending.get_nowait())
            else:
                await asyncio.sleep(0.005)

    buffer._send_pending = send_in_order
    buffer.flush = flush


async def finish_publishing(publication: Awaitable[None], timeout_s: float = 30.0,
                            hard_exit: Callable[[int], None] = os._exit) -> None:
    """Await ``publication``; if the awaiting task is cancelled meanwhile, let it
    finish first (at most ``timeout_s`` seconds) and then re-raise the cancellation. When it
    cannot finish in time, log why and ``hard_exit(EXIT_UNPUBLISHED)`` without running any
    cleanup: no offset of the batch gets committed."""
    task = asyncio.ensure_future(publication)
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout_s)
        except (TimeoutError, asyncio.CancelledError):
            log.error("stopping with a batch not handed to the producer after %.0f s: "
                      "exiting without committing its offsets (it is consumed again)",
                      timeout_s)
            hard_exit(EXIT_UNPUBLISHED)
        raise
