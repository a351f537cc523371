"""The Spark emitter: a py4j ``QueryExecutionListener`` plus a background thread.

Flow (one :class:`SparkLineage` per ``SparkSession``):

1. :meth:`SparkLineage.start` emits the application run's START (a
   :class:`~emitters.run.RunContext`, job = the application name, integration ``SPARK``),
   starts py4j's callback server (:func:`emitters.spark.jvm.ensure_callback_server`)
   and registers :class:`QueryListener` with ``spark._jsparkSession.listenerManager()``.
2. Spark calls ``onSuccess``/``onFailure`` on its listener-bus thread after every query
   execution. The listener only records the function name, the ``QueryExecution``
   reference, the error, the duration and the time, and puts them on a bounded queue
   (no JVM calls, well under a millisecond); when the queue is full the execution is
   dropped and counted (``lineage_emitter_dropped_total{reason="spark_queue_full"}``).
3. The background thread turns each execution into events
   (:class:`~emitters.spark.actions.ActionBuilder`: plan JSON, relations, metrics, digests)
   and hands them to ``client.emit`` (which never blocks).
4. :meth:`SparkLineage.close` (called by ``spark.stop()``, ``sparkContext.stop()``, the
   handle, or at interpreter exit) unregisters the listener, drains the queue while the JVM
   is still up, and emits the application run's COMPLETE (FAIL when given an error).

Nothing here raises into Spark or the job: a failure while handling one execution is
logged (rate-limited) and counted in ``lineage_emitter_capture_errors_total{integration=
"spark"}`` and in :attr:`SparkLineage.errors`.
"""

from __future__ import annotations

import atexit
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol, cast

from emitters.client import LineageClient
from emitters.run import RunContext
from emitters.spark import jvm
from emitters.spark.actions import ActionBuilder, Notification
from emitters.spark.config import SparkLineageConfig
from emitters.spark.datasets import catalog_namespace_for
from emitters.transports.base import RateLimitedLog
from lineage_pipeline.events import JobType, LineageEvent
from lineage_pipeline.metrics import EMITTER_CAPTURE_ERRORS, EMITTER_DROPPED

log = logging.getLogger("emitters.spark")
_warn = RateLimitedLog(60.0)


class EventClient(Protocol):
    """What the emitter needs of a client: :meth:`emitters.client.LineageClient.emit`."""

    def emit(self, event: LineageEvent) -> None:
        """Queue one event; must never block or raise."""


class QueryListener:
    """py4j proxy implementing ``org.apache.spark.sql.util.QueryExecutionListener``.

    ``sink`` receives one :class:`~emitters.spark.actions.Notification` per execution; it
    must be cheap and must not raise (exceptions are swallowed and counted anyway).
    """

    def __init__(self, sink: Callable[[Notification], None]) -> None:
        self._sink = sink

    def onSuccess(self, funcName: str, qe: Any, durationNs: int) -> None:
        """Spark callback after a successful execution (listener-bus thread)."""
        self._hand_over(funcName, qe, None, durationNs)

    def onFailure(self, funcName: str, qe: Any, exception: Any) -> None:
        """Spark callback after a failed execution (listener-bus thread)."""
        self._hand_over(funcName, qe, exception, None)

    def _hand_over(self, func: str, qe: Any, error: Any, duration_ns: int | None) -> None:
        try:
            self._sink(
                Notification(
                    func_name=str(func),
                    qe=qe,
                    error=error,
                    duration_ns=int(duration_ns) if duration_ns is not None else None,
                    end_ms=time.time_ns() // 1_000_000,
                )
            )
        except Exception:  # never into Spark's thread
            _count_error("listener")

    class Java:
        implements = ["org.apache.spark.sql.util.QueryExecutionListener"]


def _count_error(stage: str, exc: BaseException | None = None) -> None:
    try:
        EMITTER_CAPTURE_ERRORS.labels("spark").inc()
        if exc is not None:
            _warn.warning(
                f"spark:{stage}:{type(exc).__name__}",
                "spark lineage: %s failed (the job goes on): %s: %s",
                stage, type(exc).__name__, exc,
            )
    except Exception:
        pass


class SparkLineage:
    """Lineage capture of one ``SparkSession``; create with
    :func:`emitters.spark.enable_lineage`.

    Attributes: ``app_run`` (the application's :class:`~emitters.run.RunContext`),
    ``config``; counters ``seen`` (executions reported by Spark), ``runs`` (action runs
    emitted), ``dropped`` (executions dropped on a full queue), ``errors`` (failures while
    handling one). No network or JVM work happens in the constructor.
    """

    def __init__(self, spark: Any, client: EventClient, config: SparkLineageConfig) -> None:
        self.spark = spark
        self.client = client
        self.config = config
        self._jsession = spark._jsparkSession
        self._jvm = spark.sparkContext._jvm
        self.app_name = config.app_name or str(spark.sparkContext.appName)
        self.seen = 0
        self.runs = 0
        self.dropped = 0
        self.errors = 0
        self.busy_s = 0.0
        self._queue: queue.Queue[Notification | None] = queue.Queue(maxsize=config.queue_size)
        self._pending = 0
        self._idle = threading.Condition()
        self._thread: threading.Thread | None = None
        self._listener = QueryListener(self._offer)
        self._registered = False
        self._closed = False
        self._close_lock = threading.Lock()
        self._wrapped: list[tuple[Any, Any]] = []
        self.app_run: RunContext | None = None
        self._builder: ActionBuilder | None = None

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> SparkLineage:
        """Emit the application START, register the listener, start the worker; returns
        ``self``. Raises :class:`~lineage_pipeline.errors.ConfigError` for a session the
        emitter cannot hook (e.g. Spark Connect)."""
        facts = jvm.session_facts(self._jsession)
        catalog_ns = self.config.catalog_namespace or catalog_namespace_for(
            _conf(self.spark, "spark.hadoop.hive.metastore.uris")
        )
        self.app_run = RunContext(
            self.app_name,
            self.config.namespace,
            client=cast(LineageClient, self.client),
            parameters=facts,
            parent=self.config.parent,
            job_type=JobType(processingType="BATCH", integration="SPARK", jobType="APPLICATION"),
        )
        app_run = self.app_run
        self._builder = ActionBuilder(
            jsession=self._jsession,
            jvm_view=self._jvm,
            config=self.config,
            app_name=self.app_name,
            parent=app_run.parent_facet,
            facts=facts,
            catalog_namespace=catalog_ns,
        )
        app_run.start()
        self._thread = threading.Thread(
            target=self._work, name="lineage-spark-listener", daemon=True
        )
        self._thread.start()
        jvm.ensure_callback_server(self.spark.sparkContext._gateway)
        self._jsession.listenerManager().register(self._listener)
        self._registered = True
        self._wrap_stop()
        atexit.register(self._at_exit)
        return self

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until every execution reported so far is handled; ``False`` on timeout.

        Spark delivers listener events asynchronously: an action's event may arrive just
        after the action returns, so this first waits briefly for Spark's listener bus to
        be empty (``SparkContext.listenerBus().waitUntilEmpty``)."""
        deadline = time.monotonic() + timeout_s
        try:
            bus = self._jsession.sparkContext().listenerBus()
            bus.waitUntilEmpty(int(max(timeout_s, 0.001) * 1000))
        except Exception as exc:  # stopped context or older Spark: fall through
            log.debug("spark lineage: listenerBus.waitUntilEmpty unavailable: %s", exc)
        with self._idle:
            while self._pending > 0:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
        return True

    def close(self, timeout_s: float = 10.0, error: BaseException | None = None) -> None:
        """Stop capturing: unregister, handle what is queued (up to ``timeout_s``), emit
        nested writes no command claimed, then the application COMPLETE (FAIL with
        ``error``). Idempotent; never raises."""
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        try:
            self.flush(timeout_s)
        except Exception as exc:
            _count_error("flush", exc)
        if self._registered:
            try:
                self._jsession.listenerManager().unregister(self._listener)
            except Exception as exc:
                _count_error("unregister", exc)
            self._registered = False
        self._queue_put(None)
        if self._thread is not None:
            self._thread.join(timeout_s)
        if self._builder is not None:
            try:
                self._emit_all(self._builder.drain_nested())
            except Exception as exc:
                self.errors += 1
                _count_error("drain", exc)
        if self.app_run is not None:
            if error is not None:
                self.app_run.fail(error)
            else:
                self.app_run.complete()
        self._unwrap_stop()
        try:
            atexit.unregister(self._at_exit)
        except Exception:
            pass
        _forget(self)

    @property
    def closed(self) -> bool:
        """True once :meth:`close` ran."""
        return self._closed

    def _at_exit(self) -> None:
        self.close(timeout_s=5.0)

    # -- spark.stop() --------------------------------------------------------------------
    def _wrap_stop(self) -> None:
        """Make ``spark.stop()`` and ``spark.sparkContext.stop()`` close this handle first
        (instance attributes; the classes are untouched)."""
        for owner in (self.spark, self.spark.sparkContext):
            original = owner.stop

            def stop(*args: Any, _original: Any = original, **kwargs: Any) -> Any:
                self.close()
                return _original(*args, **kwargs)

            try:
                owner.stop = stop
                self._wrapped.append((owner, stop))
            except Exception as exc:  # an object refusing attributes: atexit still closes
                log.debug("spark lineage: cannot hook %r.stop: %s", owner, exc)

    def _unwrap_stop(self) -> None:
        for owner, wrapper in self._wrapped:
            try:
                if owner.__dict__.get("stop") is wrapper:
                    del owner.stop
            except Exception:
                pass
        self._wrapped.clear()

    # -- worker --------------------------------------------------------------------------
    def _offer(self, note: Notification) -> None:
        self.seen += 1
        with self._idle:
            self._pending += 1
        if not self._queue_put(note):
            self.dropped += 1
            EMITTER_DROPPED.labels("spark_queue_full").inc()
            self._done()

    def _queue_put(self, item: Notification | None) -> bool:
        try:
            self._queue.put_nowait(item)
            return True
        except queue.Full:
            return False

    def _done(self) -> None:
        with self._idle:
            self._pending -= 1
            if self._pending <= 0:
                self._idle.notify_all()

    def _work(self) -> None:
        while True:
            note = self._queue.get()
            if note is None:
                return
            began = time.perf_counter()
            try:
                if self._builder is not None:
                    self._emit_all(self._builder.process(note))
            except Exception as exc:
                self.errors += 1
                _count_error(f"action {note.func_name}", exc)
            finally:
                self.busy_s += time.perf_counter() - began
                self._done()

    def _emit_all(self, events: list[LineageEvent]) -> None:
        for event in events:
            self.client.emit(event)
        self.runs += sum(1 for e in events if e.eventType.value != "START")


def _conf(spark: Any, key: str) -> str | None:
    try:
        value = spark.sparkContext.getConf().get(key, None)
    except Exception:
        return None
    return str(value) if value is not None else None


# -- one handle per session ------------------------------------------------------------------
_HANDLES: dict[int, SparkLineage] = {}
_HANDLES_LOCK = threading.Lock()


def _session_key(spark: Any) -> int:
    return int(spark._jsparkSession.hashCode())


def registered(spark: Any) -> SparkLineage | None:
    """The open handle of ``spark``'s session, if lineage is enabled on it."""
    with _HANDLES_LOCK:
        handle = _HANDLES.get(_session_key(spark))
    return handle if handle is not None and not handle.closed else None


def open_handles() -> list[SparkLineage]:
    """Every handle not closed yet."""
    with _HANDLES_LOCK:
        return [h for h in _HANDLES.values() if not h.closed]


def remember(spark: Any, handle: SparkLineage) -> None:
    """Record ``handle`` as the one of ``spark``'s session."""
    with _HANDLES_LOCK:
        _HANDLES[_session_key(spark)] = handle


def _forget(handle: SparkLineage) -> None:
    with _HANDLES_LOCK:
        for key, value in list(_HANDLES.items()):
            if value is handle:
                del _HANDLES[key]
