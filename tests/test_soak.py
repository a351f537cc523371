"""The two-minute chaos soak (:mod:`bench.soak`): the local stack under load while the
broker, the graph, the processor, the sink and the jobs are killed and restarted at random,
with hostile records mixed in. Nothing acknowledged is lost or duplicated, every hostile
record is in the DLQ with a reason, no valid event is, and no spool is left non-empty."""

from __future__ import annotations

import json

import pytest

from bench.soak import run


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_two_minutes_of_chaos_lose_and_duplicate_nothing() -> None:
    result = run(minutes=2, settle_seconds=240)
    print("SOAK", json.dumps(result))
    assert result["kills_total"] > 0
    assert result["runs_lost"] == 0, result["lost_examples"]
    assert result["duplicated"] == 0
    assert result["hostile_not_dead_lettered"] == 0 and result["unexpected_dlq"] == {}
    assert result["spool_records_left"] == 0
    assert result["runs_in_graph"] == result["runs_acknowledged"] > 0
    assert result["goal_met"]
