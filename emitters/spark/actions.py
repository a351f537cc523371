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
from pathlib import Path
from typing import Any, TypeVar

from emitters.facets import collect_code_version, collect_environment
from emitters.run import PRODUCER, new_run_id
from emitters.spark import datasets as dsn
from emitters.spark import jvm
from emitters.spark.config import SparkLineageConfig
from emitters.spark.jvm import RelationInfo, WriteInfo
from emitters.spark.lineage import ColumnRef, PlanLineage
from emitters.spark.plan import TreeNode, all_plan_nodes, parse_plan_json, spark_type_name
from lineage_pipeline.events import (
    ContentDigest,
    Dataset,
    DatasetFacets,
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
    SchemaField,
    SqlFacet,
    Statistics,
    Symlink,
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

T = TypeVar("T")


def optional(what: str, fn: Callable[[], T], default: T) -> T:
    """``fn()``, or ``default`` when it raises: for enrichments (metrics, SQL text, schema
    types) whose absence must not cost the run, e.g. the executed plan of a failed query."""
    try:
        return fn()
    except Exception as exc:
        log.debug("spark lineage: %s unavailable: %s: %s", what, type(exc).__name__, exc)
        return default


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

    # -- datasets ------------------------------------------------------------------------
    def _target_ids(self, info: RelationInfo) -> list[tuple[str, str, str, list[Symlink]]]:
        """``(namespace, name, kind, symlinks)`` of each dataset a relation stands for."""
        if info.kind == "table" and info.table:
            ns, name = dsn.table_dataset_id(info.table, info.database, self.catalog_namespace)
            links: list[Symlink] = []
            location = info.location or (info.paths[0] if info.paths else None)
            if location:
                lns, lname = dsn.path_dataset_id(location)
                links.append(Symlink(namespace=lns, name=lname, type="LOCATION"))
            return [(ns, name, "table", links)]
        if info.kind == "files":
            out: list[tuple[str, str, str, list[Symlink]]] = []
            for path in info.paths:
                ns, name = dsn.path_dataset_id(path)
                out.append((ns, name, "file", []))
            return out
        if info.kind == "jdbc" and info.jdbc_url and info.jdbc_table:
            ns, name = dsn.jdbc_dataset_id(info.jdbc_url, info.jdbc_table)
            return [(ns, name, "table", [])]
        if info.kind == "v2" and info.table:
            return [(info.catalog or self.catalog_namespace, info.table, "table", [])]
        return []

    def _inputs(
        self, analyzed: Any, query: TreeNode | None
    ) -> tuple[list[Dataset], dict[int, list[ColumnRef]]]:
        infos: dict[int, RelationInfo] = {}
        for leaf in jvm.leaf_relations(analyzed):
            info = jvm.describe_relation(leaf)
            if info is None:
                continue
            first = jvm.first_output_id(leaf)
            if first is not None:
                infos[first] = info
        found: dict[tuple[str, str], Dataset] = {}
        sources: dict[int, list[ColumnRef]] = {}
        if query is None:
            return [], sources
        for node in all_plan_nodes(query):
            attrs = node.trees("output")
            if node.children or not attrs or attrs[0].expr_id is None:
                continue
            info = infos.get(attrs[0].expr_id)
            if info is None:
                continue
            schema = [
                SchemaField(name=a.attr_name or "", type=spark_type_name(a.fields.get("dataType")))
                for a in attrs
            ]
            for ns, name, kind, links in self._target_ids(info):
                if (ns, name) not in found:
                    facets = DatasetFacets(schema=schema, symlinks=links or None)
                    if info.file_format:
                        facets.extra["storage"] = _storage_facet(info)
                    found[(ns, name)] = Dataset(namespace=ns, name=name, kind=kind, facets=facets)
                    self._input_version(found[(ns, name)])
                for attr in attrs:
                    if attr.expr_id is not None and attr.attr_name is not None:
                        sources.setdefault(attr.expr_id, []).append(
                            ColumnRef(ns, name, attr.attr_name)
                        )
        return list(found.values()), sources

    def _input_version(self, dataset: Dataset) -> None:
        """Record a local input's content version, the digest every emitter computes for the
        same bytes, so the run links to exactly the version it read."""
        if not self.config.compute_digests or dataset.namespace != "file":
            return
        try:
            version = dsn.directory_version(Path(dataset.name), self.config.digest_max_bytes)
        except OSError:
            return
        if version is not None:
            dataset.version = version.digest
            dataset.facets.contentDigest = ContentDigest(
                algorithm=version.algorithm, hex=version.digest
            )

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
        inputs, sources = self._inputs(analyzed, query)
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
        ids = self._target_ids(target)
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
            facets.extra["storage"] = _storage_facet(target)
        lifecycle = _lifecycle(write)
        if lifecycle:
            facets.extra["lifecycleStateChange"] = json.dumps({"lifecycleStateChange": lifecycle})
        if query is not None:
            self._output_columns(output, query, sources, write, analyzed)
        self._output_stats(output, write, metrics, note)
        action = action_name(write.command)
        job_name = f"{self.app_name}.{action}.{dsn.slug(name)}"
        run_metrics = {f"spark.{k}": float(v) for k, v in metrics.items()}
        return self._events(note, job_name, inputs, [output], run_metrics,
                            {"spark.command": write.command, "spark.saveMode": write.mode or ""})

    def _read_run(self, note: Notification, analyzed: Any) -> list[LineageEvent]:
        root = parse_plan_json(jvm.plan_json(analyzed))
        inputs, _sources = self._inputs(analyzed, root)
        if not inputs:
            return []
        job_name = f"{self.app_name}.{action_name(note.func_name)}.{dsn.slug(inputs[0].name)}"
        return self._events(note, job_name, inputs, [], {}, {})

    def _output_columns(
        self,
        output: Dataset,
        query: TreeNode,
        sources: dict[int, list[ColumnRef]],
        write: WriteInfo,
        analyzed: Any,
    ) -> None:
        tracer = PlanLineage(query, sources)
        out_ids = tracer.output_ids(query)
        types = optional(
            "schema", lambda: _schema_types(jvm.query_plan(analyzed)), list[tuple[str, str]]()
        )
        names = write.output_columns
        if len(names) != len(out_ids):
            names = [n for n, _t in types] if len(types) == len(out_ids) else []
        if not names:
            return
        output.facets.schema_ = [
            SchemaField(name=n, type=types[i][1] if i < len(types) else None)
            for i, n in enumerate(names)
        ]
        lineage = tracer.column_lineage(list(zip(names, out_ids, strict=False)))
        output.facets.columnLineage = lineage or None

    def _output_stats(
        self, output: Dataset, write: WriteInfo, metrics: dict[str, int], note: Notification
    ) -> None:
        facets = output.facets
        written = {
            k: v
            for k, v in (
                ("rowCount", metrics.get("numOutputRows")),
                ("size", metrics.get("numOutputBytes")),
                ("fileCount", metrics.get("numFiles")),
            )
            if v is not None
        }
        if written:
            facets.extra["outputStatistics"] = json.dumps(written)
        whole = (write.mode or "") != "Append"  # the run wrote the whole dataset version
        stats = Statistics(
            rowCount=metrics.get("numOutputRows") if whole else None,
            bytes=metrics.get("numOutputBytes") if whole else None,
        )
        location = write.target.location or (
            write.target.paths[0] if write.target.paths else None
        )
        if note.error is None and self.config.compute_digests and location:
            local = dsn.local_path(location)
            if local is not None:
                version = dsn.directory_version(local, self.config.digest_max_bytes)
                if version is not None:
                    output.version = version.digest
                    facets.contentDigest = ContentDigest(
                        algorithm=version.algorithm, hex=version.digest
                    )
                    stats.bytes = version.bytes
        if stats.rowCount is not None or stats.bytes is not None:
            facets.statistics = stats

    def _events(
        self,
        note: Notification,
        job_name: str,
        inputs: list[Dataset],
        outputs: list[Dataset],
        metrics: dict[str, float],
        params: dict[str, str],
    ) -> list[LineageEvent]:
        end_ms = note.end_ms
        duration_ms = (note.duration_ns or 0) // 1_000_000
        start_ms = end_ms - duration_ms
        if note.duration_ns is not None:
            metrics = {**metrics, "spark.durationMs": float(duration_ms)}
        text = optional("sql text", lambda: jvm.sql_text(note.qe), None)
        job = Job(
            namespace=self.config.namespace,
            name=job_name,
            facets=JobFacets(
                jobType=JobType(processingType="BATCH", integration="SPARK", jobType="SQL_JOB"),
                sql=SqlFacet(query=text, dialect="spark") if text else None,
            ),
        )
        parameters = {**self.facts, "spark.action": note.func_name, **params}
        parent = self.parent()
        run_id = new_run_id()

        def facets(terminal: bool) -> RunFacets:
            return RunFacets(
                nominalTime=NominalTime(
                    nominalStartTime=start_ms, nominalEndTime=end_ms if terminal else None
                ),
                codeVersion=collect_code_version(),
                parameters=parameters,
                metrics=metrics if terminal else {},
                environment=collect_environment(),
            )

        start = LineageEvent(
            eventType=EventType.START,
            eventTime=start_ms,
            producer=SPARK_PRODUCER,
            run=Run(runId=run_id, parent=parent, facets=facets(False)),
            job=job,
            inputs=inputs,
            outputs=outputs,
        )
        end_facets = facets(True)
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


def _query_tree(root: TreeNode) -> TreeNode | None:
    """The query a write command writes: its child, or a plan held in its ``query`` field."""
    if root.children:
        return root.children[0]
    for tree in root.trees("query"):
        if not tree.is_expression:
            return tree
    return None


def _schema_types(jquery: Any) -> list[tuple[str, str]]:
    """``(name, Spark SQL type)`` of each column of a JVM plan's schema (one py4j call)."""
    if jquery is None:
        return []
    data = json.loads(str(jquery.schema().json()))
    return [
        (str(f.get("name")), spark_type_name(f.get("type")))
        for f in data.get("fields", [])
        if isinstance(f, dict)
    ]


def _storage_facet(info: RelationInfo) -> str:
    layer = {"files": "file", "table": "catalog", "jdbc": "jdbc", "v2": "catalog"}.get(
        info.kind, info.kind
    )
    return json.dumps({"storageLayer": layer, "fileFormat": (info.file_format or "").lower()})


def _lifecycle(write: WriteInfo) -> str | None:
    """OpenLineage ``lifecycleStateChange`` of the output: CREATE, OVERWRITE or none."""
    mode = write.mode or ""
    if mode == "Overwrite":
        return "OVERWRITE"
    creates = write.command in CTAS_COMMANDS or write.command == "CreateTableAsSelect"
    if creates and mode in ("ErrorIfExists", "Ignore"):
        return "CREATE"
    return None
