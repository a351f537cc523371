"""The JSON shapes every query answers with: node dicts, run summaries, parsed properties.

Pure functions over property maps read from the graph; no graph access here. Shared by
:mod:`lineage_queries.api` and the query modules (:mod:`lineage_queries.walk`,
:mod:`lineage_queries.impact`, :mod:`lineage_queries.rootcause`, :mod:`lineage_queries.models`,
:mod:`lineage_queries.freshness`).

Node dict (one node of a Subgraph)::

    {"id", "label", "kind", "namespace", "name", "version", "depth", <label extras>,
     "observedAt", "updatedAt"}

``label`` is the graph label (Job, Run, Dataset, DatasetVersion, Field); ``kind`` is what the
node is to a person: ``job``, ``run``, ``field``, or the dataset's kind (``table``, ``file``,
``model``, ``features``, ``predictions``, ``metrics``; ``dataset`` when no producer said).
Times are epoch milliseconds.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, cast

from lineage_pipeline.graph_model import NodeLabel, field_uid
from lineage_queries.answers import (
    BaselineRun,
    FieldProps,
    Node,
    Relationship,
    RunDetail,
    RunSummary,
    Subgraph,
    VersionDetail,
)

#: Properties stored as JSON text, parsed back by the API.
JSON_PROPS = ("parameters", "metrics", "environment", "extraFacets", "schema",
              "qualityAssertions")
#: Run properties describing the code that ran (compared by ``diff_runs`` and root cause).
CODE_PROPS = ("gitSha", "gitDirty", "repository", "branch", "entryPoint", "producer")
#: Run states that mean the run did not finish well.
BAD_STATES = ("FAIL", "ABORT", "STALE")

__all__ = ["BAD_STATES", "CODE_PROPS", "JSON_PROPS", "Subgraph", "node_dict", "run_summary"]


def parse_json_props(props: Mapping[str, Any] | None) -> dict[str, Any]:
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


def duration(props: Mapping[str, Any]) -> int | None:
    """Return ``endTime - startTime`` (ms) of a run, or ``None`` when either is missing."""
    start, end = props.get("startTime"), props.get("endTime")
    if isinstance(start, int) and isinstance(end, int):
        return end - start
    return None


def run_time(props: Mapping[str, Any]) -> int:
    """Return when a run started (startTime, else nominalStartTime, else first observation;
    0 when none is known), in epoch ms: the order runs of a job are compared in."""
    for key in ("startTime", "nominalStartTime", "observedAt"):
        value = props.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return int(value)
    return 0


def run_summary(props: Mapping[str, Any], job: str | None) -> RunSummary:
    """Return the summary of a run (the shape of :meth:`LineageGraph.runs` items)."""
    p = parse_json_props(props)
    return {
        "runId": str(p.get("runId") or p.get("uid")),
        "job": job or p.get("jobUid"),
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
        "observedAt": p.get("observedAt"),
        "updatedAt": p.get("updatedAt"),
    }


def baseline_summary(s: RunSummary, reason: str) -> BaselineRun:
    """Run summary ``s`` of a baseline run, with why it was chosen."""
    return {
        "runId": s["runId"], "job": s["job"], "state": s["state"],
        "startTime": s["startTime"], "endTime": s["endTime"], "durationMs": s["durationMs"],
        "nominalStartTime": s["nominalStartTime"], "metrics": s["metrics"],
        "parameters": s["parameters"], "gitSha": s["gitSha"],
        "errorMessage": s["errorMessage"], "parentRunId": s["parentRunId"],
        "observedAt": s["observedAt"], "updatedAt": s["updatedAt"], "reason": reason,
    }


def node_kind(label: NodeLabel, props: Mapping[str, Any]) -> str:
    """Return the ``kind`` of a node (see the module docstring)."""
    if label is NodeLabel.JOB:
        return "job"
    if label is NodeLabel.RUN:
        return "run"
    if label is NodeLabel.FIELD:
        return "field"
    return str(props.get("kind") or "dataset")


def _same(*names: str) -> tuple[tuple[str, str], ...]:
    """``(answer key, graph property)`` pairs of properties answered under their own name."""
    return tuple((name, name) for name in names)


#: Per label, the extra keys of its Subgraph node dict: ``(answer key, graph property)``.
_LABEL_KEYS: dict[NodeLabel, tuple[tuple[str, str], ...]] = {
    NodeLabel.JOB: _same("jobType", "integration", "processingType"),
    NodeLabel.RUN: (("job", "jobUid"),
                    *_same("runId", "state", "startTime", "endTime", "parentRunId")),
    NodeLabel.DATASET_VERSION: (("dataset", "datasetUid"),
                                *_same("digestAlgorithm", "digest", "rowCount", "bytes",
                                       "producedByRunId")),
    NodeLabel.FIELD: (("dataset", "datasetUid"), ("version", "versionUid"),
                      *_same("type", "nullCount", "distinctCount", "min", "max", "mean")),
}


def node_dict(label: NodeLabel, uid: str, props: Mapping[str, Any], depth: int) -> Node:
    """Return the Subgraph node dict of a node (see the module docstring)."""
    get = props.get
    out: dict[str, Any] = {
        "id": uid,
        "label": label.value,
        "kind": node_kind(label, props),
        "namespace": get("namespace"),
        "name": get("name"),
        "version": get("version"),
        "depth": depth,
    }
    for key, prop in _LABEL_KEYS.get(label, ()):
        out[key] = get(prop)
    out["observedAt"] = get("observedAt")
    out["updatedAt"] = get("updatedAt")
    return cast(Node, out)


def version_detail(uid: str, props: Mapping[str, Any], fields: list[FieldProps]
                   ) -> VersionDetail:
    """An input or output of a run detail: the version's node dict (depth 0), its dataset,
    ``schema`` and ``fields``."""
    get = props.get
    return {
        "id": uid, "label": NodeLabel.DATASET_VERSION.value,
        "kind": node_kind(NodeLabel.DATASET_VERSION, props), "namespace": get("namespace"),
        "name": get("name"), "version": get("version"), "depth": 0,
        "dataset": get("datasetUid"), "digestAlgorithm": get("digestAlgorithm"),
        "digest": get("digest"), "rowCount": get("rowCount"), "bytes": get("bytes"),
        "producedByRunId": get("producedByRunId"), "observedAt": get("observedAt"),
        "updatedAt": get("updatedAt"), "datasetUid": dataset_of(uid, props),
        "schema": get("schema"), "fields": fields,
    }


def dataset_of(version_uid: str, props: Mapping[str, Any] | None = None) -> str:
    """Return the dataset uid of a dataset version (its ``datasetUid``, else the uid up to
    the last ``@``)."""
    value = (props or {}).get("datasetUid")
    return str(value) if value else version_uid.rsplit("@", 1)[0]


def columns_of(props: Mapping[str, Any], fields: list[FieldProps]
               ) -> list[Mapping[str, Any]]:
    """The columns of a version: its fields, else its ``schema`` JSON."""
    if fields:
        return list(fields)
    schema = parse_json_props(props).get("schema")
    return [c for c in schema if isinstance(c, dict)] if isinstance(schema, list) else []


def column_stats(props: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    """The ``columnStats`` of a version's properties, parsed: column -> statistics."""
    text = (props or {}).get("columnStats")
    if not isinstance(text, str):
        return {}
    try:
        parsed = json.loads(text)
    except ValueError:
        return {}
    return {str(k): v for k, v in parsed.items() if isinstance(v, dict)} if isinstance(
        parsed, dict) else {}


def column_props(version_uid: str, version: Mapping[str, Any] | None, name: str,
                 type_: str | None = None, tags: list[str] | None = None,
                 stats: Mapping[str, Any] | None = None) -> FieldProps:
    """The properties of column ``name`` of a dataset version, as answers show a field: its
    id (``<version uid>#<column>``), name, type, tags (when any), version and dataset uids, its
    statistics from the version's ``columnStats`` (``stats`` when already parsed) and the
    version's times."""
    props = version or {}
    out: dict[str, Any] = {"uid": field_uid(version_uid, name), "name": name, "type": type_,
                           "versionUid": version_uid,
                           "datasetUid": dataset_of(version_uid, props)}
    if tags:
        out["tags"] = list(tags)
    out.update(stats if stats is not None else column_stats(props).get(name, {}))
    out["observedAt"] = props.get("observedAt")
    out["updatedAt"] = props.get("updatedAt")
    return cast(FieldProps, out)


def version_fields(version_uid: str, version: Mapping[str, Any] | None,
                   columns: list[Mapping[str, Any]] | None) -> list[FieldProps]:
    """The fields of a dataset version, sorted by name: the columns of its schema (``columns``:
    ``{name, type, tags}`` maps read through ``HAS_FIELD``; entries without a name are
    ignored) and any other column its ``columnStats`` describes, each as :func:`column_props`."""
    stats = column_stats(version)
    out: dict[str, FieldProps] = {}
    for col in columns or ():
        name = col.get("name")
        if isinstance(name, str) and name not in out:
            out[name] = column_props(version_uid, version, name, col.get("type"),
                                     col.get("tags"), stats.get(name, {}))
    for name, values in stats.items():
        if name not in out:
            out[name] = column_props(version_uid, version, name, None, None, values)
    return [out[name] for name in sorted(out)]


def schema_json(columns: list[Mapping[str, Any]] | None) -> list[dict[str, Any]]:
    """A version's schema as answers give it: ``[{"name", "type"}]`` in schema order."""
    cols = [c for c in columns or () if isinstance(c.get("name"), str)]
    cols.sort(key=lambda c: int(c["position"]) if isinstance(c.get("position"), int) else 0)
    return [{"name": c["name"], "type": c.get("type")} for c in cols]


def short(value: Any, n: int = 12) -> str:
    """``value`` as text cut to ``n`` characters (``…`` marks a cut); ``-`` for ``None``."""
    text = str(value) if value is not None else "-"
    return text if len(text) <= n else text[:n] + "…"


def runs_subgraph(runs: list[RunDetail], changed: set[str]) -> Subgraph:
    """A picture of runs (from :meth:`~lineage_queries.api.LineageGraph.run`) with their
    inputs and outputs; the versions of ``changed`` datasets are marked ``changed: true``."""
    nodes: dict[str, Node] = {}
    relationships: list[Relationship] = []
    for r in runs:
        rid = r["runId"]
        node = node_dict(NodeLabel.RUN, rid, r, 0)
        node["job"] = (r.get("job") or {}).get("uid") or r.get("jobUid")
        nodes[rid] = node
        for role in ("inputs", "outputs"):
            for v in r["inputs"] if role == "inputs" else r["outputs"]:
                nodes.setdefault(v["id"], _version_node(v, v["datasetUid"] in changed))
                if role == "inputs":
                    relationships.append({"from": v["id"], "to": rid, "type": "CONSUMED_BY"})
                else:
                    relationships.append({"from": rid, "to": v["id"], "type": "GENERATED"})
    return {"root": runs[0]["runId"], "direction": "upstream", "depth": 1,
            "nodes": list(nodes.values()),
            "relationships": sorted(relationships, key=lambda e: (e["from"], e["to"], e["type"]))}


def _version_node(v: VersionDetail, changed: bool) -> Node:
    """A run's input or output as a picture node: its keys but ``fields`` and ``schema``,
    at depth 1, marked ``changed``."""
    return {
        "id": v["id"], "label": v["label"], "kind": v["kind"], "namespace": v["namespace"],
        "name": v["name"], "version": v["version"], "depth": 1, "dataset": v["dataset"],
        "digestAlgorithm": v["digestAlgorithm"], "digest": v["digest"],
        "rowCount": v["rowCount"], "bytes": v["bytes"], "producedByRunId": v["producedByRunId"],
        "observedAt": v["observedAt"], "updatedAt": v["updatedAt"],
        "datasetUid": v["datasetUid"], "changed": changed,
    }
