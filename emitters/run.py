"""RunContext: builds and emits the events of one job run (START, RUNNING, COMPLETE/FAIL).

Used by the batch, Spark and PyTorch emitters. It records without the user writing it:

- ``codeVersion`` (git sha, dirty flag, repository, branch, entry point) and ``environment``
  (Python and key package versions, host, user, platform): :mod:`emitters.facets`;
- ``parameters`` given at construction or with :meth:`RunContext.log_param`;
- timing: ``nominalTime`` (start at ``start()``, end at the terminal event), epoch ms;
- status: the event type of each emission; ``error`` (message and stack trace) on FAIL.

Run ids are UUIDv7 (time-ordered, as OpenLineage recommends). Every event goes through
``client.emit`` (never blocking). No method raises into the caller: failures are logged
(rate-limited) and counted in ``lineage_emitter_capture_errors_total{integration}``.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterable, Mapping
from types import TracebackType
from typing import Any, ParamSpec, TypeVar

from emitters.client import LineageClient, get_client
from emitters.facets import collect_code_version, collect_environment
from emitters.quality import add_assertions
from emitters.quality import merge as merge_assertions
from emitters.transports.base import RateLimitedLog
from lineage_pipeline import __version__
from lineage_pipeline.events import (
    Dataset,
    ErrorFacet,
    EventType,
    Job,
    JobFacets,
    JobRef,
    JobType,
    LineageEvent,
    NominalTime,
    ParentRun,
    RootRun,
    Run,
    RunFacets,
    SqlFacet,
)
from lineage_pipeline.metrics import EMITTER_CAPTURE_ERRORS

#: OpenLineage ``producer`` URI of events built here.
PRODUCER = f"https://github.com/lineage-pipeline/lineage-pipeline/tree/v{__version__}/emitters"

#: Longest text kept for one parameter value (longer values are cut with "...").
MAX_PARAM_CHARS = 1024

log = logging.getLogger("emitters.run")
_warn = RateLimitedLog(60.0)

P = ParamSpec("P")
R = TypeVar("R")


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def new_run_id() -> str:
    """Return a new UUIDv7 run id (RFC 9562: 48-bit Unix ms time, version 7, variant 10,
    74 random bits), as text. Time-ordered, as OpenLineage recommends for run ids."""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (
        (ms & ((1 << 48) - 1)) << 80
        | 0x7 << 76
        | ((rand >> 62) & 0xFFF) << 64
        | 0b10 << 62
        | (rand & ((1 << 62) - 1))
    )
    return str(uuid.UUID(int=value))


def param_text(value: Any) -> str:
    """Return the parameter text of ``value``: strings as is, JSON for plain data, else
    ``repr``; cut to :data:`MAX_PARAM_CHARS` characters."""
    if isinstance(value, str):
        text = value
    elif value is None or isinstance(value, bool | int | float | list | dict | tuple):
        try:
            text = json.dumps(value, default=repr, sort_keys=True)
        except (TypeError, ValueError):
            text = repr(value)
    else:
        shape = getattr(value, "shape", None)
        if shape is not None:
            text = f"<{type(value).__name__} shape={tuple(shape)}>"
        else:
            text = repr(value)
    return text if len(text) <= MAX_PARAM_CHARS else text[: MAX_PARAM_CHARS - 3] + "..."


def _safe(method: Callable[P, R]) -> Callable[P, R | None]:
    """Run ``method``; on any exception log it (rate-limited), count it, return ``None``."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R | None:
        try:
            return method(*args, **kwargs)
        except Exception as exc:
            self = args[0] if args else None
            integration = getattr(self, "integration", "python")
            try:
                EMITTER_CAPTURE_ERRORS.labels(integration).inc()
            except Exception:
                pass
            _warn.warning(
                f"{method.__qualname__}:{type(exc).__name__}",
                "lineage %s failed (the job goes on): %s: %s",
                method.__name__, type(exc).__name__, exc,
            )
            return None

    return wrapper


class RunContext:
    """One run of a job; emits its lineage events.

    ``job_name``/``namespace``: the OpenLineage job; ``client``: default
    :func:`emitters.client.get_client` (resolved at the first emission); ``parameters``:
    recorded as text (:func:`param_text`); ``parent``: the parent run facet (see
    :meth:`parent_facet`); ``job_type``: default ``BATCH``/``PYTHON``/``JOB``;
    ``producer``: the events' producer URI; ``code_path``: a file in the job's repository
    (default: the running script). No I/O in the constructor.

    Usable as a context manager: ``start()`` on enter; ``complete()`` on normal exit,
    ``fail(exc)`` when the block raises (the exception propagates unchanged).
    """

    integration = "python"

    def __init__(
        self,
        job_name: str,
        namespace: str = "default",
        *,
        client: LineageClient | None = None,
        parameters: dict[str, Any] | None = None,
        parent: ParentRun | None = None,
        job_type: JobType | None = None,
        producer: str = PRODUCER,
        code_path: str | None = None,
        run_id: str | None = None,
    ) -> None:
        self.job_name = job_name
        self.namespace = namespace
        self._client = client
        self.parent = parent
        self.job_type = job_type or JobType(processingType="BATCH", integration="PYTHON",
                                            jobType="JOB")
        self.integration = self.job_type.integration.lower()
        self.producer = producer
        self.code_path = code_path
        self.run_id = run_id or new_run_id()
        self.parameters: dict[str, str] = {
            str(k): param_text(v) for k, v in (parameters or {}).items()
        }
        self.metrics: dict[str, float] = {}
        self.sql: SqlFacet | None = None
        self.run_extra: dict[str, str] = {}
        self.job_extra: dict[str, str] = {}
        self._assertions: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._inputs: dict[tuple[str, str], Dataset] = {}
        self._outputs: dict[tuple[str, str], Dataset] = {}
        self._lock = threading.RLock()
        self.state: EventType | None = None
        self.start_time_ms: int | None = None
        self.end_time_ms: int | None = None
        self.events_emitted = 0

    # -- declared things -----------------------------------------------------------------
    @property
    def client(self) -> LineageClient:
        """The client events go to (the process-wide one unless given)."""
        if self._client is None:
            self._client = get_client()
        return self._client

    @property
    def inputs(self) -> list[Dataset]:
        """Input datasets declared so far (one per namespace/name, the latest wins)."""
        with self._lock:
            return list(self._inputs.values())

    @property
    def outputs(self) -> list[Dataset]:
        """Output datasets declared so far (one per namespace/name, the latest wins)."""
        with self._lock:
            return list(self._outputs.values())

    @property
    def job_ref(self) -> JobRef:
        """This run's job as a reference."""
        return JobRef(namespace=self.namespace, name=self.job_name)

    @_safe
    def add_input(self, ds: Dataset) -> None:
        """Declare an input dataset (replaces an earlier one of the same namespace/name)."""
        with self._lock:
            self._inputs[(ds.namespace, ds.name)] = ds

    @_safe
    def add_output(self, ds: Dataset) -> None:
        """Declare an output dataset (replaces an earlier one of the same namespace/name)."""
        with self._lock:
            self._outputs[(ds.namespace, ds.name)] = ds

    @_safe
    def log_param(self, key: str, value: Any) -> None:
        """Record parameter ``key`` (value stored as text, see :func:`param_text`)."""
        with self._lock:
            self.parameters[str(key)] = param_text(value)

    @_safe
    def log_metric(self, key: str, value: float) -> None:
        """Record metric ``key`` (a float; the latest value wins)."""
        with self._lock:
            self.metrics[str(key)] = float(value)

    @_safe
    def set_sql(self, query: str, dialect: str | None = None) -> None:
        """Set the job's ``sql`` facet."""
        self.sql = SqlFacet(query=query, dialect=dialect)

    @_safe
    def add_run_facet(self, name: str, facet: dict[str, Any] | str) -> None:
        """Attach any other run facet (JSON object or JSON text) as an extension facet."""
        self.run_extra[name] = facet if isinstance(facet, str) else json.dumps(facet, default=str)

    @_safe
    def add_job_facet(self, name: str, facet: dict[str, Any] | str) -> None:
        """Attach any other job facet (JSON object or JSON text) as an extension facet."""
        self.job_extra[name] = facet if isinstance(facet, str) else json.dumps(facet, default=str)

    @_safe
    def add_assertions(self, dataset: Dataset, assertions: Iterable[Mapping[str, Any]]) -> None:
        """Record data-quality results on ``dataset`` (an input or output of this run) as
        its ``dataQualityAssertions`` facet; see :mod:`emitters.quality`."""
        with self._lock:
            merge_assertions(self._assertions, dataset, assertions)

    def parent_facet(self) -> ParentRun:
        """Return the parent facet a child run of this run carries (root = this run's root)."""
        if self.parent is not None:
            root = self.parent.root or RootRun(runId=self.parent.runId, job=self.parent.job)
        else:
            root = RootRun(runId=self.run_id, job=self.job_ref)
        return ParentRun(runId=self.run_id, job=self.job_ref, root=root)

    # -- events --------------------------------------------------------------------------
    def build_event(
        self, event_type: EventType, error: BaseException | None = None
    ) -> LineageEvent:
        """Return the event of ``event_type`` with everything recorded so far.

        Raises ``pydantic.ValidationError`` when recorded values do not fit the model.
        """
        with self._lock:
            now = _now_ms()
            start = self.start_time_ms if self.start_time_ms is not None else now
            terminal = event_type in (EventType.COMPLETE, EventType.FAIL, EventType.ABORT)
            facets = RunFacets(
                nominalTime=NominalTime(
                    nominalStartTime=start,
                    nominalEndTime=(self.end_time_ms or now) if terminal else None,
                ),
                codeVersion=collect_code_version(self.code_path),
                parameters=dict(self.parameters),
                metrics=dict(self.metrics),
                environment=collect_environment(),
                extra=dict(self.run_extra),
            )
            if error is not None:
                facets.error = ErrorFacet(
                    message=f"{type(error).__name__}: {error}",
                    stackTrace="".join(traceback.format_exception(error)),
                )
            return LineageEvent(
                eventType=event_type,
                eventTime=now,
                producer=self.producer,
                run=Run(runId=self.run_id, parent=self.parent, facets=facets),
                job=Job(
                    namespace=self.namespace,
                    name=self.job_name,
                    facets=JobFacets(jobType=self.job_type, sql=self.sql,
                                     extra=dict(self.job_extra)),
                ),
                inputs=self._datasets(self._inputs.values(), "input"),
                outputs=self._datasets(self._outputs.values(), "output"),
            )

    def _datasets(self, declared: Iterable[Dataset], side: str) -> list[Dataset]:
        """Copies of the ``declared`` datasets for an event, with the data-quality
        assertions recorded on them (none recorded: plain copies)."""
        copies = [ds.model_copy(deep=True) for ds in declared]
        if self._assertions:
            for ds in copies:
                add_assertions(ds, self._assertions, side)
        return copies

    def _emit(self, event_type: EventType, error: BaseException | None = None) -> None:
        event = self.build_event(event_type, error)
        self.client.emit(event)
        self.events_emitted += 1

    @_safe
    def start(self) -> None:
        """Emit START (once); later calls do nothing."""
        with self._lock:
            if self.state is not None:
                return
            self.start_time_ms = _now_ms()
            self.state = EventType.START
        self._emit(EventType.START)

    @_safe
    def running(self) -> None:
        """Emit RUNNING with the current metrics, inputs and outputs (starts first if needed)."""
        if self.state is None:
            self.start()
        if self.state in (EventType.COMPLETE, EventType.FAIL, EventType.ABORT):
            return
        self.state = EventType.RUNNING
        self._emit(EventType.RUNNING)

    def _prepare_terminal(self) -> None:
        """Hook for subclasses: refresh deferred datasets before the terminal event."""

    def _terminal(self, event_type: EventType, error: BaseException | None = None) -> None:
        if self.state is None:
            self.start()
        with self._lock:
            if self.state in (EventType.COMPLETE, EventType.FAIL, EventType.ABORT):
                return
            self.state = event_type
            self.end_time_ms = _now_ms()
        try:
            self._prepare_terminal()
        finally:
            self._emit(event_type, error)

    @_safe
    def complete(self) -> None:
        """Emit COMPLETE (once, unless the run already ended)."""
        self._terminal(EventType.COMPLETE)

    @_safe
    def fail(self, exc: BaseException) -> None:
        """Emit FAIL with the ``error`` facet (message and stack trace of ``exc``)."""
        self._terminal(EventType.FAIL, exc)

    @_safe
    def abort(self) -> None:
        """Emit ABORT (the run was stopped from outside, e.g. KeyboardInterrupt)."""
        self._terminal(EventType.ABORT)

    # -- context manager -----------------------------------------------------------------
    def __enter__(self) -> RunContext:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            self.complete()
        elif isinstance(exc, KeyboardInterrupt):
            self.abort()
        elif isinstance(exc, SystemExit) and exc.code in (0, None):
            self.complete()
        else:
            self.fail(exc)
