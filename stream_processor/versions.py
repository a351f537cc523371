"""The version a run's dataset is published under (inputs and outputs of a stitched run)."""

from __future__ import annotations

from stream_processor.stitch import DatasetState, RunState

__all__ = ["UNVERSIONED", "input_version", "output_version"]

#: Version of an input that names none and whose producer the processor has not seen.
UNVERSIONED = "unversioned"
_STREAMING = "STREAMING"


def input_version(ds: DatasetState) -> str:
    """The version of input ``ds``: explicit, else pinned at resolution, else ``unversioned``."""
    return ds.explicit_version or ds.resolvedVersion or UNVERSIONED


def output_version(ds: DatasetState, state: RunState) -> str | None:
    """The version of output ``ds``: explicit, else ``run:<runId>`` once the run is terminal
    or has sent a RUNNING event (a long-running or streaming run: its outputs are written
    while it runs; any RUNNING, not the latest state, so the answer does not depend on the
    order of a START and a RUNNING of the same time), or
    from its START when its job says it streams (OpenLineage ``jobType.processingType``
    ``STREAMING``: a streaming job writes from its start, and may send nothing until it
    stops); else ``None`` (not published yet: a batch run that only STARTed declares what it
    will write)."""
    if ds.explicit_version:
        return ds.explicit_version
    if state.is_terminal or state.runningSince is not None or _streaming(state):
        return f"run:{state.runId}"
    return None


def _streaming(state: RunState) -> bool:
    job_type = state.job_type
    return job_type is not None and str(job_type.processingType).upper() == _STREAMING
