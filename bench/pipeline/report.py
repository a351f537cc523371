"""The pipeline benchmark's table: every figure with its goal, one column per graph backend."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bench.graphs import Row, fmt, mark, side_by_side

GOAL_EVENTS_PER_S = 1_500.0
#: The issue's "goal 3,000": printed beside the goal, not judged.
STRETCH_EVENTS_PER_S = 3_000.0
GOAL_P50_S = 0.2
GOAL_P99_S = 1.0
GOAL_RATIO = 0.7
GOAL_STATE_GROWTH_MB = 200.0
GOAL_CHANGELOG_BYTES = 2_048.0
GOAL_ELEMENTS_PER_REPEAT_RUN = 20.0

#: The in-process figures of :func:`bench.pipeline.state.measure_state` copied into each
#: backend's figures (they do not depend on the backend), as ``state_<name>``.
STATE_HEADLINE = ("growth_mb_per_m_events", "retained_mb", "unbounded_bytes_per_event",
                  "bounded_caches_at_bound_mb",
                  "changelog_bytes_per_event", "changelog_bytes_per_event_by_table",
                  "elements_per_repeat_run", "elements_per_new_job_run", "events")


def state_headline(state: dict[str, Any]) -> dict[str, Any]:
    """The in-process figures a backend's figures carry (``state_<name>``)."""
    return {f"state_{k}": state.get(k) for k in STATE_HEADLINE}


def _at_most(value: Any, goal: float) -> bool:
    return value is not None and value <= goal


def goals(r: dict[str, Any]) -> dict[str, bool]:
    """Each goal of one backend's figures ``r``: met or not (a figure missing misses)."""
    ratio = r.get("ratio")
    return {
        "events_per_s": r.get("sustained_events_per_s", 0) >= GOAL_EVENTS_PER_S,
        "p50": _at_most(r.get("p50_ms"), GOAL_P50_S * 1000),
        "p99": _at_most(r.get("p99_ms"), GOAL_P99_S * 1000),
        "ratio": ratio is not None and ratio >= GOAL_RATIO,
        "state_growth": _at_most(r.get("state_growth_mb_per_m_events"), GOAL_STATE_GROWTH_MB),
        "changelog": _at_most(r.get("state_changelog_bytes_per_event"), GOAL_CHANGELOG_BYTES),
        "elements": _at_most(r.get("state_elements_per_repeat_run"),
                             GOAL_ELEMENTS_PER_REPEAT_RUN),
    }


def _cpu(r: dict[str, Any], key: str, role: str) -> Any:
    """CPU seconds of every process of ``role`` (``processor`` covers ``processor2`` ...)."""
    found = [v for k, v in r.get(key, {}).items() if k.startswith(role)]
    return sum(found) if found else None


def _by_table(r: dict[str, Any]) -> str:
    split = r.get("state_changelog_bytes_per_event_by_table") or {}
    return " / ".join(fmt(split.get(k)) for k in ("runs", "versions")) + " B"


#: (figure, goal text, goal key in :func:`goals` or None, cell of one backend's figures)
_ROWS: list[tuple[str, str, str | None, Callable[[dict[str, Any]], str]]] = [
    ("sustained events/s end to end",
     f">= {GOAL_EVENTS_PER_S:,.0f} (goal {STRETCH_EVENTS_PER_S:,.0f})", "events_per_s",
     lambda r: fmt(r["sustained_events_per_s"])),
    ("  processor alone events/s", "", None, lambda r: fmt(r["processor_events_per_s"])),
    ("  publish events/s", "", None, lambda r: fmt(r["publish_events_per_s"])),
    ("  sink drain after processor", "", None, lambda r: fmt(r["drain_after_processor_s"], "s", 2)),
    ("  sink records per write batch", "", None,
     lambda r: fmt(r.get("sink_records_per_batch"), "", 1)),
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
    ("processor / sink RSS growth, run x1M/ev +", "", None,
     lambda r: f"{fmt(r['processor_rss_growth_mb_per_m_events'])} / "
               f"{fmt(r['sink_rss_growth_mb_per_m_events'])} MB"),
    ("processor state growth / 1M events *", f"<= {GOAL_STATE_GROWTH_MB:,.0f} MB",
     "state_growth", lambda r: fmt(r.get("state_growth_mb_per_m_events"), "MB")),
    ("  steady growth per event *", "", None,
     lambda r: fmt(r.get("state_unbounded_bytes_per_event"), "B")),
    ("  retained at the end / caches at bound *", "", None,
     lambda r: f"{fmt(r.get('state_retained_mb'))} / "
               f"{fmt(r.get('state_bounded_caches_at_bound_mb'))} MB"),
    ("changelog bytes per event *", f"<= {GOAL_CHANGELOG_BYTES:,.0f}", "changelog",
     lambda r: fmt(r.get("state_changelog_bytes_per_event"), "B")),
    ("  runs / versions tables *", "", None, _by_table),
    ("graph elements per repeat run *", f"<= {GOAL_ELEMENTS_PER_REPEAT_RUN:,.0f}", "elements",
     lambda r: fmt(r.get("state_elements_per_repeat_run"), "", 1)),
    ("  per run of a new job *", "", None,
     lambda r: fmt(r.get("state_elements_per_new_job_run"), "", 1)),
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
        f"{result.get('instances', 1)} processor + sink instance(s), Apache Kafka (KRaft)",
        names, rows)
    print(_notes(result))


def _notes(result: dict[str, Any]) -> str:
    """The table's footnotes."""
    state = result.get("processor_state") or {}
    if "error" in state:
        measured = f"not measured: {state['error']}"
    else:
        measured = (f"{fmt(state.get('events'))} events, "
                    f"{fmt(state.get('events_per_s_traced'))} events/s traced")
    return (
        "* in process, the processor's logic alone (bench.pipeline.state: the real "
        "EventProcessor and run\n  store, tables as dicts counting their changelog), the "
        f"same for every backend: {measured}.\n"
        "+ (peak RSS - RSS after warm-up) / the run's events x 1M: a short run (allocator "
        "and caches\n  warming up), indicative only.")

