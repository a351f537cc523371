"""The query catalog and LineageGraph on a small hand-built graph: exact answers.

The graph: two deliveries of ``landing.csv`` (the second with ``radius`` in mm, x10) flow
through ``ingest`` -> ``raw.parquet`` -> ``train`` -> ``model.pkl`` -> ``evaluate`` (with an
unchanged ``golden.csv``) -> ``eval.json``. It is built once per backend (Neo4j and FalkorDB;
test ids ``[neo4j]``/``[falkordb]``) and every answer must be the same on both.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from graph_sink.testing import VersionSpec, run_mutations
from graph_sink.writer import GraphWriter
from lineage_app.cli.query_commands import register
from lineage_pipeline.errors import QueryError
from lineage_pipeline.freshness import FreshnessPolicy
from lineage_pipeline.graph import open_backend
from lineage_pipeline.graph.catalog import catalog, parse_catalog_file
from lineage_pipeline.graph_model import NodeLabel
from lineage_pipeline.timeparse import parse_time
from lineage_queries.api import LineageGraph
from tests.conftest import BACKENDS, GraphFactory

T1, T2 = 1_000_000, 2_000_000
GOLDEN = VersionSpec("file", "/data/golden.csv", "g1", digest="gold",
                     fields={"radius": {"mean": 14.0, "min": 7.0, "max": 28.0, "nullCount": 0}})


def _delivery(n: int, t: int) -> list[Any]:
    scale = 1.0 if n == 1 else 10.0
    radius = {"mean": 16.0 * scale, "min": 8.0 * scale, "max": 36.0 * scale, "nullCount": 0}
    texture = {"mean": 19.0, "min": 9.0, "max": 39.0, "nullCount": 0}
    landing = VersionSpec("file", "/data/landing.csv", f"d{n}", digest=f"land{n}", row_count=569,
                          fields={"radius": radius, "texture": texture})
    raw = VersionSpec("file", "/data/raw.parquet", f"r{n}", digest=f"raw{n}", row_count=569,
                      fields={"radius": radius, "texture": texture})
    model = VersionSpec("file", "/data/model.pkl", f"m{n}", kind="model", digest=f"mod{n}")
    evaluation = VersionSpec("file", "/data/eval.json", f"e{n}", kind="metrics", digest=f"ev{n}")
    return [
        run_mutations(("demo", "ingest"), f"ingest-{n}", time_ms=t, inputs=[landing],
                      outputs=[raw]),
        run_mutations(("demo", "train"), f"train-{n}", time_ms=t + 10_000, inputs=[raw],
                      outputs=[model], parameters={"C": 1.0, "seed": 7}, git_sha=f"sha{n}",
                      metrics={"train_accuracy": 0.99}),
        run_mutations(("demo", "evaluate"), f"eval-{n}", time_ms=t + 20_000,
                      inputs=[model, GOLDEN], outputs=[evaluation],
                      metrics={"accuracy": 0.95 if n == 1 else 0.8}),
    ]


@pytest.fixture(scope="module", params=BACKENDS)
def graph(request: pytest.FixtureRequest, graphs: GraphFactory) -> Iterator[LineageGraph]:
    """The hand-built graph, once per backend (test ids carry ``[neo4j]``/``[falkordb]``)."""
    with graphs.fresh(request.param) as settings:
        backend = open_backend(settings)
        backend.ensure_schema()
        GraphWriter(backend).write(_delivery(1, T1) + _delivery(2, T2))
        with LineageGraph(backend) as g:
            yield g


def ids(sub: Mapping[str, Any], **match: Any) -> list[str]:
    return [n["id"] for n in sub["nodes"] if all(n.get(k) == v for k, v in match.items())]


def relationships(sub: Mapping[str, Any]) -> set[tuple[str, str, str]]:
    return {(e["from"], e["to"], e["type"]) for e in sub["relationships"]}


# -- catalog --------------------------------------------------------------------------------------
def test_catalog_queries_are_named_parameterised_and_portable() -> None:
    queries = catalog()
    assert {"resolve_node", "upstream_producers", "upstream_inputs", "downstream_consumers",
            "downstream_outputs", "job_runs_newest_first", "run_detail",
            "run_versions"} <= set(queries)
    for q in queries.values():
        assert "//" not in q.text and q.doc, q.name
        for banned in ("apoc.", "elementId(", "datetime(", "timestamp("):
            assert banned not in q.text, (q.name, banned)
    assert queries["upstream_inputs"].params == {"uids", "as_of"}


def test_catalog_file_format() -> None:
    parsed = parse_catalog_file("x.cypher", "// file doc\n\n// name: a\n// does A\nRETURN $p\n"
                                "// name: b\nMATCH (n)\n// inline note\nRETURN n.uid\n")
    assert [(q.name, q.text, q.params, q.doc) for q in parsed] == [
        ("a", "RETURN $p", frozenset({"p"}), "does A"),
        ("b", "MATCH (n)\nRETURN n.uid", frozenset(), ""),
    ]


def test_query_checks_parameters(graph: LineageGraph) -> None:
    with pytest.raises(QueryError, match="takes parameters"):
        graph.query("run_detail", runid="x")
    with pytest.raises(QueryError, match="no query named"):
        graph.query("nope")


# -- resolving nodes ------------------------------------------------------------------------------
def test_resolve_every_kind_of_node_string(graph: LineageGraph) -> None:
    assert graph.resolve("eval-2").label is NodeLabel.RUN
    assert graph.resolve("file:/data/model.pkl").label is NodeLabel.DATASET
    assert graph.resolve("file:/data/model.pkl@m2").label is NodeLabel.DATASET_VERSION
    assert graph.resolve("demo:train").label is NodeLabel.JOB
    assert graph.resolve("/data/landing.csv").uid == "file:/data/landing.csv"
    # any spelling the processor makes canonical (lineage_pipeline.naming) finds the node
    assert graph.resolve("file:///data/model.pkl").uid == "file:/data/model.pkl"
    assert graph.resolve("file://localhost/data//raw.parquet/").uid == "file:/data/raw.parquet"
    assert graph.resolve("file:/data/./model.pkl@m2").uid == "file:/data/model.pkl@m2"
    assert graph.has_job("demo:train") and not graph.has_job("demo:nope")


def test_unknown_node_raises_a_helpful_query_error(graph: LineageGraph) -> None:
    with pytest.raises(QueryError) as err:
        graph.upstream("file:/data/landing")
    msg = str(err.value)
    assert "'file:/data/landing'" in msg and "namespace:name@version" in msg
    assert "Did you mean: file:/data/landing.csv (dataset)?" in msg
    with pytest.raises(QueryError, match="depth must be between 0 and 100"):
        graph.upstream("eval-2", depth=101)
    with pytest.raises(QueryError, match="no Job with id 'demo:nope'"):
        graph.runs("demo:nope")
    with pytest.raises(QueryError, match="no Run with id 'demo:train'"):
        graph.run("demo:train")


# -- upstream / downstream ------------------------------------------------------------------------
def test_upstream_of_a_model_dataset_lists_training_runs_and_versions_down_to_the_raw_file(
    graph: LineageGraph,
) -> None:
    sub = graph.upstream("file:/data/model.pkl", depth=10)
    assert sub["root"] == "file:/data/model.pkl" and sub["direction"] == "upstream"
    assert ids(sub, kind="run") == ["train-1", "train-2", "ingest-1", "ingest-2"]
    assert ids(sub, label="DatasetVersion") == [
        "file:/data/model.pkl@m1", "file:/data/model.pkl@m2",
        "file:/data/raw.parquet@r1", "file:/data/raw.parquet@r2",
        "file:/data/landing.csv@d1", "file:/data/landing.csv@d2",
    ]
    assert ids(sub, label="Job") == ["demo:train", "demo:ingest"]
    assert ids(sub, label="Dataset") == [
        "file:/data/model.pkl", "file:/data/raw.parquet", "file:/data/landing.csv"]
    landing = next(n for n in sub["nodes"] if n["id"] == "file:/data/landing.csv@d2")
    assert landing == {
        "id": "file:/data/landing.csv@d2", "label": "DatasetVersion", "kind": "table",
        "namespace": "file", "name": "/data/landing.csv", "version": "d2", "depth": 4,
        "dataset": "file:/data/landing.csv", "digestAlgorithm": "sha256", "digest": "land2",
        "rowCount": 569, "bytes": None, "producedByRunId": None,
        "observedAt": T2 + 1000, "updatedAt": None,  # only runs keep a last observation
    }
    train = next(n for n in sub["nodes"] if n["id"] == "train-2")
    assert (train["namespace"], train["name"], train["job"], train["state"], train["depth"]) == (
        "demo", "train", "demo:train", "COMPLETE", 1)
    assert relationships(sub) == {
        ("file:/data/model.pkl@m1", "file:/data/model.pkl", "VERSION_OF"),
        ("file:/data/model.pkl@m2", "file:/data/model.pkl", "VERSION_OF"),
        ("train-1", "file:/data/model.pkl@m1", "GENERATED"),
        ("train-2", "file:/data/model.pkl@m2", "GENERATED"),
        ("file:/data/raw.parquet@r1", "train-1", "CONSUMED_BY"),
        ("file:/data/raw.parquet@r2", "train-2", "CONSUMED_BY"),
        ("ingest-1", "file:/data/raw.parquet@r1", "GENERATED"),
        ("ingest-2", "file:/data/raw.parquet@r2", "GENERATED"),
        ("file:/data/landing.csv@d1", "ingest-1", "CONSUMED_BY"),
        ("file:/data/landing.csv@d2", "ingest-2", "CONSUMED_BY"),
        ("train-1", "demo:train", "RUN_OF"), ("train-2", "demo:train", "RUN_OF"),
        ("ingest-1", "demo:ingest", "RUN_OF"), ("ingest-2", "demo:ingest", "RUN_OF"),
        ("file:/data/raw.parquet@r1", "file:/data/raw.parquet", "VERSION_OF"),
        ("file:/data/raw.parquet@r2", "file:/data/raw.parquet", "VERSION_OF"),
        ("file:/data/landing.csv@d1", "file:/data/landing.csv", "VERSION_OF"),
        ("file:/data/landing.csv@d2", "file:/data/landing.csv", "VERSION_OF"),
    }


def test_upstream_depth_limits_the_walk(graph: LineageGraph) -> None:
    sub = graph.upstream("eval-2", depth=2)
    assert [(n["id"], n["depth"]) for n in sub["nodes"] if n["label"] != "Dataset"
            and n["label"] != "Job"] == [
        ("eval-2", 0), ("file:/data/golden.csv@g1", 1), ("file:/data/model.pkl@m2", 1),
        ("train-2", 2),
    ]
    assert graph.upstream("eval-2", depth=0)["nodes"][0]["id"] == "eval-2"
    assert ids(graph.upstream("eval-2", depth=0), label="Job") == ["demo:evaluate"]


def test_downstream_of_a_raw_version_and_of_a_shared_input(graph: LineageGraph) -> None:
    sub = graph.downstream("file:/data/landing.csv@d1")
    assert [n["id"] for n in sub["nodes"] if n["label"] in ("Run", "DatasetVersion")] == [
        "file:/data/landing.csv@d1", "ingest-1", "file:/data/raw.parquet@r1", "train-1",
        "file:/data/model.pkl@m1", "eval-1", "file:/data/eval.json@e1",
    ]
    golden = graph.downstream("file:/data/golden.csv")
    assert ids(golden, kind="run") == ["eval-1", "eval-2"]
    assert ids(golden, label="DatasetVersion", kind="metrics") == [
        "file:/data/eval.json@e1", "file:/data/eval.json@e2"]
    job = graph.downstream("demo:ingest", depth=1)
    assert ids(job, label="DatasetVersion") == ["file:/data/raw.parquet@r1",
                                                "file:/data/raw.parquet@r2"]


def test_as_of_answers_from_the_graph_of_that_time(graph: LineageGraph) -> None:
    sub = graph.upstream("file:/data/model.pkl", as_of=T2 - 1)
    assert ids(sub, kind="run") == ["train-1", "ingest-1"]


# -- runs -----------------------------------------------------------------------------------------
def test_runs_newest_first_with_state_times_and_metrics(graph: LineageGraph) -> None:
    runs = graph.runs("demo:evaluate")
    summary = [(r["runId"], r["state"], r["startTime"], r["durationMs"], r["metrics"])
               for r in runs]
    assert summary == [
        ("eval-2", "COMPLETE", T2 + 20_000, 1000, {"accuracy": 0.8}),
        ("eval-1", "COMPLETE", T1 + 20_000, 1000, {"accuracy": 0.95}),
    ]
    assert [r["runId"] for r in graph.runs("demo:evaluate", limit=1)] == ["eval-2"]


def test_run_has_all_props_parsed_and_its_versions_with_field_stats(graph: LineageGraph) -> None:
    run = graph.run("train-2")
    assert run["parameters"] == {"C": 1.0, "seed": 7} and run["metrics"] == {"train_accuracy": 0.99}
    assert run["job"] is not None and run["job"]["uid"] == "demo:train"
    assert run["gitSha"] == "sha2"
    assert [v["id"] for v in run["inputs"]] == ["file:/data/raw.parquet@r2"]
    assert [v["id"] for v in run["outputs"]] == ["file:/data/model.pkl@m2"]
    raw = run["inputs"][0]
    assert raw["schema"] == [{"name": "radius", "type": "double"},
                             {"name": "texture", "type": "double"}]
    assert [(f["name"], f["mean"], f["max"]) for f in raw["fields"]] == [
        ("radius", 160.0, 360.0), ("texture", 19.0, 39.0)]
    assert run["outputs"][0]["producedByRunId"] == "train-2"


def test_diff_runs_reports_changed_inputs_columns_parameters_code_and_metrics(
    graph: LineageGraph,
) -> None:
    diff = graph.diff_runs("train-1", "train-2")
    assert diff["sameJob"] is True
    assert diff["unchangedInputs"] == []
    [raw] = diff["inputs"]
    assert raw["before"] is not None and raw["after"] is not None
    assert (raw["dataset"], raw["status"], raw["before"]["digest"], raw["after"]["digest"]) == (
        "file:/data/raw.parquet", "changed", "raw1", "raw2")
    assert raw["schema"] == {"added": [], "removed": [], "retyped": []}
    [radius] = raw["columns"]
    assert (radius["name"], radius["moved"], radius["stat"]) == ("radius", 9.0, "mean")
    assert radius["stats"]["mean"] == {"before": 16.0, "after": 160.0, "delta": 144.0,
                                       "relativeChange": 9.0}
    assert diff["code"] == {"gitSha": {"before": "sha1", "after": "sha2"}}
    assert diff["parameters"] == {} and diff["metrics"] == {}
    evals = graph.diff_runs("eval-1", "eval-2")
    assert evals["unchangedInputs"] == ["file:/data/golden.csv"]
    assert evals["metrics"] == {"accuracy": {"before": 0.95, "after": 0.8,
                                             "delta": pytest.approx(-0.15)}}
    assert [o["dataset"] for o in evals["outputs"]] == ["file:/data/eval.json"]


def test_changed_upstream_ranks_the_raw_data_version_with_the_moved_column_first(
    graph: LineageGraph,
) -> None:
    changed = graph.changed_upstream("eval-2", "eval-1")
    assert [(c["dataset"], c["distance"], c["score"]) for c in changed] == [
        ("file:/data/landing.csv", 5, 9.0),
        ("file:/data/raw.parquet", 3, 9.0),
        ("file:/data/model.pkl", 1, 0.0),
    ]
    top = changed[0]
    assert top["bad"] == {"id": "file:/data/landing.csv@d2", "version": "d2", "digest": "land2",
                          "producedByRunId": None, "job": None}
    assert top["good"] is not None and top["good"]["digest"] == "land1"
    assert [(c["name"], c["stat"]) for c in top["columns"]] == [("radius", "mean")]
    assert changed[1]["bad"]["job"] == "demo:ingest"
    with pytest.raises(QueryError):
        graph.changed_upstream("eval-2", "file:/data/model.pkl")


# -- CLI ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cli(graph: LineageGraph) -> typer.Typer:
    app = typer.Typer()
    # the CLI closes the graph after each command: hand it a fresh one over the same backend
    register(app, lambda: _Unclosed(graph), FreshnessPolicy)
    return app


class _Unclosed(LineageGraph):
    def __init__(self, inner: LineageGraph) -> None:
        super().__init__(inner.backend)

    def close(self) -> None:
        pass


def test_cli_upstream_json_is_the_api_answer(cli: typer.Typer, graph: LineageGraph) -> None:
    result = CliRunner().invoke(cli, ["upstream", "file:/data/model.pkl", "--depth", "10",
                                      "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == graph.upstream("file:/data/model.pkl", 10)


def test_cli_tables_for_people(cli: typer.Typer) -> None:
    runner = CliRunner()
    tree = runner.invoke(cli, ["upstream", "eval-2", "-d", "3"], env={"COLUMNS": "200"})
    assert tree.exit_code == 0, tree.output
    for text in ("upstream of eval-2 (depth 3)", "run demo:evaluate", "model file:/data/model.pkl",
                 "table file:/data/golden.csv", "run demo:train", "table file:/data/raw.parquet"):
        assert text in tree.stdout, tree.stdout
    runs = runner.invoke(cli, ["runs", "demo:evaluate"], env={"COLUMNS": "200"})
    assert runs.exit_code == 0 and "accuracy=0.8" in runs.stdout and "eval-1" in runs.stdout
    down = runner.invoke(cli, ["downstream", "file:/data/golden.csv", "--json"])
    assert {n["id"] for n in json.loads(down.stdout)["nodes"]} >= {"eval-1", "eval-2"}
    detail = runner.invoke(cli, ["run", "eval-2", "--json"])
    assert json.loads(detail.stdout)["metrics"] == {"accuracy": 0.8}
    unknown = runner.invoke(cli, ["upstream", "nothing:here"])
    assert isinstance(unknown.exception, QueryError)


def test_pictures_png_svg_html_and_dot(cli: typer.Typer, tmp_path: Path) -> None:
    def run(*args: str) -> str:
        result = CliRunner().invoke(cli, list(args), env={"COLUMNS": "200"})
        assert result.exit_code == 0, (result.output, result.exception)
        return result.stdout

    png = tmp_path / "root_cause.png"
    assert "wrote" in run("root-cause", "eval-2", "--format", "png", "-o", str(png))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 1000
    dot = run("root-cause", "eval-2", "--format", "dot")
    assert dot.startswith("digraph lineage {")
    # train-2's code change (sha1 -> sha2) ranks first here (drawn as the run node
    # ``train-2#code``), the moved landing data second
    for label in ("run train-2#", "landing.csv [cause #2]", "run eval-2", "evaluate",
                  "model.pkl", "CONSUMED_BY", "GENERATED"):
        assert label in dot, (label, dot)
    svg = tmp_path / "impact.svg"
    run("impact", "file:/data/landing.csv#radius", "-f", "svg", "-o", str(svg))
    assert "<svg" in svg.read_text("utf-8")
    page = tmp_path / "up.html"
    run("upstream", "file:/data/model.pkl", "-f", "html", "-o", str(page))
    html = page.read_text("utf-8")
    assert html.startswith("<!doctype html>") and "<svg" in html and "wheel" in html
    assert "http://" not in html.split("<svg", 1)[0]  # loads nothing from the network
    result = CliRunner().invoke(cli, ["freshness", "-f", "png"])
    assert isinstance(result.exception, QueryError) and "-o FILE" in str(result.exception)

def test_parse_time() -> None:
    assert parse_time("1714567890123") == 1714567890123
    assert parse_time("1714567890.5") == 1714567890500
    assert parse_time("2024-05-01T12:00:00Z") == 1714564800000
    assert parse_time("2024-05-01T14:00:00+02:00") == 1714564800000
    assert parse_time("2024-05-01") == 1714521600000
    with pytest.raises(QueryError, match="ISO 8601"):
        parse_time("last tuesday")
