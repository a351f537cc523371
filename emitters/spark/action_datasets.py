"""The datasets of a Spark action run: inputs from the plan's leaf relations, the output's
schema, column lineage, statistics and content version.

:class:`ActionDatasets` serves :class:`~emitters.spark.actions.ActionBuilder`; naming and
versions come from :mod:`emitters.spark.datasets`, JVM facts from :mod:`emitters.spark.jvm`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from emitters.spark import datasets as dsn
from emitters.spark import jvm
from emitters.spark.config import SparkLineageConfig
from emitters.spark.jvm import RelationInfo, WriteInfo
from emitters.spark.lineage import ColumnRef, PlanLineage
from emitters.spark.plan import TreeNode, all_plan_nodes, spark_type_name
from lineage_pipeline.events import (
    ContentDigest,
    Dataset,
    DatasetFacets,
    SchemaField,
    Statistics,
    Symlink,
)

log = logging.getLogger("emitters.spark")

T = TypeVar("T")


def optional(what: str, fn: Callable[[], T], default: T) -> T:
    """``fn()``, or ``default`` when it raises: for enrichments (metrics, SQL text, schema
    types) whose absence must not cost the run, e.g. the executed plan of a failed query."""
    try:
        return fn()
    except Exception as exc:
        log.debug("spark lineage: %s unavailable: %s: %s", what, type(exc).__name__, exc)
        return default


class ActionDatasets:
    """Datasets of action runs for one session: ``config`` (digests on or off, their byte
    budget), ``catalog_namespace`` (the namespace of catalog tables). Methods raise whatever
    py4j or the plan walk raises; the caller logs and counts."""

    def __init__(self, config: SparkLineageConfig, catalog_namespace: str) -> None:
        self.config = config
        self.catalog_namespace = catalog_namespace

    def target_ids(self, info: RelationInfo) -> list[tuple[str, str, str, list[Symlink]]]:
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

    def inputs(
        self, analyzed: Any, query: TreeNode | None
    ) -> tuple[list[Dataset], dict[int, list[ColumnRef]]]:
        """The input datasets of ``query`` (with schema, storage facet and local versions) and
        the source columns of each leaf attribute (expression id -> columns)."""
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
            for ns, name, kind, links in self.target_ids(info):
                if (ns, name) not in found:
                    facets = DatasetFacets(schema=schema, symlinks=links or None)
                    if info.file_format:
                        facets.extra["storage"] = storage_facet(info)
                    found[(ns, name)] = Dataset(namespace=ns, name=name, kind=kind, facets=facets)
                    self.input_version(found[(ns, name)])
                for attr in attrs:
                    if attr.expr_id is not None and attr.attr_name is not None:
                        sources.setdefault(attr.expr_id, []).append(
                            ColumnRef(ns, name, attr.attr_name)
                        )
        return list(found.values()), sources

    def input_version(self, dataset: Dataset) -> None:
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

    def output_columns(
        self,
        output: Dataset,
        query: TreeNode,
        sources: dict[int, list[ColumnRef]],
        write: WriteInfo,
        analyzed: Any,
    ) -> None:
        """Set the output's schema (write column names, Spark SQL types) and column lineage."""
        tracer = PlanLineage(query, sources)
        out_ids = tracer.output_ids(query)
        types = optional(
            "schema", lambda: schema_types(jvm.query_plan(analyzed)), list[tuple[str, str]]()
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

    def output_stats(
        self, output: Dataset, write: WriteInfo, metrics: dict[str, int], *, failed: bool
    ) -> None:
        """Set the output's ``outputStatistics`` (what the write wrote), and for a successful
        write of a whole local dataset its version (content digest) and statistics."""
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
        if not failed and self.config.compute_digests and location:
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


def schema_types(jquery: Any) -> list[tuple[str, str]]:
    """``(name, Spark SQL type)`` of each column of a JVM plan's schema (one py4j call)."""
    if jquery is None:
        return []
    data = json.loads(str(jquery.schema().json()))
    return [
        (str(f.get("name")), spark_type_name(f.get("type")))
        for f in data.get("fields", [])
        if isinstance(f, dict)
    ]


def storage_facet(info: RelationInfo) -> str:
    """The OpenLineage ``storage`` dataset facet (JSON text) of a relation."""
    layer = {"files": "file", "table": "catalog", "jdbc": "jdbc", "v2": "catalog"}.get(
        info.kind, info.kind
    )
    return json.dumps({"storageLayer": layer, "fileFormat": (info.file_format or "").lower()})
