"""The Python query API over the lineage graph, used by the CLI and the demo.

``LineageGraph(backend)`` answers with plain dicts (JSON-ready). Every query comes from the
named catalog (:mod:`graph_sink.catalog`), so both backends run the same Cypher.

NODE strings (:meth:`LineageGraph.resolve`): a run id; a dataset ``namespace:name``; a dataset
version ``namespace:name@version``; a job ``namespace:name``; a field ``...@version#column``.
A local absolute path ``/x/y`` also finds dataset ``file:/x/y``. When a dataset and a job
share an id the dataset wins (pass ``label=NodeLabel.JOB`` to pick the job).

Subgraph (``upstream``/``downstream``)::

    {"root": id, "direction": "upstream"|"downstream", "depth": int,
     "nodes": [{"id", "label", "kind", "namespace", "name", "version", "depth", ...}],
     "edges": [{"from", "to", "type"}]}

``label`` is the graph label (Job, Run, Dataset, DatasetVersion, Field); ``kind`` is what the
node is to a person: ``job``, ``run``, ``field``, or the dataset's kind (``table``, ``file``,
``model``, ``features``, ``predictions``, ``metrics``; ``dataset`` when unknown). ``depth`` is
the number of lineage hops from the root. Runs also carry ``runId``, ``state``,
``startTime``, ``endTime``, ``job``; versions ``dataset``, ``digest``, ``rowCount``, ``bytes``,
``producedByRunId``. Edges keep their stored direction. Nodes: the root first, then by depth,
label, id; edges by from, to, type.

Walk (breadth-first, one catalog query per level): upstream follows
``(DatasetVersion)-[:CONSUMED_BY]->(Run)`` and ``(Run)-[:GENERATED]->(DatasetVersion)``
backwards, downstream forwards; a Dataset root stands for all its versions (VERSION_OF) and a
Job root for all its runs (RUN_OF), at depth 0. ``depth`` counts CONSUMED_BY/GENERATED hops,
so the upstream of a model dataset at depth 10 reaches five processing steps back. Each run's
Job and each version's Dataset are attached (RUN_OF, VERSION_OF edges).

Times are epoch milliseconds. JSON-text properties (``parameters``, ``metrics``,
``environment``, ``extraFacets``, ``schema``) are parsed back to dicts/lists. Unknown nodes
raise :class:`~lineage_pipeline.errors.QueryError` with hints; an unreachable graph raises
:class:`~lineage_pipeline.errors.GraphUnavailable`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal

from graph_sink.backends.base import GraphBackend
from graph_sink.catalog import named_query
from graph_sink.compare import column_changes, dict_diff, schema_changes
from lineage_pipeline.errors import QueryError
from lineage_pipeline.graph_model import NodeLabel, RelType

#: The deepest walk a caller may ask for.
MAX_DEPTH = 100
#: Properties stored as JSON text, parsed back by the API.
JSON_PROPS = ("parameters", "metrics", "environment", "extraFacets", "schema")
#: Run properties describing the code that ran (compared by ``diff_runs``).
CODE_PROPS = ("gitSha", "gitDirty", "repository", "branch", "entryPoint", "producer")
#: Resolution order when one id matches several labels.
_PREFERENCE = ("Run", "DatasetVersion", "Dataset", "Job", "Field")

Subgraph = dict[str, Any]
Direction = Literal["upstream", "downstream"]

# (direction, frontier label) -> (catalog query, neighbour label, edge type, edge from neighbour?)
_STEPS: dict[tuple[str, NodeLabel], tuple[str, NodeLabel, RelType, bool]] = {
    ("upstream", NodeLabel.DATASET_VERSION): (
        "upstream_producers", NodeLabel.RUN, RelType.GENERATED, True),
    ("upstream", NodeLabel.RUN): (
        "upstream_inputs", NodeLabel.DATASET_VERSION, RelType.CONSUMED_BY, True),
    ("downstream", NodeLabel.DATASET_VERSION): (
        "downstream_consumers", NodeLabel.RUN, RelType.CONSUMED_BY, False),
    ("downstream", NodeLabel.RUN): (
        "downstream_outputs", NodeLabel.DATASET_VERSION, RelType.GENERATED, False),
}


@dataclass(frozen=True, slots=True)
class ResolvedNode:
    """A node found by :meth:`LineageGraph.resolve`: its ``label``, ``uid`` and properties."""

    label: NodeLabel
    uid: str
    props: dict[str, Any]


@dataclass
class _Walk:
    """Nodes (uid -> label, props, depth) and edges (from, to, type) found by a walk."""

    nodes: dict[str, tuple[NodeLabel, dict[str, Any], int]] = field(default_factory=dict)
    edges: set[tuple[str, str, str]] = field(default_factory=set)

    def add(self, uid: str, label: NodeLabel, props: dict[str, Any], depth: int) -> bool:
        if uid in self.nodes:
            return False
        self.nodes[uid] = (label, props, depth)
        return True

    def of_label(self, label: NodeLabel) -> list[str]:
        return [uid for uid, (lbl, _, _) in self.nodes.items() if lbl is label]


class LineageGraph:
    """Lineage queries over one graph backend. See the module docstring for shapes."""

    def __init__(self, backend: GraphBackend) -> None:
        self.backend = backend

    def close(self) -> None:
        """Close the backend's connections."""
        self.backend.close()

    def __enter__(self) -> LineageGraph:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- catalog access ----------------------------------------------------------------------
    def query(self, name: str, **params: Any) -> list[dict[str, Any]]:
        """Run catalog query ``name`` with exactly its parameters; return its records.

        Raises :class:`QueryError` for an unknown query or missing/unexpected parameters.
        """
        q = named_query(name)
        given = set(params)
        if given != q.params:
            raise QueryError(
                f"query {name!r} takes parameters {sorted(q.params)}, got {sorted(given)}"
            )
        return self.backend.query(q.text, params)

    # -- nodes ---------------------------------------------------------------------------------
    def resolve(self, node: str, label: NodeLabel | None = None) -> ResolvedNode:
        """Return the node a NODE string names (see the module docstring).

        Raises :class:`QueryError` naming the formats and near misses when nothing matches.
        """
        candidates = [node]
        if node.startswith("/"):
            candidates.append(f"file:{node}")
        for uid in candidates:
            rows = self.query("resolve_node", id=uid)
            if label is not None:
                rows = [r for r in rows if r["label"] == label.value]
            if rows:
                row = min(rows, key=lambda r: _PREFERENCE.index(r["label"]))
                return ResolvedNode(NodeLabel(row["label"]), uid, dict(row["props"] or {}))
        raise QueryError(self._unknown(node, label))

    def _unknown(self, node: str, label: NodeLabel | None) -> str:
        what = label.value if label else "run, dataset, dataset version or job"
        msg = (
            f"no {what} with id {node!r} in the graph. A run is its run id, a dataset or job "
            "'namespace:name' (local files: 'file:/abs/path'), a dataset version "
            "'namespace:name@version'."
        )
        needle = node.replace("@", "/").replace(":", "/").rstrip("/").rsplit("/", 1)[-1]
        if len(needle) >= 2:
            rows = self.query("suggest_nodes", needle=needle, limit=5)
            if rows:
                msg += " Did you mean: " + ", ".join(
                    f"{r['uid']} ({r['label'].lower()})" for r in rows
                ) + "?"
        return msg

    def has_job(self, job: str) -> bool:
        """Return ``True`` if job ``namespace:name`` is in the graph."""
        return bool(self.query("job_exists", job=job))

    # -- lineage walks -------------------------------------------------------------------------
    def upstream(self, node: str, depth: int = 10, *, as_of: int | None = None) -> Subgraph:
        """Return what ``node`` was made from, up to ``depth`` hops (Subgraph shape above).

        ``as_of`` (epoch ms) ignores edges first observed after that time.
        """
        return self._subgraph(node, "upstream", depth, as_of)

    def downstream(self, node: str, depth: int = 10, *, as_of: int | None = None) -> Subgraph:
        """Return what was made from ``node``, up to ``depth`` hops (Subgraph shape above)."""
        return self._subgraph(node, "downstream", depth, as_of)

    def _subgraph(self, node: str, direction: Direction, depth: int, as_of: int | None) -> Subgraph:
        if not 0 <= depth <= MAX_DEPTH:
            raise QueryError(f"depth must be between 0 and {MAX_DEPTH}, got {depth}")
        root = self.resolve(node)
        walk = self._walk(root, direction, depth, as_of)
        return {
            "root": root.uid,
            "direction": direction,
            "depth": depth,
            "nodes": _node_list(walk, root.uid),
            "edges": [
                {"from": f, "to": t, "type": ty} for f, t, ty in sorted(walk.edges)
            ],
        }

    def _walk(
        self, root: ResolvedNode, direction: Direction, depth: int, as_of: int | None
    ) -> _Walk:
        walk = _Walk()
        walk.add(root.uid, root.label, root.props, 0)
        if root.label is NodeLabel.FIELD:
            raise QueryError(
                f"{root.uid!r} is a column; column-level walks are not supported yet: ask "
                "about its dataset version instead"
            )
        frontier: list[str] = [root.uid]
        label: NodeLabel = root.label
        if root.label is NodeLabel.DATASET:
            frontier = self._expand(walk, "dataset_versions", [root.uid], NodeLabel.DATASET_VERSION,
                                    RelType.VERSION_OF, True, 0, as_of)
            label = NodeLabel.DATASET_VERSION
        elif root.label is NodeLabel.JOB:
            frontier = self._expand(walk, "job_runs", [root.uid], NodeLabel.RUN,
                                    RelType.RUN_OF, True, 0, as_of)
            label = NodeLabel.RUN
        level = 0
        while frontier and level < depth:
            level += 1
            name, next_label, rel, from_neighbour = _STEPS[(direction, label)]
            frontier = self._expand(walk, name, frontier, next_label, rel, from_neighbour,
                                    level, as_of)
            label = next_label
        self._attach(walk, "run_jobs", NodeLabel.RUN, NodeLabel.JOB, RelType.RUN_OF)
        self._attach(walk, "version_datasets", NodeLabel.DATASET_VERSION, NodeLabel.DATASET,
                     RelType.VERSION_OF)
        return walk

    def _expand(
        self, walk: _Walk, query: str, frontier: list[str], label: NodeLabel, rel: RelType,
        from_neighbour: bool, depth: int, as_of: int | None,
    ) -> list[str]:
        """Run one walk step; add neighbours and edges; return the new frontier."""
        new: list[str] = []
        for row in self.query(query, uids=frontier, as_of=as_of):
            uid, src = row["uid"], row["src"]
            edge = (uid, src) if from_neighbour else (src, uid)
            walk.edges.add((edge[0], edge[1], rel.value))
            if walk.add(uid, label, dict(row["props"] or {}), depth):
                new.append(uid)
        return sorted(new)

    def _attach(
        self, walk: _Walk, query: str, of: NodeLabel, label: NodeLabel, rel: RelType
    ) -> None:
        """Attach each ``of`` node's Job/Dataset (from node -> attached node)."""
        uids = walk.of_label(of)
        if not uids:
            return
        for row in self.query(query, uids=uids):
            walk.edges.add((row["src"], row["uid"], rel.value))
            walk.add(row["uid"], label, dict(row["props"] or {}), walk.nodes[row["src"]][2])

    # -- runs ----------------------------------------------------------------------------------
    def runs(self, job: str, limit: int | None = None) -> list[dict[str, Any]]:
        """Return the runs of job ``namespace:name``, newest first (run summaries).

        Each: ``runId``, ``job``, ``state``, ``startTime``, ``endTime``, ``durationMs``,
        ``nominalStartTime``, ``metrics`` (dict), ``parameters`` (dict), ``gitSha``,
        ``errorMessage``, ``parentRunId``, ``observed_at``, ``updated_at``.
        Raises :class:`QueryError` for an unknown job.
        """
        if not self.has_job(job):
            raise QueryError(self._unknown(job, NodeLabel.JOB))
        rows = self.query("job_runs_newest_first", job=job, limit=limit or 2**31 - 1)
        return [run_summary(r["run"], job) for r in rows]

    def run(self, run_id: str) -> dict[str, Any]:
        """Return every property of run ``run_id`` (JSON parsed) plus ``job`` (dict),
        ``durationMs``, ``children`` (run ids), ``inputs`` and ``outputs``: dataset versions
        (node dicts with ``schema`` and ``fields``: their columns' statistics, by name).

        Raises :class:`QueryError` when there is no such run.
        """
        rows = self.query("run_detail", run_id=run_id)
        if not rows:
            raise QueryError(self._unknown(run_id, NodeLabel.RUN))
        props = parse_json_props(rows[0]["run"])
        job = parse_json_props(rows[0]["job"]) if rows[0]["job"] else None
        out = dict(props)
        out["runId"] = props.get("runId", run_id)
        out["job"] = job
        out["durationMs"] = _duration(props)
        out["inputs"], out["outputs"] = [], []
        for row in self.query("run_versions", run_id=run_id):
            version = parse_json_props(row["version"])
            detail = node_dict(NodeLabel.DATASET_VERSION, version["uid"], version, 0)
            detail["schema"] = version.get("schema")
            detail["fields"] = sorted((dict(f) for f in row["fields"] if f),
                                      key=lambda f: str(f.get("name")))
            out["inputs" if row["role"] == "input" else "outputs"].append(detail)
        for key in ("inputs", "outputs"):
            out[key].sort(key=lambda v: v["id"])
        out["children"] = sorted(r["uid"] for r in self.query("run_children", run_id=run_id))
        return out

    # -- comparisons ---------------------------------------------------------------------------
    def diff_runs(self, run_a: str, run_b: str) -> dict[str, Any]:
        """Compare run ``run_a`` (before) with ``run_b`` (after).

        Returns ``{"runA", "runB"`` (summaries), ``"sameJob"``, ``"inputs"``: one entry per
        input dataset whose version differs (``dataset``, ``namespace``, ``name``, ``kind``,
        ``status`` changed|added|removed, ``before``/``after`` {``id``, ``version``,
        ``digest``}, ``schema`` {added, removed, retyped}, ``columns``: per-column statistic
        deltas as :func:`graph_sink.compare.column_changes`), ``"unchangedInputs"`` (dataset
        ids), ``"outputs"`` (same shape, for outputs), ``"parameters"``, ``"metrics"``,
        ``"code"``, ``"environment"``: ``{key: {"before", "after"[, "delta"]}}`` of what
        differs}``. Raises :class:`QueryError` for an unknown run.
        """
        a, b = self.run(run_a), self.run(run_b)
        inputs, unchanged = _diff_versions(a["inputs"], b["inputs"])
        outputs, _ = _diff_versions(a["outputs"], b["outputs"])
        job_a = (a["job"] or {}).get("uid")
        job_b = (b["job"] or {}).get("uid")
        return {
            "runA": run_summary(a, job_a),
            "runB": run_summary(b, job_b),
            "sameJob": job_a == job_b,
            "inputs": inputs,
            "unchangedInputs": unchanged,
            "outputs": outputs,
            "parameters": dict_diff(_as_dict(a.get("parameters")), _as_dict(b.get("parameters"))),
            "metrics": dict_diff(_as_dict(a.get("metrics")), _as_dict(b.get("metrics"))),
            "code": dict_diff({k: a.get(k) for k in CODE_PROPS},
                              {k: b.get(k) for k in CODE_PROPS}),
            "environment": dict_diff(_as_dict(a.get("environment")),
                                     _as_dict(b.get("environment"))),
        }

    def changed_upstream(self, bad_run: str, good_run: str) -> list[dict[str, Any]]:
        """Return the upstream dataset versions of ``bad_run`` that differ from ``good_run``'s.

        Walks upstream of both runs to the raw data, pairs the versions of each dataset (the
        one nearest each run), and reports every dataset whose version differs (digest, or
        version when a digest is missing) or that only ``bad_run`` reads. Each entry::

            {"dataset", "namespace", "name", "kind", "distance": hops from bad_run,
             "status": "changed"|"added", "bad": {...}, "good": {...}|None
               ({"id", "version", "digest", "producedByRunId", "job"}),
             "schema": {added, removed, retyped}, "columns": column_changes(...),
             "score": the largest relative move of any column (0.0 when none)}

        Sorted by ``score`` (furthest moved first), then ``distance`` (the more upstream
        first: nearer the root cause), then dataset id. Raises :class:`QueryError` when a run
        is unknown.
        """
        sides = []
        for run_id in (bad_run, good_run):
            root = self.resolve(run_id, NodeLabel.RUN)
            sides.append(self._walk(root, "upstream", MAX_DEPTH, None))
        bad, good = (_versions_by_dataset(w) for w in sides)
        producers = {uid: (props, lbl) for w in sides for uid, (lbl, props, _) in w.nodes.items()}
        pairs = []
        for dataset, (uid_b, props_b, dist) in bad.items():
            match = good.get(dataset)
            if match is not None and not _differs(props_b, match[1]):
                continue
            pairs.append((dataset, uid_b, props_b, dist, match))
        fields = self._fields([p[1] for p in pairs] + [p[4][0] for p in pairs if p[4]])
        out: list[dict[str, Any]] = []
        for dataset, uid_b, props_b, dist, match in pairs:
            cols: list[dict[str, Any]] = []
            schema: dict[str, Any] = {"added": [], "removed": [], "retyped": []}
            if match is not None:
                fb, fg = fields.get(uid_b, []), fields.get(match[0], [])
                cols = column_changes(fg, fb)
                schema = schema_changes(_columns(match[1], fg), _columns(props_b, fb))
            out.append({
                "dataset": dataset,
                "namespace": props_b.get("namespace"),
                "name": props_b.get("name"),
                "kind": props_b.get("kind") or "dataset",
                "distance": dist,
                "status": "changed" if match else "added",
                "bad": _version_ref(uid_b, props_b, producers),
                "good": _version_ref(match[0], match[1], producers) if match else None,
                "schema": schema,
                "columns": cols,
                "score": cols[0]["moved"] if cols else 0.0,
            })
        out.sort(key=lambda e: (-e["score"], -e["distance"], e["dataset"]))
        return out

    def _fields(self, version_uids: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
        uids = sorted(set(version_uids))
        out: dict[str, list[dict[str, Any]]] = {}
        if uids:
            for row in self.query("version_fields", uids=uids):
                out.setdefault(row["version_uid"], []).append(dict(row["field"]))
        return out


# -- shaping helpers ---------------------------------------------------------------------------
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


def _as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _duration(props: dict[str, Any]) -> int | None:
    start, end = props.get("startTime"), props.get("endTime")
    if isinstance(start, int) and isinstance(end, int):
        return end - start
    return None


def run_summary(props: dict[str, Any], job: str | None) -> dict[str, Any]:
    """Return the summary of a run (the shape of :meth:`LineageGraph.runs` items)."""
    p = parse_json_props(props)
    return {
        "runId": p.get("runId") or p.get("uid"),
        "job": job or p.get("job_uid"),
        "state": p.get("state"),
        "startTime": p.get("startTime"),
        "endTime": p.get("endTime"),
        "durationMs": _duration(p),
        "nominalStartTime": p.get("nominalStartTime"),
        "metrics": _as_dict(p.get("metrics")),
        "parameters": _as_dict(p.get("parameters")),
        "gitSha": p.get("gitSha"),
        "errorMessage": p.get("errorMessage"),
        "parentRunId": p.get("parentRunId"),
        "observed_at": p.get("observed_at"),
        "updated_at": p.get("updated_at"),
    }


_EXTRA: dict[NodeLabel, tuple[str, ...]] = {
    NodeLabel.JOB: ("jobType", "integration", "processingType"),
    NodeLabel.RUN: ("runId", "state", "startTime", "endTime", "parentRunId"),
    NodeLabel.DATASET: (),
    NodeLabel.DATASET_VERSION: ("digestAlgorithm", "digest", "rowCount", "bytes",
                                "producedByRunId"),
    NodeLabel.FIELD: ("type", "nullCount", "distinctCount", "min", "max", "mean"),
}


def node_dict(label: NodeLabel, uid: str, props: dict[str, Any], depth: int) -> dict[str, Any]:
    """Return the Subgraph node dict of a node (see the module docstring)."""
    if label is NodeLabel.JOB:
        kind = "job"
    elif label is NodeLabel.RUN:
        kind = "run"
    elif label is NodeLabel.FIELD:
        kind = "field"
    else:
        kind = props.get("kind") or "dataset"
    out: dict[str, Any] = {
        "id": uid,
        "label": label.value,
        "kind": kind,
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


def _node_list(walk: _Walk, root: str) -> list[dict[str, Any]]:
    order = list(NodeLabel)
    nodes = []
    for uid, (label, props, depth) in walk.nodes.items():
        d = node_dict(label, uid, props, depth)
        if label is NodeLabel.RUN:
            job = walk.nodes.get(d["job"] or "")
            if job is not None:
                d["namespace"], d["name"] = job[1].get("namespace"), job[1].get("name")
        nodes.append(d)
    nodes.sort(key=lambda n: (n["id"] != root, n["depth"], order.index(NodeLabel(n["label"])),
                              n["id"]))
    return nodes


def _versions_by_dataset(walk: _Walk) -> dict[str, tuple[str, dict[str, Any], int]]:
    """dataset uid -> (version uid, props, depth) of the version nearest the walk's root."""
    out: dict[str, tuple[str, dict[str, Any], int]] = {}
    for uid, (label, props, depth) in walk.nodes.items():
        if label is not NodeLabel.DATASET_VERSION:
            continue
        dataset = props.get("dataset_uid") or uid.rsplit("@", 1)[0]
        if dataset not in out or (depth, uid) < (out[dataset][2], out[dataset][0]):
            out[dataset] = (uid, props, depth)
    return out


def _differs(a: dict[str, Any], b: dict[str, Any]) -> bool:
    if a.get("digest") and b.get("digest"):
        return bool(a["digest"] != b["digest"])
    return a.get("uid") != b.get("uid")


def _columns(props: dict[str, Any], fields: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The columns of a version: its Field nodes, else its ``schema`` JSON."""
    if fields:
        return fields
    schema = parse_json_props(props).get("schema")
    return [c for c in schema if isinstance(c, dict)] if isinstance(schema, list) else []


def _version_ref(
    uid: str, props: dict[str, Any], nodes: dict[str, tuple[dict[str, Any], NodeLabel]]
) -> dict[str, Any]:
    run = props.get("producedByRunId")
    run_props = nodes.get(run, ({}, NodeLabel.RUN))[0] if run else {}
    return {
        "id": uid,
        "version": props.get("version"),
        "digest": props.get("digest"),
        "producedByRunId": run,
        "job": run_props.get("job_uid"),
    }


def _diff_versions(
    before: list[dict[str, Any]], after: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[str]]:
    """Pair two runs' version lists by dataset; return (differing entries, unchanged ids)."""
    def by_dataset(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        return {str(v.get("dataset") or v["id"].rsplit("@", 1)[0]): v for v in items}

    b, a = by_dataset(before), by_dataset(after)
    changed, unchanged = [], []
    for dataset in sorted(set(b) | set(a)):
        vb, va = b.get(dataset), a.get(dataset)
        if vb is not None and va is not None and not _differs(
            {"uid": vb["id"], "digest": vb.get("digest")},
            {"uid": va["id"], "digest": va.get("digest")},
        ):
            unchanged.append(dataset)
            continue
        ref = va or vb
        assert ref is not None
        status = "changed" if vb and va else ("added" if va else "removed")
        fb, fa = (vb or {}).get("fields", []), (va or {}).get("fields", [])
        changed.append({
            "dataset": dataset,
            "namespace": ref.get("namespace"),
            "name": ref.get("name"),
            "kind": ref.get("kind"),
            "status": status,
            "before": _short(vb),
            "after": _short(va),
            "schema": schema_changes(fb or _schema_list(vb), fa or _schema_list(va)),
            "columns": column_changes(fb, fa),
        })
    return changed, unchanged


def _short(v: dict[str, Any] | None) -> dict[str, Any] | None:
    if v is None:
        return None
    return {"id": v["id"], "version": v.get("version"), "digest": v.get("digest")}


def _schema_list(v: dict[str, Any] | None) -> list[dict[str, Any]]:
    schema = (v or {}).get("schema")
    return [c for c in schema if isinstance(c, dict)] if isinstance(schema, list) else []
