"""Candidate causes and their evidence: run-level differences (code, parameters,
environment), inputs added or removed, and changed data versions that are roots."""

from __future__ import annotations

from typing import Any

from lineage_queries.answers import DataEvidence, RunRef, VersionRef
from lineage_queries.compare import dict_diff, drifted_columns, relative_change, schema_changes
from lineage_queries.quality import failed_checks
from lineage_queries.rootcause.state import Change, Run, WalkState
from lineage_queries.shapes import CODE_PROPS, as_dict, columns_of, short

#: The fields of a failed check kept in root-cause evidence (besides run and job).
_CHECK_KEYS = ("assertion", "column", "expected", "actual", "severity")


def run_candidates(st: WalkState, run: Run, base: Run, dist: int, causes: list[str]) -> bool:
    """Add code / parameters / environment candidates of ``run``; return whether code or
    parameters differ."""
    found = False
    checks = (
        ("code", "high", dict_diff({k: base.props.get(k) for k in CODE_PROPS},
                                   {k: run.props.get(k) for k in CODE_PROPS})),
        ("parameters", "high", dict_diff(as_dict(base.props.get("parameters")),
                                         as_dict(run.props.get("parameters")))),
        ("environment", "low", dict_diff(as_dict(base.props.get("environment")),
                                         as_dict(run.props.get("environment")))),
    )
    for kind, severity, diff in checks:
        if not diff:
            continue
        if kind != "environment":
            found = True
        node = f"{run.uid}#{kind}"
        causes.append(node)
        st.parent.setdefault(node, run.uid)
        keys = ", ".join(sorted(diff))
        evidence: dict[str, Any] = {**diff, "baselineRun": base.uid}
        st.candidates.append({
            "type": kind, "severity": severity, "node": node, "label": "Run", "run": run.uid,
            "job": run.job, "distance": dist, "score": float(len(diff)),
            "summary": f"{kind} of {run.job} changed ({keys}) since run {base.uid}",
            "evidence": evidence,
        })
    return found


def structural(st: WalkState, kind: str, run: Run, node: str, dataset: str, dist: int,
                causes: list[str], summary: str) -> None:
    causes.append(node)
    st.parent.setdefault(node, run.uid)
    st.candidates.append({
        "type": kind, "severity": "medium", "node": node,
        "label": "DatasetVersion" if kind == "input_added" else "Dataset",
        "dataset": dataset, "run": run.uid, "job": run.job, "distance": dist, "score": 0.0,
        "summary": summary, "evidence": {"run": run.uid},
    })


def _ref(uid: str, props: dict[str, Any] | None) -> VersionRef:
    p = props or {}
    return {"id": uid, "version": p.get("version"), "digest": p.get("digest"),
            "rowCount": p.get("rowCount")}


def run_ref(p: dict[str, Any] | None) -> RunRef | None:
    if p is None:
        return None
    return {"run": p.get("uid"), "job": p.get("job"), "state": p.get("state")}


def data_evidence(c: Change, threshold: float) -> DataEvidence:
    assert c.base is not None
    base_fields = c.base["fields"]
    evidence: DataEvidence = {
        "before": _ref(c.base["uid"], c.base["props"]),
        "after": _ref(c.uid, c.props),
        "schema": schema_changes(columns_of(c.base["props"], base_fields),
                                 columns_of(c.props, c.fields)),
        "drift": drifted_columns(base_fields, c.fields, threshold),
        "producer": run_ref(c.producer),
        "baselineProducer": run_ref(c.base_producer),
    }
    rows_b, rows_a = c.base["props"].get("rowCount"), c.props.get("rowCount")
    rel = relative_change(rows_b, rows_a)
    if rel is not None and rel > 0:
        evidence["rowCount"] = {"before": rows_b, "after": rows_a, "relativeChange": rel}
    return evidence


def _severity(evidence: DataEvidence, threshold: float) -> str:
    schema = evidence["schema"]
    if evidence.get("quality") or schema["removed"] or schema["retyped"] or evidence["drift"]:
        return "high"
    rows = evidence.get("rowCount")
    if schema["added"] or (rows is not None and rows["relativeChange"] > threshold):
        return "medium"
    return "low"


def data_summary(c: Change, why: str) -> str:
    ev = c.evidence
    assert ev is not None
    text = (f"{c.dataset} changed ({short(ev['before']['digest'] or ev['before']['version'])}"
            f" -> {short(ev['after']['digest'] or ev['after']['version'])}) {why}")
    parts = []
    schema = ev["schema"]
    for key in ("removed", "added"):
        if schema[key]:
            parts.append(f"columns {key}: {', '.join(schema[key])}")
    if schema["retyped"]:
        parts.append("columns retyped: " + ", ".join(
            f"{r['name']} {r['before']}->{r['after']}" for r in schema["retyped"]))
    for col in ev["drift"][:3]:
        parts.append(f"column '{col['name']}' {col['stat']} {_num(col['before'])} -> "
                     f"{_num(col['after'])} (drift {col['drift']:.2f})")
    if "rowCount" in ev:
        parts.append(f"rows {ev['rowCount']['before']} -> {ev['rowCount']['after']}")
    checks = sorted({f"{q['assertion']}({q['column']})" if q.get("column") else
                     str(q["assertion"]) for q in ev.get("quality", [])})
    if checks:
        parts.insert(0, "failed data-quality checks: " + ", ".join(checks))
    return text + (": " + "; ".join(parts) if parts else "")


def _num(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _failed_checks(st: WalkState, c: Change) -> list[dict[str, Any]]:
    """The data-quality checks that failed on changed version ``c``, as recorded by any run
    the walk met (the run that read it, usually)."""
    version = c.props.get("version")
    out = []
    for run in sorted(st.runs.values(), key=lambda r: r.uid):
        for a in failed_checks(run.props.get("qualityAssertions"), c.dataset,
                               str(version) if version is not None else None):
            out.append({**{k: a.get(k) for k in _CHECK_KEYS}, "run": run.uid, "job": run.job})
    return out


def data_roots(st: WalkState, threshold: float) -> None:
    """Mark each changed version root or consequence; add the roots as candidates (a root
    with failed data-quality checks carries them as evidence and is of high severity)."""
    for c in st.changes.values():
        why: str | None = None
        if c.producer is None:
            why = "and no run in the graph produced it: data that arrived from outside"
        elif c.base_producer is None:
            why = (f"and is now produced by {c.producer.get('job')} (run {c.producer['uid']}),"
                   " while the baseline's version came from outside")
        elif c.followed and st.run_same.get(str(c.producer["uid"]), False):
            why = (f"although its producer {c.producer.get('job')} (run {c.producer['uid']}) "
                   "read the same inputs with the same code and parameters")
        ev = c.evidence
        if why is None or ev is None:
            continue
        if failed := _failed_checks(st, c):
            ev["quality"] = failed
        st.candidates.append({
            "type": "data", "severity": _severity(ev, threshold), "node": c.uid,
            "label": "DatasetVersion", "dataset": c.dataset,
            "kind": c.props.get("kind") or "dataset", "distance": c.distance,
            "score": max((d["drift"] for d in ev["drift"]), default=0.0),
            "summary": data_summary(c, why), "evidence": ev,
        })
