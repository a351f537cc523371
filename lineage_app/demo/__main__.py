"""``make demo``: why did this model's accuracy drop after a data update?

Starts the local stack (or reuses a running one), runs the instrumented pipeline over
delivery 1 (good) and delivery 2 (``worst radius`` in mm), waits until the graph holds both
evaluation runs, then asks the graph -- through the same Python API the ``lineage`` CLI
uses -- what is upstream of the bad evaluation run and what changed against the good one,
and prints the chain from the metric down to the raw data version, the data-quality checks
that failed on it, and last the URL of the bad run's page on the stack's ``lineage serve``.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from emitters.client import LineageClient
from lineage_app.demo.pipeline import STEPS, Paths, deliver, run_pipeline, stop_spark
from lineage_app.demo.report import (
    EVALUATE_JOB,
    find_root_cause_chain,
    render_chain,
    wait_for_runs,
)
from lineage_app.localstack import stack
from lineage_pipeline.errors import LineageError
from lineage_pipeline.settings import LineageSettings, load_settings

if TYPE_CHECKING:
    from lineage_queries.api import LineageGraph

console = Console()


def _bin_dir() -> str:
    """The directory of the ``lineage`` script, relative to here when it is below here."""
    bin_dir = Path(sys.executable).parent
    try:
        return str(bin_dir.relative_to(Path.cwd()))
    except ValueError:
        return str(bin_dir)


def main() -> int:
    """Run the demo end to end; return the process exit status."""
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=UserWarning)
    settings = load_settings()
    paths = Paths((settings.data_dir / "demo-data").resolve())
    console.rule("[bold]lineage-pipeline demo: why did the model's accuracy drop?")
    settings = _start_stack(settings)

    from lineage_pipeline.graph import open_backend
    from lineage_queries.api import LineageGraph

    graph = LineageGraph(open_backend(settings.graph))
    before = len(graph.runs(EVALUATE_JOB)) if graph.has_job(EVALUATE_JOB) else 0
    client = LineageClient.from_config(
        kafka={"bootstrap_servers": settings.kafka.bootstrap_servers}
    )
    accuracies = _run_deliveries(paths, client)
    stop_spark()
    pending = client.flush(30.0)
    client.close()
    console.print(
        f"evaluated accuracy: delivery 1 = [green]{accuracies[0]:.3f}[/green], "
        f"delivery 2 = [red]{accuracies[1]:.3f}[/red]"
        + (f"  ({pending} events still pending)" if pending else "")
    )
    bad_run = _explain(graph, before)
    _print_page(settings, bad_run)
    return 0


def _print_page(settings: LineageSettings, run_id: str) -> None:
    """The URL of the bad run's page on the stack's ``lineage serve``, signed in with a
    reader token named ``demo`` (made again at every demo: only its hash is kept)."""
    from lineage_app.serve.auth import READER, TokenStore
    from lineage_app.serve.ui import page_url

    store = TokenStore(settings.serve.tokens_file or settings.data_dir / "serve" / "tokens.json")
    store.revoke("demo")
    token = store.add("demo", READER)
    base = f"http://{settings.serve.host}:{settings.serve.port}"
    console.rule("[bold]the bad run in the lineage page")
    # one line whatever the terminal's width: a URL broken by the wrap cannot be copied
    console.print(f"  [cyan]{page_url(base, run_id, token)}[/cyan]", soft_wrap=True)


def _start_stack(settings: LineageSettings) -> LineageSettings:
    """Start the local stack (or reuse a running one); return the settings it runs with."""
    with console.status("starting the local stack (Kafka, Neo4j, sink, processor, API)") as status:
        services = stack.up(settings, progress=lambda msg: status.update(msg))
    for info in services.values():
        console.print(f"  [green]✓[/green] {info.name:<10} {info.address:<32} log {info.log}")
    return load_settings()  # now with the graph password the first `up` generated


def _run_deliveries(paths: Paths, client: LineageClient) -> list[float]:
    """Run the pipeline over delivery 1 then delivery 2; return both accuracies."""
    accuracies: list[float] = []
    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
        console=console,
    ) as progress:
        for delivery, note in ((1, "good data"), (2, "worst radius now in mm")):
            progress.console.print(f"[bold]delivery {delivery}[/bold]: {note}")
            deliver(paths, delivery)
            task = progress.add_task(f"delivery {delivery}", total=len(STEPS))

            def on_step(label: str, task_id: TaskID = task, n: int = delivery) -> None:
                progress.update(task_id, description=f"delivery {n}: {label}")
                progress.advance(task_id)

            accuracies.append(run_pipeline(paths, client, on_step=on_step))
            progress.update(task, description=f"delivery {delivery}: done", completed=len(STEPS))
    return accuracies


def _print_failed_checks(graph: LineageGraph, version: str) -> None:
    """The data-quality checks that failed on the root version, as validated on arrival."""
    from lineage_queries.quality import quality

    for v in quality(graph, version)["versions"]:
        for c in v["checks"]:
            if not c["success"]:
                console.print(f"  [red]failed check[/red] {c['assertion']} on "
                              f"'{c.get('column') or '(dataset)'}': expected "
                              f"{c.get('expected')}, got {c.get('actual')} ({c['job']})")


def _explain(graph: LineageGraph, before: int) -> str:
    """Wait for both evaluation runs in the graph; print the root-cause chain and the
    commands to explore further; return the bad evaluation run's id."""
    with console.status("waiting for the lineage to reach the graph"):
        runs = wait_for_runs(graph, EVALUATE_JOB, before + 2, timeout_s=180.0)
    bad, good = runs[0], runs[1]
    chain = find_root_cause_chain(graph, bad["runId"], good["runId"])
    console.rule("[bold]root cause: from the metric down to the raw data")
    render_chain(console, chain)
    root = chain.root_version
    if root is not None:
        _print_failed_checks(graph, root.bad_version["id"])
    console.rule("[bold]explore further")
    for cmd in (
        f"lineage root-cause {bad['runId']}",
        f"lineage upstream {bad['runId']} --depth 10",
        f"lineage diff {good['runId']} {bad['runId']}",
        f"lineage upstream {root.dataset_uid} --json"
        if root
        else "lineage runs demo:breast_cancer.train",
        f"lineage quality {root.dataset_uid}" if root else "lineage completeness",
        f"lineage runs {EVALUATE_JOB}",
        "lineage status",
        "lineage down",
    ):
        console.print(f"  [cyan]{_bin_dir()}/{cmd}[/cyan]")
    return str(bad["runId"])


if __name__ == "__main__":
    try:
        sys.exit(main())
    except LineageError as exc:
        console.print(f"[red]demo failed:[/red] {exc}")
        logs = Path(".lineage/logs").resolve()
        console.print(f"Logs are under {logs}; `lineage status` shows the stack.")
        sys.exit(1)
