"""The spool: append-only local files of encoded events, replayed into Kafka later.

Events land here when the broker is unreachable or a delivery fails (the ``kafka``
transport's fallback), or always (the ``spool`` transport). ``lineage spool replay`` and the
``kafka`` transport (automatically, once the broker answers again) send them on.

Segment files and their format: :mod:`.segments`. A writer appends to its own segment
``<time_ns>-<pid>-<rand>.open`` and renames it to ``.spool`` (sealed) when it reaches
``segment_bytes`` or the writer closes. Replay takes an
exclusive ``flock`` on ``replay.lock`` (one replayer at a time across processes), reads sealed
segments and the ``.open`` segments of writers that no longer run, oldest first, hands each
segment's records to a ``deliver`` function and only then removes what was confirmed: a fully
delivered segment is deleted; otherwise its undelivered records are written to a new file
that atomically replaces it, and replay stops (the broker is probably down again). Between a
confirmed delivery and that removal a crash can repeat records; the processor dedupes by
``eventId``. A record whose CRC does not match, or a truncated tail, is skipped and counted.

The total size of all segments is bounded by ``max_bytes``: :meth:`Spool.append` returns
``False`` (the caller counts a drop) rather than grow past it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from emitters.transports.base import DropLog, Envelope, Transport
from emitters.transports.segments import (
    MAGIC,
    OPEN_SUFFIX,
    SEALED_SUFFIX,
    SpoolRecord,
    pid_alive,
    read_segment,
    rewrite_segment,
    write_all,
    writer_pid,
)
from lineage_pipeline.errors import TransportError
from lineage_pipeline.metrics import EMITTER_EVENTS, EMITTER_SPOOL_BYTES

LOCK_NAME = "replay.lock"


@dataclass
class SegmentInfo:
    """One spool file: ``state`` is ``sealed``, ``open`` (its writer runs) or ``orphaned``."""

    path: Path
    state: str
    records: int
    bytes: int
    corrupt: int


@dataclass
class SpoolStatus:
    """The spool directory's content: segments, total records and bytes, the bound."""

    directory: Path
    max_bytes: int
    segments: list[SegmentInfo] = field(default_factory=list)

    @property
    def records(self) -> int:
        """Records waiting in all segments."""
        return sum(s.records for s in self.segments)

    @property
    def bytes(self) -> int:
        """Bytes on disk in all segments."""
        return sum(s.bytes for s in self.segments)


@dataclass
class ReplayResult:
    """Outcome of one replay: records ``delivered``, ``remaining`` on disk, ``corrupt`` ones
    skipped, ``segments`` fully replayed, and ``busy`` when another replayer held the lock."""

    delivered: int = 0
    remaining: int = 0
    corrupt: int = 0
    segments: int = 0
    busy: bool = False


#: Hands a segment's records to Kafka; returns one ``True`` per confirmed delivery.
Deliver = Callable[[list[SpoolRecord]], list[bool]]


class Spool:
    """A bounded, append-only, crash-tolerant local queue of Kafka messages.

    ``directory``: where segments live (created on first write); ``max_bytes``: bound on
    the total size of all segments; ``segment_bytes``: size at which a segment is sealed.
    Thread-safe. The constructor touches no file.
    """

    def __init__(
        self, directory: Path, max_bytes: int = 256 << 20, segment_bytes: int = 4 << 20
    ) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes
        self._lock = threading.Lock()
        self._replay_lock = threading.Lock()
        self._fd: int | None = None
        self._active: Path | None = None
        self._active_bytes = 0
        self._active_records = 0
        self._total: int | None = None

    # -- writing --------------------------------------------------------------------------
    def append(self, record: SpoolRecord) -> bool:
        """Append ``record``; return ``False`` (nothing written) when the spool is full.

        Raises ``OSError`` when the directory cannot be written.
        """
        data = record.encode()
        with self._lock:
            if self._total is None:
                self._total = self._scan_bytes()
            if self._total + len(data) + len(MAGIC) > self.max_bytes:
                return False
            if self._fd is None:
                self._open_segment()
            assert self._fd is not None
            write_all(self._fd, data)
            self._active_bytes += len(data)
            self._active_records += 1
            self._total += len(data)
            EMITTER_SPOOL_BYTES.set(self._total)
            if self._active_bytes >= self.segment_bytes:
                self._seal_locked()
            return True

    @property
    def active_records(self) -> int:
        """Records in this writer's open (not yet sealed) segment."""
        return self._active_records

    def seal(self) -> None:
        """Close this writer's open segment so replay can take it."""
        with self._lock:
            self._seal_locked()

    def close(self) -> None:
        """Seal the open segment. Never raises."""
        with contextlib.suppress(OSError):
            self.seal()

    def after_fork(self) -> None:
        """Forget the parent's open segment in a forked child (the parent still owns it)."""
        self._lock = threading.Lock()
        self._replay_lock = threading.Lock()
        self._fd = None
        self._active = None
        self._active_bytes = 0
        self._active_records = 0
        self._total = None

    def _open_segment(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        name = f"{time.time_ns():020d}-{os.getpid()}-{uuid.uuid4().hex[:8]}{OPEN_SUFFIX}"
        path = self.directory / name
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL, 0o600)
        write_all(fd, MAGIC)
        self._fd, self._active = fd, path
        self._active_bytes = len(MAGIC)
        self._active_records = 0
        assert self._total is not None
        self._total += len(MAGIC)

    def _seal_locked(self) -> None:
        if self._fd is None or self._active is None:
            return
        try:
            os.fsync(self._fd)
        finally:
            os.close(self._fd)
        self._fd = None
        os.replace(self._active, self._active.with_suffix(SEALED_SUFFIX))
        self._active = None
        self._active_bytes = 0
        self._active_records = 0

    def _scan_bytes(self) -> int:
        total = 0
        for path in self._segment_paths():
            with contextlib.suppress(OSError):
                total += path.stat().st_size
        return total

    def _segment_paths(self) -> list[Path]:
        if not self.directory.is_dir():
            return []
        paths = [
            p for p in self.directory.iterdir() if p.suffix in (OPEN_SUFFIX, SEALED_SUFFIX)
        ]
        return sorted(paths, key=lambda p: p.name)

    def _state(self, path: Path) -> str:
        if path.suffix == SEALED_SUFFIX:
            return "sealed"
        pid = writer_pid(path)
        if path == self._active or pid is None or pid_alive(pid):
            return "open"
        return "orphaned"

    # -- reading --------------------------------------------------------------------------
    def has_replayable(self) -> bool:
        """Return ``True`` if a sealed or orphaned segment exists (file names only)."""
        return any(self._state(p) in ("sealed", "orphaned") for p in self._segment_paths())

    def status(self) -> SpoolStatus:
        """Return every segment with its state, record count and size (reads the files)."""
        status = SpoolStatus(self.directory, self.max_bytes)
        for path in self._segment_paths():
            try:
                records, corrupt = read_segment(path)
                size = path.stat().st_size
            except OSError:
                continue
            info = SegmentInfo(path, self._state(path), len(records), size, corrupt)
            status.segments.append(info)
        return status

    @contextlib.contextmanager
    def _exclusive(self, wait_s: float) -> Iterator[bool]:
        """Hold the cross-process replay lock; yields ``False`` if not acquired in time."""
        if wait_s > 0:
            local = self._replay_lock.acquire(timeout=wait_s)
        else:
            local = self._replay_lock.acquire(blocking=False)
        if not local:
            yield False
            return
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.directory / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                deadline = time.monotonic() + wait_s
                while True:
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        break
                    except BlockingIOError:
                        if time.monotonic() >= deadline:
                            yield False
                            return
                        time.sleep(0.05)
                try:
                    yield True
                finally:
                    fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)
        finally:
            self._replay_lock.release()

    def replay(
        self,
        deliver: Deliver,
        *,
        wait_s: float = 0.0,
        stop: threading.Event | None = None,
    ) -> ReplayResult:
        """Deliver every sealed or orphaned segment, oldest first, removing what was confirmed.

        ``deliver`` gets one segment's records and returns one bool per record (``True`` =
        delivery confirmed). Stops at the first segment with an unconfirmed record (that
        record and the rest stay spooled) or when ``stop`` is set. ``wait_s``: how long to
        wait for another replayer's lock (``busy`` is set in the result if not acquired).
        Raises ``OSError`` if the directory cannot be read or rewritten.
        """
        result = ReplayResult()
        with self._exclusive(wait_s) as acquired:
            if not acquired:
                result.busy = True
                return result
            paths = [p for p in self._segment_paths() if self._state(p) in ("sealed", "orphaned")]
            for index, path in enumerate(paths):
                if stop is not None and stop.is_set():
                    result.remaining += self._count(paths[index:])
                    break
                if path.suffix == OPEN_SUFFIX:
                    sealed = path.with_suffix(SEALED_SUFFIX)
                    os.replace(path, sealed)
                    path = sealed
                records, corrupt = read_segment(path)
                result.corrupt += corrupt
                outcome = deliver(records) if records else []
                left = [r for r, ok in zip(records, outcome, strict=False) if not ok]
                left += records[len(outcome) :]
                result.delivered += len(records) - len(left)
                if not left:
                    path.unlink()
                    result.segments += 1
                    continue
                self._rewrite(path, left)
                result.remaining += len(left) + self._count(paths[index + 1 :])
                break
        with self._lock:
            self._total = None
            EMITTER_SPOOL_BYTES.set(self._scan_bytes())
        return result

    @staticmethod
    def _count(paths: list[Path]) -> int:
        total = 0
        for path in paths:
            with contextlib.suppress(OSError):
                total += len(read_segment(path)[0])
        return total

    @staticmethod
    def _rewrite(path: Path, records: list[SpoolRecord]) -> None:
        rewrite_segment(path, records)


class SpoolTransport(Transport):
    """The ``spool`` transport: every event goes to the local spool only.

    For hosts without a broker; ``lineage spool replay`` sends the spool on later.
    A full spool drops the event (counted as ``spool_full``); an unwritable directory
    raises :class:`TransportError`.
    """

    kind = "spool"

    def __init__(self, spool: Spool, drops: DropLog | None = None) -> None:
        self.spool = spool
        self.drops = drops or DropLog()

    def send(self, envelope: Envelope) -> None:
        """Append the event to the spool."""
        try:
            ok = self.spool.append(SpoolRecord(envelope.topic, envelope.key, envelope.value))
        except OSError as exc:
            raise TransportError(f"cannot write spool {self.spool.directory}: {exc}") from exc
        if ok:
            EMITTER_EVENTS.labels("spooled").inc()
        else:
            self.drops.drop("spool_full", f"spool {self.spool.directory} is full")

    def close(self, timeout_s: float) -> None:
        """Seal the open segment."""
        self.spool.close()

    def after_fork(self) -> None:
        """Start a new segment in the child."""
        self.spool.after_fork()


__all__ = [
    "LOCK_NAME",
    "MAGIC",
    "OPEN_SUFFIX",
    "SEALED_SUFFIX",
    "Deliver",
    "ReplayResult",
    "SegmentInfo",
    "Spool",
    "SpoolRecord",
    "SpoolStatus",
    "SpoolTransport",
    "read_segment",
]
