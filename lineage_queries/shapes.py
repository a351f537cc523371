"""The JSON shapes every query answers with: node dicts, run summaries, parsed properties.

Pure functions over property maps read from the graph; no graph access here. Shared by
:mod:`lineage_queries.api` and the query modules (:mod:`lineage_queries.walk`,
:mod:`lineage_queries.impact`, :mod:`lineage_queries.rootcause`, :mod:`lineage_queries.models`,
:mod:`lineage_queries.freshness`).

Node dict (one node of a Subgraph)::

    {"id", "label", "kind", "namespace", "name", "version", "depth", <label extras>,
     "observed_at", "updated_at"}

``label`` is the graph label (Job, Run, Dataset, DatasetVersion, Field); ``kind`` is what the
node is to a person: ``job``, ``run``, ``field``, or the dataset's kind (``table``, ``file``,
``model``, ``features``, ``predictions``, ``metrics``; ``dataset`` when no producer said).
Times are epoch milliseconds.
"""

from __future__ import annotations

import json
from typing import Any

from lineage_pipeline.graph_model import NodeLabel

#: Properties stored as JSON text, parsed back by the API.
JSON_PROPS = ("parameters", "metrics", "environment", "extraFacets", "schema")
#: Run properties describing the code that ran (compared by ``diff_runs`` and root cause).
CODE_PROPS = ("gitSha", "gitDirty", "repository", "branch", "entryPoint", "producer")
#: Run states that mean the run did not finish well.
BAD_STATES = ("FAIL", "ABORT", "STALE")

Subgraph = dict[str, Any]

_EXTRA: dict[NodeLabel, tuple[str, ...]] = {
    NodeLabel.JOB: ("jobType", "integration", "processingType"),
    NodeLabel.RUN: ("runId", "state", "startTime", "endTime", "parentRunId"),
    NodeLabel.DATASET: (),
    NodeLabel.DATASET_VERSION: ("digestAlgorithm", "digest", "rowCount", "bytes",
                                "producedByRunId"),
    NodeLabel.FIELD: ("type", "nullCount", "distinctCount", "min", "max", "mean"),
}


def parse_json_props(props: dict[str, Any] | None) -> dict[str, Any]:
    """Return ``props`` with the JSON-text properties (:data:`JSON_PROPS`) parsed."""
    out = dict(props or {})
    for key in JSON_PROPS:
        value = out.get(key)
        if isinstance(value, str):
            try:
                out[key] = json.loads(value)
            except ValueError:
                pass
    return out


def as_dict(value: Any) -> dict[str, Any]:
    """Return ``value`` when it is a dict, else ``{}``."""
    return value if isinstance(value, dict) else {}


def duration(props: dict[str, Any]) -> int | None:
    """Return ``endTime - startTime`` (ms) of a run, or ``None`` when either is missing."""
    start, end = props.get("startTime"), props.get("endTime")
    if isinstance(start, int) and isinstance(end, int):
        return end - start
    return None


def run_time(props: dict[str, Any]) -> int:
    """Return when a run started (startTime, else nominalStartTime, else first observation;
    0 when none is known), in epoch ms: the order runs of a job are compared in."""
    for key in ("startTime", "nominalStartTime", "observed_at"):
        value = props.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return int(value)
    return 0


def run_summary(props: dict[str, Any], job: str | None) -> dict[str, Any]:
    """Return the summary of a run (the shape of :meth:`LineageGraph.runs` items)."""
    p = parse_json_props(props)
    return {
        "runId": p.get("runId") or p.get("uid"),
        "job": job or p.get("job_uid"),
        "state": p.get("state"),
        "startTime": p.get("startTime"),
        "endTime": p.get("endTime"),
        "durationMs": duration(p),
        "nominalStartTime": p.get("nominalStartTime"),
        "metrics": as_dict(p.get("metrics")),
        "parameters": as_dict(p.get("parameters")),
        "gitSha": p.get("gitSha"),
        "errorMessage": p.get("errorMessage"),
        "parentRunId": p.get("parentRunId"),
        "observed_at": p.get("observed_at"),
        "updated_at": p.get("updated_at"),
    }


def node_kind(label: NodeLabel, props: dict[str, Any]) -> str:
    """Return the ``kind`` of a node (see the module docstring)."""
    if label is NodeLabel.JOB:
        return "job"
    if label is NodeLabel.RUN:
        return "run"
    if label is NodeLabel.FIELD:
        return "field"
    return str(props.get("kind") or "dataset")


def node_dict(label: NodeLabel, uid: str, props: dict[str, Any], depth: int) -> dict[str, Any]:
    """Return the Subgraph node dict of a node (see the module docstring)."""
    out: dict[str, Any] = {
        "id": uid,
        "label": label.value,
        "kind": node_kind(label, props),
        "namespace": props.get("namespace"),
        "name": props.get("name"),
        "version": props.get("version"),
        "depth": depth,
    }
    if label is NodeLabel.RUN:
        out["job"] = props.get("job_uid")
    if label in (NodeLabel.DATASET_VERSION, NodeLabel.FIELD):
        out["dataset"] = props.get("dataset_uid")
    if label is NodeLabel.FIELD:
        out["version"] = props.get("version_uid")
    for key in _EXTRA[label]:
        out[key] = props.get(key)
    out["observed_at"] = props.get("observed_at")
    out["updated_at"] = props.get("updated_at")
    return out


def dataset_of(version_uid: str, props: dict[str, Any] | None = None) -> str:
    """Return the dataset uid of a dataset version (its ``dataset_uid``, else the uid up to
    the last ``@``)."""
    value = (props or {}).get("dataset_uid")
    return str(value) if value else version_uid.rsplit("@", 1)[0]


def columns_of(props: dict[str, Any], fields: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The columns of a version: its Field nodes, else its ``schema`` JSON."""
    if fields:
        return fields
    schema = parse_json_props(props).get("schema")
    return [c for c in schema if isinstance(c, dict)] if isinstance(schema, list) else []


def short(value: Any, n: int = 12) -> str:
    """``value`` as text cut to ``n`` characters (``…`` marks a cut); ``-`` for ``None``."""
    text = str(value) if value is not None else "-"
    return text if len(text) <= n else text[:n] + "…"


def runs_subgraph(runs: list[dict[str, Any]], changed: set[str]) -> Subgraph:
    """A picture of runs (from :meth:`~lineage_queries.api.LineageGraph.run`) with their
    inputs and outputs; the versions of ``changed`` datasets are marked ``changed: true``."""
    nodes: dict[str, dict[str, Any]] = {}
    edges: list[dict[str, Any]] = []
    for r in runs:
        rid = r["runId"]
        node = node_dict(NodeLabel.RUN, rid, r, 0)
        node["job"] = (r.get("job") or {}).get("uid") or r.get("job_uid")
        nodes[rid] = node
        for role in ("inputs", "outputs"):
            for v in r[role]:
                vn = {k: val for k, val in v.items() if k not in ("fields", "schema")}
                vn["depth"] = 1
                vn["changed"] = v["dataset_uid"] in changed
                nodes.setdefault(v["id"], vn)
                if role == "inputs":
                    edges.append({"from": v["id"], "to": rid, "type": "CONSUMED_BY"})
                else:
                    edges.append({"from": rid, "to": v["id"], "type": "GENERATED"})
    return {"root": runs[0]["runId"], "direction": "upstream", "depth": 1,
            "nodes": list(nodes.values()),
            "edges": sorted(edges, key=lambda e: (e["from"], e["to"], e["type"]))}
