"""Hand-built graph mutations and graph snapshots, for tests and benchmarks.

:func:`run_mutations` builds the mutations of one finished run the way the graph model
describes them (Job, Run, Dataset, DatasetVersion, Field nodes; RUN_OF, CONSUMED_BY,
GENERATED, VERSION_OF, HAS_FIELD, DERIVED_FROM relationships), without going through lineage events
or the stream processor. :func:`snapshot` reads a whole graph back for equality checks.
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
    RelationshipUpsert,
    RelType,
    dataset_uid,
    field_uid,
    job_uid,
    version_uid,
)


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


def run_mutations(
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
) -> GraphMutations:
    """Return the mutations of run ``run_id`` of job ``(namespace, name)``.

    The run started at ``time_ms`` and (for terminal states) ended ``duration_ms`` later;
    every upsert is observed at the end time (the start time for START/RUNNING).
    """
    ns, name = job
    terminal = state in ("COMPLETE", "FAIL", "ABORT")
    seen = time_ms + duration_ms if terminal else time_ms
    juid = job_uid(ns, name)
    nodes = [
        NodeUpsert(NodeLabel.JOB, juid, {"namespace": ns, "name": name, "observedAt": seen}),
        NodeUpsert(NodeLabel.RUN, run_id, {
            "runId": run_id, "jobUid": juid, "state": state, "startTime": time_ms,
            "endTime": time_ms + duration_ms if terminal else None,
            "metrics": json.dumps(metrics or {}, sort_keys=True),
            "parameters": json.dumps(parameters or {}, sort_keys=True),
            "gitSha": git_sha, "observedAt": seen,
        }),
    ]
    relationships = [RelationshipUpsert(RelType.RUN_OF, NodeLabel.RUN, run_id, NodeLabel.JOB, juid,
                        {"observedAt": seen})]
    for spec in inputs:
        _add_version(nodes, relationships, spec, run_id, seen, produced=False)
        relationships.append(RelationshipUpsert(RelType.CONSUMED_BY, NodeLabel.DATASET_VERSION,
                                                 spec.uid,
                                NodeLabel.RUN, run_id, {"observedAt": seen}))
    for spec in outputs:
        _add_version(nodes, relationships, spec, run_id, seen, produced=True)
        relationships.append(RelationshipUpsert(RelType.GENERATED, NodeLabel.RUN, run_id,
                                NodeLabel.DATASET_VERSION, spec.uid, {"observedAt": seen}))
        for src in inputs:
            relationships.append(RelationshipUpsert(RelType.DERIVED_FROM,
                                                     NodeLabel.DATASET_VERSION, spec.uid,
                                    NodeLabel.DATASET_VERSION, src.uid,
                                    {"runId": run_id, "observedAt": seen}))
    return GraphMutations(event_id or f"event-{run_id}-{state}", seen, seen, nodes, relationships)


def _add_version(nodes: list[NodeUpsert], relationships: list[RelationshipUpsert],
                 spec: VersionSpec,
                 run_id: str, seen: int, *, produced: bool) -> None:
    """Add a version's Dataset, DatasetVersion and Field nodes with VERSION_OF and HAS_FIELD."""
    props: dict[str, PropValue] = {
        "namespace": spec.namespace, "name": spec.name, "datasetUid": spec.dataset_uid,
        "version": spec.version, "kind": spec.kind, "digest": spec.digest,
        "digestAlgorithm": "sha256" if spec.digest else None, "rowCount": spec.row_count,
        "schema": json.dumps([{"name": c, "type": str(s.get("type", "double"))}
                              for c, s in spec.fields.items()]),
        "observedAt": seen,
    }
    if produced:
        props["producedByRunId"] = run_id
    nodes.append(NodeUpsert(NodeLabel.DATASET, spec.dataset_uid, {
        "namespace": spec.namespace, "name": spec.name, "kind": spec.kind,
        "observedAt": seen}))
    nodes.append(NodeUpsert(NodeLabel.DATASET_VERSION, spec.uid, props))
    relationships.append(RelationshipUpsert(RelType.VERSION_OF, NodeLabel.DATASET_VERSION, spec.uid,
                            NodeLabel.DATASET, spec.dataset_uid, {"observedAt": seen}))
    for column, stats in spec.fields.items():
        fuid = field_uid(spec.uid, column)
        nodes.append(NodeUpsert(NodeLabel.FIELD, fuid, {
            "name": column, "type": "double", "versionUid": spec.uid,
            "datasetUid": spec.dataset_uid, **stats, "observedAt": seen}))
        relationships.append(RelationshipUpsert(RelType.HAS_FIELD, NodeLabel.DATASET_VERSION,
                                                 spec.uid,
                                NodeLabel.FIELD, fuid, {"observedAt": seen}))


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
