"""The emitter's compiled Avro writer writes exactly the codec's bytes, and falls back to it.

:class:`emitters.avro_writer.EventEncoder` replaces fastavro on the emitter's background
thread; the processor decodes with :class:`~lineage_pipeline.codec.EventCodec`, so the bytes
must be the codec's own, for every event shape and both framings.
"""

from __future__ import annotations

import pytest
from hypothesis import given

import emitters.avro_writer as avro_writer
from emitters.avro_writer import EventEncoder, write_long
from lineage_pipeline.codec import EventCodec
from lineage_pipeline.errors import EventError
from lineage_pipeline.events import ColumnStats, Dataset, DatasetFacets, LineageEvent, Statistics
from tests.test_codec import SETTINGS, events
from tests.test_codec import codec as codec  # the fixture, both framings
from tests.test_emitter_kafka import sample_event


@SETTINGS
@given(event=events)
def test_compiled_writer_writes_the_codecs_bytes(codec: EventCodec, event: LineageEvent) -> None:
    encoder = EventEncoder(codec)
    assert encoder.compiled
    data = encoder.encode(event)
    assert data == codec.encode(event)
    assert codec.decode(data) == event


def test_longs_at_the_edges_of_64_bits() -> None:
    for n in (0, -1, 1, 63, -64, 64, 2**62, -(2**63), 2**63 - 1):
        zigzag = (n << 1) ^ (n >> 63)
        out = bytearray()
        while zigzag > 0x7F:
            out.append((zigzag & 0x7F) | 0x80)
            zigzag >>= 7
        out.append(zigzag)
        assert write_long(n) == bytes(out)
    with pytest.raises(ValueError):
        write_long(2**63)


def test_memo_tables_stay_bounded_and_right(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(avro_writer, "MEMO_ENTRIES", 4)
    codec = EventCodec()
    encoder = EventEncoder(codec)
    for i in range(20):
        stats = Statistics(rowCount=i, columns=[
            ColumnStats(name=f"c{i}-{j}", nullCount=i * j, distinctCount=None, min=float(j),
                        max=None if j % 2 else 1e300, mean=0.5) for j in range(6)])
        event = sample_event(f"memo{i}", outputs=[
            Dataset(namespace="file", name=f"/d{i}", facets=DatasetFacets(statistics=stats))])
        assert encoder.encode(event) == codec.encode(event)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_a_value_that_does_not_fit_raises_the_codecs_error() -> None:
    encoder = EventEncoder(EventCodec())
    bad = sample_event("bad")
    bad.eventTime = "yesterday"  # type: ignore[assignment]  # pydantic does not re-validate
    with pytest.raises(EventError):
        encoder.encode(bad)
    surrogate = sample_event("surrogate")
    surrogate.job.name = "x\ud800"
    with pytest.raises(EventError):
        encoder.encode(surrogate)
    floaty = sample_event("float")
    floaty.eventTime = 1.0  # type: ignore[assignment]  # 1.0 == 1: not memoised as 1
    assert encoder.encode(floaty) == EventCodec().encode(floaty)
    ok = sample_event("ok")
    assert encoder.encode(ok) == EventCodec().encode(ok)


def test_a_codec_with_its_own_encode_is_used_as_it_is() -> None:
    class Tagged(EventCodec):
        def encode(self, event: LineageEvent) -> bytes:
            return b"tagged" + super().encode(event)

    encoder = EventEncoder(Tagged())
    assert not encoder.compiled
    assert encoder.encode(sample_event("t")).startswith(b"tagged")
