"""Waiting on a condition, never on a fixed sleep (tests must hold on a loaded machine).

One polling loop, :func:`wait_until`; :func:`wait_for` is the same loop that fails the test
with what it waited for and the last value seen.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(predicate: Callable[[], object], timeout_s: float, step_s: float = 0.2,
               retry_on: tuple[type[BaseException], ...] = ()) -> bool:
    """Call ``predicate`` every ``step_s`` seconds until it returns something truthy or
    ``timeout_s`` seconds passed; return whether it did (it is called once more at the
    deadline). Exceptions of the ``retry_on`` types count as "not yet" (a server starting)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if predicate():
                return True
        except retry_on:
            pass
        if time.monotonic() >= deadline:
            return False
        time.sleep(step_s)


def wait_for(probe: Callable[[], T | None], what: str, timeout_s: float = 60.0,
             step_s: float = 0.2, retry_on: tuple[type[BaseException], ...] = ()) -> T:
    """Return ``probe()``'s first truthy value; raise ``AssertionError`` naming ``what`` and
    the last value (or exception) seen after ``timeout_s`` seconds. ``retry_on``: exception
    types that count as "not yet"."""
    last: list[object] = [None]
    found: list[T] = []

    def look() -> bool:
        try:
            value = probe()
        except retry_on as exc:
            last[0] = exc
            return False
        last[0] = value
        if value:
            found.append(value)
            return True
        return False

    if wait_until(look, timeout_s, step_s):
        return found[0]
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}; last: {last[0]!r}")
