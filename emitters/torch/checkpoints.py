"""Capture ``torch.save`` / ``torch.load`` calls made while a run is active.

While at least one run with checkpoint capture is open, the module attributes
``torch.save`` and ``torch.load`` are replaced by thin wrappers; when the last such run
closes, the originals are put back (unless another library replaced them in the meantime,
in which case the wrappers stay as pass-throughs and a warning is logged). The wrappers
call the original function with the caller's arguments unchanged and return its result (or
let its exception through) unchanged; only *after* a successful call do they tell the
active run about the file, and any failure there is logged and counted, never raised.

Which run is told: the innermost run entered in the calling context (a ``ContextVar``), else
(a thread that entered no run) the most recently opened run.

Only calls through the ``torch`` module attribute are seen (``torch.save(...)``); a
``from torch import save`` binding made before the run opened keeps the original.
"""

from __future__ import annotations

import contextvars
import functools
import os
import threading
from collections.abc import Callable
from typing import IO, Any, Protocol

import torch

from emitters.torch._safe import CaptureGuard, log

_guard = CaptureGuard()


class CheckpointListener(Protocol):
    """What a run implements to hear about checkpoint files."""

    def on_save(self, obj: object, f: object) -> None:
        """``torch.save(obj, f)`` returned successfully."""

    def on_load(self, f: object, result: object) -> None:
        """``torch.load(f, ...)`` returned ``result``."""


_current: contextvars.ContextVar[CheckpointListener | None] = contextvars.ContextVar(
    "lineage_torch_run", default=None
)
_lock = threading.Lock()
_listeners: list[CheckpointListener] = []
_originals: dict[str, Callable[..., Any]] = {}
_wrappers: dict[str, Callable[..., Any]] = {}
_depth = threading.local()  # wrapper nesting on this thread: only the outermost call reports


def _enter() -> bool:
    d = getattr(_depth, "n", 0)
    _depth.n = d + 1
    return d == 0


def _leave() -> None:
    _depth.n -= 1


def _target() -> CheckpointListener | None:
    listener = _current.get()
    if listener is not None:
        return listener
    with _lock:
        return _listeners[-1] if _listeners else None


def _make_save(orig: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(orig)
    def save(obj: object, f: str | os.PathLike[str] | IO[bytes], *args: Any, **kwargs: Any) -> Any:
        outermost = _enter()
        try:
            result = orig(obj, f, *args, **kwargs)
        finally:
            _leave()
        try:
            listener = _target() if outermost else None
            if listener is not None:
                listener.on_save(obj, f)
        except Exception as exc:
            _guard.record("torch.save", exc)
        return result

    save.__lineage_wrapper__ = True  # type: ignore[attr-defined]
    return save


def _make_load(orig: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(orig)
    def load(f: str | os.PathLike[str] | IO[bytes], *args: Any, **kwargs: Any) -> Any:
        outermost = _enter()
        try:
            result = orig(f, *args, **kwargs)
        finally:
            _leave()
        try:
            listener = _target() if outermost else None
            if listener is not None:
                listener.on_load(f, result)
        except Exception as exc:
            _guard.record("torch.load", exc)
        return result

    load.__lineage_wrapper__ = True  # type: ignore[attr-defined]
    return load


def attach(listener: CheckpointListener) -> contextvars.Token[CheckpointListener | None]:
    """Register ``listener`` as the active run; install the wrappers if it is the first.

    Returns the token to hand back to :func:`detach`.
    """
    with _lock:
        if not _listeners:
            for name, make in (("save", _make_save), ("load", _make_load)):
                current = getattr(torch, name)
                if getattr(current, "__lineage_wrapper__", False):
                    continue  # a pass-through wrapper left behind earlier: reuse it
                _originals[name] = current
                wrapper = make(current)
                _wrappers[name] = wrapper
                setattr(torch, name, wrapper)
        _listeners.append(listener)
    return _current.set(listener)


def detach(
    listener: CheckpointListener, token: contextvars.Token[CheckpointListener | None]
) -> None:
    """Unregister ``listener``; restore ``torch.save``/``torch.load`` after the last run."""
    try:
        _current.reset(token)
    except ValueError:  # exited in another context than it was entered in
        _current.set(None)
    with _lock:
        for i in range(len(_listeners) - 1, -1, -1):
            if _listeners[i] is listener:
                del _listeners[i]
                break
        if _listeners:
            return
        for name, wrapper in list(_wrappers.items()):
            if getattr(torch, name) is wrapper:
                setattr(torch, name, _originals[name])
                del _wrappers[name]
                del _originals[name]
            else:
                log.warning(
                    "torch.%s was replaced by another library during a lineage run; "
                    "leaving it in place (the lineage wrapper under it is now a pass-through)",
                    name,
                )


def active() -> bool:
    """Return ``True`` while any run has checkpoint capture on."""
    with _lock:
        return bool(_listeners)


def capture_errors() -> int:
    """Failures inside the wrappers themselves (outside any run's own guard)."""
    return _guard.errors


def path_of(f: object) -> tuple[str | None, bool]:
    """Return ``(absolute path or None, file is closed)`` for a ``torch.save``/``load`` target.

    Paths (``str``/``os.PathLike``) are closed by torch before it returns. Open file objects
    report their ``name`` when it is an existing file; in-memory buffers give ``None``.
    """
    if isinstance(f, str | os.PathLike):
        return os.path.abspath(os.fspath(f)), True
    name = getattr(f, "name", None)
    if isinstance(name, str) and os.path.isfile(name):
        return os.path.abspath(name), bool(getattr(f, "closed", False))
    return None, True
