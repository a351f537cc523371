"""Batch emitter: a decorator and a context manager around a Python job run.

::

    from emitters.batch import job_run, lineage_job, current_run

    with job_run("daily_features", namespace="ml") as run:
        run.input_file("data/raw.csv")
        df = build(...)
        df.to_parquet("data/features.parquet")
        run.output_file("data/features.parquet", kind="features")

    @lineage_job(namespace="ml", capture_pandas=True)   # pandas read_*/to_* captured
    def train(path: str, alpha: float = 0.1) -> None: ...

START is emitted on entry; COMPLETE on normal exit; FAIL with the ``error`` facet when the
block raises, after which the caller receives its own exception unchanged (same object,
same traceback). Output files are digested when the run ends, so they can be declared
before they are written. The decorator records the call's arguments as parameters.
Lineage failures never raise into the job (see :mod:`emitters.run`).
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import inspect
import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, overload

from emitters.client import LineageClient
from emitters.facets import dataframe_dataset, dataset_id_for_path, file_dataset
from emitters.run import RunContext, _safe
from lineage_pipeline.events import Dataset, JobType, ParentRun

if TYPE_CHECKING:
    import pandas as pd

P = ParamSpec("P")
R = TypeVar("R")
log = logging.getLogger("emitters.batch")

_CURRENT: contextvars.ContextVar[BatchRun | None] = contextvars.ContextVar(
    "lineage_current_run", default=None
)


def current_run() -> BatchRun | None:
    """Return the batch run active in this context (thread/task), if any."""
    return _CURRENT.get()


class BatchRun(RunContext):
    """A :class:`RunContext` with helpers for files, DataFrames and SQL steps."""

    integration = "batch"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pending_outputs: dict[str, tuple[str, bool]] = {}

    @_safe
    def input_file(
        self, path: str | os.PathLike[str], kind: str = "file", *, compute_stats: bool = True
    ) -> Dataset:
        """Declare an input file: digest, schema and statistics are computed now."""
        ds = file_dataset(path, kind=kind, role="input", compute_stats=compute_stats)
        self.add_input(ds)
        return ds

    @_safe
    def output_file(
        self, path: str | os.PathLike[str], kind: str = "file", *, compute_stats: bool = True
    ) -> Dataset:
        """Declare an output file; its digest and statistics are computed when the run ends.

        Returns the dataset as named now (without version until the run ends).
        """
        namespace, name = dataset_id_for_path(path)
        if namespace == "file":
            with self._lock:
                self._pending_outputs[name] = (kind, compute_stats)
        ds = Dataset(namespace=namespace, name=name, kind=kind)
        self.add_output(ds)
        return ds

    @_safe
    def input_dataframe(
        self, df: pd.DataFrame, name: str, *, namespace: str | None = None, kind: str = "table",
        compute_stats: bool = True,
    ) -> Dataset:
        """Declare an in-memory DataFrame input (namespace defaults to the job's)."""
        ds = dataframe_dataset(df, namespace or self.namespace, name, kind,
                               compute_stats=compute_stats)
        self.add_input(ds)
        return ds

    @_safe
    def output_dataframe(
        self, df: pd.DataFrame, name: str, *, namespace: str | None = None, kind: str = "table",
        compute_stats: bool = True,
    ) -> Dataset:
        """Declare an in-memory DataFrame output (namespace defaults to the job's)."""
        ds = dataframe_dataset(df, namespace or self.namespace, name, kind,
                               compute_stats=compute_stats)
        self.add_output(ds)
        return ds

    @_safe
    def sql_step(
        self, query: str, *, dialect: str | None = None, namespace: str | None = None,
        default_schema: str | None = None,
    ) -> tuple[list[Dataset], list[Dataset]]:
        """Declare a SQL step: tables read and written, with column lineage on the outputs
        (parsed by openlineage-sql, see :mod:`emitters.sql`); sets the job's ``sql`` facet.

        ``namespace``: the database's OpenLineage namespace (e.g. ``postgres://host:5432``),
        default the job's. Returns ``(inputs, outputs)``.
        """
        from emitters.sql import sql_lineage

        lineage = sql_lineage(query, namespace=namespace or self.namespace, dialect=dialect,
                              default_schema=default_schema)
        for ds in lineage.inputs:
            self.add_input(ds)
        for ds in lineage.outputs:
            self.add_output(ds)
        self.set_sql(query, dialect)
        return lineage.inputs, lineage.outputs

    def _prepare_terminal(self) -> None:
        with self._lock:
            pending = dict(self._pending_outputs)
            self._pending_outputs.clear()
        for name, (kind, stats) in pending.items():
            existing = self._outputs.get(("file", name))
            ds = file_dataset(name, kind=kind, role="output", compute_stats=stats)
            if existing is not None and existing.facets.columnLineage:
                ds.facets.columnLineage = existing.facets.columnLineage
            self.add_output(ds)


@contextlib.contextmanager
def job_run(
    name: str,
    namespace: str = "default",
    *,
    client: LineageClient | None = None,
    parameters: dict[str, Any] | None = None,
    parent: ParentRun | None = None,
    job_type: JobType | None = None,
    capture_pandas: bool = False,
    code_path: str | None = None,
) -> Iterator[BatchRun]:
    """Run a block as a lineage job run, yielding its :class:`BatchRun`.

    ``capture_pandas``: record pandas ``read_*``/``to_*`` file calls in the block as inputs
    and outputs (:mod:`emitters.pandas_capture`). ``parent``: defaults to the enclosing
    batch run's parent facet when runs nest. Exceptions from the block propagate unchanged
    after the FAIL event (KeyboardInterrupt gives ABORT; ``SystemExit(0)`` gives COMPLETE).
    """
    enclosing = current_run()
    if parent is None and enclosing is not None:
        parent = enclosing.parent_facet()
    run = BatchRun(name, namespace, client=client, parameters=parameters, parent=parent,
                   job_type=job_type, code_path=code_path)
    token = _CURRENT.set(run)
    capture: contextlib.AbstractContextManager[Any] = contextlib.nullcontext()
    if capture_pandas:
        try:
            from emitters.pandas_capture import capture_pandas as _capture

            capture = _capture()
        except Exception as exc:  # e.g. pandas not installed: the job runs uncaptured
            log.warning("lineage: pandas capture unavailable: %s", exc)
    try:
        with capture:
            run.start()
            try:
                yield run
            except GeneratorExit:
                raise
            except KeyboardInterrupt:
                run.abort()
                raise
            except SystemExit as exc:
                if exc.code in (0, None):
                    run.complete()
                else:
                    run.fail(exc)
                raise
            except BaseException as exc:
                run.fail(exc)
                raise
            run.complete()
    finally:
        _CURRENT.reset(token)


@overload
def lineage_job(func: Callable[P, R], /) -> Callable[P, R]: ...


@overload
def lineage_job(
    func: None = None,
    /,
    *,
    name: str | None = None,
    namespace: str = "default",
    client: LineageClient | None = None,
    capture_pandas: bool = False,
    log_arguments: bool = True,
    job_type: JobType | None = None,
) -> Callable[[Callable[P, R]], Callable[P, R]]: ...


def lineage_job(
    func: Callable[P, R] | None = None,
    /,
    *,
    name: str | None = None,
    namespace: str = "default",
    client: LineageClient | None = None,
    capture_pandas: bool = False,
    log_arguments: bool = True,
    job_type: JobType | None = None,
) -> Callable[P, R] | Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorate a function so each call is a lineage job run (see :func:`job_run`).

    ``name``: job name, default ``module.qualname`` of the function; ``log_arguments``:
    record the call's arguments (defaults applied) as parameters. Inside the function,
    :func:`current_run` returns the run for declaring inputs and outputs. Usable bare
    (``@lineage_job``) or with arguments.
    """

    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        job_name = name or f"{fn.__module__}.{fn.__qualname__}"
        try:
            signature: inspect.Signature | None = inspect.signature(fn)
        except (TypeError, ValueError):
            signature = None
        try:
            source = inspect.getsourcefile(fn)
        except TypeError:
            source = None

        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            params: dict[str, Any] = {}
            if log_arguments and signature is not None:
                try:
                    bound = signature.bind(*args, **kwargs)
                    bound.apply_defaults()
                    params = dict(bound.arguments)
                except TypeError:
                    params = {}
            with job_run(job_name, namespace, client=client, parameters=params,
                         job_type=job_type, capture_pandas=capture_pandas,
                         code_path=str(Path(source)) if source else None):
                return fn(*args, **kwargs)

        return wrapper

    if func is not None:
        return decorate(func)
    return decorate
