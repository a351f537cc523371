"""A compiled Avro binary writer for the emitter: event model in, the same bytes as fastavro out.

:class:`~lineage_pipeline.codec.EventCodec` encodes with ``model_dump`` and fastavro. For the
event's schema that costs about 700 us per 5.7 KB event: for every ``["null", T]`` union
fastavro validates the whole value against ``T`` (recursively, with the unions inside)
before it writes it. This module compiles the writer schema once into one Python function
(records inlined) that reads each pydantic model's fields from its ``__dict__`` (no
``model_dump``, no validation: the model was validated when built) and appends the Avro
binary encoding (Avro 1.11 spec, "Binary Encoding") to a ``bytearray``: zig-zag varints for
``int``/``long``, little-endian IEEE 754 for ``double``/``float``, length-prefixed UTF-8
for ``string``, one block per non-empty array or map, the branch index of a union. About
45 us for the 5.7 KB event of ``python -m bench emit``. Consecutive nullable ``double``
fields (column statistics) are packed by one ``struct`` call.

Strings, integers and booleans are looked up in bounded memo tables (value -> its encoding,
for nullable fields with the union index in front; at most :data:`MEMO_ENTRIES` values of
at most :data:`MEMO_STRING_CHARS` characters each, emptied when full): column names, types
and namespaces repeat from event to event.

Only the schema shapes the shipped event schema uses are compiled: primitives, records
(not recursive), enums, arrays, maps and unions of ``null`` with one other type.
:func:`compile_writer` raises :class:`NotImplementedError` for anything else (the caller then
keeps fastavro). The output is byte for byte what fastavro writes for a valid event (tested);
a value that does not fit its schema raises ``ValueError`` (``UnicodeEncodeError`` for a
lone surrogate), ``TypeError``, ``KeyError``, ``AttributeError`` or ``struct.error``.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Callable
from typing import Any, get_args

from pydantic import BaseModel

from lineage_pipeline.codec import EventCodec
from lineage_pipeline.events import LineageEvent

log = logging.getLogger("emitters.avro_writer")

#: Most values one memo table keeps before it is emptied.
MEMO_ENTRIES = 16_384
#: Longest string (characters) a memo table keeps.
MEMO_STRING_CHARS = 256
_LONG_MIN, _LONG_MAX = -(1 << 63), (1 << 63) - 1


def _varint(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def write_long(n: int) -> bytes:
    """Return the Avro encoding (zig-zag varint) of the 64-bit integer ``n``.

    Raises ``TypeError`` for a non-integer and ``ValueError`` outside the 64-bit range.
    """
    if not _LONG_MIN <= n <= _LONG_MAX:
        raise ValueError(f"{n} does not fit an Avro long")
    return _varint((n << 1) ^ (n >> 63))


def write_string(text: str) -> bytes:
    """Return the Avro encoding of ``text``: the length of its UTF-8 bytes, then the bytes.

    Raises ``UnicodeEncodeError`` (a ``ValueError``) for lone surrogates, ``AttributeError``
    for a non-string.
    """
    data = text.encode()
    return _varint(len(data) << 1) + data


def _write_boolean(value: bool) -> bytes:
    if value is True:
        return b"\x01"
    if value is False:
        return b"\x00"
    raise TypeError(f"{value!r} is not a boolean")


class _Memo(dict[Any, bytes]):
    """value -> encoding (``prefix`` + ``encode(value)``), filled on a miss, bounded."""

    def __init__(self, encode: Callable[[Any], bytes], prefix: bytes = b"",
                 nullable: bool = False) -> None:
        super().__init__()
        self.encode = encode
        self.prefix = prefix
        self.nullable = nullable
        self._seed()

    def _seed(self) -> None:
        if self.nullable:
            self[None] = b"\x00"

    def __missing__(self, value: Any) -> bytes:
        if value is None and self.nullable:  # pragma: no cover - seeded
            return b"\x00"
        if type(value) is float:  # 1.0 == 1: an int field must not take a float's place
            raise TypeError(f"{value!r} is not an integer")
        data = self.prefix + self.encode(value)
        if len(self) >= MEMO_ENTRIES:
            self.clear()
            self._seed()
        if not isinstance(value, str) or len(value) <= MEMO_STRING_CHARS:
            self[value] = data
        return data


_MEMO_ENCODERS: dict[str, Callable[[Any], bytes]] = {
    "string": write_string, "long": write_long, "int": write_long, "boolean": _write_boolean,
}
_PACKERS = {"double": struct.Struct("<d").pack, "float": struct.Struct("<f").pack}
_NULLABLE_PACKERS = {"double": struct.Struct("<Bd").pack, "float": struct.Struct("<Bf").pack}


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model class inside ``annotation`` (``M``, ``M | None``, ``list[M]``...)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_of(arg)
        if found is not None:
            return found
    return None


def _attribute(model: type[BaseModel], wire_name: str) -> tuple[str, type[BaseModel] | None]:
    """The attribute of ``model`` holding the wire field ``wire_name`` and its nested model."""
    for name, info in model.model_fields.items():
        if wire_name in (name, info.alias):
            return name, _model_of(info.annotation)
    raise NotImplementedError(f"{model.__name__} has no field for {wire_name!r}")


def _runs(fields: list[tuple[str, Any, type[BaseModel] | None]]
          ) -> list[list[tuple[str, Any, type[BaseModel] | None]]]:
    """``fields`` split into runs: consecutive ``["null", "double"]`` (or ``float``) fields
    together, every other field alone."""
    runs: list[list[tuple[str, Any, type[BaseModel] | None]]] = []
    for field in fields:
        kind = field[1]
        packable = (isinstance(kind, list) and len(kind) == 2 and kind[0] == "null"
                    and isinstance(kind[1], str) and kind[1] in _PACKERS)
        if packable and runs and runs[-1][-1][1] == kind:
            runs[-1].append(field)
        else:
            runs.append([field])
    return runs


def _full_name(name: str, namespace: str) -> str:
    return name if "." in name or not namespace else f"{namespace}.{name}"


class _Compiler:
    """Generates the source of one function writing a record schema, records inlined."""

    def __init__(self) -> None:
        self.named: dict[str, dict[str, Any]] = {}
        self.constants: dict[str, Any] = {"_size": lambda n: _varint(n << 1)}
        self._vars = 0
        self._stack: list[str] = []

    def var(self, stem: str) -> str:
        """A fresh local variable name."""
        self._vars += 1
        return f"_{stem}{self._vars}"

    def const(self, name: str, value: Any) -> str:
        """Bind ``value`` to the global ``name`` of the generated code (once)."""
        self.constants.setdefault(name, value)
        return name

    def value(self, schema: Any, expr: str, model: type[BaseModel] | None, namespace: str,
              pad: str, nullable: bool = False) -> list[str]:
        """Statements appending the encoding of ``expr`` (of ``schema``) to ``b``;
        ``nullable``: ``schema`` is the other branch of a ``["null", schema]`` union."""
        if isinstance(schema, str) and schema not in _MEMO_ENCODERS and schema not in _PACKERS:
            schema = self.named[_full_name(schema, namespace)] if schema != "null" else {
                "type": "null"}
        kind = schema if isinstance(schema, str) else (
            "union" if isinstance(schema, list) else schema["type"])
        if isinstance(schema, dict) and "logicalType" in schema:
            raise NotImplementedError(f"logical type {schema['logicalType']!r} is not compiled")
        if kind in _MEMO_ENCODERS:
            memo = self.const(f"_m_{kind}{'_n' if nullable else ''}", _Memo(
                _MEMO_ENCODERS[kind], b"\x02" if nullable else b"", nullable))
            return [f"{pad}b += {memo}[{expr}]"]
        if kind in _PACKERS:
            if nullable:
                pack = self.const(f"_p_{kind}_n", _NULLABLE_PACKERS[kind])
                return [f"{pad}b += b'\\x00' if (_v := {expr}) is None else {pack}(2, _v)"]
            return [f"{pad}b += {self.const('_p_' + kind, _PACKERS[kind])}({expr})"]
        handlers: dict[str, Callable[..., list[str]]] = {
            "union": self.union, "record": self.record, "enum": self.enum,
            "array": self.collection, "map": self.collection}
        handler = handlers.get(kind)
        if handler is None:
            raise NotImplementedError(f"Avro type {kind!r} is not compiled")
        if not nullable:
            return handler(schema, expr, model, namespace, pad)
        tmp = self.var("n")
        return [f"{pad}{tmp} = {expr}", f"{pad}if {tmp} is None:", f"{pad}    b += b'\\x00'",
                f"{pad}else:", f"{pad}    b += b'\\x02'",
                *handler(schema, tmp, model, namespace, pad + "    ")]

    def record(self, schema: dict[str, Any], expr: str, model: type[BaseModel] | None,
               namespace: str, pad: str) -> list[str]:
        """A record: its fields in order, read as attributes of a ``model`` instance."""
        full = _full_name(schema["name"], schema.get("namespace", namespace))
        if model is None or full in self._stack:
            raise NotImplementedError(f"record {full} has no model or is recursive")
        self.named.setdefault(full, schema)
        self._stack.append(full)
        obj = self.var("r")
        lines: list[str] = []
        prelude = [f"{pad}{obj} = {expr}.__dict__"]  # pydantic keeps every field there
        fields: list[tuple[str, Any, type[BaseModel] | None]] = []
        for field in schema["fields"]:
            attr, nested = _attribute(model, field["name"])
            fields.append((f"{obj}[{attr!r}]", field["type"], nested))
        for run in _runs(fields):
            if len(run) > 1:
                names, line = self.packed(run[0][1][1], len(run), pad)
                prelude.append(f"{pad}{', '.join(names)} = {', '.join(e for e, _, _ in run)}")
                lines.append(line)
            else:
                lines += self.value(run[0][1], run[0][0], run[0][2], full.rpartition(".")[0],
                                    pad)
        self._stack.pop()
        return prelude + lines

    def packed(self, kind: str, count: int, pad: str) -> tuple[list[str], str]:
        """``count`` consecutive ``["null", kind]`` fields (``double``/``float``): the
        variables to bind them to, and the statement writing them (one ``struct`` call when
        none is ``None``)."""
        names = [self.var("d") for _ in range(count)]
        pack = self.const(f"_p_{kind}_{count}", struct.Struct("<" + ("B" + kind[0]) * count).pack)
        single = self.const(f"_p_{kind}_n", _NULLABLE_PACKERS[kind])
        each = " + ".join(f"(b'\\x00' if {n} is None else {single}(2, {n}))" for n in names)
        return names, (f"{pad}b += {pack}({', '.join('2, ' + n for n in names)}) "
                       f"if {' is not None and '.join(names)} is not None else {each}")

    def enum(self, schema: dict[str, Any], expr: str, model: type[BaseModel] | None,
             namespace: str, pad: str) -> list[str]:
        """An enum: the zig-zag index of the symbol (``KeyError`` for an unknown one)."""
        full = _full_name(schema["name"], schema.get("namespace", namespace))
        self.named.setdefault(full, schema)
        table = {s: write_long(i) for i, s in enumerate(schema["symbols"])}
        return [f"{pad}b += {self.const('_e_' + full.replace('.', '_'), table)}[{expr}]"]

    def collection(self, schema: dict[str, Any], expr: str, model: type[BaseModel] | None,
                   namespace: str, pad: str) -> list[str]:
        """An array or map: one block of all items (none for an empty one), then ``0``."""
        seq, item = self.var("a"), self.var("i")
        inner = pad + "        "
        if schema["type"] == "array":
            head = f"for {item} in {seq}:"
            body = self.value(schema["items"], item, model, namespace, inner)
        else:
            key = self.var("k")
            head = f"for {key}, {item} in {seq}.items():"
            body = self.value("string", key, None, namespace, inner)
            body += self.value(schema["values"], item, model, namespace, inner)
        return [f"{pad}{seq} = {expr}", f"{pad}if {seq}:", f"{pad}    b += _size(len({seq}))",
                f"{pad}    {head}", *body, f"{pad}b += b'\\x00'"]

    def union(self, schema: list[Any], expr: str, model: type[BaseModel] | None,
              namespace: str, pad: str) -> list[str]:
        """Only ``["null", T]``: index 0 for ``None``, else index 1 and the value."""
        if len(schema) != 2 or schema[0] != "null":
            raise NotImplementedError(f"union {schema!r} is not compiled")
        return self.value(schema[1], expr, model, namespace, pad, nullable=True)


def compile_writer(schema: dict[str, Any],
                   model: type[BaseModel]) -> Callable[[BaseModel, bytearray], None]:
    """Compile the record ``schema`` (Avro JSON, as in ``schemas/``) for instances of
    ``model``; return ``write(instance, buffer)`` appending the Avro binary body to
    ``buffer``.

    Raises :class:`NotImplementedError` for schema shapes this writer does not compile
    (unions other than ``["null", T]``, fixed, logical types, recursive records) or a field
    the model lacks.
    """
    compiler = _Compiler()
    lines = compiler.record(schema, "o", model, schema.get("namespace", ""), "    ")
    source = "def write(o, b):\n" + "\n".join(lines) + "\n"
    namespace: dict[str, Any] = dict(compiler.constants)
    exec(compile(source, f"<avro writer {schema['name']}>", "exec"), namespace)
    write: Callable[[BaseModel, bytearray], None] = namespace["write"]
    return write


#: What a compiled writer raises for a value that does not fit its schema.
WRITE_ERRORS = (ValueError, TypeError, KeyError, AttributeError, struct.error)


class EventEncoder:
    """Encodes events to exactly the bytes ``codec.encode`` returns, with the compiled writer.

    ``codec``: the client's :class:`~lineage_pipeline.codec.EventCodec` (its framing: Avro
    single-object encoding or the Confluent wire format; its writer schema). The writer is
    compiled on the first :meth:`encode` (about 2 ms), not in the constructor. A codec whose
    ``encode`` is overridden, or a schema the writer does not compile, is used as it is.
    Use from one thread (the client's sender): the buffer is reused.
    """

    def __init__(self, codec: EventCodec) -> None:
        self.codec = codec
        self._write: Callable[[BaseModel, bytearray], None] | None = None
        self._compiled: bool | None = None
        self._header: bytes | None = None
        self._buffer = bytearray()

    @property
    def compiled(self) -> bool:
        """``True`` when events are written by the compiled writer, not by fastavro."""
        if self._compiled is None:
            self._compile()
        return bool(self._compiled)

    def _compile(self) -> None:
        self._compiled = False
        if type(self.codec).encode is EventCodec.encode:
            try:
                schema = self.codec.avro.schema
                if not isinstance(schema, dict):
                    raise NotImplementedError("the writer schema is not a record")
                self._write = compile_writer(schema, LineageEvent)
                self._compiled = True
            except Exception as exc:  # NotImplementedError, or a bug: fastavro still works
                log.info("Avro writer not compiled, encoding with fastavro: %s", exc)
                self._write = None

    def encode(self, event: LineageEvent) -> bytes:
        """Return the wire bytes of ``event`` (framing + Avro body); raises
        :class:`~lineage_pipeline.errors.EventError` as ``codec.encode`` does (a value the
        compiled writer rejects is handed to the codec, which explains it)."""
        write = self._write
        if write is None:
            if self._compiled is not None or not self.compiled:
                return self.codec.encode(event)
            write = self._write
            assert write is not None
        header = self._header
        if header is None:
            header = self._header = self.codec.avro.header()
        buf = self._buffer
        del buf[:]
        buf += header
        try:
            write(event, buf)
        except WRITE_ERRORS:
            return self.codec.encode(event)
        return bytes(buf)
