"""The Python query API over the lineage graph, used by the CLI and the demo.

``LineageGraph(backend)`` answers with plain dicts (JSON-ready). Every query comes from the
named catalog (:mod:`lineage_pipeline.graph.catalog`), so both backends run the same Cypher.

NODE strings (:meth:`LineageGraph.resolve`): a run id; a dataset ``namespace:name``; a dataset
version ``namespace:name@version``; a job ``namespace:name``; a column of one version
``namespace:name@version#column``; a column of every version of a dataset
``namespace:name#column``. A local absolute path ``/x/y`` also finds dataset ``file:/x/y``.
When a dataset and a job share an id the dataset wins (pass ``label=NodeLabel.JOB`` to pick
the job). A NODE string is the full name: the uid of a long or unusual name is computed from
it (:func:`~lineage_pipeline.graph_model.bounded_uid`), and a uid as printed is accepted too.

Subgraph (``upstream``/``downstream`` and the ``subgraph`` of every other answer)::

    {"root": id, "direction": "upstream"|"downstream", "depth": int, ["column": name,]
     ["kinds": [kind...],]
     "nodes": [{"id", "label", "kind", "namespace", "name", "version", "depth", ...}],
     "edges": [{"from", "to", "type", ...}]}

``label`` is the graph label (Job, Run, Dataset, DatasetVersion, Field); ``kind`` is what the
node is to a person: ``job``, ``run``, ``field``, or the dataset's kind (``table``, ``file``,
``model``, ``features``, ``predictions``, ``metrics``; ``dataset`` when unknown). ``depth`` is
the number of lineage hops from the root. Runs also carry ``runId``, ``state``,
``startTime``, ``endTime``, ``job``; versions ``dataset``, ``digest``, ``rowCount``, ``bytes``,
``producedByRunId``; fields ``dataset``, ``version`` (the version uid), ``type`` and their
statistics. Edges keep their stored direction; column edges carry ``runId`` and, when
followed by name rather than declared, ``inferred``. Nodes: the root first, then by depth,
label, id; edges by from, to, type. Walks: :mod:`lineage_queries.walk`.

Answers of the incident queries (shapes in each module): :meth:`LineageGraph.impact`
(:mod:`lineage_queries.impact`), :meth:`LineageGraph.diff_runs`, :meth:`LineageGraph.root_cause`
(:mod:`lineage_queries.rootcause`), :meth:`LineageGraph.trained_on` and
:meth:`LineageGraph.model_inputs` (:mod:`lineage_queries.models`), :meth:`LineageGraph.freshness`
(:mod:`lineage_queries.freshness`).

Times are epoch milliseconds. JSON-text properties (``parameters``, ``metrics``,
``environment``, ``extraFacets``, ``schema``) are parsed back to dicts/lists. Unknown nodes
raise :class:`~lineage_pipeline.errors.QueryError` with hints; an unreachable graph raises
:class:`~lineage_pipeline.errors.GraphUnavailable`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from lineage_pipeline.errors import QueryError
from lineage_pipeline.freshness import FreshnessPolicy
from lineage_pipeline.graph.base import GraphBackend
from lineage_pipeline.graph.catalog import run_query
from lineage_pipeline.graph_model import NodeLabel, bounded_uid, field_uid, graph_text
from lineage_queries import freshness as freshness_report
from lineage_queries import impact, models, rootcause
from lineage_queries.compare import DRIFT_THRESHOLD, column_changes, dict_diff, schema_changes
from lineage_queries.shapes import (
    CODE_PROPS,
    JSON_PROPS,
    Subgraph,
    as_dict,
    columns_of,
    dataset_of,
    duration,
    node_dict,
    parse_json_props,
    run_summary,
)
from lineage_queries.walk import MAX_DEPTH, Direction, ResolvedNode, Walk, Walker, to_subgraph

__all__ = [
    "CODE_PROPS", "JSON_PROPS", "MAX_DEPTH", "LineageGraph", "ResolvedNode", "Subgraph",
    "node_dict", "parse_json_props", "run_summary",
]

#: Resolution order when one id matches several labels.
_PREFERENCE = ("Run", "DatasetVersion", "Dataset", "Job", "Field")


class LineageGraph:
    """Lineage queries over one graph backend. See the module docstring for shapes."""

    def __init__(self, backend: GraphBackend) -> None:
        self.backend = backend
        self.walker = Walker(self.query)

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
        return run_query(self.backend, name, **params)

    # -- nodes ---------------------------------------------------------------------------------
    def resolve(self, node: str, label: NodeLabel | None = None,
                column: str | None = None) -> ResolvedNode:
        """Return the node a NODE string names (see the module docstring).

        ``column``: a column of the dataset or dataset version ``node`` names (same as
        ``node#column``; use it when a name holds ``#``). Raises :class:`QueryError` naming
        the formats and near misses when nothing matches.
        """
        if column is not None:
            base = self.resolve(node)
            if base.label is NodeLabel.DATASET_VERSION:
                return self.resolve(field_uid(base.uid, column), NodeLabel.FIELD)
            if base.label is NodeLabel.DATASET:
                return self._dataset_column(base, column)
            raise QueryError(f"{node!r} is a {base.label.value}: only datasets and dataset "
                             "versions have columns")
        found = self._exact(node, label)
        if found is not None:
            return found
        if "#" in node and label in (None, NodeLabel.DATASET, NodeLabel.FIELD):
            # a column of every version of a dataset: the '#' may also be part of the name
            for i in [i for i, ch in enumerate(node) if ch == "#"]:
                base_found = self._exact(node[:i], NodeLabel.DATASET)
                if base_found is not None:
                    return self._dataset_column(base_found, node[i + 1:])
                version = self._exact(node[:i], NodeLabel.DATASET_VERSION)
                if version is not None:  # a field of a version with a shortened uid
                    found = self._exact(field_uid(version.uid, node[i + 1:]), NodeLabel.FIELD)
                    if found is not None:
                        return found
        raise QueryError(self._unknown(node, label))

    def _exact(self, node: str, label: NodeLabel | None) -> ResolvedNode | None:
        candidates = [node]
        if node.startswith("/"):
            candidates.append(f"file:{node}")
        # the uid computed from a name; the name as is finds uids stored before the rule
        for uid in dict.fromkeys(c for n in candidates for c in (bounded_uid(n), graph_text(n))):
            rows = self.query("resolve_node", id=uid)
            if label is not None:
                rows = [r for r in rows if r["label"] == label.value]
            if rows:
                row = min(rows, key=lambda r: _PREFERENCE.index(r["label"]))
                return ResolvedNode(NodeLabel(row["label"]), uid, dict(row["props"] or {}))
        return None

    def _dataset_column(self, dataset: ResolvedNode, column: str) -> ResolvedNode:
        column = graph_text(column)  # stored names went through the same rule
        rows = self.query("dataset_column_fields", uids=[dataset.uid], column=column,
                          as_of=None)
        if not rows:
            raise QueryError(f"no version of dataset {dataset.uid!r} has a column {column!r}")
        return ResolvedNode(NodeLabel.DATASET, dataset.uid, dataset.props, column)

    def _unknown(self, node: str, label: NodeLabel | None) -> str:
        what = label.value if label else "run, dataset, dataset version or job"
        msg = (
            f"no {what} with id {node!r} in the graph. A run is its run id, a dataset or job "
            "'namespace:name' (local files: 'file:/abs/path'), a dataset version "
            "'namespace:name@version', a column 'namespace:name[@version]#column'."
        )
        needle = graph_text(node).split("#", 1)[0].replace("@", "/").replace(":", "/")
        needle = needle.rstrip("/")
        needle = needle.rsplit("/", 1)[-1]
        if len(needle) >= 2:
            rows = self.query("suggest_nodes", needle=needle, limit=5)
            if rows:
                msg += " Did you mean: " + ", ".join(
                    f"{r['uid']} ({r['label'].lower()})" for r in rows
                ) + "?"
        return msg

    def has_job(self, job: str) -> bool:
        """Return ``True`` if job ``namespace:name`` is in the graph."""
        return bool(self.query("job_exists", job=bounded_uid(job)))

    # -- lineage walks -------------------------------------------------------------------------
    def upstream(self, node: str, depth: int = 10, *, as_of: int | None = None,
                 kinds: Iterable[str] | None = None, column: str | None = None) -> Subgraph:
        """Return what ``node`` was made from, up to ``depth`` hops (Subgraph shape above).

        ``as_of`` (epoch ms) answers from the graph as it was then: edges first observed
        later are ignored (and a root that did not exist yet is an error). ``kinds`` keeps
        only the root and nodes of those kinds (e.g. ``["model"]``), bridging the others.
        ``column``: walk one column of ``node`` (see :meth:`resolve`). Raises
        :class:`QueryError` for an unknown node or a depth outside 0..100.
        """
        return self._subgraph(node, "upstream", depth, as_of, kinds, column)

    def downstream(self, node: str, depth: int = 10, *, as_of: int | None = None,
                   kinds: Iterable[str] | None = None, column: str | None = None) -> Subgraph:
        """Return what was made from ``node``, up to ``depth`` hops (as :meth:`upstream`)."""
        return self._subgraph(node, "downstream", depth, as_of, kinds, column)

    def walk(self, node: str | ResolvedNode, direction: Direction, depth: int = 10, *,
             as_of: int | None = None, column: str | None = None) -> Walk:
        """Return the raw :class:`~lineage_queries.walk.Walk` behind :meth:`upstream` and
        :meth:`downstream` (for the query modules)."""
        if not 0 <= depth <= MAX_DEPTH:
            raise QueryError(f"depth must be between 0 and {MAX_DEPTH}, got {depth}")
        root = node if isinstance(node, ResolvedNode) else self.resolve(node, column=column)
        seen = root.props.get("observed_at")
        if as_of is not None and isinstance(seen, int) and seen > as_of:
            raise QueryError(f"{root.id!r} was first observed at {_iso(seen)}, after the "
                             f"as-of time {_iso(as_of)}: it was not in the graph yet")
        return self.walker.walk(root, direction, depth, as_of)

    def _subgraph(self, node: str, direction: Direction, depth: int, as_of: int | None,
                  kinds: Iterable[str] | None, column: str | None) -> Subgraph:
        w = self.walk(node, direction, depth, as_of=as_of, column=column)
        sub = to_subgraph(w, kinds)
        if as_of is not None:
            sub["asOf"] = as_of
        return sub

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
        job = bounded_uid(job)
        rows = self.query("job_runs_newest_first", job=job, limit=limit or 2**31 - 1)
        return [run_summary(r["run"], job) for r in rows]

    def run(self, run_id: str) -> dict[str, Any]:
        """Return every property of run ``run_id`` (JSON parsed) plus ``job`` (dict),
        ``durationMs``, ``children`` (run ids), ``inputs`` and ``outputs``: dataset versions
        (node dicts with ``dataset_uid``, ``schema`` and ``fields``: their columns'
        statistics, by name).

        Raises :class:`QueryError` when there is no such run.
        """
        run_id = bounded_uid(run_id)
        rows = self.query("run_detail", run_id=run_id)
        if not rows:
            raise QueryError(self._unknown(run_id, NodeLabel.RUN))
        props = parse_json_props(rows[0]["run"])
        job = parse_json_props(rows[0]["job"]) if rows[0]["job"] else None
        out = dict(props)
        out["runId"] = props.get("runId", run_id)
        out["job"] = job
        out["durationMs"] = duration(props)
        out["inputs"], out["outputs"] = [], []
        for row in self.query("run_versions", run_id=run_id):
            version = parse_json_props(row["version"])
            detail = node_dict(NodeLabel.DATASET_VERSION, version["uid"], version, 0)
            detail["dataset_uid"] = dataset_of(version["uid"], version)
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
        ``digest``, ``rowCount``}, ``schema`` {added, removed, retyped}, ``columns``:
        per-column statistic deltas as :func:`lineage_queries.compare.column_changes`),
        ``"unchangedInputs"`` (dataset ids), ``"outputs"`` (same shape, for outputs),
        ``"parameters"``, ``"metrics"``, ``"code"``, ``"environment"``: ``{key: {"before",
        "after"[, "delta"]}}`` of what differs, ``"subgraph"``: both runs with their inputs
        and outputs}``. Raises :class:`QueryError` for an unknown run.
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
            "parameters": dict_diff(as_dict(a.get("parameters")), as_dict(b.get("parameters"))),
            "metrics": dict_diff(as_dict(a.get("metrics")), as_dict(b.get("metrics"))),
            "code": dict_diff({k: a.get(k) for k in CODE_PROPS},
                              {k: b.get(k) for k in CODE_PROPS}),
            "environment": dict_diff(as_dict(a.get("environment")),
                                     as_dict(b.get("environment"))),
            "subgraph": runs_subgraph([a, b], {e["dataset"] for e in inputs + outputs}),
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
        is unknown. :meth:`root_cause` is the ranked, structural answer.
        """
        sides = []
        for run_id in (bad_run, good_run):
            root = self.resolve(run_id, NodeLabel.RUN)
            sides.append(self.walker.walk(root, "upstream", MAX_DEPTH))
        bad, good = (_versions_by_dataset(w) for w in sides)
        producers = {uid: (props, lbl) for w in sides for uid, (lbl, props, _) in w.nodes.items()}
        pairs = []
        for dataset, (uid_b, props_b, dist) in bad.items():
            match = good.get(dataset)
            if match is not None and not _differs(props_b, match[1]):
                continue
            pairs.append((dataset, uid_b, props_b, dist, match))
        fields = self.fields([p[1] for p in pairs] + [p[4][0] for p in pairs if p[4]])
        out: list[dict[str, Any]] = []
        for dataset, uid_b, props_b, dist, match in pairs:
            cols: list[dict[str, Any]] = []
            schema: dict[str, Any] = {"added": [], "removed": [], "retyped": []}
            if match is not None:
                fb, fg = fields.get(uid_b, []), fields.get(match[0], [])
                cols = column_changes(fg, fb)
                schema = schema_changes(columns_of(match[1], fg), columns_of(props_b, fb))
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

    def fields(self, version_uids: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
        """Return the Field property maps of each dataset version (version uid -> fields)."""
        uids = sorted(set(version_uids))
        out: dict[str, list[dict[str, Any]]] = {}
        if uids:
            for row in self.query("version_fields", uids=uids):
                out.setdefault(row["version_uid"], []).append(dict(row["field"]))
        return out

    # -- incident queries ----------------------------------------------------------------------
    def impact(self, node: str, *, column: str | None = None, depth: int = MAX_DEPTH,
               as_of: int | None = None) -> dict[str, Any]:
        """The blast radius of a change to ``node`` (or one column of it): see
        :func:`lineage_queries.impact.impact`."""
        return impact.impact(self, node, column=column, depth=depth, as_of=as_of)

    def root_cause(self, run_id: str, baseline: str | None = None, *,
                   metric: str | None = None, higher_is_better: bool = True,
                   drift_threshold: float = DRIFT_THRESHOLD) -> dict[str, Any]:
        """Ranked candidate causes of a bad run (:func:`lineage_queries.rootcause.root_cause`)."""
        return rootcause.root_cause(self, run_id, baseline, metric=metric,
                                    higher_is_better=higher_is_better,
                                    drift_threshold=drift_threshold)

    def baseline_run(self, run_id: str, *, metric: str | None = None,
                     higher_is_better: bool = True) -> dict[str, Any]:
        """The default baseline of a run: see :func:`lineage_queries.rootcause.baseline_run`."""
        return rootcause.baseline_run(self, run_id, metric=metric,
                                      higher_is_better=higher_is_better)

    def trained_on(self, node: str, *, as_of: int | None = None) -> dict[str, Any]:
        """The models made from ``node``: see :func:`lineage_queries.models.trained_on`."""
        return models.trained_on(self, node, as_of=as_of)

    def model_inputs(self, model: str) -> dict[str, Any]:
        """Every input and parameter behind a model (:func:`.models.model_inputs`)."""
        return models.model_inputs(self, model)

    def freshness(self, policy: FreshnessPolicy | None = None, *, as_of: int | None = None,
                  include_fresh: bool = False) -> dict[str, Any]:
        """Stale datasets with their upstream cause: see
        :func:`lineage_queries.freshness.freshness`."""
        return freshness_report.freshness(self, policy, as_of=as_of, include_fresh=include_fresh)


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")


# -- shaping helpers ---------------------------------------------------------------------------
def runs_subgraph(runs: list[dict[str, Any]], changed: set[str]) -> Subgraph:
    """A picture of runs (from :meth:`LineageGraph.run`) with their inputs and outputs; the
    versions of ``changed`` datasets are marked ``changed: true``."""
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


def _versions_by_dataset(walk: Walk) -> dict[str, tuple[str, dict[str, Any], int]]:
    """dataset uid -> (version uid, props, depth) of the version nearest the walk's root."""
    out: dict[str, tuple[str, dict[str, Any], int]] = {}
    for uid, (label, props, depth) in walk.nodes.items():
        if label is not NodeLabel.DATASET_VERSION:
            continue
        dataset = dataset_of(uid, props)
        if dataset not in out or (depth, uid) < (out[dataset][2], out[dataset][0]):
            out[dataset] = (uid, props, depth)
    return out


def _differs(a: dict[str, Any], b: dict[str, Any]) -> bool:
    if a.get("digest") and b.get("digest"):
        return bool(a["digest"] != b["digest"])
    return a.get("uid") != b.get("uid")


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
    return {"id": v["id"], "version": v.get("version"), "digest": v.get("digest"),
            "rowCount": v.get("rowCount")}


def _schema_list(v: dict[str, Any] | None) -> list[dict[str, Any]]:
    schema = (v or {}).get("schema")
    return [c for c in schema if isinstance(c, dict)] if isinstance(schema, list) else []
