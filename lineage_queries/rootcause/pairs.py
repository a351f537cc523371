"""The paired walk: one level of (bad run, baseline run) pairs at a time.

Inputs of both runs are paired by dataset; a changed input is recorded and followed to the
runs that generated it on each side, which make the next level. Code, parameters and
environment of every pair are compared on the way (:mod:`.evidence`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from lineage_pipeline.errors import NotFoundError
from lineage_queries.rootcause.evidence import data_evidence, run_candidates, structural
from lineage_queries.rootcause.state import Change, Run, WalkState
from lineage_queries.shapes import (
    dataset_of,
    parse_json_props,
    run_time,
    schema_json,
    version_fields,
)

if TYPE_CHECKING:
    from lineage_queries.api import LineageGraph


def walk_level(graph: LineageGraph, st: WalkState, frontier: list[tuple[str, str | None, int]],
           threshold: float) -> list[tuple[str, str | None, int]]:
    """Compare one level of (bad run, baseline run) pairs; return the next level."""
    load_runs(graph, st, {uid for pair in frontier for uid in pair[:2] if uid})
    nxt: list[tuple[str, str | None, int]] = []
    for bad_id, base_id, dist in frontier:
        run = st.runs.get(bad_id)
        if run is None:
            continue
        base = st.runs.get(base_id) if base_id else None
        causes = st.run_causes.setdefault(bad_id, [])
        same = True
        if base is not None:
            same = not run_candidates(st, run, base, dist, causes)
            added = sorted(set(run.inputs) - set(base.inputs))
            removed = sorted(set(base.inputs) - set(run.inputs))
            for ds in added:
                same = False
                structural(st, "input_added", run, run.inputs[ds]["uid"], ds, dist + 1, causes,
                            f"{run.job} now reads {ds}, which {base.uid} did not read")
            for ds in removed:
                same = False
                structural(st, "input_removed", run, ds, ds, dist + 1, causes,
                            f"{run.job} no longer reads {ds} ({base.uid} read "
                            f"{base.inputs[ds]['uid']})")
        for ds, vin in sorted(run.inputs.items()):
            producer = producer_of(vin, run.props)
            if producer is not None:
                st.inputs_seen.append((bad_id, vin["uid"], str(producer["uid"])))
            if base is None or ds not in base.inputs:
                continue
            vbase = base.inputs[ds]
            if not differs(vin, vbase):
                continue
            same = False
            causes.append(vin["uid"])
            if vin["uid"] in st.changes:
                continue
            st.parent.setdefault(vin["uid"], bad_id)
            change = Change(
                uid=vin["uid"], dataset=ds, props=vin["props"], fields=vin["fields"],
                base=vbase, distance=dist + 1, consumer=bad_id, producer=producer,
                base_producer=producer_of(vbase, base.props),
            )
            change.evidence = data_evidence(change, threshold)
            st.changes[change.uid] = change
            if producer is not None and change.base_producer is not None:
                pid = str(producer["uid"])
                change.followed = True
                st.parent.setdefault(pid, change.uid)
                if pid not in st.run_same:
                    nxt.append((pid, str(change.base_producer["uid"]), dist + 2))
        st.run_same[bad_id] = same
    # one pair per bad run
    uniq: dict[str, tuple[str, str | None, int]] = {}
    for item in nxt:
        uniq.setdefault(item[0], item)
    return list(uniq.values())


def load_runs(graph: LineageGraph, st: WalkState, uids: Iterable[str]) -> None:
    """Fetch properties and inputs (with producers and columns) of runs not loaded yet."""
    todo = sorted(u for u in uids if u not in st.runs)
    if not todo:
        return
    for row in graph.query("runs_props", uids=todo):
        st.runs[row["uid"]] = Run(row["uid"], parse_json_props(row["props"]), row["job"])
    for row in graph.query("runs_inputs", uids=todo):
        run = st.runs.get(row["run"])
        if run is None:
            continue
        props = {**row["props"], "schema": schema_json(row["columns"]) or None}
        producers = [p for p in row["producers"] or [] if p and p.get("uid")]
        run.inputs[dataset_of(row["uid"], props)] = {
            "uid": row["uid"], "props": props, "producers": producers,
            "fields": [dict(f) for f in version_fields(row["uid"], props, row["columns"])],
        }
    missing = [u for u in todo if u not in st.runs]
    if missing:
        raise NotFoundError(f"no Run with id {missing[0]!r} in the graph")


def producer_of(vin: dict[str, Any], consumer: dict[str, Any]) -> dict[str, Any] | None:
    """The run that generated input ``vin`` for ``consumer``: the newest producer that
    started before the consumer (else the earliest one), or ``None``."""
    producers: list[dict[str, Any]] = vin["producers"]
    if not producers:
        return None
    start = run_time(consumer)
    before = [p for p in producers if isinstance(p.get("startTime"), int)
              and p["startTime"] <= start]
    if before:
        return dict(max(before, key=lambda p: (p["startTime"], str(p["uid"]))))
    first: dict[str, Any] = min(producers, key=lambda p: (p.get("startTime") or 0, str(p["uid"])))
    return dict(first)


def differs(a: dict[str, Any], b: dict[str, Any]) -> bool:
    da, db = a["props"].get("digest"), b["props"].get("digest")
    if da and db:
        return bool(da != db)
    return bool(a["uid"] != b["uid"])
