"""Importing a library without the optional heavy modules it would pick up on its own."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def without_modules(*names: str) -> Iterator[None]:
    """Inside the block, ``import NAME`` (and of its submodules) raises ``ImportError`` for
    each of ``names`` not imported yet, as if it were not installed; afterwards they import
    normally. Modules already imported are left alone. Python's import system treats a
    ``None`` entry in ``sys.modules`` as "not importable" (Python reference, "The module
    cache")."""
    blocked = [name for name in names if name not in sys.modules]
    for name in blocked:
        sys.modules[name] = None  # type: ignore[assignment]
    try:
        yield
    finally:
        for name in blocked:
            if sys.modules.get(name, 0) is None:
                del sys.modules[name]
