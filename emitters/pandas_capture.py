"""Opt-in automatic capture of pandas file I/O inside a batch run.

While :func:`capture_pandas` is active, ``pandas.read_csv``, ``pandas.read_parquet``,
``pandas.read_json`` and ``DataFrame.to_csv``, ``DataFrame.to_parquet``,
``DataFrame.to_json`` called with a path (not a buffer) inside a batch run
(:func:`emitters.batch.current_run`) declare that path as an input or output of the run:
inputs get the file digest plus schema and statistics of the frame just read; outputs are
digested when the run ends.

Safety: the wrappers call the original first and return its result unchanged; the user's
exceptions pass through untouched; lineage errors are swallowed (logged, counted). Patches
are reference-counted (nested or concurrent captures share one installation) and removed
when the last capture ends — unless someone patched over them meanwhile, in which case
their function is left in place. Calls made outside a run, in other threads (contexts do
not flow into new threads), or by the emitter itself are not recorded. Functions imported
by name before the capture (``from pandas import read_csv``) are not patched.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import threading
from collections.abc import Callable, Iterator
from typing import Any

from emitters.facets import (
    dataframe_schema,
    dataframe_statistics,
    file_dataset,
    is_internal_io,
)
from lineage_pipeline.errors import MissingExtraError

log = logging.getLogger("emitters.pandas_capture")

READERS = ("read_csv", "read_parquet", "read_json")
WRITERS = ("to_csv", "to_parquet", "to_json")
_PATH_KWARGS = ("filepath_or_buffer", "path", "path_or_buf", "path_or_buffer")

_lock = threading.Lock()
_depth = 0
_originals: dict[tuple[str, str], Callable[..., Any]] = {}
_wrappers: dict[tuple[str, str], Callable[..., Any]] = {}


def _path_arg(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str | None:
    candidate: Any = args[0] if args else None
    if candidate is None:
        for key in _PATH_KWARGS:
            if key in kwargs:
                candidate = kwargs[key]
                break
    if isinstance(candidate, str | os.PathLike):
        text = os.fspath(candidate)
        return text if isinstance(text, str) and text else None
    return None


def _record_read(path: str, result: Any) -> None:
    from emitters.batch import current_run

    run = current_run()
    if run is None:
        return
    try:
        import pandas as pd

        ds = file_dataset(path, kind="file", role="input", compute_stats=False)
        if isinstance(result, pd.DataFrame) and ds.version is not None:
            size = ds.facets.statistics.bytes if ds.facets.statistics else None
            stats = dataframe_statistics(result)
            stats.bytes = size
            ds.facets.schema_ = dataframe_schema(result)
            ds.facets.statistics = stats
        run.add_input(ds)
    except Exception as exc:
        log.info("lineage: capture of read %s failed: %s", path, exc)


def _record_write(path: str) -> None:
    from emitters.batch import current_run

    run = current_run()
    if run is not None:
        run.output_file(path)


def _reader(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def read(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        if not is_internal_io():
            path = _path_arg(args, kwargs)
            if path is not None:
                _record_read(path, result)
        return result

    read.__lineage_capture__ = True  # type: ignore[attr-defined]
    return read


def _writer(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def write(self: Any, *args: Any, **kwargs: Any) -> Any:
        result = original(self, *args, **kwargs)
        if not is_internal_io():
            path = _path_arg(args, kwargs)
            if path is not None:
                _record_write(path)
        return result

    write.__lineage_capture__ = True  # type: ignore[attr-defined]
    return write


def _targets() -> list[tuple[Any, str, str, Callable[[Callable[..., Any]], Callable[..., Any]]]]:
    try:
        import pandas as pd
    except ModuleNotFoundError as exc:
        raise MissingExtraError("pandas", "capture_pandas") from exc

    return [(pd, "pandas", n, _reader) for n in READERS] + [
        (pd.DataFrame, "DataFrame", n, _writer) for n in WRITERS
    ]


def _install() -> None:
    for owner, owner_name, attr, make in _targets():
        original = getattr(owner, attr)
        wrapper = make(original)
        _originals[(owner_name, attr)] = original
        _wrappers[(owner_name, attr)] = wrapper
        setattr(owner, attr, wrapper)


def _uninstall() -> None:
    for owner, owner_name, attr, _ in _targets():
        key = (owner_name, attr)
        if getattr(owner, attr) is _wrappers.get(key):
            setattr(owner, attr, _originals[key])
        else:
            log.warning("pandas.%s.%s was patched by someone else; leaving it", owner_name, attr)
    _originals.clear()
    _wrappers.clear()


def is_installed() -> bool:
    """Return ``True`` while the pandas functions are patched."""
    return _depth > 0


@contextlib.contextmanager
def capture_pandas() -> Iterator[None]:
    """Patch pandas file I/O for the duration of the block (reference-counted).

    Raises :class:`~lineage_pipeline.errors.MissingExtraError` without pandas (the
    ``pandas`` extra).
    """
    global _depth
    with _lock:
        if _depth == 0:
            _install()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                _uninstall()
