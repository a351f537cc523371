"""``python -m bench.soak.job BOOTSTRAP TOPIC SPOOL_DIR JOURNAL SLOT RATE``: one emitting job
of the soak (:mod:`bench.soak`).

It emits runs of job ``soak.slot<SLOT>`` at about ``RATE`` events per second through a
:class:`~emitters.client.LineageClient` (the ``kafka`` transport, its spool in ``SPOOL_DIR``,
shared with the slot's earlier processes: a new process replays what a killed one left),
forever. Each run is a START (two inputs with a schema) and a COMPLETE (its output, with
schema and column lineage). Each event's id is appended to ``JOURNAL`` (``<id> <runId>
<type>`` per line) right after ``emit()`` handed it over. SIGTERM ends it like a job that
is told to stop: the client closes (what is in flight is confirmed or spooled).
"""

from __future__ import annotations

import signal
import sys
import time
import uuid
from pathlib import Path
from types import FrameType
from typing import Any

from emitters.client import LineageClient
from lineage_pipeline.events import LineageEvent

SCHEMA = [{"name": "id", "type": "BIGINT"}, {"name": "amount", "type": "DOUBLE"},
          {"name": "email", "type": "VARCHAR"}]


def run_events(slot: int, n: int) -> list[LineageEvent]:
    """START and COMPLETE of run ``n`` of slot ``slot``."""
    run_id = str(uuid.uuid4())
    now = int(time.time() * 1000)
    base: dict[str, Any] = {"producer": "bench/soak", "run": {"runId": run_id},
                            "job": {"namespace": "soak", "name": f"soak.slot{slot}"}}
    inputs = [{"namespace": "soak", "name": f"raw.s{slot}.t{k}", "version": f"v{n}",
               "facets": {"schema": SCHEMA}} for k in range(2)]
    lineage = [{"field": f["name"], "inputFields": [
        {"namespace": "soak", "name": f"raw.s{slot}.t0", "field": f["name"],
         "transformations": [{"type": "DIRECT", "subtype": "IDENTITY"}]}]} for f in SCHEMA]
    output = {"namespace": "soak", "name": f"clean.s{slot}", "version": f"v{n}",
              "facets": {"schema": SCHEMA, "columnLineage": lineage}}
    return [
        LineageEvent.model_validate({**base, "eventType": "START", "eventTime": now,
                                     "inputs": inputs}),
        LineageEvent.model_validate({**base, "eventType": "COMPLETE", "eventTime": now + 1,
                                     "inputs": inputs, "outputs": [output]}),
    ]


def _stop(_signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(0)


def main(argv: list[str]) -> int:
    """Run the job; see the module docstring for the arguments."""
    bootstrap, topic, spool_dir, journal, slot, rate = argv
    signal.signal(signal.SIGTERM, _stop)
    client = LineageClient.from_config(bootstrap_servers=bootstrap, topic=topic,
                                       spool_dir=spool_dir)
    pause = 1.0 / float(rate)
    n = 0
    with Path(journal).open("a", encoding="utf-8", buffering=1) as out:
        try:
            while True:
                for event in run_events(int(slot), n):
                    client.emit(event)
                    out.write(f"{event.eventId} {event.run.runId} {event.eventType.value}\n")
                    time.sleep(pause)
                n += 1
        finally:
            client.close(10.0)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
