"""The Python query API over the lineage graph, used by the CLI and the demo.

``LineageGraph(backend)`` answers with plain dicts (JSON-ready), each typed by its shape in
:mod:`lineage_queries.answers` (``docs/queries.md``). Every query comes from the
named catalog (:mod:`lineage_pipeline.graph.catalog`), so both backends run the same Cypher.

NODE strings (:meth:`LineageGraph.resolve`): a run id; a dataset ``namespace:name``; a dataset
version ``namespace:name@version``; a job ``namespace:name``; a column of one version
``namespace:name@version#column``; a column of every version of a dataset
``namespace:name#column``. A local absolute path ``/x/y`` also finds dataset ``file:/x/y``,
and a dataset is found by any spelling the processor would have made canonical
(:func:`lineage_pipeline.naming.canonical_uids`: ``s3a://Bucket/k`` finds ``s3://bucket:k``)
and by any of its other names (its symlinks: a physical path finds its catalog table).
When a dataset and a job share an id the dataset wins (pass ``label=NodeLabel.JOB`` to pick
the job). A NODE string is the full name: the uid of a long or unusual name is computed from
it (:func:`~lineage_pipeline.graph_model.bounded_uid`), and a uid as printed is accepted too.

Subgraph (``upstream``/``downstream`` and the ``subgraph`` of every other answer)::

    {"root": id, "direction": "upstream"|"downstream", "depth": int, ["column": name,]
     ["kinds": [kind...],]
     "nodes": [{"id", "label", "kind", "namespace", "name", "version", "depth", ...}],
     "relationships": [{"from", "to", "type", ...}]}

``label`` is the graph label (Job, Run, Dataset, DatasetVersion, Field); ``kind`` is what the
node is to a person: ``job``, ``run``, ``field``, or the dataset's kind (``table``, ``file``,
``model``, ``features``, ``predictions``, ``metrics``; ``dataset`` when unknown). ``depth`` is
the number of lineage hops from the root. Runs also carry ``runId``, ``state``,
``startTime``, ``endTime``, ``job``; versions ``dataset``, ``digest``, ``rowCount``, ``bytes``,
``producedByRunId``; fields ``dataset``, ``version`` (the version uid), ``type`` and their
statistics. Relationships keep their stored direction; column relationships carry ``runId``
and, when
followed by name rather than declared, ``inferred``. Nodes: the root first, then by depth,
label, id; relationships by from, to, type. Walks: :mod:`lineage_queries.walk`.

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

from lineage_pipeline.errors import NotFoundError, QueryError
from lineage_pipeline.freshness import FreshnessPolicy
from lineage_pipeline.graph.base import GraphBackend
from lineage_pipeline.graph.catalog import run_query
from lineage_pipeline.graph_model import NodeLabel, bounded_uid, graph_text
from lineage_pipeline.naming import canonical_uids
from lineage_queries import diff, impact, models, rootcause
from lineage_queries import freshness as freshness_report
from lineage_queries.answers import (
    BaselineRun,
    FieldProps,
    FreshnessReport,
    Impact,
    ModelInputs,
    RootCause,
    RunDetail,
    RunDiff,
    RunSummary,
    TrainedOn,
    UpstreamChange,
    VersionDetail,
    as_run_props,
)
from lineage_queries.compare import DRIFT_THRESHOLD
from lineage_queries.shapes import (
    CODE_PROPS,
    JSON_PROPS,
    Subgraph,
    duration,
    node_dict,
    parse_json_props,
    run_summary,
    schema_json,
    version_detail,
    version_fields,
)
from lineage_queries.subgraph import to_subgraph
from lineage_queries.walk import MAX_DEPTH, Direction, ResolvedNode, Walk, Walker

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
                return self._version_column(base, column)
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
                if version is not None:  # a column of one version
                    found = self._find_column(version, node[i + 1:])
                    if found is not None:
                        return found
        found = self._exact(node, label, canonical=True)  # spelled as the event spelled it
        if found is None and label in (None, NodeLabel.DATASET):  # another name of a dataset
            rows = self.query("resolve_symlink", ids=[node, *canonical_uids(node)])
            found = (ResolvedNode(NodeLabel.DATASET, rows[0]["uid"], dict(rows[0]["props"]))
                     if len(rows) == 1 else None)
        if found is not None:
            return found
        raise NotFoundError(self._unknown(node, label))

    def _find_column(self, version: ResolvedNode, column: str) -> ResolvedNode | None:
        column = graph_text(column)  # stored names went through the same rule
        for f in self.fields([version.uid]).get(version.uid, []):
            if f.get("name") == column:
                return ResolvedNode(NodeLabel.FIELD, str(f["uid"]), dict(f))
        return None

    def _version_column(self, version: ResolvedNode, column: str) -> ResolvedNode:
        found = self._find_column(version, column)
        if found is None:
            raise NotFoundError(f"dataset version {version.uid!r} has no column {column!r}")
        return found

    def _exact(self, node: str, label: NodeLabel | None,
               canonical: bool = False) -> ResolvedNode | None:
        candidates = [node]
        if node.startswith("/"):
            candidates.append(f"file:{node}")
        # the uid computed from a name; the name as is finds uids stored before the rule;
        # or (``canonical``) the name as the processor spells it (lineage_pipeline.naming)
        uids = (canonical_uids(node) if canonical else
                dict.fromkeys(c for n in candidates for c in (bounded_uid(n), graph_text(n))))
        for uid in uids:
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
            raise NotFoundError(f"no version of dataset {dataset.uid!r} has a column {column!r}")
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

        ``as_of`` (epoch ms) answers from the graph as it was then: relationships first observed
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
        seen = root.props.get("observedAt")
        if as_of is not None and isinstance(seen, int) and seen > as_of:
            raise NotFoundError(f"{root.id!r} was first observed at {_iso(seen)}, after the "
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
    def runs(self, job: str, limit: int | None = None) -> list[RunSummary]:
        """Return the runs of job ``namespace:name``, newest first (run summaries).

        Each: ``runId``, ``job``, ``state``, ``startTime``, ``endTime``, ``durationMs``,
        ``nominalStartTime``, ``metrics`` (dict), ``parameters`` (dict), ``gitSha``,
        ``errorMessage``, ``parentRunId``, ``observedAt``, ``updatedAt``.
        Raises :class:`QueryError` for an unknown job.
        """
        if not self.has_job(job):
            raise NotFoundError(self._unknown(job, NodeLabel.JOB))
        job = bounded_uid(job)
        rows = self.query("job_runs_newest_first", job=job, limit=limit or 2**31 - 1)
        return [run_summary(r["run"], job) for r in rows]

    def run(self, run_id: str) -> RunDetail:
        """Return every property of run ``run_id`` (JSON parsed) plus ``job`` (dict),
        ``durationMs``, ``children`` (run ids), ``inputs`` and ``outputs``: dataset versions
        (node dicts with ``datasetUid``, ``schema`` and ``fields``: their columns'
        statistics, by name).

        Raises :class:`QueryError` when there is no such run.
        """
        run_id = bounded_uid(run_id)
        rows = self.query("run_detail", run_id=run_id)
        if not rows:
            raise NotFoundError(self._unknown(run_id, NodeLabel.RUN))
        props = as_run_props(parse_json_props(rows[0]["run"]))
        job = parse_json_props(rows[0]["job"]) if rows[0]["job"] else None
        out: RunDetail = {**props, "runId": props.get("runId", run_id), "job": job,
                          "durationMs": duration(props), "inputs": [], "outputs": [],
                          "children": []}
        for row in self.query("run_versions", run_id=run_id):
            version = {**row["version"], "schema": schema_json(row["columns"]) or None}
            fields = version_fields(str(version["uid"]), version, row["columns"])
            detail = version_detail(version["uid"], version, fields)
            (out["inputs"] if row["role"] == "input" else out["outputs"]).append(detail)
        for versions in (out["inputs"], out["outputs"]):
            versions.sort(key=_by_id)
        out["children"] = sorted(r["uid"] for r in self.query("run_children", run_id=run_id))
        return out

    # -- comparisons ---------------------------------------------------------------------------
    def diff_runs(self, run_a: str, run_b: str) -> RunDiff:
        """Compare run ``run_a`` (before) with ``run_b`` (after): see
        :func:`lineage_queries.diff.diff_runs`."""
        return diff.diff_runs(self, run_a, run_b)

    def changed_upstream(self, bad_run: str, good_run: str) -> list[UpstreamChange]:
        """The upstream dataset versions of ``bad_run`` that differ from ``good_run``'s: see
        :func:`lineage_queries.diff.changed_upstream`."""
        return diff.changed_upstream(self, bad_run, good_run)

    def fields(self, version_uids: Iterable[str]) -> dict[str, list[FieldProps]]:
        """Return the fields of each dataset version (version uid -> its columns' properties
        with their statistics, sorted by name; :func:`~lineage_queries.shapes.version_fields`).
        Versions without a known column are left out."""
        uids = sorted(set(version_uids))
        out: dict[str, list[FieldProps]] = {}
        if uids:
            for row in self.query("version_fields", uids=uids):
                found = version_fields(row["version_uid"], row["version"], row["columns"])
                if found:
                    out[row["version_uid"]] = found
        return out

    # -- incident queries ----------------------------------------------------------------------
    def impact(self, node: str, *, column: str | None = None, depth: int = MAX_DEPTH,
               as_of: int | None = None) -> Impact:
        """The blast radius of a change to ``node`` (or one column of it): see
        :func:`lineage_queries.impact.impact`."""
        return impact.impact(self, node, column=column, depth=depth, as_of=as_of)

    def root_cause(self, run_id: str, baseline: str | None = None, *,
                   metric: str | None = None, higher_is_better: bool = True,
                   drift_threshold: float = DRIFT_THRESHOLD) -> RootCause:
        """Ranked candidate causes of a bad run (:func:`lineage_queries.rootcause.root_cause`)."""
        return rootcause.root_cause(self, run_id, baseline, metric=metric,
                                    higher_is_better=higher_is_better,
                                    drift_threshold=drift_threshold)

    def baseline_run(self, run_id: str, *, metric: str | None = None,
                     higher_is_better: bool = True) -> BaselineRun:
        """The default baseline of a run: see :func:`lineage_queries.rootcause.baseline_run`."""
        return rootcause.baseline_run(self, run_id, metric=metric,
                                      higher_is_better=higher_is_better)

    def trained_on(self, node: str, *, as_of: int | None = None) -> TrainedOn:
        """The models made from ``node``: see :func:`lineage_queries.models.trained_on`."""
        return models.trained_on(self, node, as_of=as_of)

    def model_inputs(self, model: str) -> ModelInputs:
        """Every input and parameter behind a model (:func:`.models.model_inputs`)."""
        return models.model_inputs(self, model)

    def freshness(self, policy: FreshnessPolicy | None = None, *, as_of: int | None = None,
                  include_fresh: bool = False) -> FreshnessReport:
        """Stale datasets with their upstream cause: see
        :func:`lineage_queries.freshness.freshness`."""
        return freshness_report.freshness(self, policy, as_of=as_of, include_fresh=include_fresh)


def _by_id(version: VersionDetail) -> str:
    return version["id"]


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")














