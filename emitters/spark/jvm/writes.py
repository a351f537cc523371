"""Write commands at the root of analysed plans: their target and mode
(:func:`describe_write`), the query they write, and the write metrics of the executed plan."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from emitters.spark.jvm.base import (
    RelationInfo,
    WriteInfo,
    class_name,
    option,
    seq,
    short_name,
    str_seq,
)
from emitters.spark.jvm.relations import _catalog_table, describe_relation

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


def describe_write(cmd: Any) -> WriteInfo | None:
    """Describe the write performed by the analysed plan's root ``cmd``, or ``None`` when the
    root is not a write command this module knows.

    Known: ``InsertIntoHadoopFsRelationCommand``, ``CreateDataSourceTableAsSelectCommand``,
    ``SaveIntoDataSourceCommand`` (JDBC and path-based sources), ``InsertIntoDataSourceCommand``,
    Hive ``InsertIntoHiveTable``/``CreateHiveTableAsSelectCommand``, DataSource V2
    ``AppendData``/``OverwriteByExpression``/``OverwritePartitionsDynamic``/``ReplaceData``/
    ``WriteDelta`` and ``CreateTableAsSelect``/``ReplaceTableAsSelect``. Raises whatever
    py4j raises.
    """
    name = short_name(cmd)
    describe = _WRITE_COMMANDS.get(name)
    return describe(name, cmd) if describe is not None else None


def _insert_into_hadoop_fs(name: str, cmd: Any) -> WriteInfo:
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


def _create_table_as_select_v1(name: str, cmd: Any) -> WriteInfo:
    table = cmd.table() if name == "CreateDataSourceTableAsSelectCommand" else cmd.tableDesc()
    return WriteInfo(
        command=name,
        target=_catalog_table(RelationInfo(kind="table"), table),
        mode=str(cmd.mode().toString()),
        output_columns=str_seq(cmd.outputColumnNames()),
    )


def _insert_into_hive(name: str, cmd: Any) -> WriteInfo:
    return WriteInfo(
        command=name,
        target=_catalog_table(RelationInfo(kind="table", file_format="hive"), cmd.table()),
        mode="Overwrite" if bool(cmd.overwrite()) else "Append",
        output_columns=str_seq(cmd.outputColumnNames()),
    )


def _insert_into_data_source(name: str, cmd: Any) -> WriteInfo | None:
    relation = describe_relation(cmd.logicalRelation())
    if relation is None:
        return None
    mode = "Overwrite" if bool(cmd.overwrite()) else "Append"
    return WriteInfo(command=name, target=relation, mode=mode)


def _v2_write(name: str, cmd: Any) -> WriteInfo | None:
    table = describe_relation(cmd.table())
    if table is None:
        return None
    mode = "Append" if name == "AppendData" else "Overwrite"
    return WriteInfo(command=name, target=table, mode=mode)


def _v2_create_table_as_select(name: str, cmd: Any) -> WriteInfo:
    resolved = cmd.name()  # ResolvedIdentifier(catalog, identifier)
    target = RelationInfo(
        kind="v2",
        table=str(resolved.identifier().toString()),
        catalog=str(resolved.catalog().name()),
    )
    mode = "Overwrite" if name == "ReplaceTableAsSelect" else "ErrorIfExists"
    return WriteInfo(command=name, target=target, mode=mode)


def _save_into_data_source(name: str, cmd: Any) -> WriteInfo | None:
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
        return WriteInfo(command=name, target=target, mode=mode)
    path = opt("path")
    if path is not None:
        target = RelationInfo(kind="files", paths=[path], source_class=source_class,
                              file_format=source_class.rsplit(".", 1)[-1])
        return WriteInfo(command=name, target=target, mode=mode)
    return None


#: Write command (short class name) -> its describer ``(name, cmd) -> WriteInfo | None``.
_WRITE_COMMANDS: dict[str, Callable[[str, Any], WriteInfo | None]] = {
    "InsertIntoHadoopFsRelationCommand": _insert_into_hadoop_fs,
    "CreateDataSourceTableAsSelectCommand": _create_table_as_select_v1,
    "CreateHiveTableAsSelectCommand": _create_table_as_select_v1,
    "OptimizedCreateHiveTableAsSelectCommand": _create_table_as_select_v1,
    "InsertIntoHiveTable": _insert_into_hive,
    "SaveIntoDataSourceCommand": _save_into_data_source,
    "InsertIntoDataSourceCommand": _insert_into_data_source,
    **dict.fromkeys(
        ("AppendData", "OverwriteByExpression", "OverwritePartitionsDynamic", "ReplaceData",
         "WriteDelta"),
        _v2_write,
    ),
    "CreateTableAsSelect": _v2_create_table_as_select,
    "ReplaceTableAsSelect": _v2_create_table_as_select,
}


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
