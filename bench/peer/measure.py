"""CPU time and memory of process trees, by pid, for both sides of the peer benchmark.

PostgreSQL is a postmaster with one process per connection and background workers, so the
benchmark counts process *trees*: :class:`TreeMeter` reads, per named root pid (psutil), the
CPU seconds (user + system) of the root, of every live descendant, and of the descendants
already reaped (the kernel adds those to the parent's ``children_*`` times). That sum only
grows, so a difference between two reads is the tree's CPU in between. A background thread
samples the resident set size of each tree (root + live descendants, bytes) every
``interval_s``; :meth:`TreeMeter.peak` is the peak of one tree or of several together.
Summed RSS counts the pages the processes share (PostgreSQL's shared buffers) once per
process, an upper bound; the proportional set size (PSS, shared pages split between their
users) is sampled beside it.
"""

from __future__ import annotations

import threading
import time

import psutil


def _tree(root: psutil.Process) -> list[psutil.Process]:
    try:
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return [root]


def _cpu_s(root: psutil.Process) -> float:
    """CPU seconds of ``root``, its live descendants and all they reaped."""
    total = 0.0
    for proc in _tree(root):
        try:
            t = proc.cpu_times()
        except psutil.Error:
            continue  # it just exited: its parent's children_* times take it over
        total += t.user + t.system + t.children_user + t.children_system
    return total


def _memory(root: psutil.Process) -> tuple[int, int]:
    """(RSS, PSS) of ``root`` and its live descendants, bytes."""
    rss = pss = 0
    for proc in _tree(root):
        try:
            info = proc.memory_full_info()
        except psutil.Error:
            continue
        rss += int(info.rss)
        pss += int(getattr(info, "pss", info.rss))
    return rss, pss


class TreeMeter:
    """CPU seconds and peak RSS of named process trees (see the module docstring)."""

    def __init__(self, roots: dict[str, int], interval_s: float = 0.25) -> None:
        self.roots = {name: psutil.Process(pid) for name, pid in roots.items()}
        self.interval_s = interval_s
        self.base: dict[str, float] = {}
        self.samples: list[dict[str, tuple[int, int]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="tree-meter")
        self.started = 0.0

    def _cpu_now(self) -> dict[str, float]:
        return {name: _cpu_s(proc) for name, proc in self.roots.items()}

    def sample_rss(self) -> None:
        """Sample RSS and PSS per tree now, kept for :meth:`peak`."""
        now = {name: _memory(proc) for name, proc in self.roots.items()}
        self.samples.append(now)

    def peak(self, names: tuple[str, ...] | None = None, pss: bool = False) -> int:
        """The peak over the samples of the summed RSS (or PSS) of the trees ``names`` (all
        by default), in bytes."""
        keys = names if names is not None else tuple(self.roots)
        i = 1 if pss else 0
        return max((sum(s[k][i] for k in keys if k in s) for s in self.samples), default=0)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.sample_rss()

    def start(self) -> TreeMeter:
        """Take the CPU baseline and start sampling RSS; return ``self``."""
        self.base = self._cpu_now()
        self.sample_rss()
        self.started = time.perf_counter()
        self._thread.start()
        return self

    def stop(self) -> dict[str, float]:
        """Stop sampling; return CPU seconds per tree since :meth:`start` (10 ms steps)."""
        now = self._cpu_now()
        self.close()
        self.sample_rss()
        return {name: round(now[name] - self.base.get(name, 0.0), 2) for name in now}

    def close(self) -> None:
        """Stop the sampling thread (again is fine)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()


def mib(n_bytes: int) -> int:
    """Bytes in whole MiB."""
    return round(n_bytes / 1024 / 1024)
