"""Fuzz benchmark of the decoder: ``python -m bench.fuzz [N]`` (default 1,000,000 inputs).

Inputs are mutations of valid encoded events (bit flips, byte sets, truncations, insertions,
deletions) and random byte strings. Reported: crashes (any exception other than the
project's ``DecodeError``), hangs (one input over 100 ms), silent corruptions (a changed
payload that passes the integrity check), max time per input, and peak RSS.
"""

from __future__ import annotations

import random
import resource
import time
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


def main() -> None:
    """Print the fuzz benchmark's table."""
    import sys

    from rich.console import Console
    from rich.table import Table

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    result = run(n)
    table = Table(title=f"bench/fuzz: decoder under {n:,} hostile inputs")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for key, value in result.items():
        table.add_row(key, f"{value:,}" if isinstance(value, int) else str(value))
    Console().print(table)
