"""The rich table of ``python -m bench query``: one column per graph backend."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bench.query import (
    GOAL_IMPACT_P50_MS,
    GOAL_ROOT_CAUSE_P50_MS,
    GOAL_UPSTREAM_P50_MS,
    GOAL_UPSTREAM_P99_MS,
)


def print_table(result: dict[str, Any]) -> None:
    """Print the figures of :func:`bench.query.run` as one rich table, one column per backend."""
    from bench.graphs import Row, fmt, mark, side_by_side

    per = result["backends"]
    names = list(per)
    ok = {n for n in names if "error" not in per[n]}

    def cells(fn: Callable[[dict[str, Any]], str]) -> list[str]:
        return [fn(per[n]) if n in ok else "-" for n in names]

    def lat(key: str, q: str) -> Callable[[dict[str, Any]], str]:
        return lambda r: f"{r[key][q]:.2f}"

    goal_p50, goal_p99 = f"<= {GOAL_UPSTREAM_P50_MS:g}", f"<= {GOAL_UPSTREAM_P99_MS:g}"
    up = [(per[n]["upstream_depth10"] if n in ok else None) for n in names]
    rows: list[Row] = [
        ("runs", ">= 1,000,000", cells(lambda r: fmt(r["runs"])), []),
        ("nodes / relationships", "", cells(
            lambda r: f"{fmt(r['nodes'])} / {fmt(r['relationships'])}"), []),
        ("load (GraphWriter)", "", cells(lambda r: fmt(r["load_s"], "s", 1)), []),
        ("  nodes/s", "", cells(lambda r: fmt(r["nodes_per_s"])), []),
        ("  load CPU: bench / server", "", cells(
            lambda r: f"{fmt(r['load_cpu_s'].get('bench'), '', 1)} / "
                      f"{fmt(r['load_cpu_s'].get('server'), '', 1)} s"), []),
        ("  persistence settle", "", cells(lambda r: fmt(r["persistence_wait_s"], "s", 1)), []),
        ("server RSS after load", "", cells(lambda r: fmt(r["server_rss_mb"], "MB")), []),
        ("upstream depth 10, p50 ms", goal_p50, cells(lat("upstream_depth10", "p50_ms")),
         [mark(u["p50_ms"] <= GOAL_UPSTREAM_P50_MS) if u else "" for u in up]),
        ("upstream depth 10, p99 ms", goal_p99, cells(lat("upstream_depth10", "p99_ms")),
         [mark(u["p99_ms"] <= GOAL_UPSTREAM_P99_MS) if u else "" for u in up]),
        ("upstream depth 10, mean ms", "", cells(lat("upstream_depth10", "mean_ms")), []),
    ]
    for label, key, goal in (("impact (column)", "impact", GOAL_IMPACT_P50_MS),
                             ("root cause", "root_cause", GOAL_ROOT_CAUSE_P50_MS)):
        for q in ("p50_ms", "p99_ms", "mean_ms"):
            marks = ([mark(per[n][key][q] <= goal) if n in ok else "" for n in names]
                     if q == "p50_ms" else [])
            rows.append((f"{label}, {q.split('_')[0]} ms", f"<= {goal:g}" if marks else "",
                         cells(lat(key, q)), marks))
    rows.append(("answer sizes: upstream nodes / impact datasets", "", cells(
        lambda r: f"{r['answer_sizes']['upstream_nodes']} / "
                  f"{r['answer_sizes']['impact_datasets']}"), []))
    for n in names:
        if n not in ok:
            rows.append((f"{n}: error", "", [per[n]["error"][:60] if m == n else ""
                                             for m in names], []))
    side_by_side(f"bench/query: {result['pipelines']:,} pipelines, {result['samples']} "
                 "samples per query", names, rows)
    from rich.console import Console

    verdict = "[green]met[/green]" if result["goal_met"] else "[red]missed[/red]"
    Console().print(f"goal ({result['goal']}, every backend): {verdict}")
