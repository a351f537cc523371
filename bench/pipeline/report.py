"""The pipeline benchmark's table: every figure with its goal, one column per graph backend."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bench.graphs import Row, fmt, mark, side_by_side

GOAL_EVENTS_PER_S = 10_000.0
GOAL_P50_S = 0.2
GOAL_P99_S = 1.0
GOAL_RATIO = 0.5


def goals(r: dict[str, Any]) -> dict[str, bool]:
    """Each goal of one backend's figures ``r``: met or not."""
    p50, p99, ratio = r.get("p50_ms"), r.get("p99_ms"), r.get("ratio")
    return {
        "events_per_s": r.get("sustained_events_per_s", 0) >= GOAL_EVENTS_PER_S,
        "p50": p50 is not None and p50 <= GOAL_P50_S * 1000,
        "p99": p99 is not None and p99 <= GOAL_P99_S * 1000,
        "ratio": ratio is not None and ratio >= GOAL_RATIO,
    }


def _cpu(r: dict[str, Any], key: str, name: str) -> Any:
    return r.get(key, {}).get(name)


#: (figure, goal text, goal key in :func:`goals` or None, cell of one backend's figures)
_ROWS: list[tuple[str, str, str | None, Callable[[dict[str, Any]], str]]] = [
    ("sustained events/s end to end", f">= {GOAL_EVENTS_PER_S:,.0f}", "events_per_s",
     lambda r: fmt(r["sustained_events_per_s"])),
    ("  processor alone events/s", "", None, lambda r: fmt(r["processor_events_per_s"])),
    ("  publish events/s", "", None, lambda r: fmt(r["publish_events_per_s"])),
    ("  sink drain after processor", "", None, lambda r: fmt(r["drain_after_processor_s"], "s", 2)),
    ("latency rate (half load)", "", None, lambda r: fmt(r["latency_rate_events_per_s"], "ev/s")),
    ("latency p50 at half load", f"<= {GOAL_P50_S * 1000:.0f} ms", "p50",
     lambda r: fmt(r["p50_ms"], "ms")),
    ("latency p99 at half load", f"<= {GOAL_P99_S * 1000:.0f} ms", "p99",
     lambda r: fmt(r["p99_ms"], "ms")),
    ("  processor picked event up, p50", "", None,
     lambda r: fmt(r["processor_pickup_p50_ms"], "ms")),
    ("  processor published record, p50 / p99", "", None,
     lambda r: f"{fmt(r['processor_part_p50_ms'])} / {fmt(r['processor_part_p99_ms'])} ms"),
    ("direct-write events/s", "", None, lambda r: fmt(r["direct_events_per_s"])),
    ("  direct: graph write share", "", None, lambda r: fmt(r["direct_write_share"], "", 2)),
    ("ratio pipeline / direct", f">= {GOAL_RATIO}", "ratio", lambda r: fmt(r["ratio"], "", 2)),
    ("CPU per 1k events, whole pipeline", "", None,
     lambda r: fmt(r["cpu_ms_per_k_events"], "ms")),
    ("  kafka / graph server CPU (throughput)", "", None,
     lambda r: f"{fmt(_cpu(r, 'cpu_s', 'kafka'), '', 1)} / "
               f"{fmt(_cpu(r, 'cpu_s', 'graph'), '', 1)} s"),
    ("  processor / sink CPU (throughput)", "", None,
     lambda r: f"{fmt(_cpu(r, 'cpu_s', 'processor'), '', 1)} / "
               f"{fmt(_cpu(r, 'cpu_s', 'sink'), '', 1)} s"),
    ("  cores busy during throughput", "", None, lambda r: fmt(r["cpu_cores_busy"], "", 2)),
    ("CPU per 1k events, direct write", "", None,
     lambda r: fmt(r["direct_cpu_ms_per_k_events"], "ms")),
    ("  bench / graph server CPU (direct)", "", None,
     lambda r: f"{fmt(_cpu(r, 'direct_cpu_s', 'bench'), '', 1)} / "
               f"{fmt(_cpu(r, 'direct_cpu_s', 'graph'), '', 1)} s"),
    ("processor / sink peak RSS", "", None,
     lambda r: f"{fmt(r['processor_peak_rss_mb'])} / {fmt(r['sink_peak_rss_mb'])} MB"),
    ("kafka / graph server peak RSS", "", None,
     lambda r: f"{fmt(r['kafka_peak_rss_mb'])} / {fmt(r['graph_peak_rss_mb'])} MB"),
    ("processor RSS growth / 1M events", "", None,
     lambda r: fmt(r["processor_rss_growth_mb_per_m_events"], "MB")),
    ("processor state / 1M events (heap)", "", None,
     lambda r: fmt(r["processor_state_per_m_events"]["heap_mb"], "MB")),
    ("processor state / 1M events (changelog)", "", None,
     lambda r: fmt(r["processor_state_per_m_events"]["changelog_mb"], "MB")),
    ("graph: COMPLETE runs / expected", "", None,
     lambda r: f"{fmt(r['graph_complete_runs'])} / {fmt(r['expected_complete_runs'])}"),
    ("stack start (Kafka + graph + services)", "", None,
     lambda r: fmt(r["stack_start_s"], "s", 1)),
]


def print_table(result: dict[str, Any]) -> None:
    """Print the acceptance table: figure, goal, then value and met? per backend."""
    per = result["backends"]
    names = list(per)
    ok = [n for n in names if "error" not in per[n]]
    rows: list[Row] = []
    for figure, goal, key, cell in _ROWS:
        values = [cell(per[n]) if n in ok else "" for n in names]
        marks = [mark(goals(per[n])[key]) if key and n in ok else "" for n in names]
        rows.append((figure, goal, values, marks))
    for n in names:
        if n not in ok:
            rows.append((f"{n}: error", "", [per[n]["error"][:60] if m == n else ""
                                             for m in names], []))
    first = per[ok[0]] if ok else {}
    side_by_side(
        f"bench/pipeline ({result['mode']}): {fmt(first.get('events'))} events of "
        f"~{fmt(first.get('event_bytes_avg'))} B, {result['partitions']} partition(s), "
        f"Apache Kafka (KRaft)", names, rows)
