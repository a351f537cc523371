"""The merged state of one run (:class:`RunState`); :mod:`stream_processor.stitch.merge`
builds it from events."""

from __future__ import annotations

import hashlib
from bisect import insort
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import TypeAdapter

from lineage_pipeline.events import (
    CodeVersion,
    Environment,
    ErrorFacet,
    EventType,
    JobType,
    NominalTime,
    ParentRun,
    SqlFacet,
)
from stream_processor.stitch.datasets import DatasetState
from stream_processor.stitch.registers import Reg

#: How many of its events a run remembers to recognise one sent again: the latest by
#: ``(eventTime, digest)`` (a bounded set: the top of a total order, so the kept set does not
#: depend on the order events came in). A resent event older than those is merged again
#: without being counted as a duplicate (merging is idempotent: only the count misses it).
SEEN_EVENTS_KEPT = 32


def event_digest(event_id: str) -> int:
    """A 32-bit BLAKE2b digest of ``event_id`` (RFC 7693), as an unsigned int: how a run
    remembers an event. Compared only among one run's own events, so 32 bits suffice (two
    ids of one run collide with probability about n^2 / 2^33)."""
    return int.from_bytes(hashlib.blake2b(event_id.encode("utf-8", "surrogatepass"),
                                          digest_size=4).digest(), "big")


@dataclass(slots=True)
class RunState:
    """The merged state of one run (see :mod:`stream_processor.stitch` for the merge rules).

    Times are epoch milliseconds. ``terminal`` holds the winning terminal event type,
    ``current`` the winning non-terminal one; :attr:`state` is the run state to publish.
    ``lineageSources`` maps every dataset a columnLineage facet names as a source to the
    version pinned for it by the resolver (used when the run never lists it as an input).
    Equality (``==``) compares every part, which is what the order-independence tests use.
    A plain dataclass, stored as JSON through :data:`RUN_STATE` (validated when read).
    """

    runId: str
    job: Reg
    firstSeen: int
    lastSeen: int
    startTime: int | None = None
    terminal: Reg | None = None
    current: Reg | None = None
    producer: Reg | None = None
    parent: Reg | None = None
    runFacets: dict[str, Reg] = field(default_factory=dict)
    parameters: dict[str, Reg] = field(default_factory=dict)
    metrics: dict[str, Reg] = field(default_factory=dict)
    runExtra: dict[str, Reg] = field(default_factory=dict)
    jobFacets: dict[str, Reg] = field(default_factory=dict)
    jobExtra: dict[str, Reg] = field(default_factory=dict)
    inputs: dict[str, DatasetState] = field(default_factory=dict)
    outputs: dict[str, DatasetState] = field(default_factory=dict)
    lineageSources: dict[str, str | None] = field(default_factory=dict)
    truncated: list[str] = field(default_factory=list)
    #: the earliest RUNNING eventTime (None: no RUNNING event merged): monotone, so whether
    #: a run has run does not depend on the order its events came in
    runningSince: int | None = None
    #: ``(eventTime, event_digest(eventId))`` of the run's latest merged events, ascending, at
    #: most :data:`SEEN_EVENTS_KEPT`: how the processor counts an event sent again (its
    #: dedupe state, kept and forgotten with the run's)
    seen: list[tuple[int, int]] = field(default_factory=list)

    # -- derived views -----------------------------------------------------------------
    @property
    def state(self) -> str:
        """``COMPLETE``/``FAIL``/``ABORT`` once any terminal event is merged, else the latest
        of ``START``/``RUNNING``/``OTHER``."""
        if self.terminal is not None:
            return str(self.terminal.v)
        if self.current is not None:
            return str(self.current.v)
        return EventType.OTHER.value

    @property
    def is_terminal(self) -> bool:
        """``True`` once a COMPLETE, FAIL or ABORT event has been merged."""
        return self.terminal is not None

    @property
    def endTime(self) -> int | None:
        """The winning terminal event's eventTime (ms), ``None`` while the run is open."""
        return self.terminal.t if self.terminal is not None else None

    @property
    def job_namespace(self) -> str:
        """The job's namespace."""
        return str(self.job.v[0])

    @property
    def job_name(self) -> str:
        """The job's name."""
        return str(self.job.v[1])

    @property
    def parent_run(self) -> ParentRun | None:
        """The OpenLineage parent run facet, if any event carried one."""
        return None if self.parent is None else ParentRun.model_validate(self.parent.v)

    def _run_facet(self, name: str) -> Any:
        reg = self.runFacets.get(name)
        return None if reg is None else reg.v

    @property
    def nominal_time(self) -> NominalTime | None:
        """The ``nominalTime`` run facet."""
        raw = self._run_facet("nominalTime")
        return None if raw is None else NominalTime.model_validate(raw)

    @property
    def code_version(self) -> CodeVersion | None:
        """The ``codeVersion`` run facet."""
        raw = self._run_facet("codeVersion")
        return None if raw is None else CodeVersion.model_validate(raw)

    @property
    def environment(self) -> Environment | None:
        """The ``environment`` run facet."""
        raw = self._run_facet("environment")
        return None if raw is None else Environment.model_validate(raw)

    @property
    def error(self) -> ErrorFacet | None:
        """The ``error`` run facet."""
        raw = self._run_facet("error")
        return None if raw is None else ErrorFacet.model_validate(raw)

    @property
    def job_type(self) -> JobType | None:
        """The ``jobType`` job facet."""
        reg = self.jobFacets.get("jobType")
        return None if reg is None else JobType.model_validate(reg.v)

    @property
    def sql(self) -> SqlFacet | None:
        """The ``sql`` job facet."""
        reg = self.jobFacets.get("sql")
        return None if reg is None else SqlFacet.model_validate(reg.v)

    def parameter_values(self) -> dict[str, str]:
        """The merged run parameters."""
        return {k: str(r.v) for k, r in sorted(self.parameters.items())}

    def metric_values(self) -> dict[str, float]:
        """The merged run metrics."""
        return {k: float(r.v) for k, r in sorted(self.metrics.items())}

    def extra_values(self) -> dict[str, str]:
        """The merged extra run facets (facet name -> JSON text)."""
        return {k: str(r.v) for k, r in sorted(self.runExtra.items())}

    def clone(self) -> RunState:
        """A copy that can be merged into without changing this one (registers are
        immutable, so they are shared; 20x cheaper than a deep copy)."""
        return RunState(
            self.runId, self.job, self.firstSeen, self.lastSeen, self.startTime, self.terminal,
            self.current, self.producer, self.parent, dict(self.runFacets),
            dict(self.parameters), dict(self.metrics), dict(self.runExtra),
            dict(self.jobFacets), dict(self.jobExtra),
            {k: ds.clone() for k, ds in self.inputs.items()},
            {k: ds.clone() for k, ds in self.outputs.items()},
            dict(self.lineageSources), list(self.truncated), self.runningSince,
            list(self.seen))

    def has_seen(self, event_time: int, event_id: str) -> bool:
        """``True`` when the event of ``event_time`` (ms) and ``event_id`` is among
        :attr:`seen` (it was merged into this run before)."""
        return (event_time, event_digest(event_id)) in self.seen

    def note_seen(self, event_time: int, event_id: str) -> None:
        """Add the event to :attr:`seen` (in place), keeping the latest
        :data:`SEEN_EVENTS_KEPT`."""
        entry = (event_time, event_digest(event_id))
        if entry not in self.seen:
            insort(self.seen, entry)
            if len(self.seen) > SEEN_EVENTS_KEPT:
                del self.seen[0]

    # -- persistence -------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """Return the state as JSON-compatible dicts (for a Faust table)."""
        dumped: dict[str, Any] = RUN_STATE.dump_python(self, mode="json")
        return dumped

    def to_json_bytes(self) -> bytes:
        """Return the state as JSON text (UTF-8); :meth:`from_json_bytes` reads it back."""
        return RUN_STATE.dump_json(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunState:
        """Rebuild a state from :meth:`to_json` output; raises ``pydantic.ValidationError``."""
        return RUN_STATE.validate_python(data)

    @classmethod
    def from_json_bytes(cls, raw: bytes | str) -> RunState:
        """Rebuild a state from :meth:`to_json_bytes` text; raises
        ``pydantic.ValidationError``."""
        return RUN_STATE.validate_json(raw)


#: Validates and serialises :class:`RunState` (with its :class:`DatasetState` values and
#: registers) as JSON: the stored form in the processor's table.
RUN_STATE: TypeAdapter[RunState] = TypeAdapter(RunState)
