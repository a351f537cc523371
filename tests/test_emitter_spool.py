"""The spool's file format and replay bookkeeping: CRC per record, bounded size, records
removed only once delivered, crashed writers' segments replayed, one replayer at a time."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from emitters.transports.spool import MAGIC, Spool, SpoolRecord, read_segment


def rec(i: int) -> SpoolRecord:
    return SpoolRecord("lineage.events", f"key{i}".encode(), f"value-{i}".encode() * 10)


def sealed_segments(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.spool"))


def test_records_round_trip_and_corruption_is_skipped(tmp_path: Path) -> None:
    spool = Spool(tmp_path, segment_bytes=1 << 20)
    for i in range(3):
        assert spool.append(rec(i))
    spool.seal()
    [segment] = sealed_segments(tmp_path)
    assert read_segment(segment) == ([rec(0), rec(1), rec(2)], 0)

    data = bytearray(segment.read_bytes())
    data[len(MAGIC) + 8 + 3] ^= 0xFF  # flip a byte in the first record's body
    segment.write_bytes(bytes(data) + b"\x00\x00\x00\x40partial")  # and a torn tail
    records, corrupt = read_segment(segment)
    assert records == [rec(1), rec(2)]
    assert corrupt == 2


def test_the_spool_is_bounded(tmp_path: Path) -> None:
    one = len(rec(0).encode())
    spool = Spool(tmp_path, max_bytes=len(MAGIC) * 2 + one * 3, segment_bytes=one * 2)
    accepted = [spool.append(rec(i)) for i in range(6)]
    assert accepted == [True, True, True, False, False, False]
    assert spool.status().bytes <= spool.max_bytes


def test_replay_removes_only_confirmed_records(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    for i in range(4):
        spool.append(rec(i))
    spool.seal()
    delivered: list[SpoolRecord] = []

    def flaky(records: list[SpoolRecord]) -> list[bool]:
        outcome = [r != rec(1) for r in records]
        delivered.extend(r for r, ok in zip(records, outcome, strict=True) if ok)
        return outcome

    first = spool.replay(flaky)
    assert (first.delivered, first.remaining) == (3, 1)
    assert spool.status().records == 1

    def works(records: list[SpoolRecord]) -> list[bool]:
        delivered.extend(records)
        return [True] * len(records)

    second = spool.replay(works)
    assert (second.delivered, second.remaining, second.segments) == (1, 0, 1)
    assert sorted(delivered, key=lambda r: r.key) == [rec(i) for i in range(4)]
    assert spool.status().segments == []


def test_a_crashed_writers_segment_is_replayed_but_a_live_one_is_not(tmp_path: Path) -> None:
    child = (
        "import os, sys; from emitters.transports.spool import Spool, SpoolRecord;"
        f"s = Spool({str(tmp_path)!r}); s.append(SpoolRecord('t', b'k', b'crashed'));"
        "os._exit(0)"  # no close: the segment stays .open
    )
    subprocess.run([sys.executable, "-c", child], check=True, cwd=Path(__file__).parents[1])
    live = Spool(tmp_path)
    live.append(rec(9))  # this process's open segment
    states = sorted(s.state for s in live.status().segments)
    assert states == ["open", "orphaned"]
    got: list[SpoolRecord] = []
    def deliver(records: list[SpoolRecord]) -> list[bool]:
        got.extend(records)
        return [True] * len(records)

    result = live.replay(deliver)
    assert [r.value for r in got] == [b"crashed"]
    assert result.delivered == 1
    assert [s.state for s in live.status().segments] == ["open"]


def test_one_replayer_at_a_time(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.append(rec(0))
    spool.seal()
    other = Spool(tmp_path)

    def nested(records: list[SpoolRecord]) -> list[bool]:
        assert other.replay(lambda rs: [True] * len(rs)).busy
        return [True] * len(records)

    assert spool.replay(nested).delivered == 1
    assert os.listdir(tmp_path) == ["replay.lock"]
