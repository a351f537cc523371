"""Chaos soak: ``python -m bench soak --minutes N``.

The local stack (:mod:`lineage_app.localstack`: Apache Kafka, Neo4j, processor and sink, in
a fresh data directory on free loopback ports) carries the events of ``--jobs`` emitting job
processes (:mod:`bench.soak.job`, ``--rate`` events/s each; the default 2 x 20 is well under
half the sustained rate ``bench pipeline`` measures on Neo4j) while a scheduler, every 4-12
s, picks the broker, the graph server, the processor, the sink or a job at random and sends
it SIGKILL or SIGTERM; 1-5 s later the stack's ``up`` starts what is down (the same data,
ports and consumer groups) and a killed job's slot gets a new process (the same spool, which
it replays). Every 2 s a hostile record is produced and acknowledged: random bytes or a
truncated Avro event on the events topic, invalid JSON on the OpenLineage topic (each must
reach the DLQ with a reason), or an OpenLineage event with NaN (must reach the graph,
normalised).

After ``N`` minutes: the stack is started whole, the jobs are stopped with SIGTERM, their
spools are replayed, and the graph is awaited (up to ``--settle-seconds``). Then the topics,
the DLQ and the graph are read (:mod:`bench.soak.check`) and reported:

- ``emitted``: event ids the jobs handed to ``emit()`` (their journals);
- ``acknowledged``: valid events on the topics; ``unsent_at_sigkill``: emitted events neither
  acknowledged nor left in a spool -- a job SIGKILLed before its background thread handed
  them to the producer (no emitter can keep those);
- ``runs_lost``: runs with an acknowledged event missing from the graph, or with an
  acknowledged COMPLETE not COMPLETE there; ``duplicated``: duplicate nodes or
  relationships; ``hostile_not_dead_lettered``: hostile records without a DLQ record;
  ``unexpected_dlq``: DLQ records of valid events;
- ``kills``: per target and signal.

``goal_met`` when nothing is lost, duplicated, missing from the DLQ or wrongly in it, and
no spool is left non-empty. Everything started is stopped by pid.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.soak.chaos import Soak


def run(minutes: float = 30.0, jobs: int = 2, rate: float = 20.0, seed: int = 17,
        settle_seconds: float = 300.0, root: Path | None = None) -> dict[str, Any]:
    """Run the soak (see the module docstring); return its figures."""
    with tempfile.TemporaryDirectory(prefix="lineage-soak-", dir=root) as tmp:
        soak = Soak(Path(tmp), jobs, rate, random.Random(seed))
        try:
            soak.start()
            soak.chaos(minutes * 60)
            return soak.finish(settle_seconds)
        finally:
            soak.stop()


def run_kwargs(argv: list[str]) -> dict[str, Any]:
    """Parse ``--minutes``, ``--jobs``, ``--rate``, ``--seed``, ``--settle-seconds``."""
    parser = argparse.ArgumentParser(prog="python -m bench soak", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--rate", type=float, default=20.0, help="events/s per job")
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--settle-seconds", type=float, default=300.0)
    args = parser.parse_args(argv)
    return {"minutes": args.minutes, "jobs": args.jobs, "rate": args.rate, "seed": args.seed,
            "settle_seconds": args.settle_seconds}


def print_table(result: dict[str, Any]) -> None:
    """The figures as a table."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title="chaos soak")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key, value in result.items():
        table.add_row(key, json.dumps(value) if isinstance(value, dict | list) else str(value))
    Console().print(table)


def main(argv: list[str] | None = None) -> int:
    """CLI entry point: exit 0 when ``goal_met``."""
    result = run(**run_kwargs(sys.argv[1:] if argv is None else argv))
    print_table(result)
    print(json.dumps(result, indent=2))
    return 0 if result["goal_met"] else 1
