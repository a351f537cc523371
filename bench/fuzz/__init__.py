"""Fuzz benchmark of the decoders: ``python -m bench.fuzz [N]`` (default 1,000,000 inputs
for each of the two wire formats).

Avro path (:func:`run`): mutations of a valid encoded event (bit flips, byte sets,
truncations, insertions, deletions) and random byte strings. Reported: crashes (any exception
other than the project's ``DecodeError``), hangs (one input over 100 ms), silent corruptions
(a changed payload that passes the integrity check), max time per input, and peak RSS.

OpenLineage JSON path (:func:`run_openlineage`): the processor's
:func:`stream_processor.decode.decode_openlineage_message` over byte mutations of a valid
RunEvent's JSON text, structural mutations (a random value of the parsed JSON replaced by a
hostile one: wrong types, huge numbers, long strings, deep nesting) and random bytes. Every
input either decodes or comes back as a DLQ record with a reason; a crash is any exception.
With the ``lineage-crc32`` header attached, a changed payload that decodes is a silent
corruption.
"""

from __future__ import annotations

import json
import random
import resource
import time
from collections.abc import Callable
from typing import Any

from lineage_pipeline.codec import EventCodec, check_integrity, integrity_header
from lineage_pipeline.errors import DecodeError
from lineage_pipeline.events import (
    ColumnLineageField,
    ColumnStats,
    Dataset,
    DatasetFacets,
    EventType,
    InputField,
    Job,
    LineageEvent,
    Run,
    SchemaField,
    Statistics,
    Transformation,
)


def sample_event() -> LineageEvent:
    """A realistic event: two datasets with schema, statistics and column lineage."""
    cols = [f"c{i}" for i in range(8)]
    return LineageEvent(
        eventType=EventType.COMPLETE, eventTime=1_700_000_000_000, producer="bench.fuzz",
        run=Run(runId="run-1"), job=Job(namespace="ns", name="job"),
        inputs=[Dataset(
            namespace="file", name="/data/in.parquet", version="ab" * 32,
            facets=DatasetFacets(
                schema=[SchemaField(name=c, type="double") for c in cols],
                statistics=Statistics(rowCount=1000, columns=[
                    ColumnStats(name=c, nullCount=0, min=0.0, max=1.0, mean=0.5) for c in cols
                ]),
            ),
        )],
        outputs=[Dataset(
            namespace="file", name="/data/out.parquet", version="cd" * 32,
            facets=DatasetFacets(columnLineage=[
                ColumnLineageField(field=c, inputFields=[InputField(
                    namespace="file", name="/data/in.parquet", field=c,
                    transformations=[Transformation(type="DIRECT", subtype="IDENTITY")],
                )]) for c in cols
            ]),
        )],
    )


def mutate(rng: random.Random, data: bytes) -> bytes:
    """Return ``data`` with 1-4 random mutations, or random bytes (one time in ten)."""
    if rng.random() < 0.1:
        return rng.randbytes(rng.randint(0, 400))
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        if not buf:
            break
        i = rng.randrange(len(buf))
        op = rng.randrange(5)
        if op == 0:
            buf[i] ^= 1 << rng.randrange(8)
        elif op == 1:
            buf[i] = rng.randrange(256)
        elif op == 2:
            del buf[i:]
        elif op == 3:
            buf[i:i] = rng.randbytes(rng.randint(1, 9))
        else:
            del buf[i]
    return bytes(buf)


def run(n: int = 1_000_000, seed: int = 1) -> dict[str, Any]:
    """Fuzz the decoder with ``n`` inputs; return the counts and timings."""
    codec = EventCodec()
    original = codec.encode(sample_event())
    header = [integrity_header(original)]
    rng = random.Random(seed)
    crashes = hangs = silent = rejected = decoded_changed = 0
    max_s = 0.0
    start = time.perf_counter()
    for _ in range(n):
        data = mutate(rng, original)
        t0 = time.perf_counter()
        try:
            intact = check_integrity(data, header)
        except DecodeError:
            intact = False
            rejected += 1
        try:
            codec.decode(data)
            if data != original:
                decoded_changed += 1  # caught by the integrity check above, or counted below
                if intact:
                    silent += 1
        except DecodeError:
            pass
        except Exception:
            crashes += 1
        dt = time.perf_counter() - t0
        max_s = max(max_s, dt)
        if dt > 0.1:
            hangs += 1
    return {
        "inputs": n,
        "crashes": crashes,
        "hangs_over_100ms": hangs,
        "silent_corruptions": silent,
        "decoded_without_error_but_changed": decoded_changed,
        "rejected_by_integrity_check": rejected,
        "max_ms_per_input": round(max_s * 1000, 3),
        "inputs_per_s": round(n / (time.perf_counter() - start)),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


_HOSTILE: list[Any] = [None, -1, 2**70, 1e308, "", "x" * 5000, [], {}, True, "\u0000",
                       "'`\"}) MATCH (n) DETACH DELETE n //", [[[[[[[[]]]]]]]]]


def _deep(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


def mutate_json(rng: random.Random, text: bytes) -> bytes:
    """A structural mutation of JSON ``text`` one time in two, else a byte mutation; one time
    in fifty, nesting deeper than Python's recursion limit."""
    if rng.random() < 0.02:
        depth = rng.choice([2_000, 50_000])
        return b'{"eventType": "START", "run": ' + b"[" * depth + b"]" * depth + b"}"
    if rng.random() < 0.5:
        return mutate(rng, text)
    data = json.loads(text)
    node: Any = data
    for _ in range(rng.randint(1, 6)):  # walk down to a random container
        children = list(node.items()) if isinstance(node, dict) else list(enumerate(node)) \
            if isinstance(node, list) else []
        if not children:
            break
        key, child = rng.choice(children)
        if not isinstance(child, dict | list) or rng.random() < 0.3:
            choice = rng.randrange(len(_HOSTILE) + 2)
            if choice == len(_HOSTILE):
                node[key] = _deep(rng.choice([50, 500, 5000]))
            elif choice == len(_HOSTILE) + 1 and isinstance(node, dict):
                del node[key]
            else:
                node[key] = _HOSTILE[choice % len(_HOSTILE)]
            break
        node = child
    try:
        return json.dumps(data).encode()
    except (RecursionError, ValueError):
        return text


def run_openlineage(n: int = 1_000_000, seed: int = 2,
                    clock: Callable[[], float] = time.perf_counter) -> dict[str, Any]:
    """Fuzz the OpenLineage JSON path with ``n`` inputs; return the counts and timings.

    ``clock`` times each input (seconds): wall time by default; ``time.thread_time`` (CPU
    time of this thread) makes the hang count insensitive to other load on the machine and
    to other threads of the process."""
    from lineage_pipeline.openlineage import to_openlineage_json
    from stream_processor.decode import decode_openlineage_message
    from stream_processor.dlq import OutRecord, SourceMessage

    event = sample_event()
    event = event.model_copy(update={"run": Run(runId="5f0e6f4c-9d1a-4a51-9a43-0d9f1c1b2a77")})
    original = to_openlineage_json(event).encode()
    header = (integrity_header(original),)
    rng = random.Random(seed)
    crashes = hangs = silent = dead = decoded = 0
    reasons: dict[str, int] = {}
    max_s = 0.0
    start = time.perf_counter()
    for i in range(n):
        data = mutate_json(rng, original)
        with_header = i % 2 == 0  # half as from our emitters, half as from third parties
        msg = SourceMessage("openlineage", 0, i, None, data, None,
                            header if with_header else ())
        t0 = clock()
        try:
            out = decode_openlineage_message(msg, "dlq", 0)
        except Exception:
            crashes += 1
            out = None
        dt = clock() - t0
        max_s = max(max_s, dt)
        if dt > 0.1:
            hangs += 1
        if isinstance(out, OutRecord):
            dead += 1
            reason = dict(out.headers)["reason"].decode()
            reasons[reason] = reasons.get(reason, 0) + 1
        elif out is not None:
            decoded += 1
            if with_header and data != original:
                silent += 1
    return {
        "inputs": n,
        "crashes": crashes,
        "hangs_over_100ms": hangs,
        "silent_corruptions": silent,
        "dead_lettered": dead,
        "decoded": decoded,
        "dlq_reasons": ", ".join(f"{k} {v}" for k, v in sorted(reasons.items())),
        "max_ms_per_input": round(max_s * 1000, 3),
        "inputs_per_s": round(n / (time.perf_counter() - start)),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main() -> None:
    """Print the fuzz benchmark's table."""
    import sys

    from rich.console import Console
    from rich.table import Table

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    for title, fuzz in (("Avro decoder", run), ("OpenLineage JSON path", run_openlineage)):
        result = fuzz(n)
        table = Table(title=f"bench/fuzz: {title} under {n:,} hostile inputs")
        table.add_column("measure")
        table.add_column("value", justify="right")
        for key, value in result.items():
            table.add_row(key, f"{value:,}" if isinstance(value, int) else str(value))
        Console().print(table)
