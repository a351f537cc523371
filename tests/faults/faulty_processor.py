"""``python -m tests.faults.faulty_processor``: the real stream processor with one injected
fault: mapping an event of a job whose name contains ``explode`` raises ``RuntimeError``.

Everything else is ``python -m stream_processor`` unchanged (same settings, same Faust app).
"""

from __future__ import annotations

import sys
from typing import Any

import stream_processor.processor as processor_module
from stream_processor.__main__ import main

_real = processor_module.event_to_mutations  # type: ignore[attr-defined]


def exploding_event_to_mutations(event: Any, *args: Any, **kwargs: Any) -> Any:
    """``event_to_mutations`` that raises for jobs named ``*explode*`` (fault injection)."""
    if "explode" in event.job.name:
        raise RuntimeError(f"injected fault while handling event {event.eventId}")
    return _real(event, *args, **kwargs)


processor_module.event_to_mutations = exploding_event_to_mutations  # type: ignore[attr-defined]

if __name__ == "__main__":
    sys.exit(main())
