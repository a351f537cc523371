"""Spool segment files: the on-disk format and the liveness of their writers.

File format, version 1 (one file = one *segment*)::

    header  b"LSPOOL1\\n"
    record  u32 BE body length | u32 BE CRC-32 (zlib/IEEE 802.3) of body | body
    body    u16 BE topic length | topic (UTF-8) | u32 BE key length | key | value

A writer appends to its own segment ``<time_ns>-<pid>-<rand>.open`` and renames it to
``.spool`` when it is sealed; :func:`writer_pid` reads the pid back from the name.
"""

from __future__ import annotations

import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

MAGIC = b"LSPOOL1\n"
_HEAD = struct.Struct(">II")
OPEN_SUFFIX = ".open"
SEALED_SUFFIX = ".spool"


@dataclass(frozen=True, slots=True)
class SpoolRecord:
    """One spooled Kafka message: ``topic``, ``key`` and ``value`` bytes."""

    topic: str
    key: bytes
    value: bytes

    def encode(self) -> bytes:
        """Return the framed record (length, CRC-32, body)."""
        topic = self.topic.encode("utf-8")
        body = b"".join(
            (struct.pack(">H", len(topic)), topic, struct.pack(">I", len(self.key)), self.key,
             self.value)
        )
        return _HEAD.pack(len(body), zlib.crc32(body)) + body

    @classmethod
    def decode_body(cls, body: bytes) -> SpoolRecord:
        """Parse a record body; raises ``ValueError``/``struct.error`` when malformed."""
        (tlen,) = struct.unpack_from(">H", body, 0)
        topic = body[2 : 2 + tlen].decode("utf-8")
        (klen,) = struct.unpack_from(">I", body, 2 + tlen)
        kstart = 6 + tlen
        if kstart + klen > len(body):
            raise ValueError("key longer than the record")
        return cls(topic, body[kstart : kstart + klen], body[kstart + klen :])


def read_segment(path: Path) -> tuple[list[SpoolRecord], int]:
    """Return the valid records of segment ``path`` and the number of corrupt ones skipped."""
    data = path.read_bytes()
    if not data.startswith(MAGIC):
        return [], 1 if data else 0
    records: list[SpoolRecord] = []
    corrupt = 0
    pos = len(MAGIC)
    while pos < len(data):
        if pos + _HEAD.size > len(data):
            corrupt += 1
            break
        length, crc = _HEAD.unpack_from(data, pos)
        end = pos + _HEAD.size + length
        if end > len(data):
            corrupt += 1
            break
        body = data[pos + _HEAD.size : end]
        pos = end
        if zlib.crc32(body) != crc:
            corrupt += 1
            continue
        try:
            records.append(SpoolRecord.decode_body(body))
        except (ValueError, struct.error, UnicodeDecodeError):
            corrupt += 1
    return records, corrupt


def writer_pid(path: Path) -> int | None:
    """The pid in a segment's name (``<time_ns>-<pid>-<rand>``), ``None`` if it has none."""
    try:
        return int(path.name.split("-")[1])
    except (IndexError, ValueError):
        return None


def pid_alive(pid: int) -> bool:
    """``True`` when process ``pid`` exists (also when it belongs to another user)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def write_all(fd: int, data: bytes) -> None:
    """Write all of ``data`` to file descriptor ``fd`` (retrying short writes)."""
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def rewrite_segment(path: Path, records: list[SpoolRecord]) -> None:
    """Atomically replace segment ``path`` by one holding ``records`` (written to a
    temporary file, fsynced, renamed over it). Raises ``OSError``."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        write_all(fd, MAGIC + b"".join(r.encode() for r in records))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
