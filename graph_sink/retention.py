"""Retention (``lineage purge``) and erasure (``lineage erase``) on the graph.

- :func:`purge`: finished runs (COMPLETE, FAIL, ABORT) that ended before a cutoff are
  compacted into a summary on their Job (``runSummary``, JSON text: runs per state, earliest
  start, latest end, added up over purges) and deleted with their relationships. Dataset
  versions, schemas, fields and column lineage stay; a version's ``producedByRunId`` names the
  purged run.
- :func:`erase`: removes a dataset's PII-bearing metadata — the column statistics of every
  version (``columnStats``: null and distinct counts, min, max, mean; min/max can be
  values) — and records the erasure on the Dataset (``erasedAt``, ``erasureReason``) and,
  through ``publish`` (the CLI passes :func:`graph_sink.erasure_log.publish_erasure`), on the
  compacted topic ``topics.erasures``, which outlives the graph.
- :class:`ErasureList`: the sink's writer consults it before every write. It is the union of
  the graph's erasure records and the topic's (:class:`graph_sink.erasure_log.ErasureLog`,
  read to the end before the sink's first write), so replaying the topics into the same graph
  or into a fresh one does not bring erased statistics back (:meth:`ErasureList.scrub`).

Queries: ``queries/retention.cypher``.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from graph_sink.erasure_log import ErasureLog, ErasureRecord
from lineage_pipeline.errors import GraphError, GraphUnavailable, QueryError
from lineage_pipeline.graph.base import GraphBackend, Statement
from lineage_pipeline.graph.catalog import named_query
from lineage_pipeline.graph_model import GraphMutations, NodeLabel, NodeUpsert, bounded_uid

_log = logging.getLogger(__name__)
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
    an absolute time (:func:`lineage_pipeline.timeparse.parse_time`). Returns the cutoff in epoch
    ms. Raises :class:`QueryError` for anything else."""
    match = _AGE.match(text)
    if match:
        now = now_ms if now_ms is not None else int(time.time() * 1000)
        return now - int(float(match.group(1)) * _UNIT_MS[match.group(2)])
    from lineage_pipeline.timeparse import parse_time

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
          now_ms: int | None = None,
          publish: Callable[[ErasureRecord], None] | None = None) -> dict[str, Any]:
    """Erase dataset ``dataset`` (uid ``namespace:name``): record the erasure, then scrub its
    versions' column statistics. Returns ``{"dataset", "versions", "erasedAt"}``
    (``versions``: how many held column statistics).

    ``publish``: called with the :class:`ErasureRecord` after the dataset was found and
    before the graph is changed (the CLI appends it to ``topics.erasures``); when it raises,
    nothing was changed. Raises :class:`QueryError` when the dataset is not in the graph,
    :class:`GraphUnavailable` when the graph fails after the record was published (run the
    erasure again to scrub).
    """
    now = now_ms if now_ms is not None else int(time.time() * 1000)
    dataset = bounded_uid(dataset)  # the uid of a long name is computed from it
    found = _run(backend, "erasure_version_count", dataset=dataset)
    if not found or found[0]["uid"] is None:
        raise QueryError(f"no dataset {dataset!r} in the graph")
    record = ErasureRecord(dataset, now, reason)
    if publish is not None:
        publish(record)
    try:
        _scrub(backend, record)
    except GraphUnavailable as exc:
        if publish is None:
            raise
        raise GraphUnavailable(
            f"{exc}; the erasure of {dataset} is recorded on the erasure topic (sinks will not "
            f"write its statistics again): run `lineage erase {dataset}` again once the graph "
            f"answers, to remove the stored ones") from exc
    return {"dataset": dataset, "versions": int(found[0]["versions"]), "erasedAt": now}


def _scrub(backend: GraphBackend, *records: ErasureRecord) -> None:
    """Record each erasure on its Dataset and remove its versions' column statistics (one
    batch)."""
    calls: list[tuple[str, dict[str, Any]]] = []
    for r in records:
        calls += [("erasure_record", {"dataset": r.dataset, "now": r.erased_at,
                                      "reason": r.reason}),
                  ("erasure_scrub_versions", {"dataset": r.dataset})]
    if calls:
        _write(backend, *calls)


class ErasureList:
    """The erased datasets: the graph's records (re-read at most every ``ttl_s`` seconds)
    united with those of ``log`` (the erasure topic, polled on every call without waiting).

    :meth:`scrub` drops the column statistics of erased datasets (``columnStats`` of their
    versions; statistics of Field upserts in older records) from mutations about to be
    written and stamps the erasure (``erasedAt``, ``erasureReason``) on their Dataset
    upserts, so a replay of the topics, into this graph or a fresh one, cannot restore the
    statistics and the new graph records the erasure too.

    When ``log`` names an erasure the graph has not recorded (a fresh graph, or an erasure
    made through another graph), the graph is scrubbed for it (:func:`erase` without the
    lookup) on the next refresh, once per record and process. ``log`` is loaded by its owner
    (the sink, before its first write); this class does no I/O until asked.
    """

    def __init__(self, backend: GraphBackend, ttl_s: float = 5.0, *,
                 log: ErasureLog | None = None) -> None:
        self.backend = backend
        self.ttl_s = ttl_s
        self.log = log
        self._graph: dict[str, ErasureRecord] = {}
        self._applied: set[ErasureRecord] = set()
        self._read_at = float("-inf")

    def records(self) -> dict[str, ErasureRecord]:
        """Erased dataset uid -> its latest erasure, from the graph and the topic (queries the
        graph when the cached list is stale; may scrub the graph, see the class docstring)."""
        now = time.monotonic()
        stale = now - self._read_at > self.ttl_s
        if stale:
            self._graph = {
                str(r["uid"]): ErasureRecord(str(r["uid"]), int(r["erasedAt"] or 0),
                                             str(r["reason"] or ""))
                for r in _run(self.backend, "erasure_list")
            }
            self._read_at = now
        topic: dict[str, ErasureRecord] = {}
        if self.log is not None:
            self.log.poll()
            topic = self.log.records()
        merged = dict(self._graph)
        for uid, rec in topic.items():
            if uid not in merged or rec.erased_at > merged[uid].erased_at:
                merged[uid] = rec
        missing = [rec for uid, rec in topic.items()
                   if rec not in self._applied
                   and (uid not in self._graph or self._graph[uid].erased_at < rec.erased_at)]
        if missing:
            try:
                _scrub(self.backend, *missing)
            except GraphError as exc:
                if exc.is_retryable():
                    raise
                # new writes are still scrubbed; only statistics stored earlier stay
                _log.error("graph refused to scrub erased datasets %s (%s): run `lineage "
                           "erase` for them against this graph", [r.dataset for r in missing],
                           exc)
            self._applied.update(missing)
            self._graph.update({r.dataset: r for r in missing})
        return merged

    def scrub(self, mutations: Sequence[GraphMutations]) -> Sequence[GraphMutations]:
        """``mutations`` without column statistics of versions (and, in records of the older
        ``graph_mutations`` family, of Field nodes) of erased datasets, their Dataset upserts
        stamped with the erasure (same objects when nothing is erased)."""
        erased = self.records()
        if not erased:
            return mutations
        out = []
        for m in mutations:
            if not any(_erased(n, erased) for n in m.nodes):
                out.append(m)
                continue
            nodes = [_scrubbed(n, erased) if _erased(n, erased) else n for n in m.nodes]
            out.append(replace(m, nodes=nodes))
        return out


#: Version properties that hold column statistics (removed for erased datasets).
ERASED_VERSION_PROPS = ("columnStats",)
#: Field properties that held a column's statistics in records of the ``graph_mutations``
#: family (per-version Field nodes); removed too, so replaying such records restores none.
ERASED_FIELD_PROPS = ("nullCount", "distinctCount", "min", "max", "mean")


def _erased(node: NodeUpsert, erased: dict[str, ErasureRecord]) -> bool:
    if node.label in (NodeLabel.DATASET_VERSION, NodeLabel.FIELD):
        return node.props.get("datasetUid") in erased
    return node.label is NodeLabel.DATASET and node.uid in erased


def _scrubbed(node: NodeUpsert, erased: dict[str, ErasureRecord]) -> NodeUpsert:
    if node.label is NodeLabel.DATASET:
        rec = erased[node.uid]
        return replace(node, props={**node.props, "erasedAt": rec.erased_at,
                                    "erasureReason": rec.reason})
    drop = ERASED_FIELD_PROPS if node.label is NodeLabel.FIELD else ERASED_VERSION_PROPS
    return replace(node, props={k: v for k, v in node.props.items() if k not in drop},
                   weak={k: v for k, v in node.weak.items() if k not in drop})
