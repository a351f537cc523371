"""Retention (``lineage purge``) and erasure (``lineage erase``) on the graph.

- :func:`purge`: finished runs (COMPLETE, FAIL, ABORT) that ended before a cutoff are
  compacted into a summary on their Job (``runSummary``, JSON text: runs per state, earliest
  start, latest end, added up over purges) and deleted with their relationships. Dataset
  versions, fields and version-level ``DERIVED_FROM`` edges stay, so upstream walks over data
  keep working; a version's ``producedByRunId`` names the purged run.
- :func:`erase`: removes a dataset's PII-bearing metadata — the statistics of every field of
  every version (``nullCount``, ``distinctCount``, ``min``, ``max``, ``mean``; min/max can be
  values) — and records the erasure on the Dataset (``erasedAt``, ``erasureReason``).
- :class:`ErasureList`: the sink's writer consults it before every write, so replaying the
  topics does not bring erased statistics back (:meth:`ErasureList.scrub`).

Queries: ``queries/retention.cypher``.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from graph_sink.backends.base import GraphBackend, Statement
from graph_sink.catalog import named_query
from lineage_pipeline.errors import QueryError
from lineage_pipeline.graph_model import GraphMutations, NodeLabel
from lineage_pipeline.pii import STAT_KEYS

_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNIT_MS = {"s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}


def _run(backend: GraphBackend, name: str, **params: Any) -> list[dict[str, Any]]:
    return backend.query(named_query(name).text, params)


def _write(backend: GraphBackend, *calls: tuple[str, dict[str, Any]]) -> None:
    """Run catalog write queries ``(name, params)`` in one :meth:`write_batch` call."""
    backend.write_batch([Statement(named_query(name).text, params, name)
                         for name, params in calls])


def parse_age(text: str, now_ms: int | None = None) -> int:
    """``--older-than``: a duration (``90d``, ``12h``, ``30m``, ``2w``, ``45s``) before now, or
    an absolute time (:func:`graph_sink.timeparse.parse_time`). Returns the cutoff in epoch
    ms. Raises :class:`QueryError` for anything else."""
    match = _AGE.match(text)
    if match:
        now = now_ms if now_ms is not None else int(time.time() * 1000)
        return now - int(float(match.group(1)) * _UNIT_MS[match.group(2)])
    from graph_sink.timeparse import parse_time

    return parse_time(text)


def purge(backend: GraphBackend, cutoff_ms: int, *, dry_run: bool = False) -> dict[str, Any]:
    """Compact finished runs that ended before ``cutoff_ms`` into Job summaries and delete
    them. Returns ``{"cutoff": ms, "runs": n, "jobs": {job uid: {state: n}}}``."""
    per_job: dict[str, dict[str, Any]] = {}
    total = 0
    for row in _run(backend, "retention_old_runs_by_job", cutoff=cutoff_ms):
        job = per_job.setdefault(str(row["job"]), {"summary": row["summary"], "rows": []})
        job["rows"].append(row)
        total += int(row["runs"])
    report: dict[str, Any] = {"cutoff": cutoff_ms, "runs": total, "jobs": {}}
    calls: list[tuple[str, dict[str, Any]]] = []
    for job_uid, job in per_job.items():
        summary = _merge_summary(job["summary"], job["rows"])
        report["jobs"][job_uid] = {r["state"]: int(r["runs"]) for r in job["rows"]}
        calls.append(("retention_set_job_summary",
                      {"job": job_uid, "summary": json.dumps(summary, sort_keys=True)}))
    if not dry_run and total:
        _write(backend, *calls, ("retention_delete_old_runs", {"cutoff": cutoff_ms}))
    return report


def _merge_summary(existing: Any, rows: list[dict[str, Any]]) -> dict[str, Any]:
    try:
        summary = json.loads(existing) if isinstance(existing, str) else {}
    except ValueError:
        summary = {}
    states: dict[str, int] = dict(summary.get("runsByState", {}))
    firsts = [summary["firstStart"]] if summary.get("firstStart") is not None else []
    lasts = [summary["lastEnd"]] if summary.get("lastEnd") is not None else []
    for row in rows:
        states[row["state"]] = states.get(row["state"], 0) + int(row["runs"])
        if row["first"] is not None:
            firsts.append(int(row["first"]))
        if row["last"] is not None:
            lasts.append(int(row["last"]))
    return {"runsByState": states, "runs": sum(states.values()),
            "firstStart": min(firsts) if firsts else None,
            "lastEnd": max(lasts) if lasts else None}


def erase(backend: GraphBackend, dataset: str, *, reason: str = "erasure request",
          now_ms: int | None = None) -> dict[str, Any]:
    """Erase dataset ``dataset`` (uid ``namespace:name``): scrub its fields' statistics and
    record the erasure. Returns ``{"dataset", "fields", "erasedAt"}``; raises
    :class:`QueryError` when the dataset is not in the graph."""
    now = now_ms if now_ms is not None else int(time.time() * 1000)
    found = _run(backend, "erasure_field_count", dataset=dataset)
    if not found or found[0]["uid"] is None:
        raise QueryError(f"no dataset {dataset!r} in the graph")
    _write(backend, ("erasure_record", {"dataset": dataset, "now": now, "reason": reason}),
           ("erasure_scrub_fields", {"dataset": dataset}))
    return {"dataset": dataset, "fields": int(found[0]["fields"]), "erasedAt": now}


class ErasureList:
    """The erased datasets of a graph, re-read at most every ``ttl_s`` seconds.

    :meth:`scrub` drops the statistics of Field upserts of erased datasets from mutations
    about to be written, so a replay of the topics cannot restore them.
    """

    def __init__(self, backend: GraphBackend, ttl_s: float = 5.0) -> None:
        self.backend = backend
        self.ttl_s = ttl_s
        self._uids: frozenset[str] = frozenset()
        self._read_at = float("-inf")

    def uids(self) -> frozenset[str]:
        """The erased dataset uids (queries the graph when the cached list is stale)."""
        now = time.monotonic()
        if now - self._read_at > self.ttl_s:
            rows = _run(self.backend, "erasure_list")
            self._uids = frozenset(str(r["uid"]) for r in rows)
            self._read_at = now
        return self._uids

    def scrub(self, mutations: Sequence[GraphMutations]) -> Sequence[GraphMutations]:
        """``mutations`` without statistics of fields of erased datasets (same objects
        when nothing is erased)."""
        erased = self.uids()
        if not erased:
            return mutations
        out = []
        for m in mutations:
            if not any(n.label is NodeLabel.FIELD and n.props.get("dataset_uid") in erased
                       for n in m.nodes):
                out.append(m)
                continue
            nodes = [
                replace(n, props={k: v for k, v in n.props.items() if k not in STAT_KEYS})
                if n.label is NodeLabel.FIELD and n.props.get("dataset_uid") in erased else n
                for n in m.nodes
            ]
            out.append(replace(m, nodes=nodes))
        return out
