"""The processor's stores (:mod:`stream_processor.state` interfaces) over Faust tables.

Each adapter takes the table object :mod:`stream_processor.app` created (a Faust ``Table``,
windowed ``Table`` or ``GlobalTable``; typed ``Any``: this module does not import Faust).
Writes need a current Faust event: a table writes its changelog to that event's partition.
"""

from __future__ import annotations

import hashlib
import json
import struct
import uuid
from collections import OrderedDict
from collections.abc import Iterator
from functools import lru_cache
from typing import Any, NamedTuple

from stream_processor.state import (
    StoredRun,
    decode_state,
    decode_summary,
    departed_summary,
    encode_state,
    newer_version,
)
from stream_processor.stitch import RunState

#: Run states kept decoded beside their table values (about 40 KB each in memory).
DECODED_CACHE_SIZE = 1_000


#: First byte of a run-table value in the binary format of :class:`FaustRunStore`: 3, the
#: state deflated with :data:`~stream_processor.state.STATE_DICTIONARY`; 2 (read only), the
#: same without it.
RUN_VALUE_FORMAT = 3
#: format byte -> whether the state was deflated with the preset dictionary
_PRESET = {2: False, 3: True}
#: The header after it: ``touched_ms`` (int64), changelog partition (uint16), flags (uint8).
_HEADER = struct.Struct(">qHB")
_TERMINAL, _DEPARTED = 1, 2


class RunValueHeader(NamedTuple):
    """What the sweeps read of a run-table value without decoding its state: ``touched_ms``
    (epoch ms), the changelog ``partition`` (``None`` when an older value named none),
    ``terminal`` and ``departed`` (a departed summary)."""

    touched_ms: int
    partition: int | None
    terminal: bool
    departed: bool


def _legacy(raw: Any) -> dict[str, Any]:
    """An earlier-format run-table value as its dict (JSON bytes, as the raw serializer returns
    them from an older changelog, or the dict itself)."""
    return json.loads(raw) if isinstance(raw, bytes | str) else dict(raw)


def read_header(raw: Any) -> RunValueHeader:
    """The header of run-table value ``raw`` in any format of :class:`FaustRunStore`.
    Raises ``ValueError`` (``json.JSONDecodeError``) for bytes of no known format."""
    if isinstance(raw, bytes) and raw[:1] and raw[0] in _PRESET:
        touched, partition, flags = _HEADER.unpack_from(raw, 1)
        return RunValueHeader(touched, partition, bool(flags & _TERMINAL),
                              bool(flags & _DEPARTED))
    old = _legacy(raw)
    found = old.get("p")
    return RunValueHeader(int(old.get("touched_ms", 0)), None if found is None else int(found),
                          bool(old.get("terminal")), bool(old.get("d")))


class FaustRunStore:
    """:class:`~stream_processor.state.RunStore` over a Faust Table whose values are bytes
    (``value_serializer="raw"``, :mod:`stream_processor.app`).

    A value is one ``bytes`` object: :data:`RUN_VALUE_FORMAT` (1 byte), ``touched_ms``
    (int64, big-endian), the changelog partition (uint16), flags (uint8: 1 terminal, 2
    departed summary), then the stitched state as
    :func:`~stream_processor.state.encode_state` packs it (JSON without what the facets
    rebuild, raw-deflated: a typical open run about 1.2 KB instead of 25 KB of JSON). As one
    untracked object, a run costs Python's cyclic garbage collector nothing (as nested
    dicts, a few thousand runs made a full collection take over a second: a p99 latency
    spike in bench/pipeline), and no base64 or JSON wrapper inflates the changelog. The
    partition is the current event's when the value was written: finished runs are retired
    only while a message of that partition is handled, so their changelog records stay in
    it. Values of earlier formats, still in an older changelog, are read: JSON (bytes as the
    raw serializer returns them, or the decoded dict) ``{"z": <base64 of the packed
    state>, "touched_ms", "terminal", "p", "d"}``, or ``{"state": <JSON text or dict>, ...}``.
    """

    def __init__(self, table: Any, cache_size: int = DECODED_CACHE_SIZE) -> None:
        self.table = table
        self.cache_size = cache_size
        #: run id -> (the value last put, its state): decoding a value costs milliseconds
        self._decoded: OrderedDict[str, tuple[Any, StoredRun]] = OrderedDict()

    def _header(self, key: str, raw: Any) -> RunValueHeader:
        """:func:`read_header` of ``key``'s value, the partition of an older value that named
        none taken from the memory store's recovery index when it has the key."""
        head = read_header(raw)
        if head.partition is None:
            recovered = getattr(getattr(self.table, "data", None), "_key_partition", None)
            found = recovered.get(key) if recovered is not None else None
            if found is not None:
                return head._replace(partition=int(found))
        return head

    def _load(self, raw: Any) -> StoredRun:
        if isinstance(raw, bytes) and raw[:1] and raw[0] in _PRESET:
            touched, _partition, flags = _HEADER.unpack_from(raw, 1)
            state = decode_state(raw[1 + _HEADER.size:], _PRESET[raw[0]])
            return StoredRun(state, touched, bool(flags & _DEPARTED))
        old = _legacy(raw)
        touched, departed = int(old["touched_ms"]), bool(old.get("d"))
        if "z" in old:
            return StoredRun(decode_state(str(old["z"])), touched, departed)
        state = old["state"]
        if isinstance(state, str):
            return StoredRun(RunState.from_json_bytes(state), touched, departed)
        return StoredRun.from_json(old)

    def get(self, run_id: str) -> StoredRun | None:
        """See :class:`~stream_processor.state.RunStore`. A value this store put (the very
        object still in the table) comes back without decoding; one recovered from the
        changelog is decoded."""
        raw = self.table.get(run_id)
        if raw is None:
            return None
        cached = self._decoded.get(run_id)
        if cached is not None and cached[0] is raw:
            self._decoded.move_to_end(run_id)
            return cached[1]
        return self._load(raw)

    def put(self, run_id: str, stored: StoredRun) -> None:
        """See :class:`~stream_processor.state.RunStore` (needs a current Faust event)."""
        flags = (_TERMINAL if stored.state.is_terminal else 0) | \
            (_DEPARTED if stored.departed else 0)
        value = bytes((RUN_VALUE_FORMAT,)) + _HEADER.pack(
            stored.touched_ms, self.table.partition_for_key(run_id), flags
        ) + encode_state(stored.state)
        self.table[run_id] = value
        self._decoded[run_id] = (value, stored)
        self._decoded.move_to_end(run_id)
        while len(self._decoded) > self.cache_size:
            self._decoded.popitem(last=False)

    def open_runs_idle_since(self, cutoff_ms: int) -> Iterator[StoredRun]:
        """See :class:`~stream_processor.state.RunStore`; decodes only the matching runs."""
        for key, raw in list(self.table.items()):
            head = self._header(key, raw)
            if not head.terminal and head.touched_ms <= cutoff_ms:
                yield self._load(raw)

    def finished_runs_idle_since(self, cutoff_ms: int, partition: int) -> Iterator[StoredRun]:
        """See :class:`~stream_processor.state.RunStore`; decodes only the matching runs, and
        of those only the summary's parts (:func:`~stream_processor.state.decode_summary`)."""
        for key, raw in list(self.table.items()):
            head = self._header(key, raw)
            if (head.terminal and not head.departed and head.touched_ms <= cutoff_ms
                    and head.partition == partition):
                yield StoredRun(self._summary(key, raw), head.touched_ms, departed=True)

    def _summary(self, key: str, raw: Any) -> RunState:
        """The departed summary of run ``key``'s table value ``raw``."""
        cached = self._decoded.get(key)
        if cached is not None and cached[0] is raw:
            return departed_summary(cached[1].state)
        if isinstance(raw, bytes) and raw[:1] and raw[0] in _PRESET:
            return decode_summary(raw[1 + _HEADER.size:], _PRESET[raw[0]])
        return departed_summary(self._load(raw).state)

    def departed_runs_idle_since(self, cutoff_ms: int, partition: int) -> Iterator[str]:
        """See :class:`~stream_processor.state.RunStore`; decodes nothing."""
        for key, raw in list(self.table.items()):
            head = self._header(key, raw)
            if head.departed and head.touched_ms <= cutoff_ms and head.partition == partition:
                yield str(key)

    def retire(self, run_id: str, stored: StoredRun | None) -> None:
        """See :class:`~stream_processor.state.RunStore` (needs a current Faust event of the
        run's partition: the table writes its changelog record there)."""
        if stored is not None:
            self.put(run_id, stored)
            return
        self._decoded.pop(run_id, None)
        if run_id in self.table:
            del self.table[run_id]


#: First byte of a versions-table value (:class:`FaustVersionStore`): the version is
#: ``run:`` and a UUID in canonical form, stored as its 16 bytes / as UTF-8 text. Neither is
#: the first byte of the JSON (``[`` or ``{``) that earlier values hold.
_RUN_UUID, _TEXT = 1, 2
_TIME = struct.Struct(">q")
_RUN = "run:"


def encode_version(version: str, event_time: int) -> bytes:
    """A versions-table value: format byte, ``event_time`` (epoch ms, int64 big-endian), then
    the version: 16 bytes for ``run:<canonical UUID>`` (the version a run without an explicit
    one gives its outputs: 25 bytes in all instead of about 58 as JSON), else its UTF-8."""
    if version.startswith(_RUN) and len(version) == 40:
        try:
            run = uuid.UUID(version[4:])
        except ValueError:
            run = None
        if run is not None and str(run) == version[4:]:
            return bytes((_RUN_UUID,)) + _TIME.pack(event_time) + run.bytes
    return bytes((_TEXT,)) + _TIME.pack(event_time) + version.encode()


def decode_version(value: Any) -> dict[str, Any] | None:
    """A versions-table value as ``{"version", "t"}``: the bytes :func:`encode_version`
    writes, or an earlier value (still in older changelogs): the JSON list ``[version, t]``
    or dict ``{"version", "t"}``, as bytes or decoded. Raises ``ValueError`` for bytes of no
    known format."""
    if isinstance(value, bytes):
        if value[:1] in (b"[", b"{"):
            value = json.loads(value)
        elif value[:1] == bytes((_RUN_UUID,)) and len(value) == 25:
            return {"version": _RUN + str(uuid.UUID(bytes=value[9:])),
                    "t": _TIME.unpack_from(value, 1)[0]}
        elif value[:1] == bytes((_TEXT,)) and len(value) >= 9:
            return {"version": value[9:].decode(), "t": _TIME.unpack_from(value, 1)[0]}
        else:
            raise ValueError(f"versions-table value of no known format: {value[:16]!r}")
    if isinstance(value, list | tuple):
        return {"version": value[0], "t": value[1]}
    return None if value is None else dict(value)


@lru_cache(maxsize=1 << 16)
def version_key(dataset_uid: str) -> bytes:
    """The versions-table key of ``dataset_uid``: its 16-byte BLAKE2b digest (a uid is
    about 60 bytes and up to the graph's key bound; every changelog record carries one).
    Cached: the same datasets are looked up on every event of their runs."""
    return hashlib.blake2b(dataset_uid.encode("utf-8", "surrogatepass"), digest_size=16).digest()


@lru_cache(maxsize=1 << 16)
def _legacy_version_key(dataset_uid: str) -> bytes:
    """The key earlier processors gave ``dataset_uid`` in the versions table (its JSON)."""
    return json.dumps(dataset_uid).encode()


class FaustVersionStore:
    """:class:`~stream_processor.state.VersionStore` over a Faust GlobalTable with bytes keys
    and values (raw serializers, :mod:`stream_processor.app`): key :func:`version_key`, value
    :func:`encode_version` (about 41 bytes a record instead of about 120 as JSON).

    Earlier processors keyed the table by the uid itself (JSON, as the ``json`` key serializer
    wrote it) with JSON values; such an entry, recovered from an older changelog, is read
    when the digest key has none, and the next :meth:`record` of that dataset writes the
    digest key."""

    def __init__(self, table: Any) -> None:
        self.table = table

    def _entry(self, dataset_uid: str) -> dict[str, Any] | None:
        value = self.table.get(version_key(dataset_uid))
        if value is None:
            value = self.table.get(_legacy_version_key(dataset_uid))  # an earlier key
        return decode_version(value)

    def latest(self, dataset_uid: str) -> str | None:
        """See :class:`~stream_processor.state.VersionStore`."""
        entry = self._entry(dataset_uid)
        return None if entry is None else str(entry["version"])

    def record(self, dataset_uid: str, version: str, event_time: int) -> None:
        """See :class:`~stream_processor.state.VersionStore` (needs a current Faust event)."""
        if newer_version(self._entry(dataset_uid), version, event_time):
            self.table[version_key(dataset_uid)] = encode_version(version, event_time)


class FaustAliasStore:
    """:class:`~stream_processor.identity.AliasStore` over a Faust GlobalTable (symlink
    aliases learned on any partition are used by every worker)."""

    def __init__(self, table: Any) -> None:
        self.table = table

    def get(self, uid: str) -> tuple[str, str] | None:
        """See :class:`~stream_processor.identity.AliasStore`."""
        value = self.table.get(uid)
        return None if value is None else (str(value[0]), str(value[1]))

    def put(self, uid: str, canonical: tuple[str, str]) -> None:
        """See :class:`~stream_processor.identity.AliasStore` (needs a current Faust event)."""
        self.table[uid] = list(canonical)

    def __len__(self) -> int:
        """See :class:`~stream_processor.identity.AliasStoreSize`."""
        return len(self.table)
