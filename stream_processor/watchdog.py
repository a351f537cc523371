"""Restart in place: the processor re-executes itself (same pid, same command line) when its
table recovery makes no progress, and on SIGHUP.

Why: after the broker was SIGKILLed and restarted, faust-streaming 0.15.3 once rejoined the
group, began restoring its tables (changelog high watermarks 14 and 46, reading from the
start) and then received nothing from any changelog for as long as it ran (Faust logged "No
event received for active tp ... since recovery start" every 5 s for minutes): the process was
alive, consumed nothing, and nothing supervised it (robinhood/faust#596 describes the same
hang). A fresh process restored the same tables in under a second.

How: a timer reads Faust's recovery progress (:class:`RecoveryProgress`) every few seconds.
When tables are in recovery, records remain to be read, and the remaining count has not
dropped for ``processor.recovery_stall_s`` seconds, it logs why and calls
:func:`restart_in_place`. Re-executing is as safe as a SIGKILL followed by a start, which the
processor-kill fault scenario checks (nothing committed past an unpublished batch; tables
come back from their changelogs). The group's rebalance then waits for the old member's
session to expire (``kafka.extra["session.timeout.ms"]``).
``lineage_processor_restarts_total`` counts the restarts of this process (carried across
each restart in the ``STREAM_PROCESSOR_RESTARTS`` environment variable).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import time
from typing import Any, NoReturn

from lineage_pipeline.metrics import PROCESSOR_RESTARTS

log = logging.getLogger(__name__)

#: Environment variable carrying the restart count into the re-executed process.
RESTARTS_ENV = "STREAM_PROCESSOR_RESTARTS"
#: Seconds between two looks at recovery progress.
CHECK_INTERVAL_S = 5.0


class RecoveryProgress:
    """Decides whether table recovery is stalled, from samples of its remaining record count.

    ``stall_s``: seconds without progress that count as stalled (> 0). Progress is a drop of
    the remaining count, a new recovery (``in_recovery`` false in between) or nothing left.
    No I/O; times are the caller's monotonic seconds.
    """

    def __init__(self, stall_s: float) -> None:
        self.stall_s = stall_s
        self._remaining: int | None = None
        self._since = 0.0

    def stalled(self, in_recovery: bool, remaining: int, now: float) -> bool:
        """Record one sample; True when ``remaining`` (records left to restore, >= 0) has not
        dropped for ``stall_s`` seconds of one recovery."""
        if not in_recovery or remaining <= 0:
            self._remaining = None
            return False
        if self._remaining is None or remaining < self._remaining:
            self._remaining, self._since = remaining, now
            return False
        return now - self._since >= self.stall_s


def restarts_so_far() -> int:
    """How many times this process has restarted itself in place (0 for a fresh start)."""
    try:
        return max(0, int(os.environ.get(RESTARTS_ENV, "0")))
    except ValueError:
        return 0


def restart_in_place(reason: str) -> NoReturn:
    """Log ``reason``, then replace this process by a fresh run of the same command line
    (``os.execve``: same pid, same environment plus the restart count). Never returns; an
    ``OSError`` from ``execve`` propagates (the process then exits through it)."""
    count = restarts_so_far() + 1
    log.error("restarting the stream processor in place (restart %d of this process): %s",
              count, reason)
    logging.shutdown()  # flush every handler: the new process appends to the same log
    sys.stdout.flush()
    sys.stderr.flush()
    env = {**os.environ, RESTARTS_ENV: str(count)}
    os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], env)


def register_watchdog(app: Any, stall_s: float) -> None:
    """Add the recovery watchdog (a timer; none when ``stall_s`` <= 0) and a SIGHUP handler
    that restarts in place to Faust ``app``; export the restart count."""
    PROCESSOR_RESTARTS.inc(restarts_so_far())
    if stall_s > 0:
        progress = RecoveryProgress(stall_s)

        async def watch_recovery() -> None:
            recovery = app.tables.recovery
            remaining = int(recovery.active_remaining_total()) if recovery.in_recovery else 0
            if progress.stalled(recovery.in_recovery, remaining, time.monotonic()):
                restart_in_place(f"table recovery read nothing for {stall_s:.0f} s with "
                                 f"{remaining} changelog records left to restore")

        # Faust's decorators are untyped: apply them as plain calls
        app.timer(min(CHECK_INTERVAL_S, stall_s), name="lineage.recovery_watchdog")(
            watch_recovery)

    async def on_sighup() -> None:
        asyncio.get_running_loop().add_signal_handler(
            signal.SIGHUP, restart_in_place, "SIGHUP received")

    app.task(on_sighup)
