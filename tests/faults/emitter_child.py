"""``python -m tests.faults.emitter_child MODE BOOTSTRAP TOPIC SPOOL_DIR TAG COUNT``: a job
process emitting the events of ``COUNT`` runs of stream ``TAG``
(:func:`tests.faults.harness.make_runs`) through a :class:`~emitters.client.LineageClient`
with the kafka transport and the spool in ``SPOOL_DIR``.

- ``hang``: emit, print ``emitted``, then wait forever (the test kills it);
- ``rerun``: emit (the first send replays spool segments left by earlier processes), wait
  until the spool is empty and everything is delivered, print ``drained``, exit 0.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from emitters.client import LineageClient
from emitters.transports.spool import Spool
from tests.faults.harness import make_runs


def main(argv: list[str]) -> int:
    """Run the child; see the module docstring for the arguments."""
    mode, bootstrap, topic, spool_dir, tag, count = argv
    client = LineageClient.from_config(
        bootstrap_servers=bootstrap, topic=topic, spool_dir=spool_dir,
        kafka_producer={"probe_interval_s": 0.2},
    )
    for event in make_runs(tag, int(count)):
        client.emit(event)
    if mode == "hang":
        print("emitted", flush=True)
        while True:
            time.sleep(1)
    spool = Spool(Path(spool_dir))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and spool.status().records:
        time.sleep(0.1)
    pending = client.flush(20.0)
    drained = spool.status().records == 0 and pending == 0
    print("drained" if drained else f"not drained: {pending} pending", flush=True)
    client.close(10.0)
    return 0 if drained else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
