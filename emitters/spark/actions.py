"""One finished Spark query execution -> the lineage events of one run.

Runs on the emitter's background thread (never on Spark's listener thread). For a write
command at the root of the analysed plan it derives:

- inputs: every leaf relation with a dataset (files, catalog tables, JDBC tables, V2
  tables), including those inside subqueries, with their schema;
- the output: the command's target (:func:`emitters.spark.jvm.describe_write`), its schema
  (the written query's schema under the command's output column names), column lineage
  (:class:`emitters.spark.lineage.PlanLineage`), row/byte/file counts from the write node's
  SQL metrics, and its version (content digest of the written directory, see
  :mod:`emitters.spark.datasets`);
- START (at query start = end - duration) and COMPLETE, or FAIL with the JVM error, as a
  child run of the application run.

Spark 4 runs ``saveAsTable`` and CTAS as an outer command (``SaveAsV1TableCommand`` ->
``CreateDataSourceTableAsSelectCommand``) around a nested ``InsertIntoHadoopFsRelationCommand``
reported with the function name ``file source write``. The nested write is held back and its
metrics are merged into the CTAS run; the ``SaveAsV1TableCommand`` wrapper is skipped, so a
user action gives exactly one run.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from emitters.facets import collect_code_version, collect_environment
from emitters.run import PRODUCER, new_run_id
from emitters.spark import datasets as dsn
from emitters.spark import jvm
from emitters.spark.action_datasets import ActionDatasets, optional, storage_facet
from emitters.spark.config import SparkLineageConfig
from emitters.spark.jvm import WriteInfo
from emitters.spark.plan import TreeNode, parse_plan_json
from lineage_pipeline.events import (
    Dataset,
    ErrorFacet,
    EventType,
    Job,
    JobFacets,
    JobType,
    LineageEvent,
    NominalTime,
    ParentRun,
    Run,
    RunFacets,
    SqlFacet,
)

log = logging.getLogger("emitters.spark")

SPARK_PRODUCER = f"{PRODUCER}/spark"
#: Function name Spark 4 gives the nested file write of saveAsTable/CTAS.
NESTED_WRITE_FUNC = "file source write"
#: Outer commands whose own event is skipped (their inner command is reported).
WRAPPER_COMMANDS = frozenset({"SaveAsV1TableCommand"})
#: Commands that run a nested file write whose metrics they lack themselves.
CTAS_COMMANDS = frozenset(
    {
        "CreateDataSourceTableAsSelectCommand",
        "CreateHiveTableAsSelectCommand",
        "OptimizedCreateHiveTableAsSelectCommand",
    }
)
_MAX_NESTED = 16
_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


@dataclass
class Notification:
    """What the listener hands over: Spark's function name (``command``, ``collect``...),
    the JVM ``QueryExecution``, the JVM error (``None`` on success), the duration
    (nanoseconds; ``None`` for failures) and the wall time of the callback (epoch ms)."""

    func_name: str
    qe: Any
    error: Any
    duration_ns: int | None
    end_ms: int


@dataclass
class _Nested:
    dataset: tuple[str, str]
    metrics: dict[str, int]
    notification: Notification
    write: WriteInfo


def action_name(command: str) -> str:
    """``InsertIntoHadoopFsRelationCommand`` -> ``insert_into_hadoop_fs_relation``."""
    base = command[: -len("Command")] if command.endswith("Command") else command
    return _CAMEL.sub("_", base).lower()


class ActionBuilder:
    """Builds the events of action runs; one per :class:`~emitters.spark.emitter.SparkLineage`.

    ``jsession``/``jvm_view``: the JVM ``SparkSession`` and py4j ``JVMView``; ``config``:
    resolved settings; ``app_name``: the application run's job name (prefix of action job
    names); ``parent``: returns the parent facet of action runs; ``facts``: Spark version,
    master and application id recorded as run parameters. Methods raise whatever py4j or
    the plan walk raises; the caller logs and counts.
    """

    def __init__(
        self,
        *,
        jsession: Any,
        jvm_view: Any,
        config: SparkLineageConfig,
        app_name: str,
        parent: Callable[[], ParentRun],
        facts: dict[str, str],
        catalog_namespace: str,
    ) -> None:
        self.jsession = jsession
        self.jvm_view = jvm_view
        self.config = config
        self.app_name = app_name
        self.parent = parent
        self.facts = facts
        self.catalog_namespace = catalog_namespace
        self.datasets = ActionDatasets(config, catalog_namespace)
        self._nested: list[_Nested] = []

    # -- entry points --------------------------------------------------------------------
    def process(self, note: Notification) -> list[LineageEvent]:
        """Return the events of the run for ``note`` (``[]`` when it is not a write, unless
        read runs are configured, or when it is held back / skipped as described above)."""
        analyzed = note.qe.analyzed()
        command = jvm.short_name(analyzed)
        if command in WRAPPER_COMMANDS:
            return []
        write = jvm.describe_write(analyzed)
        if write is None:
            if self.config.emit_reads:
                return self._read_run(note, analyzed)
            return []
        if note.func_name == NESTED_WRITE_FUNC and write.command.endswith("RelationCommand"):
            self._hold_nested(note, write)
            return []
        return self._write_run(note, analyzed, write)

    def drain_nested(self) -> list[LineageEvent]:
        """Events of nested writes no outer command claimed (emitted as their own runs)."""
        out: list[LineageEvent] = []
        nested, self._nested = self._nested, []
        for item in nested:
            out.extend(
                self._write_run(item.notification, item.notification.qe.analyzed(), item.write,
                                metrics=item.metrics)
            )
        return out

    # -- nested writes -------------------------------------------------------------------
    def _hold_nested(self, note: Notification, write: WriteInfo) -> None:
        metrics = optional(
            "metrics", lambda: jvm.write_metrics(note.qe.executedPlan()), dict[str, int]()
        )
        path = write.target.paths[0] if write.target.paths else None
        ident = dsn.path_dataset_id(path) if path else ("", "")
        self._nested.append(_Nested(ident, metrics, note, write))
        if len(self._nested) > _MAX_NESTED:
            self._nested.pop(0)

    def _claim_nested(self, location: str | None) -> dict[str, int] | None:
        if not self._nested:
            return None
        wanted = dsn.path_dataset_id(location) if location else None
        for i in range(len(self._nested) - 1, -1, -1):
            if wanted is None or self._nested[i].dataset == wanted:
                return self._nested.pop(i).metrics
        return self._nested.pop().metrics

    # -- runs ----------------------------------------------------------------------------
    def _write_run(
        self,
        note: Notification,
        analyzed: Any,
        write: WriteInfo,
        metrics: dict[str, int] | None = None,
    ) -> list[LineageEvent]:
        root = parse_plan_json(jvm.plan_json(analyzed))
        query = _query_tree(root)
        inputs, sources = self.datasets.inputs(analyzed, query)
        target = write.target
        if (
            note.error is None
            and target.kind == "table"
            and target.identifier is not None
            and target.location is None  # e.g. a CTAS: the table got its location just now
        ):
            try:
                target.location = jvm.table_location(self.jsession, target.identifier)
            except Exception as exc:  # the table may be gone again; the name is enough
                log.debug("lineage: no location for table %s: %s", target.table, exc)
        ids = self.datasets.target_ids(target)
        if not ids:
            return []
        ns, name, kind, links = ids[0]
        if metrics is None:
            if write.command in CTAS_COMMANDS:
                metrics = self._claim_nested(target.location) or {}
            else:
                metrics = optional(
                    "metrics", lambda: jvm.write_metrics(note.qe.executedPlan()), dict[str, int]()
                )
        output = Dataset(namespace=ns, name=name, kind=kind)
        facets = output.facets
        facets.symlinks = links or None
        if target.file_format:
            facets.extra["storage"] = storage_facet(target)
        lifecycle = _lifecycle(write)
        if lifecycle:
            facets.extra["lifecycleStateChange"] = json.dumps({"lifecycleStateChange": lifecycle})
        if query is not None:
            self.datasets.output_columns(output, query, sources, write, analyzed)
        self.datasets.output_stats(output, write, metrics, failed=note.error is not None)
        action = action_name(write.command)
        job_name = f"{self.app_name}.{action}.{dsn.slug(name)}"
        run_metrics = {f"spark.{k}": float(v) for k, v in metrics.items()}
        return self._events(note, job_name, inputs, [output], run_metrics,
                            {"spark.command": write.command, "spark.saveMode": write.mode or ""})

    def _read_run(self, note: Notification, analyzed: Any) -> list[LineageEvent]:
        root = parse_plan_json(jvm.plan_json(analyzed))
        inputs, _sources = self.datasets.inputs(analyzed, root)
        if not inputs:
            return []
        job_name = f"{self.app_name}.{action_name(note.func_name)}.{dsn.slug(inputs[0].name)}"
        return self._events(note, job_name, inputs, [], {}, {})

    def _events(
        self,
        note: Notification,
        job_name: str,
        inputs: list[Dataset],
        outputs: list[Dataset],
        metrics: dict[str, float],
        params: dict[str, str],
    ) -> list[LineageEvent]:
        """START (at query start = end - duration) and COMPLETE or FAIL of one action run,
        a child of the application run; both carry ``inputs`` and ``outputs``."""
        end_ms = note.end_ms
        duration_ms = (note.duration_ns or 0) // 1_000_000
        start_ms = end_ms - duration_ms
        if note.duration_ns is not None:
            metrics = {**metrics, "spark.durationMs": float(duration_ms)}
        job = self._job(note, job_name)
        parameters = {**self.facts, "spark.action": note.func_name, **params}
        parent = self.parent()
        run_id = new_run_id()
        start = LineageEvent(
            eventType=EventType.START,
            eventTime=start_ms,
            producer=SPARK_PRODUCER,
            run=Run(runId=run_id, parent=parent, facets=_run_facets(parameters, start_ms)),
            job=job,
            inputs=inputs,
            outputs=outputs,
        )
        end_facets = _run_facets(parameters, start_ms, end_ms, metrics)
        if note.error is not None:
            message, trace = jvm.exception_info(self.jvm_view, note.error)
            end_facets.error = ErrorFacet(
                message=message, stackTrace=trace, programmingLanguage="java"
            )
        end = LineageEvent(
            eventType=EventType.COMPLETE if note.error is None else EventType.FAIL,
            eventTime=max(end_ms, start_ms),
            producer=SPARK_PRODUCER,
            run=Run(runId=run_id, parent=parent, facets=end_facets),
            job=job,
            inputs=[d.model_copy(deep=True) for d in inputs],
            outputs=[d.model_copy(deep=True) for d in outputs],
        )
        return [start, end]

    def _job(self, note: Notification, job_name: str) -> Job:
        """The action's job: a BATCH Spark SQL job, with the SQL text when Spark kept it."""
        text = optional("sql text", lambda: jvm.sql_text(note.qe), None)
        return Job(
            namespace=self.config.namespace,
            name=job_name,
            facets=JobFacets(
                jobType=JobType(processingType="BATCH", integration="SPARK", jobType="SQL_JOB"),
                sql=SqlFacet(query=text, dialect="spark") if text else None,
            ),
        )


def _run_facets(
    parameters: dict[str, str],
    start_ms: int,
    end_ms: int | None = None,
    metrics: dict[str, float] | None = None,
) -> RunFacets:
    """Run facets of an action event: nominal times (epoch ms; the end only on the terminal
    event), code version, parameters, environment, and the metrics of the terminal event."""
    return RunFacets(
        nominalTime=NominalTime(nominalStartTime=start_ms, nominalEndTime=end_ms),
        codeVersion=collect_code_version(),
        parameters=parameters,
        metrics=metrics or {},
        environment=collect_environment(),
    )


def _query_tree(root: TreeNode) -> TreeNode | None:
    """The query a write command writes: its child, or a plan held in its ``query`` field."""
    if root.children:
        return root.children[0]
    for tree in root.trees("query"):
        if not tree.is_expression:
            return tree
    return None


def _lifecycle(write: WriteInfo) -> str | None:
    """OpenLineage ``lifecycleStateChange`` of the output: CREATE, OVERWRITE or none."""
    mode = write.mode or ""
    if mode == "Overwrite":
        return "OVERWRITE"
    creates = write.command in CTAS_COMMANDS or write.command == "CreateTableAsSelect"
    if creates and mode in ("ErrorIfExists", "Ignore"):
        return "CREATE"
    return None
