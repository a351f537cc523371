"""Leaf relations of analysed plans: which dataset each one reads (files, catalog tables,
JDBC tables, DataSource V2 tables)."""

from __future__ import annotations

from typing import Any

from emitters.spark.jvm.base import RelationInfo, class_name, option, seq, short_name


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
