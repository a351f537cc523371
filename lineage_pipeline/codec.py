"""Avro wire formats for the project's topics.

Two framings, both from the Avro/Confluent specifications:

- **Avro single-object encoding** (default; Avro 1.11 spec, "Single-object encoding"):
  ``0xC3 0x01`` + the 8-byte little-endian CRC-64-AVRO fingerprint of the writer schema's
  Parsing Canonical Form + the Avro binary body.
- **Confluent wire format** (when a Schema Registry URL is configured): ``0x00`` + the 4-byte
  big-endian schema id + the Avro binary body. Schema ids come from
  ``confluent_kafka.schema_registry.SchemaRegistryClient`` (``mock://`` works in tests).

The decoder knows the fingerprint of every shipped version of a schema family and resolves
older or newer writer schemas against the reader's (Avro schema resolution); anything else
raises :class:`~lineage_pipeline.errors.DecodeError` with a stable ``reason``:
``empty``, ``bad_magic``, ``truncated``, ``unknown_fingerprint``, ``unknown_schema_id``,
``no_schema_registry``, ``malformed_avro``, ``trailing_bytes``, ``invalid_event``,
``too_large``, ``integrity_mismatch``.

Hostile input is bounded in time and memory: a message is at most ``max_message_bytes``;
every array and map item of the shipped schemas encodes in at least one byte (a test lints
this), so a declared count can never exceed the bytes that remain, and strings are read
from the message buffer without preallocation. Integrity: the emitter sends a CRC-32 of the
value in the ``lineage-crc32`` Kafka header (:func:`integrity_header`); the processor checks
it (:func:`check_integrity`), so a payload changed on the way is detected, not decoded
into different content.
"""

from __future__ import annotations

import io
import json
import struct
import zlib
from collections.abc import Sequence
from typing import Any, Protocol

import fastavro
from fastavro.schema import parse_schema, to_parsing_canonical_form
from pydantic import ValidationError

import schemas
from lineage_pipeline.errors import DecodeError, EventError, MissingExtraError
from lineage_pipeline.events import LineageEvent

SINGLE_OBJECT_MAGIC = b"\xc3\x01"
CONFLUENT_MAGIC = b"\x00"
#: Default upper bound on one encoded message, bytes (the emitter's size cap is 64 KiB).
DEFAULT_MAX_MESSAGE_BYTES = 1 << 20

_CRC64_EMPTY = 0xC15D213AA4D7A795


def _crc64_table() -> list[int]:
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (_CRC64_EMPTY & -(fp & 1))
        table.append(fp)
    return table


_TABLE = _crc64_table()


def crc64_avro(data: bytes) -> int:
    """Return the CRC-64-AVRO fingerprint of ``data`` (Avro spec, "Schema Fingerprints")."""
    fp = _CRC64_EMPTY
    for byte in data:
        fp = (fp >> 8) ^ _TABLE[(fp ^ byte) & 0xFF]
    return fp


def schema_fingerprint(schema: dict[str, Any]) -> bytes:
    """Return the 8-byte little-endian CRC-64-AVRO fingerprint of ``schema``'s canonical form."""
    canonical = to_parsing_canonical_form(parse_schema(schema))
    return crc64_avro(canonical.encode("utf-8")).to_bytes(8, "little")


class SchemaRegistry(Protocol):
    """The part of confluent-kafka's ``SchemaRegistryClient`` the codec uses."""

    def register_schema(self, subject_name: str, schema: Any) -> int: ...

    def get_schema(self, schema_id: int) -> Any: ...


class AvroCodec:
    """Encode and decode records of one schema family (e.g. ``lineage_event``).

    ``name``: the family in :mod:`schemas`; ``version``: the writer/reader version (default:
    the newest shipped); ``registry`` and ``subject``: use the Confluent wire format with this
    Schema Registry client (the schema is registered on first encode, never in the
    constructor). ``known_schemas`` (version -> schema JSON) replaces the shipped versions,
    e.g. to run as an older or newer reader. Thread-safe for encode/decode once constructed.
    """

    def __init__(
        self,
        name: str,
        version: int | None = None,
        *,
        registry: SchemaRegistry | None = None,
        subject: str | None = None,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        known_schemas: dict[int, dict[str, Any]] | None = None,
    ) -> None:
        if known_schemas is None:
            known_schemas = {
                v: schemas.load_schema(name, v) for v in schemas.available_versions(name)
            }
        if not known_schemas:
            raise EventError(f"no Avro schema named {name!r} ships in schemas/")
        self.name = name
        self.version = version if version is not None else max(known_schemas)
        if self.version not in known_schemas:
            raise EventError(f"schema {name!r} has no version {self.version}")
        self._raw = known_schemas[self.version]
        self._text = json.dumps(self._raw)
        self.schema = parse_schema(self._raw)
        self.fingerprint = schema_fingerprint(self._raw)
        self._writers: dict[bytes, Any] = {
            schema_fingerprint(raw): parse_schema(raw) for raw in known_schemas.values()
        }
        # a record written with the reader's own schema needs no schema resolution (fastavro
        # reads it about a fifth faster without)
        self._writers[self.fingerprint] = self.schema
        self._registry = registry
        self._subject = subject or f"{name}-value"
        self._registry_id: int | None = None
        self._registry_schemas: dict[int, Any] = {}
        self.max_message_bytes = max_message_bytes

    # -- encode -------------------------------------------------------------------------
    def encode(self, record: dict[str, Any]) -> bytes:
        """Return the framed Avro encoding of ``record`` (a dict of the schema's shape).

        Raises :class:`EventError` when the record does not fit the schema.
        """
        body = io.BytesIO()
        try:
            fastavro.schemaless_writer(body, self.schema, record)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise EventError(
                f"record does not fit schema {self.name} v{self.version}: {exc}"
            ) from exc
        return self.header() + body.getvalue()

    def header(self) -> bytes:
        """Return the framing in front of every encoded body: ``0xC3 0x01`` + fingerprint,
        or ``0x00`` + the 4-byte schema id (the schema is registered on the first call; the
        registry client's errors propagate)."""
        if self._registry is not None:
            return CONFLUENT_MAGIC + struct.pack(">I", self._schema_id())
        return SINGLE_OBJECT_MAGIC + self.fingerprint

    def _schema_id(self) -> int:
        if self._registry_id is None:
            from confluent_kafka.schema_registry import Schema

            assert self._registry is not None
            self._registry_id = self._registry.register_schema(
                self._subject, Schema(self._text, "AVRO")
            )
        return self._registry_id

    # -- decode -------------------------------------------------------------------------
    def decode(self, data: bytes) -> dict[str, Any]:
        """Return the record in ``data``, resolved to this codec's (reader) schema.

        Raises :class:`DecodeError` with a stable ``reason`` (see the module docstring).
        """
        if not data:
            raise DecodeError("empty", "message has no bytes")
        if len(data) > self.max_message_bytes:
            raise DecodeError("too_large", f"{len(data)} bytes > {self.max_message_bytes}")
        if data[:2] == SINGLE_OBJECT_MAGIC:
            if len(data) < 10:
                raise DecodeError("truncated", "shorter than the single-object header")
            writer = self._writers.get(data[2:10])
            if writer is None:
                raise DecodeError(
                    "unknown_fingerprint",
                    f"schema fingerprint {data[2:10].hex()} is not a known {self.name} version",
                )
            return self._read(data, 10, writer)
        if data[:1] == CONFLUENT_MAGIC:
            if len(data) < 5:
                raise DecodeError("truncated", "shorter than the Confluent header")
            (schema_id,) = struct.unpack(">I", data[1:5])
            return self._read(data, 5, self._registry_writer(schema_id))
        raise DecodeError("bad_magic", f"first bytes {data[:2].hex()} are no known framing")

    def knows(self, data: bytes) -> bool:
        """``True`` when ``data`` is framed with a writer schema of this family: a known
        fingerprint, or a Schema Registry id whose schema has this family's record name.
        Never raises (an unreachable registry or unknown id answers ``False``)."""
        if data[:2] == SINGLE_OBJECT_MAGIC:
            return data[2:10] in self._writers
        if data[:1] != CONFLUENT_MAGIC or len(data) < 5 or self._registry is None:
            return False
        try:
            writer = self._registry_writer(struct.unpack(">I", data[1:5])[0])
        except DecodeError:
            return False
        own = self.schema.get("name") if isinstance(self.schema, dict) else None
        return isinstance(writer, dict) and writer.get("name") == own

    def _registry_writer(self, schema_id: int) -> Any:
        if self._registry is None:
            raise DecodeError("no_schema_registry", "Confluent framing but no registry configured")
        cached = self._registry_schemas.get(schema_id)
        if cached is not None:
            return cached
        try:
            schema = self._registry.get_schema(schema_id)
        except Exception as exc:  # the registry client raises its own error types
            raise DecodeError("unknown_schema_id", f"schema id {schema_id}: {exc}") from exc
        parsed = parse_schema(json.loads(schema.schema_str))
        self._registry_schemas[schema_id] = parsed
        return parsed

    def _read(self, data: bytes, offset: int, writer: Any) -> dict[str, Any]:
        buf = io.BytesIO(data)
        buf.seek(offset)
        try:
            record = fastavro.schemaless_reader(
                buf, writer, None if writer is self.schema else self.schema)
        except EOFError as exc:
            raise DecodeError("truncated", "body ends before the record") from exc
        except MemoryError as exc:
            raise DecodeError("malformed_avro", "declared size exceeds memory") from exc
        except Exception as exc:
            raise DecodeError("malformed_avro", f"{type(exc).__name__}: {exc}") from exc
        if buf.tell() != len(data):
            raise DecodeError("trailing_bytes", f"{len(data) - buf.tell()} bytes after the record")
        if not isinstance(record, dict):
            raise DecodeError("malformed_avro", "body is not a record")
        return record


class EventCodec:
    """Encode and decode :class:`LineageEvent` objects on ``lineage.events``."""

    def __init__(self, avro: AvroCodec | None = None) -> None:
        self.avro = avro if avro is not None else AvroCodec("lineage_event")

    def encode(self, event: LineageEvent) -> bytes:
        """Return the wire bytes of ``event``; raises :class:`EventError`."""
        return self.avro.encode(event.to_record())

    def decode_record(self, data: bytes) -> dict[str, Any]:
        """Return the event in ``data`` as its wire record (the shape of
        :meth:`LineageEvent.to_record`) without building the model: the reader schema is the
        model's mirror (``tests/test_codec.py``), so a record it resolves is a valid event.
        A model costs about a millisecond more per 10 KB event. Raises
        :class:`DecodeError`."""
        return self.avro.decode(data)

    def decode(self, data: bytes) -> LineageEvent:
        """Return the event in ``data``; raises :class:`DecodeError` (reason ``invalid_event``
        when the record decodes but fails the model's validation: a reader schema newer than
        the model)."""
        record = self.avro.decode(data)
        try:
            return LineageEvent.from_record(record)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()[:5]
            )
            raise DecodeError("invalid_event", problems) from exc


def registry_client(url: str | None) -> SchemaRegistry | None:
    """Return a Schema Registry client for ``url`` (``mock://...`` for an in-process one).

    ``None`` for no URL: the codecs then use Avro single-object encoding. No network I/O
    happens here; the client connects on first use. Raises :class:`MissingExtraError`
    without the Schema Registry client (the ``registry`` extra).
    """
    if not url:
        return None
    try:
        from confluent_kafka.schema_registry import SchemaRegistryClient
    except ImportError as exc:  # confluent-kafka without its [schemaregistry] dependencies
        raise MissingExtraError("registry", "kafka.schema_registry_url") from exc

    client: SchemaRegistry = SchemaRegistryClient.new_client({"url": url})
    return client


#: Kafka header that carries the CRC-32 (zlib, big-endian 4 bytes) of the message value.
INTEGRITY_HEADER = "lineage-crc32"


def integrity_header(value: bytes) -> tuple[str, bytes]:
    """Return the ``(name, value)`` Kafka header carrying the CRC-32 of ``value``."""
    return INTEGRITY_HEADER, zlib.crc32(value).to_bytes(4, "big")


def check_integrity(value: bytes, headers: Sequence[tuple[str, bytes | None]] | None) -> bool:
    """Check ``value`` against its ``lineage-crc32`` header.

    Returns ``True`` when the header is present and matches, ``False`` when there is no
    such header (third-party producers). Raises :class:`DecodeError` (reason
    ``integrity_mismatch``) when it does not match.
    """
    for name, raw in headers or ():
        if name == INTEGRITY_HEADER:
            expected = raw or b""
            actual = zlib.crc32(value).to_bytes(4, "big")
            if expected != actual:
                raise DecodeError(
                    "integrity_mismatch",
                    f"CRC-32 {actual.hex()} of the value != header {expected.hex()}",
                )
            return True
    return False
