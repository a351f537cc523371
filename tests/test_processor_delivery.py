"""The processor's delivery guards (:mod:`stream_processor.delivery`) on Faust's own
``ProducerBuffer`` and on real asyncio cancellation; the end-to-end check is the fault
scenario ``tests/faults/test_processor_kills.py`` (real Kafka, kills under CPU load)."""

from __future__ import annotations

import asyncio

import faust
import pytest
from faust.transport.producer import ProducerBuffer

from stream_processor.delivery import (
    EXIT_UNPUBLISHED,
    finish_publishing,
    make_buffer_flush_complete,
)


def _buffer(sent: list[int], delay_s: float) -> ProducerBuffer:
    """The buffer of a real (never started) Faust app's producer, whose hand-over to the
    Kafka client takes ``delay_s`` (a loaded machine)."""
    buffer = faust.App("delivery-test", broker="kafka://127.0.0.1:9").producer.buffer
    assert isinstance(buffer, ProducerBuffer)

    async def hand_over(message: int) -> None:
        await asyncio.sleep(delay_s)
        sent.append(message)

    buffer._send_pending = hand_over  # type: ignore[method-assign,assignment]
    return buffer


def test_the_completed_flush_hands_over_everything_in_order() -> None:
    async def scenario() -> list[int]:
        sent: list[int] = []
        buffer = _buffer(sent, delay_s=0.15)
        make_buffer_flush_complete(buffer)
        await buffer.start()  # its task now sends through the ordered, counted path
        try:
            for i in range(6):
                buffer.pending.put_nowait(i)
            await asyncio.sleep(0.01)  # the task has taken message 0 and is handing it over
            await buffer.flush()
            assert buffer.size == 0
            return list(sent)
        finally:
            await buffer.stop()

    assert asyncio.run(scenario()) == [0, 1, 2, 3, 4, 5]


def test_a_cancelled_batch_is_handed_over_before_the_cancellation_goes_on() -> None:
    async def scenario() -> list[str]:
        steps: list[str] = []

        async def publication() -> None:
            await asyncio.sleep(0.2)
            steps.append("published")

        async def agent() -> None:
            try:
                await finish_publishing(publication())
            except asyncio.CancelledError:
                steps.append("cancelled")
                raise

        task = asyncio.create_task(agent())
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return steps

    assert asyncio.run(scenario()) == ["published", "cancelled"]


def test_a_publication_that_cannot_finish_exits_without_committing() -> None:
    exits: list[int] = []

    async def scenario() -> None:
        async def stuck() -> None:
            await asyncio.sleep(60)

        task = asyncio.create_task(finish_publishing(stuck(), timeout_s=0.1,
                                                     hard_exit=exits.append))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
    assert exits == [EXIT_UNPUBLISHED]
