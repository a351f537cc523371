"""Hand-built graph mutations and graph snapshots, for tests and benchmarks.

:func:`run_record` builds the graph record the processor would publish for one run, and
:func:`run_mutations` its upserts (Job, Run, Dataset, DatasetVersion, Schema, Field nodes; RUN_OF,
CONSUMED_BY, GENERATED, VERSION_OF, HAS_FIELD relationships), without going through lineage
events or the stream processor. :func:`snapshot` reads a whole graph back for equality checks.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lineage_pipeline.graph.base import GraphBackend
from lineage_pipeline.graph_model import (
    GraphMutations,
    NodeLabel,
    NodeUpsert,
    PropValue,
    SchemaColumn,
    dataset_uid,
    job_uid,
    lineage_uid,
    schema_hash,
    version_uid,
)
from lineage_pipeline.graph_record import GraphRecord, expand, new_record


@dataclass(frozen=True)
class VersionSpec:
    """A dataset version read or written by a run; ``fields``: column -> statistics."""

    namespace: str
    name: str
    version: str
    kind: str = "table"
    digest: str | None = None
    row_count: int | None = None
    fields: Mapping[str, Mapping[str, PropValue]] = field(default_factory=dict)

    @property
    def dataset_uid(self) -> str:
        return dataset_uid(self.namespace, self.name)

    @property
    def uid(self) -> str:
        return version_uid(self.namespace, self.name, self.version)


@dataclass(frozen=True)
class ColumnLineage:
    """One declared column lineage pair: ``output``'s ``out_column`` derives from ``input``'s
    ``in_column`` (OpenLineage transformation type ``transformation``)."""

    output: VersionSpec
    out_column: str
    input: VersionSpec
    in_column: str
    transformation: str | None = "DIRECT"


def run_mutations(job: tuple[str, str], run_id: str, *, time_ms: int,
                  **options: Any) -> GraphMutations:
    """The node and relationship upserts of :func:`run_record` (same arguments): its
    :func:`~lineage_pipeline.graph_record.expand`."""
    return expand(run_record(job, run_id, time_ms=time_ms, **options))


def run_record(
    job: tuple[str, str],
    run_id: str,
    *,
    time_ms: int,
    inputs: Sequence[VersionSpec] = (),
    outputs: Sequence[VersionSpec] = (),
    state: str = "COMPLETE",
    duration_ms: int = 1000,
    metrics: dict[str, float] | None = None,
    parameters: dict[str, Any] | None = None,
    git_sha: str | None = None,
    event_id: str | None = None,
    column_lineage: Sequence[ColumnLineage] = (),
) -> GraphRecord:
    """Return the graph record (:mod:`lineage_pipeline.graph_record`) the processor would
    publish for run ``run_id`` of job ``(namespace, name)`` with nothing published before
    (job, datasets, versions with their schemas and ``columnStats``).

    The run started at ``time_ms`` and (for terminal states) ended ``duration_ms`` later;
    every element is observed at the end time (the start time for START/RUNNING). A
    version's schema lists its ``fields`` in order, each typed by its ``type`` entry
    (default ``double``); the other entries are the column's statistics.
    ``column_lineage``: the run's declared column lineage, one :class:`ColumnLineage` per
    (output column, input column) pair; both versions must be among ``outputs`` and
    ``inputs``.
    """
    ns, name = job
    terminal = state in ("COMPLETE", "FAIL", "ABORT")
    seen = time_ms + duration_ms if terminal else time_ms
    record = new_record(event_id or f"event-{run_id}-{state}", seen, seen)
    props: dict[str, PropValue] = {
        "startTime": time_ms, "endTime": time_ms + duration_ms if terminal else None,
        "metrics": json.dumps(metrics or {}, sort_keys=True),
        "parameters": json.dumps(parameters or {}, sort_keys=True), "gitSha": git_sha}
    record["runs"].append({"runId": run_id, "jobNamespace": ns, "jobName": name,
                           "parentRunId": None, "state": state, "first": seen, "last": seen,
                           "props": {k: v for k, v in props.items() if v is not None}})
    record["jobs"].append({"namespace": ns, "name": name, "first": seen,
                           "props": {}})
    indexes: dict[str, int] = {}
    for spec in inputs:
        indexes[spec.dataset_uid] = index = _add_version(record, spec, seen, produced=False)
        record["consumed"].append({"dataset": index, "version": spec.version, "first": seen})
    for spec in outputs:
        indexes[spec.dataset_uid] = _add_version(record, spec, seen, produced=True)
    _add_lineage(record, job_uid(ns, name), indexes, column_lineage, seen)
    return record


def legacy_mutations(m: GraphMutations) -> GraphMutations:
    """``m`` as an earlier processor could publish it on the ``graph_mutations`` family: without
    Schema nodes, their HAS_FIELD relationships and weak properties, which that family has no
    place for (``legacy_mutations(m).to_record()`` is such a record)."""
    return GraphMutations(m.source_event_id, m.event_time, m.published_at,
                          [NodeUpsert(n.label, n.uid, n.props) for n in m.nodes
                           if n.label is not NodeLabel.SCHEMA],
                          [e for e in m.relationships if e.from_label is not NodeLabel.SCHEMA])


def _add_lineage(record: GraphRecord, job: str, indexes: dict[str, int],
                 column_lineage: Sequence[ColumnLineage], seen: int) -> None:
    """Add one lineage row per output dataset of ``column_lineage`` and point its produced
    version at it."""
    for out_uid in sorted({c.output.dataset_uid for c in column_lineage}):
        pairs = [c for c in column_lineage if c.output.dataset_uid == out_uid]
        uid = lineage_uid(job, out_uid, [
            (c.out_column, c.input.dataset_uid, c.in_column, c.transformation, None, False)
            for c in pairs])
        record["lineages"].append({"uid": uid, "output": indexes[out_uid], "first": seen, "pairs": [
            {"outField": c.out_column, "input": indexes[c.input.dataset_uid],
             "inField": c.in_column, "transformation": c.transformation, "subtype": None,
             "masking": False} for c in pairs]})
        for v in record["versions"]:
            if v["produced"] and v["dataset"] == indexes[out_uid]:
                v["lineage"] = uid


def _add_version(record: GraphRecord, spec: VersionSpec, seen: int, *, produced: bool
                 ) -> int:
    """Add ``spec``'s dataset, version and schema rows to ``record``; return the dataset's
    index."""
    record["datasets"].append({"namespace": spec.namespace, "name": spec.name, "write": True,
                               "kind": spec.kind, "first": seen, "props": {}})
    index = len(record["datasets"]) - 1
    columns: list[SchemaColumn] = [(c, str(s.get("type", "double")), ())
                                   for c, s in spec.fields.items()]
    hash_ = schema_hash(columns) if columns else None
    if hash_ is not None:
        record["schemas"].append({"dataset": index, "hash": hash_, "first": seen, "offset": 0,
                                  "fieldCount": None,
                                  "fields": [{"name": c, "type": t, "tags": [], "description": None}
                                             for c, t, _ in columns]})
    stats = {c: {k: v for k, v in s.items() if k != "type" and v is not None}
             for c, s in spec.fields.items()}
    stats = {c: v for c, v in stats.items() if v}
    record["versions"].append({
        "dataset": index, "version": spec.version, "produced": produced, "lineage": None,
        "schema": hash_, "kind": spec.kind, "digestAlgorithm": "sha256" if spec.digest else None,
        "digest": spec.digest, "rowCount": spec.row_count, "bytes": None,
        "columnStats": json.dumps(stats, sort_keys=True, separators=(",", ":")) if stats else None,
        "first": seen})
    return index


#: How :func:`snapshot` spells a node read without a ``uid``.
NO_UID = "<no uid>"


def snapshot(backend: GraphBackend) -> dict[str, Any]:
    """Return every node and relationship of the graph, sorted, for equality checks.

    ``{"nodes": [(label, uid, props)], "relationships": [(type, from uid, to uid, props)]}`` with
    props as sorted item tuples.
    """
    nodes = backend.query("MATCH (n) RETURN labels(n)[0] AS label, properties(n) AS props")
    relationships = backend.query(
        "MATCH (a)-[r]->(b) RETURN type(r) AS type, a.uid AS src, b.uid AS dst, "
        "properties(r) AS props"
    )
    # Read while a sink still writes, an endpoint can read as null for a moment (Neo4j reads
    # are read-committed, one soak run saw it): spelled out, it is a difference, not a crash.
    return {
        "nodes": sorted((n["label"], n["props"].get("uid", NO_UID), _items(n["props"]))
                        for n in nodes),
        "relationships": sorted((e["type"], e["src"] or NO_UID, e["dst"] or NO_UID,
                                 _items(e["props"])) for e in relationships),
    }


def counts(backend: GraphBackend) -> dict[str, int]:
    """Return the number of nodes per label and relationships per type."""
    out: dict[str, int] = {}
    for row in backend.query("MATCH (n) RETURN labels(n)[0] AS k, count(n) AS c"):
        out[row["k"]] = row["c"]
    for row in backend.query("MATCH ()-[r]->() RETURN type(r) AS k, count(r) AS c"):
        out[row["k"]] = row["c"]
    return out


def _items(props: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, json.dumps(v, sort_keys=True)) for k, v in props.items()))
