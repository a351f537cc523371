"""Content versions of local files and directories, and the emitter's own-I/O marker.

- :func:`content_version`: SHA-256 of a file's bytes (streamed in 1 MiB blocks), or a digest
  over a directory's visible data files (Hadoop's hidden-file rule, :func:`is_hidden`).
- :func:`internal_io`: marks reads made by lineage code itself, so pandas capture ignores them.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

_BLOCK = 1 << 20

#: True while lineage code itself reads files (so pandas capture ignores those reads).
_INTERNAL_IO: contextvars.ContextVar[bool] = contextvars.ContextVar("lineage_internal_io",
                                                                    default=False)


@contextlib.contextmanager
def internal_io() -> Iterator[None]:
    """Mark file reads inside the block as the emitter's own (not the job's lineage)."""
    token = _INTERNAL_IO.set(True)
    try:
        yield
    finally:
        _INTERNAL_IO.reset(token)


def is_internal_io() -> bool:
    """Return ``True`` inside :func:`internal_io`."""
    return _INTERNAL_IO.get()


def file_digest(path: str | os.PathLike[str]) -> tuple[str, int]:
    """Return ``(sha256 hex, size in bytes)`` of the file, read in 1 MiB blocks.

    Raises ``OSError`` when the file cannot be read.
    """
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while block := fh.read(_BLOCK):
            h.update(block)
            size += len(block)
    return h.hexdigest(), size


def is_hidden(name: str) -> bool:
    """Hadoop's hidden-file rule (``FileInputFormat``/Spark ``InMemoryFileIndex``): a name
    starting with ``.``, or with ``_`` and no ``=`` (``_SUCCESS``, ``.crc`` files)."""
    return name.startswith(".") or (name.startswith("_") and "=" not in name) or name.endswith(
        "._COPYING_"
    )


@dataclass(frozen=True)
class ContentVersion:
    """A dataset's content version: ``digest`` (lower-case hex), ``algorithm`` (``sha256``,
    ``sha256-tree`` or ``sha256-manifest``), total ``bytes`` and number of ``files``."""

    digest: str
    algorithm: str
    bytes: int
    files: int


def _visible_files(root: Path) -> list[tuple[str, Path]]:
    out: list[tuple[str, Path]] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not is_hidden(d))
        for name in filenames:
            if is_hidden(name):
                continue
            full = Path(dirpath) / name
            out.append((full.relative_to(root).as_posix(), full))
    out.sort()
    return out


def content_version(path: Path, max_bytes: int = 256 * 1024 * 1024) -> ContentVersion | None:
    """Return the content version of a local file or directory, ``None`` if it is missing.

    A file: SHA-256 of its bytes (algorithm ``sha256``), whatever wrote it, so pandas, Spark
    and PyTorch emitters agree on one file's version. A directory (Spark, partitioned
    parquet): SHA-256 over its visible data files in sorted order, each contributing its
    relative path, a NUL byte, its size and its bytes (``sha256-tree``); above ``max_bytes``
    the bytes are not read and mtimes stand in for them (``sha256-manifest``).
    Raises ``OSError`` when a file cannot be read.
    """
    if path.is_file():
        digest_hex, size = file_digest(path)
        return ContentVersion(digest_hex, "sha256", size, 1)
    if not path.is_dir():
        return None
    sizes = [(rel, full, full.stat()) for rel, full in _visible_files(path)]
    total = sum(st.st_size for _rel, _full, st in sizes)
    digest = hashlib.sha256()
    manifest = total > max_bytes
    with internal_io():
        for rel, full, st in sizes:
            digest.update(rel.encode("utf-8") + b"\0" + str(st.st_size).encode("ascii"))
            if manifest:
                digest.update(b"\0" + str(st.st_mtime_ns).encode("ascii"))
                continue
            with open(full, "rb") as fh:
                while block := fh.read(1 << 20):
                    digest.update(block)
    return ContentVersion(
        digest.hexdigest(), "sha256-manifest" if manifest else "sha256-tree", total, len(sizes)
    )
