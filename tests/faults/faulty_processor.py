"""``python -m tests.faults.faulty_processor``: the real stream processor with one injected
fault: building the graph record of a run whose job name contains ``explode`` raises
``RuntimeError``.

Everything else is ``python -m stream_processor`` unchanged (same settings, same Faust app).
"""

from __future__ import annotations

import sys
from typing import Any

import stream_processor.processor as processor_module
from stream_processor.__main__ import main

_real = processor_module.state_to_record  # type: ignore[attr-defined]


def exploding_state_to_record(state: Any, *args: Any, **kwargs: Any) -> Any:
    """``state_to_record`` that raises for runs of jobs named ``*explode*`` (fault
    injection)."""
    if "explode" in state.job_name:
        raise RuntimeError(f"injected fault while mapping run {state.runId}")
    return _real(state, *args, **kwargs)


processor_module.state_to_record = exploding_state_to_record  # type: ignore[attr-defined]

if __name__ == "__main__":
    sys.exit(main())
