"""Incident queries on a graph built by REAL runs of the demo pipeline (issue 7).

The module fixture runs :mod:`lineage_app.demo.pipeline` once: delivery 1 (good data),
delivery 2 (``worst radius`` in millimetres, x10), then delivery 3 whose landing file lacks
``sample_id`` so the ingest run fails. The feature step uses the demo's pandas engine (a
Spark start costs 20-100 s here; the Spark path is covered by the end-to-end demo test). The
events pass through the processor's own logic and the sink's writer into a fresh graph of
each backend (Neo4j and FalkorDB; :mod:`tests.queries_demo_graph`): the pipeline runs once,
its records are loaded twice. Every command is asked through the API and the CLI, and the
answers are checked exactly, the same on both backends.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from lineage_app.cli.views import fmt_time
from lineage_app.demo.pipeline import DEFECT_COLUMN
from lineage_pipeline.errors import QueryError
from lineage_pipeline.freshness import FreshnessPolicy
from lineage_queries.api import LineageGraph
from lineage_queries.granularity import at_granularity, within
from lineage_queries.quality import quality
from tests.conftest import BACKENDS, GraphFactory
from tests.queries_demo_graph import (
    DemoGraph,
    DemoRun,
    Ids,
    datasets_of,
    demo_cli,
    demo_graph,
    landing,
    node_ids,
    run_cli,
    run_demo,
)

EVALUATE, TRAIN, INGEST, CLEAN, FEATURES, SCORE = (f"demo:breast_cancer.{j}" for j in (
    "evaluate", "train", "ingest", "clean", "features", "score"))
POLICY = FreshnessPolicy(expected={"file:*": 60})


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    """The demo pipeline's records, computed once for both backends."""
    return run_demo(tmp_path_factory.mktemp("demo") / "data")


@pytest.fixture(scope="module", params=BACKENDS)
def demo(request: pytest.FixtureRequest, graphs: GraphFactory, demo_run: DemoRun
         ) -> Iterator[DemoGraph]:
    """The demo's lineage in a fresh graph, once per backend."""
    with graphs.fresh(request.param) as settings, demo_graph(demo_run, settings) as built:
        yield built


@pytest.fixture(scope="module")
def graph(demo: DemoGraph) -> LineageGraph:
    return LineageGraph(demo.backend)


@pytest.fixture(scope="module")
def ids(demo: DemoGraph) -> Ids:
    return Ids(demo.paths)


@pytest.fixture(scope="module")
def evals(graph: LineageGraph) -> tuple[str, str]:
    """(good, bad) evaluation run ids."""
    bad, good = (r["runId"] for r in graph.runs(EVALUATE))
    return good, bad


def test_the_demo_really_ran(demo: DemoGraph, graph: LineageGraph) -> None:
    good, bad = demo.accuracies
    assert bad < good and demo.dlq == []
    assert [r["state"] for r in graph.runs(INGEST)] == ["FAIL", "COMPLETE", "COMPLETE"]


# -- 1. upstream / downstream at every level ------------------------------------------------------
def test_upstream_of_a_model_dataset_reaches_the_raw_landing_data(
    graph: LineageGraph, ids: Ids, demo: DemoGraph
) -> None:
    sub = graph.upstream(ids.model, depth=10)
    assert sub["root"] == ids.model
    assert node_ids(sub, label="Dataset") == {ids.model, ids.features, ids.scaler, ids.clean,
                                              ids.raw, ids.landing}
    assert node_ids(sub, label="Job") == {TRAIN, FEATURES, CLEAN, INGEST}
    assert node_ids(sub, label="DatasetVersion", dataset=ids.landing) == {
        landing(demo, ids, 1), landing(demo, ids, 2)}
    assert {n["depth"] for n in sub["nodes"] if n.get("dataset") == ids.landing} == {8}


def test_upstream_of_a_version_and_of_a_run(
    graph: LineageGraph, ids: Ids, demo: DemoGraph, evals: tuple[str, str]
) -> None:
    _, bad = evals
    sub = graph.upstream(bad, depth=2)
    assert (sub["nodes"][0]["label"], sub["nodes"][0]["depth"]) == ("Run", 0)
    assert datasets_of(sub) == {ids.model, ids.golden}
    assert {n["job"] for n in sub["nodes"] if n["label"] == "Run"} == {EVALUATE, TRAIN}
    model_v2 = next(n["id"] for n in sub["nodes"] if n.get("dataset") == ids.model)
    full = graph.upstream(model_v2, depth=100)
    assert node_ids(full, label="DatasetVersion", dataset=ids.landing) == {landing(demo, ids, 2)}
    assert datasets_of(full) == {ids.model, ids.features, ids.scaler, ids.clean, ids.raw,
                                 ids.landing}


def test_downstream_of_a_job_and_a_version(graph: LineageGraph, ids: Ids, demo: DemoGraph
                                           ) -> None:
    sub = graph.downstream(INGEST, depth=1)
    assert len(node_ids(sub, label="Run")) == 3  # two COMPLETE runs and the failed one
    assert datasets_of(sub) == {ids.raw}
    assert len(node_ids(sub, label="DatasetVersion")) == 2
    sub = graph.downstream(landing(demo, ids, 1), depth=100)
    assert datasets_of(sub) == {ids.landing, ids.raw, ids.clean, ids.features, ids.scaler,
                                ids.model, ids.evaluation, ids.predictions}
    assert len(node_ids(sub, label="DatasetVersion", dataset=ids.model)) == 1


def test_column_level_lineage_followed_by_name(graph: LineageGraph, ids: Ids,
                                               demo: DemoGraph) -> None:
    sub = graph.upstream(f"{ids.features}#{DEFECT_COLUMN}", depth=20)
    assert sub["root"] == f"{ids.features}#{DEFECT_COLUMN}" and sub["column"] == DEFECT_COLUMN
    fields = [n for n in sub["nodes"] if n["label"] == "Field"]
    assert {n["name"] for n in fields} == {DEFECT_COLUMN}
    assert {(n["dataset"], n["depth"]) for n in fields} == {
        (ids.features, 0), (ids.clean, 2), (ids.raw, 4), (ids.landing, 6)}
    hops = {(e["from"].split("@")[0], e["to"].split("@")[0]): e.get("inferred", "declared")
            for e in sub["relationships"] if e["type"] == "DERIVED_FROM"}
    assert hops == {(ids.features, ids.clean): "name", (ids.clean, ids.raw): "name",
                    (ids.raw, ids.landing): "name"}
    # the runs of each column hop come along
    assert {n["job"] for n in sub["nodes"] if n["label"] == "Run"} == {FEATURES, CLEAN, INGEST}
    # one version's column, through --column
    v2 = landing(demo, ids, 2)
    down = graph.downstream(v2, column=DEFECT_COLUMN, depth=100)
    assert down["root"] == f"{v2}#{DEFECT_COLUMN}"
    assert {(n["dataset"], n["name"]) for n in down["nodes"] if n["label"] == "Field"} == {
        (ids.landing, DEFECT_COLUMN), (ids.raw, DEFECT_COLUMN), (ids.clean, DEFECT_COLUMN),
        (ids.features, DEFECT_COLUMN)}
    # the scaler has no 'worst radius' column: the column flows into it as a whole
    assert {(e["from"].split("@")[0], e.get("inferred")) for e in down["relationships"]
            if e["type"] == "DERIVED_FROM" and e["to"].split("@")[0] == ids.clean} == {
        (ids.features, "name"), (ids.scaler, "dataset")}
    with pytest.raises(QueryError, match="has a column 'nope'"):
        graph.downstream(f"{ids.landing}#nope")


def test_kind_filter_keeps_models_and_bridges_the_rest(graph: LineageGraph, ids: Ids) -> None:
    sub = graph.downstream(ids.landing, depth=100, kinds=["model"])
    assert sub["kinds"] == ["model"]
    assert {n["kind"] for n in sub["nodes"] if n["id"] != ids.landing} == {"model"}
    assert datasets_of(sub) == {ids.scaler, ids.model}
    bridges = {(e["from"].split("@")[0], e["to"].split("@")[0]) for e in sub["relationships"]
               if e.get("collapsed")}
    assert bridges == {(ids.scaler, ids.landing), (ids.model, ids.landing),
                       (ids.model, ids.scaler)}


def test_as_of_before_delivery_2_answers_with_the_lineage_of_that_time(
    graph: LineageGraph, ids: Ids, demo: DemoGraph
) -> None:
    now = graph.upstream(ids.model, depth=10)
    then = graph.upstream(ids.model, depth=10, as_of=demo.between_ms)
    assert then["asOf"] == demo.between_ms
    assert node_ids(then, label="DatasetVersion", dataset=ids.landing) == {landing(demo, ids, 1)}
    assert len(node_ids(then, label="Run")) * 2 == len(node_ids(now, label="Run"))
    assert all(n["observedAt"] is not None and n["observedAt"] <= demo.between_ms
               for n in then["nodes"]
               if n["label"] in ("Run", "DatasetVersion"))
    with pytest.raises(QueryError, match="not in the graph yet"):
        graph.upstream(landing(demo, ids, 2), as_of=demo.between_ms)


# -- 2. impact ------------------------------------------------------------------------------------
def test_impact_of_the_defect_column(graph: LineageGraph, ids: Ids) -> None:
    answer = graph.impact(f"{ids.landing}#{DEFECT_COLUMN}")
    counts = answer["counts"]
    assert answer["summary"] == ("impacts 2 models, 2 tables, 1 features, 1 predictions and "
                                 "1 metrics (7 datasets), 3 columns, 6 jobs")
    assert counts == {"datasets": 7, "byKind": {"features": 1, "metrics": 1, "model": 2,
                                                "predictions": 1, "table": 2},
                      "columns": 3, "jobs": 6, "runs": 12, "versions": 14}
    assert answer["models"] == [ids.scaler, ids.model]
    assert [(d["id"], d["distance"]) for d in answer["datasets"]] == [
        (ids.raw, 2), (ids.clean, 4), (ids.features, 6), (ids.scaler, 6), (ids.model, 8),
        (ids.evaluation, 10), (ids.predictions, 10)]
    assert [(c["dataset"], c["column"], c["how"]) for c in answer["columns"]] == [
        (ids.raw, DEFECT_COLUMN, "name"), (ids.clean, DEFECT_COLUMN, "name"),
        (ids.features, DEFECT_COLUMN, "name")]
    assert [(j["id"], j["distance"], j["runs"]) for j in answer["jobs"]] == [
        (INGEST, 1, 2), (CLEAN, 3, 2), (FEATURES, 5, 2), (TRAIN, 7, 2), (EVALUATE, 9, 2),
        (SCORE, 9, 2)]
    whole = graph.impact(ids.landing)
    assert whole["counts"]["columns"] == 0 and whole["counts"]["datasets"] == 7
    assert whole["counts"]["runs"] == counts["runs"] + 1  # + the failed ingest run


# -- 3. diff --------------------------------------------------------------------------------------
def test_diff_of_the_ingest_runs_shows_the_moved_column(graph: LineageGraph, ids: Ids,
                                                        demo: DemoGraph) -> None:
    _, second, first = (r["runId"] for r in graph.runs(INGEST))
    diff = graph.diff_runs(first, second)
    assert diff["sameJob"] and diff["unchangedInputs"] == []
    [inp] = diff["inputs"]
    assert inp["before"] is not None and inp["after"] is not None
    assert (inp["dataset"], inp["status"], inp["before"]["digest"], inp["after"]["digest"]) == (
        ids.landing, "changed", *demo.landing_digests)
    assert inp["schema"] == {"added": [], "removed": [], "retyped": []}
    [col] = inp["columns"]
    assert (col["name"], col["stat"]) == (DEFECT_COLUMN, "mean")
    assert col["moved"] == pytest.approx(9.0)
    assert col["drift"] == pytest.approx(9.0)
    assert [o["dataset"] for o in diff["outputs"]] == [ids.raw]
    assert diff["parameters"] == diff["code"] == diff["environment"] == diff["metrics"] == {}


def test_diff_of_the_evaluations_shows_the_metric_drop(
    graph: LineageGraph, ids: Ids, demo: DemoGraph, evals: tuple[str, str]
) -> None:
    diff = graph.diff_runs(*evals)
    assert diff["unchangedInputs"] == [ids.golden]
    assert [i["dataset"] for i in diff["inputs"]] == [ids.model]
    good, bad = demo.accuracies
    assert diff["metrics"] == {"accuracy": {"before": good, "after": bad,
                                            "delta": pytest.approx(bad - good)}}
    assert node_ids(diff["subgraph"], label="Run") == set(evals)


# -- 4. root cause --------------------------------------------------------------------------------
def test_root_cause_ranks_the_landing_version_with_worst_radius_first(
    graph: LineageGraph, ids: Ids, demo: DemoGraph, evals: tuple[str, str]
) -> None:
    good, bad = evals
    answer = graph.root_cause(bad)
    assert answer["baseline"]["runId"] == good
    assert answer["baseline"]["reason"] == f"the last COMPLETE run of {EVALUATE} before {bad}"
    first = answer["candidates"][0]
    assert (first["rank"], first["type"], first["severity"], first["node"]) == (
        1, "data", "high", landing(demo, ids, 2))
    assert first["evidence"]["before"]["digest"] == demo.landing_digests[0]
    assert first["evidence"]["producer"] is None
    assert first["evidence"]["drift"][0]["name"] == DEFECT_COLUMN
    assert first["evidence"]["drift"][0]["drift"] == pytest.approx(9.0)
    assert [d["name"] for d in first["evidence"]["drift"]] == [DEFECT_COLUMN]
    assert "column 'worst radius'" in first["summary"]
    assert "arrived from outside" in first["summary"]
    chain = first["chain"]
    assert chain[0]["id"] == landing(demo, ids, 2) and chain[-1]["id"] == bad
    assert [c["dataset"] for c in chain if c["label"] == "DatasetVersion"] == [
        ids.landing, ids.raw, ids.clean, ids.features, ids.model]
    assert [c["job"] for c in chain if c["label"] == "Run"] == [
        INGEST, CLEAN, FEATURES, TRAIN, EVALUATE]
    assert len(answer["candidates"]) == 1
    assert {c["dataset"] for c in answer["consequences"]} == {
        ids.raw, ids.clean, ids.features, ids.scaler, ids.model}
    assert all(c["causedBy"] == [first["node"]] for c in answer["consequences"])
    assert answer["metrics"]["accuracy"]["after"] == demo.accuracies[1]
    # explicit baseline and the metric rule give the same baseline here
    assert graph.root_cause(bad, good)["candidates"][0]["node"] == first["node"]
    assert graph.baseline_run(bad, metric="accuracy")["runId"] == good
    with pytest.raises(QueryError, match="no earlier successful run"):
        graph.baseline_run(bad, metric="accuracy", higher_is_better=False)
    with pytest.raises(QueryError, match="no earlier successful run"):
        graph.root_cause(good)


def test_root_cause_of_the_failed_ingest_is_the_schema_change(graph: LineageGraph, ids: Ids,
                                                              demo: DemoGraph) -> None:
    failed, second, _ = (r["runId"] for r in graph.runs(INGEST))
    answer = graph.root_cause(failed)
    assert answer["baseline"]["runId"] == second
    [cause] = answer["candidates"]
    assert (cause["type"], cause["severity"], cause["dataset"]) == ("data", "high", ids.landing)
    schema = cause["evidence"]["schema"]
    assert schema["added"] == ["id", "radius"] and "sample_id" in schema["removed"]
    assert len(schema["removed"]) == 32


# -- 5. models ------------------------------------------------------------------------------------
def test_trained_on_a_landing_version(graph: LineageGraph, ids: Ids, demo: DemoGraph) -> None:
    answer = graph.trained_on(landing(demo, ids, 1))
    assert answer["summary"] == f"2 models trained on {landing(demo, ids, 1)}"
    assert [(m["dataset"], m["distance"]) for m in answer["models"]] == [
        (ids.scaler, 6), (ids.model, 8)]
    assert answer["models"][1]["run"]["job"] == TRAIN
    assert all(m["run"]["startTime"] is not None and m["run"]["startTime"] < demo.between_ms
               for m in answer["models"])
    assert datasets_of(answer["subgraph"]) == {ids.landing, ids.raw, ids.clean, ids.features,
                                               ids.scaler, ids.model}
    golden = graph.trained_on(ids.golden)
    assert golden["models"] == []


def test_inputs_of_a_model_by_digest_prefix(graph: LineageGraph, ids: Ids, demo: DemoGraph
                                           ) -> None:
    model = graph.trained_on(landing(demo, ids, 2))["models"][1]
    answer = graph.model_inputs(str(model["digest"])[:10])
    assert answer["model"]["id"] == model["id"]
    trainer = answer["model"]["producedBy"]
    assert trainer is not None and trainer["job"] == TRAIN
    assert answer["sources"] == [landing(demo, ids, 2)]
    assert [(i["dataset"], i["distance"]) for i in answer["inputs"]] == [
        (ids.features, 2), (ids.scaler, 2), (ids.clean, 4), (ids.raw, 6), (ids.landing, 8)]
    assert answer["inputs"][-1]["digest"] == demo.landing_digests[1]
    assert answer["parameters"][TRAIN]["epochs"] == "60"
    assert answer["parameters"][CLEAN] == {"clip_min": "0", "impute": "median"}
    assert answer["parameters"][FEATURES] == {"scaler": "standard"}
    assert list(answer["parameters"]) == [TRAIN, FEATURES, CLEAN, INGEST]
    assert graph.model_inputs(ids.model)["model"]["id"] == model["id"]  # latest version
    with pytest.raises(QueryError, match="no dataset version with id or digest"):
        graph.model_inputs("abcdef0123")


# -- 6. freshness ---------------------------------------------------------------------------------
def test_freshness_names_the_failed_ingest_as_the_upstream_cause(
    graph: LineageGraph, ids: Ids, demo: DemoGraph
) -> None:
    answer = graph.freshness(POLICY, as_of=demo.failed_ms + 120_000)
    assert answer["summary"] == "7 of 7 written datasets are stale"
    stale = {r["dataset"]: r for r in answer["stale"]}
    assert set(stale) == {ids.raw, ids.clean, ids.features, ids.scaler, ids.model,
                          ids.evaluation, ids.predictions}
    raw = stale[ids.raw]["cause"]
    assert raw is not None and raw["run"] is not None and raw["run"]["errorMessage"]
    assert (raw["type"], raw["job"], raw["run"]["state"]) == ("failed", INGEST, "FAIL")
    assert "sample_id" in raw["run"]["errorMessage"]
    clean = stale[ids.clean]["cause"]
    assert clean is not None
    assert (clean["type"], clean["job"], clean["via"], clean["writerStopped"]) == (
        "upstream", INGEST, [ids.raw], CLEAN)
    model = stale[ids.model]["cause"]
    assert model is not None and model["type"] == "upstream" and model["via"][-1] == ids.raw
    assert stale[ids.raw]["intervalSource"] == "configured"
    assert stale[ids.raw]["expectedIntervalS"] == 60


def test_freshness_before_the_deadline_and_with_learned_intervals(
    graph: LineageGraph, demo: DemoGraph
) -> None:
    assert graph.freshness(POLICY, as_of=demo.end_ms + 10_000)["stale"] == []
    learned = graph.freshness(as_of=demo.failed_ms + 3_600_000, include_fresh=True)
    # two writes per dataset make one interval: too few to learn an expected interval
    assert learned["stale"] == [] and len(learned["noSla"]) == 7


# -- 7. CLI and output formats --------------------------------------------------------------------
@pytest.fixture(scope="module")
def cli(graph: LineageGraph) -> typer.Typer:
    return demo_cli(graph, POLICY)


def test_cli_json_equals_the_api_answer(
    cli: typer.Typer, graph: LineageGraph, evals: tuple[str, str], ids: Ids, demo: DemoGraph
) -> None:
    good, bad = evals
    col = f"{ids.landing}#{DEFECT_COLUMN}"
    cases: list[tuple[list[str], Any]] = [
        (["root-cause", bad, "--json"], graph.root_cause(bad)),
        (["impact", col, "--format", "json"], graph.impact(col)),
        (["diff", good, bad, "--json"], graph.diff_runs(good, bad)),
        (["trained-on", landing(demo, ids, 1), "--json"], graph.trained_on(landing(demo, ids, 1))),
        (["inputs", ids.model, "--json"], graph.model_inputs(ids.model)),
        (["upstream", ids.model, "--as-of", str(demo.between_ms), "-k", "model", "--json"],
         graph.upstream(ids.model, as_of=demo.between_ms, kinds=["model"])),
    ]
    for args, expected in cases:
        assert json.loads(run_cli(cli, *args)) == json.loads(json.dumps(expected)), args
    fresh = json.loads(run_cli(cli, "freshness", "--as-of", str(demo.failed_ms + 120_000),
                               "--json"))
    assert fresh == json.loads(json.dumps(graph.freshness(POLICY, as_of=demo.failed_ms + 120_000)))


def test_cli_tables_for_people(cli: typer.Typer, evals: tuple[str, str], ids: Ids,
                               demo: DemoGraph) -> None:
    _, bad = evals
    out = run_cli(cli, "root-cause", bad)
    assert "candidate causes" in out and "column 'worst radius'" in out
    assert "chain of cause #1" in out
    out = run_cli(cli, "impact", ids.landing, "--column", DEFECT_COLUMN)
    assert "impacts 2 models" in out and ids.predictions in out
    out = run_cli(cli, "diff", *evals)
    assert "unchanged inputs: " + ids.golden in out and "accuracy" in out
    out = run_cli(cli, "freshness", "--as-of", str(demo.failed_ms + 120_000))
    assert "7 of 7 written datasets are stale" in out and "ended FAIL" in out
    out = run_cli(cli, "upstream", f"{ids.features}#{DEFECT_COLUMN}", "-d", "20")
    assert "column worst radius of " + ids.landing in out and "by name" in out
    out = run_cli(cli, "trained-on", landing(demo, ids, 1))
    assert "2 models trained on" in out
    out = run_cli(cli, "inputs", ids.model)
    assert "runs and parameters" in out and "(source)" in out
    when = datetime.fromtimestamp(demo.between_ms / 1000, UTC).isoformat()
    out = run_cli(cli, "upstream", ids.model, "--as-of", when)
    assert f"as of {fmt_time(demo.between_ms)}" in out and demo.landing_digests[0][:12] in out
    assert demo.landing_digests[1][:12] not in out
    result = CliRunner().invoke(cli, ["upstream", ids.model, "--as-of", "yesterday"])
    assert isinstance(result.exception, QueryError)



# -- 8. lineage check -----------------------------------------------------------------------------
def _check(cli: typer.Typer, *args: str) -> tuple[int, dict[str, Any]]:
    result = CliRunner().invoke(cli, ["check", *args, "--json"], env={"COLUMNS": "220"})
    assert result.exit_code in (0, 1), (result.output, result.exception)
    return result.exit_code, json.loads(result.stdout)


def test_check_a_dropped_column_names_what_breaks_and_fails(
    cli: typer.Typer, graph: LineageGraph, ids: Ids, tmp_path: Any
) -> None:
    code, report = _check(cli, ids.landing, "--drop", DEFECT_COLUMN)
    assert code == 1 and report["breaks"]
    shown = CliRunner().invoke(cli, ["check", ids.landing, "--drop", DEFECT_COLUMN],
                               env={"COLUMNS": "220"})
    assert shown.exit_code == 1 and "BREAKS" in shown.stdout
    assert "1 of 1 changes break downstream" in shown.stdout
    [change] = report["changes"]
    assert (change["column"], change["change"], change["breaks"]) == (
        DEFECT_COLUMN, "drop", True)
    reached = {d["id"]: d["kind"] for d in change["datasets"]}
    assert reached[ids.features] == "features" and reached[ids.evaluation] == "metrics"
    assert ids.model in change["models"]
    evaluations = {r["runId"] for r in graph.runs(EVALUATE)}
    assert evaluations <= set(change["runs"]) and EVALUATE in change["jobs"]
    # a retype of the same column changes the same things but breaks nothing: exit 0
    code, report = _check(cli, ids.landing, "--type", f"{DEFECT_COLUMN}=float32")
    assert code == 0 and not report["breaks"] and report["changes"][0]["datasets"]
    # a proposed Avro schema for the raw table (its newest version has the column): the
    # current columns plus one breaks nothing; without the column, it breaks
    current = _columns(graph, ids.raw)
    assert DEFECT_COLUMN in current
    columns = [{"name": n, "type": ["null", t or "string"]} for n, t in current.items()]
    proposed = tmp_path / "raw.avsc"
    proposed.write_text(json.dumps({"type": "record", "name": "raw",
                                    "fields": [*columns, {"name": "new", "type": "string"}]}))
    code, report = _check(cli, ids.raw, "--schema", str(proposed))
    assert code == 0 and report["changes"] == []
    proposed.write_text(json.dumps({"type": "record", "name": "raw", "fields": [
        c for c in columns if c["name"] != DEFECT_COLUMN]}))
    code, report = _check(cli, ids.raw, "--schema", str(proposed))
    assert code == 1 and [c["column"] for c in report["changes"]] == [DEFECT_COLUMN]
    assert ids.model in report["changes"][0]["models"]


def _columns(graph: LineageGraph, dataset: str) -> dict[str, str | None]:
    from lineage_queries.check import current_columns

    return current_columns(graph, dataset)


# -- 9. completeness ------------------------------------------------------------------------------
def test_completeness_of_the_demo_overall_per_namespace_and_as_gauges(
    cli: typer.Typer, graph: LineageGraph, ids: Ids
) -> None:
    from prometheus_client import REGISTRY

    from graph_sink.observe import SinkObserver
    from lineage_pipeline.graph.completeness import completeness
    from lineage_pipeline.settings import LineageSettings

    report = completeness(graph.backend)
    runs = report["overall"]["runs_with_inputs_and_outputs"]
    own = [r for j in (INGEST, CLEAN, FEATURES, TRAIN, EVALUATE, SCORE) for r in graph.runs(j)]
    assert runs["total"] >= len(own) - 1 and 0 < runs["count"] < runs["total"]
    # the failed ingest read the landing file but wrote nothing: the one incomplete run
    assert runs["total"] - runs["count"] == 1
    assert report["namespaces"]["demo"]["runs_with_inputs_and_outputs"] == runs
    datasets = report["overall"]["datasets_with_owner"]
    assert datasets["count"] == 0 and datasets["total"] >= 10 and datasets["ratio"] == 0.0
    assert report["summary"].startswith(f"{runs['count']} of {runs['total']} runs")
    assert json.loads(run_cli(cli, "completeness", "--json")) == json.loads(json.dumps(report))
    assert "runs with inputs and outputs" in run_cli(cli, "completeness")
    observer = SinkObserver(LineageSettings())
    assert observer.refresh_completeness(graph.backend, now=0.0)
    assert not observer.refresh_completeness(graph.backend, now=1.0)  # not due yet
    assert REGISTRY.get_sample_value("lineage_completeness_ratio", {
        "measure": "runs_with_inputs_and_outputs", "namespace": "*"}) == runs["ratio"]


def test_quality_per_landing_version_on_both_backends(graph: LineageGraph, ids: Ids,
                                                      demo: DemoGraph, cli: typer.Typer) -> None:
    # issue 20: pandera and Great Expectations validate each delivery in the ingest run
    report = quality(graph, ids.landing)
    by_uid = {v["id"]: v for v in report["versions"]}
    good, bad = by_uid[landing(demo, ids, 1)], by_uid[landing(demo, ids, 2)]
    assert (good["failed"], bad["failed"]) == (0, 2)
    assert good["passed"] == bad["passed"] + 2  # the same suite, two checks now failing
    failed = sorted((c["assertion"], c["column"], c["job"]) for c in bad["checks"]
                    if not c["success"])
    assert failed == [("expect_column_values_to_be_between", DEFECT_COLUMN, INGEST),
                      ("in_range", DEFECT_COLUMN, INGEST)]
    assert any(m.startswith(ids.model) for m in bad["downstreamModels"])
    assert good["downstreamModels"] == []
    # delivery 3 lacks sample_id: its checks on that column fail too (the ingest run failed)
    third = [v for v in report["versions"] if v["id"] not in (good["id"], bad["id"])]
    assert third and any(c["column"] == "sample_id" and not c["success"]
                         for c in third[0]["checks"])
    one = quality(graph, landing(demo, ids, 1))
    assert [v["id"] for v in one["versions"]] == [good["id"]] and one["failed"] == 0
    out = CliRunner().invoke(cli, ["quality", landing(demo, ids, 2), "--json"])
    assert out.exit_code == 1
    assert json.loads(out.stdout)["versions"][0]["failed"] == 2
    with pytest.raises(QueryError, match="give a dataset"):
        quality(graph, INGEST)


def test_a_time_window_and_coarser_granularities_of_the_models_upstream(
        graph: LineageGraph, ids: Ids, demo: DemoGraph, cli: typer.Typer) -> None:
    # issue 19: what ran in a window, and the lineage by application, job or dataset
    sub = graph.upstream(ids.model, 10)
    d1, d2 = landing(demo, ids, 1), landing(demo, ids, 2)
    assert {d1, d2} <= node_ids(sub)
    second = sorted(r["startTime"] or 0 for r in graph.runs(INGEST))[1]  # delivery 2's ingest
    window = within(sub, second, None)
    assert d2 in node_ids(window) and d1 not in node_ids(window)
    assert all((n.get("startTime") or 0) >= second for n in window["nodes"]
               if n["label"] == "Run")
    assert window["window"] == {"since": second, "until": None}
    jobs = at_granularity(sub, "job")
    assert "Run" not in {n["label"] for n in jobs["nodes"]}
    by_job = {n["id"]: n for n in jobs["nodes"] if n["label"] == "Job"}
    assert by_job[TRAIN].get("runs") == 2 and {INGEST, CLEAN, FEATURES} <= set(by_job)
    ids_of = node_ids(jobs)
    assert all(r["from"] in ids_of and r["to"] in ids_of for r in jobs["relationships"])
    datasets = at_granularity(sub, "dataset")
    assert {n["label"] for n in datasets["nodes"]} == {"Dataset"}
    made_from = {(r["from"], r["to"]) for r in datasets["relationships"]}
    assert {(ids.model, ids.features), (ids.features, ids.clean), (ids.clean, ids.raw),
            (ids.raw, ids.landing)} <= made_from
    assert at_granularity(sub, "application")["nodes"] == sub["nodes"]  # no child runs here
    with pytest.raises(QueryError, match="granularity"):
        at_granularity(sub, "week")
    out = run_cli(cli, "upstream", ids.model, "--granularity", "dataset", "--json")
    assert json.loads(out) == json.loads(json.dumps(datasets))
    windowed = json.loads(run_cli(cli, "upstream", ids.model, "--since", str(second), "--json"))
    assert d1 not in node_ids(windowed)
