"""Two runs compared: :func:`diff_runs` (one run against another: inputs, outputs, code,
parameters, environment, metrics) and :func:`changed_upstream` (every upstream dataset
version of a bad run that differs from a good run's). Both answer through
:class:`~lineage_queries.api.LineageGraph` (``diff_runs`` and ``changed_upstream``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from lineage_pipeline.graph_model import NodeLabel
from lineage_queries.answers import (
    ColumnChange,
    FieldProps,
    RunDiff,
    SchemaChanges,
    UpstreamChange,
    UpstreamRef,
    VersionChange,
    VersionDetail,
    VersionRef,
)
from lineage_queries.compare import column_changes, dict_diff, schema_changes
from lineage_queries.shapes import (
    CODE_PROPS,
    as_dict,
    columns_of,
    dataset_of,
    run_summary,
    runs_subgraph,
)
from lineage_queries.walk import MAX_DEPTH, Walk

if TYPE_CHECKING:
    from lineage_queries.api import LineageGraph


def diff_runs(graph: LineageGraph, run_a: str, run_b: str) -> RunDiff:
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
    a, b = graph.run(run_a), graph.run(run_b)
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


def changed_upstream(graph: LineageGraph, bad_run: str, good_run: str
                     ) -> list[UpstreamChange]:
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
    is unknown. :func:`lineage_queries.rootcause.root_cause` is the ranked, structural answer.
    """
    sides = []
    for run_id in (bad_run, good_run):
        root = graph.resolve(run_id, NodeLabel.RUN)
        sides.append(graph.walker.walk(root, "upstream", MAX_DEPTH))
    bad, good = (_versions_by_dataset(w) for w in sides)
    producers = {uid: (props, lbl) for w in sides for uid, (lbl, props, _) in w.nodes.items()}
    pairs = []
    for dataset, (uid_b, props_b, dist) in bad.items():
        match = good.get(dataset)
        if match is not None and not _differs(props_b, match[1]):
            continue
        pairs.append((dataset, uid_b, props_b, dist, match))
    fields = graph.fields([p[1] for p in pairs] + [p[4][0] for p in pairs if p[4]])
    out: list[UpstreamChange] = []
    for dataset, uid_b, props_b, dist, match in pairs:
        cols: list[ColumnChange] = []
        schema: SchemaChanges = {"added": [], "removed": [], "retyped": []}
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
) -> UpstreamRef:
    run = props.get("producedByRunId")
    run_props = nodes.get(run, ({}, NodeLabel.RUN))[0] if run else {}
    return {
        "id": uid,
        "version": props.get("version"),
        "digest": props.get("digest"),
        "producedByRunId": run,
        "job": run_props.get("jobUid"),
    }


def _diff_versions(
    before: list[VersionDetail], after: list[VersionDetail]
) -> tuple[list[VersionChange], list[str]]:
    """Pair two runs' version lists by dataset; return (differing entries, unchanged ids)."""
    def by_dataset(items: list[VersionDetail]) -> dict[str, VersionDetail]:
        return {str(v.get("dataset") or v["id"].rsplit("@", 1)[0]): v for v in items}

    b, a = by_dataset(before), by_dataset(after)
    changed: list[VersionChange] = []
    unchanged: list[str] = []
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
        fb: list[FieldProps] = vb["fields"] if vb is not None else []
        fa: list[FieldProps] = va["fields"] if va is not None else []
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


def _short(v: VersionDetail | None) -> VersionRef | None:
    if v is None:
        return None
    return {"id": v["id"], "version": v.get("version"), "digest": v.get("digest"),
            "rowCount": v.get("rowCount")}


def _schema_list(v: VersionDetail | None) -> list[Mapping[str, Any]]:
    schema = v["schema"] if v is not None else None
    return [c for c in schema if isinstance(c, dict)] if isinstance(schema, list) else []
