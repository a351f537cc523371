"""The peer benchmark's goals and table: data-rentgen's column, then one per graph backend."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bench.graphs import TITLES, Row, fmt, mark

#: This project's events/s over the peer's, at least.
GOAL_RATE_RATIO = 5.0
#: This project's CPU seconds per event over the peer's, at most.
GOAL_CPU_RATIO = 0.5


def ratios(ours: dict[str, Any], peer: dict[str, Any]) -> dict[str, float | None]:
    """Ours over the peer's: events/s, CPU per event (with and without Kafka), peak RSS."""
    def div(key: str) -> float | None:
        a, b = ours.get(key), peer.get(key)
        return round(a / b, 2) if a is not None and b else None

    return {"events_per_s": div("events_per_s"), "cpu_per_event": div("cpu_s_per_k_events"),
            "cpu_per_event_without_kafka": div("cpu_s_per_k_events_without_kafka"),
            "peak_rss": div("peak_rss_mb")}


def goals(r: dict[str, float | None]) -> dict[str, bool]:
    """Each goal on the ratios ``r``: met or not."""
    rate, cpu = r.get("events_per_s"), r.get("cpu_per_event")
    return {"events_per_s": rate is not None and rate >= GOAL_RATE_RATIO,
            "cpu_per_event": cpu is not None and cpu <= GOAL_CPU_RATIO}


def _procs(values: dict[str, Any], unit: str, digits: int = 0) -> str:
    return ", ".join(f"{k} {fmt(v, '', digits)}" for k, v in values.items()) + f" {unit}"


#: (figure, goal text, goal key in :func:`goals` or None, cell of one side's figures)
_ROWS: list[tuple[str, str, str | None, Callable[[dict[str, Any]], str]]] = [
    ("events/s (publish -> stored)", "", None, lambda r: fmt(r["events_per_s"])),
    ("  ratio to data-rentgen", f">= {GOAL_RATE_RATIO:g}x", "events_per_s",
     lambda r: fmt(r.get("ratios", {}).get("events_per_s"), "x", 2)),
    ("CPU s / 1,000 events (Kafka incl.)", "", None,
     lambda r: fmt(r["cpu_s_per_k_events"], "s", 2)),
    ("  ratio to data-rentgen", f"<= {GOAL_CPU_RATIO:g}x", "cpu_per_event",
     lambda r: fmt(r.get("ratios", {}).get("cpu_per_event"), "x", 2)),
    ("CPU s / 1,000 events without Kafka", "", None,
     lambda r: fmt(r["cpu_s_per_k_events_without_kafka"], "s", 2)),
    ("  ratio to data-rentgen", "", None,
     lambda r: fmt(r.get("ratios", {}).get("cpu_per_event_without_kafka"), "x", 2)),
    ("  CPU s by process", "", None, lambda r: _procs(r["cpu_s"], "s", 1)),
    ("  cores busy", "", None, lambda r: fmt(r["cpu_cores_busy"], "", 2)),
    ("peak RSS, all processes", "", None, lambda r: fmt(r["peak_rss_mb"], "MiB")),
    ("  without Kafka", "", None, lambda r: fmt(r["peak_rss_mb_without_kafka"], "MiB")),
    ("  peak PSS, all processes", "", None, lambda r: fmt(r["peak_pss_mb"], "MiB")),
    ("  peak RSS by process", "", None, lambda r: _procs(r["peak_rss_mb_by_process"], "MiB")),
    ("runs stored / expected", "", None,
     lambda r: f"{fmt(r['complete_runs'])} / {fmt(r['expected_runs'])}"),
    ("events rejected (DLQ / malformed)", "", None, lambda r: fmt(r["rejected_events"])),
    ("publish events/s", "", None, lambda r: fmt(r["publish_events_per_s"])),
    ("stack start", "", None, lambda r: fmt(r["stack_start_s"], "s", 1)),
]


def print_table(result: dict[str, Any]) -> None:
    """Print the figures: the peer's column, then this project's per backend with goal marks."""
    peer = result.get("peer", {})
    sides: list[tuple[str, dict[str, Any], bool]] = [
        (peer.get("system", "data-rentgen"), peer, False)]
    for name, figures in result.get("backends", {}).items():
        sides.append((f"ours, {TITLES.get(name, name)}", figures, True))
    rows: list[Row] = []
    for figure, goal, key, cell in _ROWS:
        values, marks = [], []
        for _, figures, ours in sides:
            ok = "error" not in figures and bool(figures)
            try:
                values.append(cell(figures) if ok and (ours or "ratio" not in figure) else "")
            except (KeyError, TypeError):
                values.append("-")
            marks.append(mark(figures.get("goals", {}).get(key)) if key and ok and ours
                         else "")
        rows.append((figure, goal, values, marks))
    for i, (name, figures, _) in enumerate(sides):
        if "error" in figures:
            cells = [figures["error"][:60] if j == i else "" for j in range(len(sides))]
            rows.append((f"{name}: error", "", cells, []))
    w = result.get("workload", {})
    _print(f"bench/peer ({result.get('mode')}): {fmt(w.get('events'))} OpenLineage events of "
           f"~{fmt(w.get('bytes_avg'))} B, {fmt(w.get('repeat_share'), '', 2)} repeat runs, "
           "Apache Kafka (KRaft)", [s[0] for s in sides], rows)


def _print(title: str, names: list[str], rows: list[Row]) -> None:
    """A rich table: figure, goal, then value and met? per side (wide enough for the
    per-process cells)."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    table.add_column("figure")
    table.add_column("goal", justify="right")
    for name in names:
        table.add_column(name, justify="right")
        table.add_column("met", justify="center")
    for figure, goal, values, marks in rows:
        cells = [figure, goal]
        for i in range(len(names)):
            cells += [values[i] if i < len(values) else "", marks[i] if i < len(marks) else ""]
        table.add_row(*cells)
    Console(width=60 + 58 * len(names)).print(table)
