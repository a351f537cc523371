"""When the processor restarts itself: the stall decision of the recovery watchdog.

The restart itself (``os.execve`` of the same command line, same pid, state restored from the
changelogs, nothing lost) runs for real in ``tests/faults/test_processor_kills.py`` (SIGHUP).
"""

from __future__ import annotations

from stream_processor.watchdog import RecoveryProgress


def test_a_recovery_that_reads_nothing_for_the_stall_time_is_stalled() -> None:
    progress = RecoveryProgress(stall_s=30.0)
    assert not progress.stalled(True, 46, now=100.0)
    assert not progress.stalled(True, 46, now=129.9)
    assert progress.stalled(True, 46, now=130.0)


def test_every_drop_of_the_remaining_count_restarts_the_clock() -> None:
    progress = RecoveryProgress(stall_s=30.0)
    for step in range(10):  # a long recovery: 10 minutes, slow but moving
        assert not progress.stalled(True, 1000 - step, now=100.0 + 29.0 * step)
    assert progress.stalled(True, 991, now=100.0 + 29.0 * 9 + 30.0)


def test_no_recovery_or_nothing_left_is_never_stalled() -> None:
    progress = RecoveryProgress(stall_s=30.0)
    assert not progress.stalled(False, 0, now=0.0)
    assert not progress.stalled(False, 0, now=1000.0)
    assert not progress.stalled(True, 0, now=2000.0), "nothing left to read"


def test_a_new_recovery_starts_a_new_clock() -> None:
    progress = RecoveryProgress(stall_s=30.0)
    assert not progress.stalled(True, 46, now=0.0)
    assert not progress.stalled(False, 0, now=20.0)  # that recovery ended
    assert not progress.stalled(True, 46, now=40.0), "the next one is judged from its start"
    assert not progress.stalled(True, 46, now=69.0)
    assert progress.stalled(True, 46, now=70.0)
