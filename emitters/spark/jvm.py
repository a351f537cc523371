"""The py4j boundary: every call into Spark's JVM objects lives here.

pyspark and py4j are untyped; this module takes and returns ``Any`` for JVM objects and
plain Python values (str, int, dataclasses) for everything else, so the rest of the
package is typed. Each function documents the Spark (4.x, Scala 2.13) API it calls; all of
them may raise ``py4j.protocol.Py4JError`` (or any exception py4j surfaces) and leave
catching to the caller, which logs and counts it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: Separator used to fetch a Scala ``Seq[String]`` in one call (``mkString``).
_SEP = "\u001f"

#: Executed-plan nodes that perform a write and carry its metrics.
WRITE_EXEC_NODES = frozenset(
    {
        "DataWritingCommandExec",
        "ExecutedCommandExec",
        "AppendDataExec",
        "AppendDataExecV1",
        "OverwriteByExpressionExec",
        "OverwriteByExpressionExecV1",
        "OverwritePartitionsDynamicExec",
        "ReplaceDataExec",
        "WriteDeltaExec",
        "CreateTableAsSelectExec",
        "AtomicCreateTableAsSelectExec",
        "ReplaceTableAsSelectExec",
        "AtomicReplaceTableAsSelectExec",
    }
)
#: SQL metrics read from the write node (names as in ``BasicWriteJobStatsTracker``).
WRITE_METRICS = ("numOutputRows", "numOutputBytes", "numFiles", "numParts")


@dataclass
class RelationInfo:
    """What a leaf relation or a write target points at.

    ``kind``: ``files`` (paths), ``table`` (a catalog table, with ``location`` when known),
    ``jdbc`` (``jdbc_url`` + ``jdbc_table``), ``v2`` (a DataSource V2 table ``table`` in
    ``catalog``) or ``other``. ``paths``/``location`` are URIs as Spark prints them
    (``file:/tmp/x``). ``file_format``: Spark's name (``Parquet``, ``CSV``...) or provider.
    """

    kind: str
    paths: list[str] = field(default_factory=list)
    table: str | None = None
    database: str | None = None
    catalog: str | None = None
    location: str | None = None
    file_format: str | None = None
    jdbc_url: str | None = None
    jdbc_table: str | None = None
    source_class: str | None = None
    identifier: Any = None  # the JVM TableIdentifier, to look the table up after the write


@dataclass
class WriteInfo:
    """The target of a write command: ``target``, save ``mode`` (``Overwrite``, ``Append``,
    ``ErrorIfExists``, ``Ignore``), and the output column names when Spark records them."""

    command: str
    target: RelationInfo
    mode: str | None = None
    output_columns: list[str] = field(default_factory=list)


def class_name(obj: Any) -> str:
    """Full JVM class name of ``obj`` (``obj.getClass().getName()``)."""
    return str(obj.getClass().getName())


def short_name(obj: Any) -> str:
    """Simple class name without the Scala ``$`` suffix."""
    return class_name(obj).rsplit(".", 1)[-1].rstrip("$")


def option(opt: Any) -> Any | None:
    """Value of a Scala ``Option`` or ``None``."""
    if opt is None or not opt.isDefined():
        return None
    return opt.get()


def seq(items: Any, limit: int = 10_000) -> list[Any]:
    """Elements of a Scala ``Seq`` (``size``/``apply``), at most ``limit``."""
    n = min(int(items.size()), limit)
    return [items.apply(i) for i in range(n)]


def str_seq(items: Any) -> list[str]:
    """A Scala ``Seq[String]`` as a list, fetched in one call via ``mkString``."""
    text = str(items.mkString(_SEP))
    return text.split(_SEP) if text else []


def ensure_callback_server(gateway: Any) -> None:
    """Start py4j's callback server (Java -> Python calls) if it is not running
    (``pyspark.java_gateway.ensure_callback_server_started``)."""
    from pyspark import java_gateway

    start: Any = java_gateway.ensure_callback_server_started
    start(gateway)


def plan_json(plan: Any) -> str:
    """``TreeNode.toJSON`` of a logical plan: the whole tree in one call."""
    return str(plan.toJSON())


def sql_text(qe: Any) -> str | None:
    """The SQL text a plan was parsed from (``CurrentOrigin.sqlText``), if Spark kept it."""
    value = option(qe.logical().origin().sqlText())
    return str(value) if value is not None else None


# -- relations -------------------------------------------------------------------------------
def _catalog_table(info: RelationInfo, table: Any) -> RelationInfo:
    ident = table.identifier()
    info.kind = "table"
    info.identifier = ident
    info.table = str(ident.table())
    db = option(ident.database())
    info.database = str(db) if db is not None else None
    cat = option(ident.catalog())
    info.catalog = str(cat) if cat is not None else None
    loc = option(table.storage().locationUri())
    info.location = str(loc.toString()) if loc is not None else None
    provider = option(table.provider())
    if provider is not None and info.file_format is None:
        info.file_format = str(provider)
    return info


def describe_relation(leaf: Any) -> RelationInfo | None:
    """Describe a leaf relation of an analysed plan, or ``None`` for one without a dataset
    (``LocalRelation``, ``Range``, ``LogicalRDD``...).

    Understands ``LogicalRelation`` over ``HadoopFsRelation`` (``location.rootPaths``,
    ``fileFormat``) and ``JDBCRelation`` (``jdbcOptions.url``/``tableOrQuery``), with its
    ``catalogTable``; ``HiveTableRelation`` (``tableMeta``); ``DataSourceV2Relation``
    (``catalog``, ``identifier``, ``V1Table.v1Table``).
    """
    name = short_name(leaf)
    if name == "LogicalRelation":
        rel = leaf.relation()
        rel_name = short_name(rel)
        info = RelationInfo(kind="other", source_class=class_name(rel))
        if rel_name == "HadoopFsRelation":
            info.kind = "files"
            info.paths = [str(p.toString()) for p in seq(rel.location().rootPaths())]
            info.file_format = str(rel.fileFormat().toString())
        elif rel_name == "JDBCRelation":
            opts = rel.jdbcOptions()
            info.kind = "jdbc"
            info.jdbc_url = str(opts.url())
            info.jdbc_table = str(opts.tableOrQuery())
            info.file_format = "jdbc"
        table = option(leaf.catalogTable())
        if table is not None:
            _catalog_table(info, table)
        return info if info.kind != "other" else None
    if name == "HiveTableRelation":
        return _catalog_table(RelationInfo(kind="table", file_format="hive"), leaf.tableMeta())
    if name == "DataSourceV2Relation":
        table = leaf.table()
        if short_name(table) == "V1Table":
            return _catalog_table(RelationInfo(kind="table"), table.v1Table())
        catalog = option(leaf.catalog())
        ident = option(leaf.identifier())
        return RelationInfo(
            kind="v2",
            table=str(ident.toString()) if ident is not None else str(table.name()),
            catalog=str(catalog.name()) if catalog is not None else None,
            source_class=class_name(table),
        )
    return None


def first_output_id(leaf: Any) -> int | None:
    """Expression id of the leaf's first output attribute (correlates JVM and JSON leaves)."""
    output = leaf.output()
    if int(output.size()) == 0:
        return None
    return int(output.apply(0).exprId().id())


def leaf_relations(plan: Any, limit: int = 200) -> list[Any]:
    """Leaf nodes of ``plan``, its subqueries (``subqueriesAll``) and of plans held outside
    the children (a command's ``innerChildren``, e.g. the query of a CTAS)."""
    out: list[Any] = []
    stack = [plan]
    visited = 0
    while stack and visited < limit:
        node = stack.pop()
        visited += 1
        for leaf in seq(node.collectLeaves()):
            if short_name(leaf).endswith("Command"):
                # a command holding its query outside the children (CTAS, SaveIntoDataSource)
                stack.extend(
                    c for c in seq(leaf.innerChildren()) if ".expressions." not in class_name(c)
                )
            else:
                out.append(leaf)
        stack.extend(seq(node.subqueriesAll()))
    return out


# -- write commands --------------------------------------------------------------------------
def describe_write(cmd: Any) -> WriteInfo | None:
    """Describe the write performed by the analysed plan's root ``cmd``, or ``None`` when the
    root is not a write command this module knows.

    Known: ``InsertIntoHadoopFsRelationCommand``, ``CreateDataSourceTableAsSelectCommand``,
    ``SaveIntoDataSourceCommand`` (JDBC and path-based sources), ``InsertIntoDataSourceCommand``,
    Hive ``InsertIntoHiveTable``/``CreateHiveTableAsSelectCommand``, DataSource V2
    ``AppendData``/``OverwriteByExpression``/``OverwritePartitionsDynamic``/``ReplaceData``/
    ``WriteDelta`` and ``CreateTableAsSelect``/``ReplaceTableAsSelect``.
    """
    name = short_name(cmd)
    if name == "InsertIntoHadoopFsRelationCommand":
        target = RelationInfo(
            kind="files",
            paths=[str(cmd.outputPath().toString())],
            file_format=str(cmd.fileFormat().toString()),
        )
        table = option(cmd.catalogTable())
        if table is not None:
            _catalog_table(target, table)
            target.location = target.location or target.paths[0]
        return WriteInfo(
            command=name,
            target=target,
            mode=str(cmd.mode().toString()),
            output_columns=str_seq(cmd.outputColumnNames()),
        )
    if name in ("CreateDataSourceTableAsSelectCommand", "CreateHiveTableAsSelectCommand",
                "OptimizedCreateHiveTableAsSelectCommand"):
        table = cmd.table() if name == "CreateDataSourceTableAsSelectCommand" else cmd.tableDesc()
        return WriteInfo(
            command=name,
            target=_catalog_table(RelationInfo(kind="table"), table),
            mode=str(cmd.mode().toString()),
            output_columns=str_seq(cmd.outputColumnNames()),
        )
    if name == "InsertIntoHiveTable":
        return WriteInfo(
            command=name,
            target=_catalog_table(RelationInfo(kind="table", file_format="hive"), cmd.table()),
            mode="Overwrite" if bool(cmd.overwrite()) else "Append",
            output_columns=str_seq(cmd.outputColumnNames()),
        )
    if name == "SaveIntoDataSourceCommand":
        return _save_into_data_source(cmd)
    if name == "InsertIntoDataSourceCommand":
        relation = describe_relation(cmd.logicalRelation())
        if relation is None:
            return None
        mode = "Overwrite" if bool(cmd.overwrite()) else "Append"
        return WriteInfo(command=name, target=relation, mode=mode)
    if name in ("AppendData", "OverwriteByExpression", "OverwritePartitionsDynamic",
                "ReplaceData", "WriteDelta"):
        table = describe_relation(cmd.table())
        if table is None:
            return None
        mode = "Append" if name == "AppendData" else "Overwrite"
        return WriteInfo(command=name, target=table, mode=mode)
    if name in ("CreateTableAsSelect", "ReplaceTableAsSelect"):
        resolved = cmd.name()  # ResolvedIdentifier(catalog, identifier)
        target = RelationInfo(
            kind="v2",
            table=str(resolved.identifier().toString()),
            catalog=str(resolved.catalog().name()),
        )
        mode = "Overwrite" if name == "ReplaceTableAsSelect" else "ErrorIfExists"
        return WriteInfo(command=name, target=target, mode=mode)
    return None


def _save_into_data_source(cmd: Any) -> WriteInfo | None:
    source = cmd.dataSource()
    source_class = class_name(source)
    opts = cmd.options()  # CaseInsensitiveMap[String]; never log it (may hold a password)

    def opt(key: str) -> str | None:
        value = option(opts.get(key))
        return str(value) if value is not None else None

    mode = str(cmd.mode().toString())
    if "jdbc" in source_class.lower():
        url, table = opt("url"), opt("dbtable") or opt("query")
        if url is None or table is None:
            return None
        target = RelationInfo(kind="jdbc", jdbc_url=url, jdbc_table=table, file_format="jdbc",
                              source_class=source_class)
        return WriteInfo(command="SaveIntoDataSourceCommand", target=target, mode=mode)
    path = opt("path")
    if path is not None:
        target = RelationInfo(kind="files", paths=[path], source_class=source_class,
                              file_format=source_class.rsplit(".", 1)[-1])
        return WriteInfo(command="SaveIntoDataSourceCommand", target=target, mode=mode)
    return None


def query_plan(cmd: Any) -> Any | None:
    """The query a write command writes: its ``query`` (child or inner plan), if any."""
    try:
        return cmd.query()
    except Exception:  # commands without a query() accessor
        return None


def table_location(session: Any, identifier: Any) -> str | None:
    """Storage location URI of a catalog table as the session catalog has it now
    (``sessionState.catalog.getTableMetadata(ident).location``)."""
    meta = session.sessionState().catalog().getTableMetadata(identifier)
    loc = option(meta.storage().locationUri())
    return str(loc.toString()) if loc is not None else None


# -- executed plan ---------------------------------------------------------------------------
def write_metrics(executed_plan: Any, limit: int = 64) -> dict[str, int]:
    """SQL metrics of the write node of an executed plan (``numOutputRows``,
    ``numOutputBytes``, ``numFiles``, ``numParts``), ``{}`` when there is none.

    Walks ``AdaptiveSparkPlanExec.executedPlan`` and ``QueryStageExec.plan`` into the final
    adaptive plan (Spark 4 runs writes inside AQE), breadth first, up to ``limit`` nodes.
    """
    queue = [executed_plan]
    seen = 0
    while queue and seen < limit:
        node = queue.pop(0)
        seen += 1
        name = short_name(node)
        if name == "AdaptiveSparkPlanExec":
            queue.append(node.executedPlan())
            continue
        if name.endswith("QueryStageExec"):
            queue.append(node.plan())
            continue
        if name in WRITE_EXEC_NODES:
            metrics = node.metrics()
            out: dict[str, int] = {}
            for key in WRITE_METRICS:
                if bool(metrics.contains(key)):
                    out[key] = int(metrics.apply(key).value())
            if out or name != "ExecutedCommandExec":
                return out
        queue.extend(seq(node.children()))
    return {}


# -- errors and session ----------------------------------------------------------------------
def exception_info(jvm: Any, exc: Any, max_chars: int = 16_384) -> tuple[str, str]:
    """``(message, stack trace)`` of a JVM ``Throwable`` (``Utils.exceptionString``)."""
    cls = class_name(exc)
    msg = exc.getMessage()
    message = f"{cls}: {msg}" if msg is not None else cls
    try:
        trace = str(jvm.org.apache.spark.util.Utils.exceptionString(exc))
    except Exception:
        trace = str(exc.toString())
    return message, trace[:max_chars]


def session_facts(jsession: Any) -> dict[str, str]:
    """Spark version, master and application id/name of a JVM ``SparkSession``."""
    sc = jsession.sparkContext()
    return {
        "spark.version": str(jsession.version()),
        "spark.master": str(sc.master()),
        "spark.app.id": str(sc.applicationId()),
        "spark.app.name": str(sc.appName()),
    }
