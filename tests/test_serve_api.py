"""``lineage serve`` answers every query of the catalog as the CLI's ``--json`` does, on the
demo graph (:mod:`tests.queries_demo_graph`: real runs of the demo pipeline, loaded into a
fresh Neo4j graph), over real HTTP (uvicorn on a loopback port), with its OpenAPI document:

- for each query command, the API's JSON equals the CLI's ``--json`` output;
- an unknown node is a 404 with the CLI's message, a bad parameter 422, a graph that cannot
  be reached 503;
- ``/healthz`` and ``/metrics`` answer without a token, and the metrics count the requests;
- Schemathesis, run against the OpenAPI document with a valid (admin) token (every
  operation: queries, ingestion into a real broker's topic, the DLQ), finds no server error
  and no response that violates the document.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from pydantic import SecretStr

from lineage_app.localstack.processes import free_port
from lineage_app.localstack.stack import create_topics
from lineage_app.serve.app import create_app
from lineage_app.serve.auth import ADMIN, READER, WRITER, TokenStore
from lineage_pipeline.errors import QueryError
from lineage_pipeline.settings import GraphSettings, LineageSettings, load_settings
from lineage_queries.api import LineageGraph
from lineage_queries.pii import PiiView
from tests.conftest import GraphFactory
from tests.queries_demo_graph import (
    DemoGraph,
    DemoRun,
    Ids,
    demo_cli,
    demo_graph,
    landing,
    run_cli,
    run_demo,
)
from tests.serve_support import Answer, call, running

EVALUATE = "demo:breast_cancer.evaluate"
EXPECTED = {"file:*": 60.0}


class Api:
    """The server of this module: its URL, tokens by role, the graph and the demo."""

    def __init__(self, url: str, tokens: dict[str, str], graph: LineageGraph,
                 demo: DemoGraph, settings: LineageSettings) -> None:
        self.url, self.tokens, self.graph, self.demo = url, tokens, graph, demo
        self.settings = settings
        self.ids = Ids(demo.paths)

    def get(self, path: str, role: str = READER, **params: Any) -> Answer:
        return call(self.url, path, token=self.tokens[role], params=params)


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    return run_demo(tmp_path_factory.mktemp("serve-demo") / "data")


@pytest.fixture(scope="module")
def demo(graphs: GraphFactory, demo_run: DemoRun) -> Iterator[DemoGraph]:
    with graphs.fresh("neo4j") as settings, demo_graph(demo_run, settings) as built:
        yield built


def serve_settings(root: Path, bootstrap: str, **serve: Any) -> LineageSettings:
    """Settings of a test server: fresh topics on ``bootstrap``, tokens under ``root``."""
    suffix = uuid.uuid4().hex[:8]
    return load_settings(
        data_dir=root, kafka={"bootstrap_servers": bootstrap},
        topics={"events": f"lineage.events.{suffix}", "openlineage": f"ol.events.{suffix}",
                "graph": f"lineage.graph.{suffix}", "dlq": f"lineage.dlq.{suffix}",
                "erasures": f"lineage.erasures.{suffix}", "partitions": 1},
        freshness={"expected": EXPECTED},
        serve={"tokens_file": str(root / "tokens.json"), **serve})


@pytest.fixture(scope="module")
def api(demo: DemoGraph, kafka_broker: str, tmp_path_factory: pytest.TempPathFactory
        ) -> Iterator[Api]:
    root = tmp_path_factory.mktemp("serve-api")
    settings = serve_settings(root, kafka_broker, rate_limit_per_s=0)
    create_topics(settings)
    store = TokenStore(settings.serve.tokens_file or root / "tokens.json")
    tokens = {role: store.add(f"{role}-test", role) for role in (READER, WRITER, ADMIN)}
    graph = LineageGraph(demo.backend)
    app = create_app(settings, graph_opener=lambda: _Unclosed(demo.backend))
    with running(app) as url:
        yield Api(url, tokens, graph, demo, settings)


class _Unclosed(LineageGraph):
    """The demo's backend stays open after the server stops (the fixture closes it)."""

    def close(self) -> None:
        pass


@pytest.fixture(scope="module")
def cli(api: Api) -> typer.Typer:
    from lineage_pipeline.freshness import FreshnessPolicy

    return demo_cli(api.graph, FreshnessPolicy(expected=EXPECTED))


def _runs(graph: LineageGraph) -> tuple[str, str]:
    """(good, bad) evaluation runs."""
    bad, good = (r["runId"] for r in graph.runs(EVALUATE)[:2])
    return good, bad


#: query -> (CLI arguments, endpoint, its parameters), given the API
Case = Callable[[Api], tuple[list[str], str, dict[str, Any]]]
CASES: dict[str, Case] = {
    "upstream": lambda a: (["upstream", a.ids.model, "--depth", "10"], "/api/v1/upstream",
                           {"node": a.ids.model, "depth": 10}),
    "downstream --kind --as-of": lambda a: (
        ["downstream", landing(a.demo, a.ids, 1), "-k", "model", "-k", "features",
         "--as-of", str(a.demo.between_ms)], "/api/v1/downstream",
        {"node": landing(a.demo, a.ids, 1), "kind": ["model", "features"],
         "asOf": str(a.demo.between_ms)}),
    "upstream --since --granularity job": lambda a: (
        ["upstream", a.ids.model, "--since", str(a.demo.between_ms), "-g", "job"],
        "/api/v1/upstream", {"node": a.ids.model, "since": str(a.demo.between_ms),
                             "granularity": "job"}),
    "downstream --until --granularity dataset": lambda a: (
        ["downstream", a.ids.landing, "--until", str(a.demo.between_ms), "-g", "dataset"],
        "/api/v1/downstream", {"node": a.ids.landing, "until": str(a.demo.between_ms),
                               "granularity": "dataset"}),
    "upstream column": lambda a: (
        ["upstream", f"{a.ids.features}#worst radius", "--depth", "3"], "/api/v1/upstream",
        {"node": a.ids.features, "column": "worst radius", "depth": 3}),
    "runs": lambda a: (["runs", EVALUATE, "-n", "5"], "/api/v1/runs",
                       {"job": EVALUATE, "limit": 5}),
    "run": lambda a: (["run", _runs(a.graph)[1]], "/api/v1/run",
                      {"runId": _runs(a.graph)[1]}),
    "diff": lambda a: (["diff", *_runs(a.graph)], "/api/v1/diff",
                       dict(zip(("runA", "runB"), _runs(a.graph), strict=True))),
    "root-cause": lambda a: (["root-cause", _runs(a.graph)[1]], "/api/v1/root-cause",
                             {"run": _runs(a.graph)[1]}),
    "impact": lambda a: (["impact", f"{a.ids.landing}#worst radius"], "/api/v1/impact",
                         {"node": f"{a.ids.landing}#worst radius"}),
    "trained-on": lambda a: (["trained-on", landing(a.demo, a.ids, 1)], "/api/v1/trained-on",
                             {"node": landing(a.demo, a.ids, 1)}),
    "inputs": lambda a: (["inputs", a.ids.model], "/api/v1/inputs", {"model": a.ids.model}),
    "freshness": lambda a: (
        ["freshness", "--all", "--as-of", str(a.demo.failed_ms + 120_000)],
        "/api/v1/freshness", {"all": "true", "asOf": str(a.demo.failed_ms + 120_000)}),
}


@pytest.mark.parametrize("query", list(CASES))
def test_every_query_answers_what_the_cli_prints(query: str, api: Api, cli: typer.Typer
                                                 ) -> None:
    args, path, params = CASES[query](api)
    printed = json.loads(run_cli(cli, *args, "--json"))
    answer = api.get(path, **params)
    assert answer.status == 200, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    assert answer.json() == printed
    assert printed, f"{query}: an empty answer checks nothing"


def test_fields_answer_what_the_pii_view_gives_the_role(api: Api) -> None:
    answer = api.get("/api/v1/fields", dataset=api.ids.raw)
    assert answer.status == 200, answer.text
    expected = PiiView(api.demo.backend).fields(api.ids.raw, READER)
    assert answer.json() == json.loads(json.dumps(expected))
    assert {f["name"] for f in answer.json()} >= {"worst radius"}


def test_an_unknown_node_is_a_404_with_the_cli_message(api: Api) -> None:
    near_miss = api.ids.model[:-3]
    answer = api.get("/api/v1/upstream", node=near_miss)
    assert answer.status == 404
    with pytest.raises(QueryError) as raised:
        api.graph.upstream(near_miss)
    assert answer.json()["detail"] == str(raised.value)
    assert "Did you mean" in answer.json()["detail"]
    assert answer.json()["retryable"] is False
    for path, params in (("/api/v1/runs", {"job": "demo:no.such.job"}),
                         ("/api/v1/run", {"runId": "no-such-run"}),
                         ("/api/v1/inputs", {"model": "file:/no/such/model.pt"})):
        assert api.get(path, **params).status == 404, path


@pytest.mark.parametrize(("path", "params"), [
    ("/api/v1/upstream", {"node": "x", "depth": 101}),
    ("/api/v1/upstream", {"node": "x", "depth": "deep"}),
    ("/api/v1/upstream", {}),
    ("/api/v1/downstream", {"node": "x", "asOf": "last tuesday"}),
    ("/api/v1/impact", {"node": "x", "asOf": "99999999999999999999"}),
    ("/api/v1/runs", {"job": "x", "limit": 0}),
    ("/api/v1/root-cause", {"run": "x", "driftThreshold": -1}),
])
def test_bad_parameters_are_422(api: Api, path: str, params: dict[str, Any]) -> None:
    answer = api.get(path, **params)
    assert answer.status == 422, answer.text
    assert answer.json()["detail"]


def test_a_graph_that_cannot_be_reached_is_a_503(api: Api, tmp_path: Path) -> None:
    from lineage_pipeline.graph import open_backend

    down = GraphSettings(url=f"bolt://127.0.0.1:{free_port()}", password=SecretStr("x"),
                         timeout_s=5.0)
    settings = api.settings.model_copy(update={"graph": down})
    store = TokenStore(tmp_path / "tokens.json")
    token = store.add("reader", READER)
    app = create_app(settings, graph_opener=lambda: LineageGraph(open_backend(down)),
                     tokens=store)
    with running(app) as url:
        answer = call(url, "/api/v1/upstream", token=token, params={"node": api.ids.model})
    assert answer.status == 503, answer.text
    assert answer.json()["retryable"] is True
    assert answer.headers["retry-after"].isdigit()


def test_health_and_metrics_need_no_token(api: Api) -> None:
    assert api.get("/api/v1/upstream", node=api.ids.model).status == 200
    health = call(api.url, "/healthz")
    assert (health.status, health.json()) == (200, {"status": "ok"})
    metrics = call(api.url, "/metrics")
    assert metrics.status == 200
    assert metrics.headers["content-type"].startswith("text/plain")
    assert 'lineage_serve_requests_total{method="GET",route="/api/v1/upstream",status="200"}' \
        in metrics.text


def test_the_openapi_document_describes_every_query(api: Api) -> None:
    assert call(api.url, "/openapi.json").status == 401
    doc = api.get("/openapi.json").json()
    paths = set(doc["paths"])
    assert {f"/api/v1/{q}" for q in ("upstream", "downstream", "runs", "run", "diff",
                                     "root-cause", "impact", "trained-on", "inputs",
                                     "freshness", "fields", "lineage", "lineage/batch",
                                     "dlq")} <= paths
    ok = doc["paths"]["/api/v1/upstream"]["get"]["responses"]["200"]
    assert ok["content"]["application/json"]["schema"]["$ref"].endswith("/Subgraph")
    assert "Relationship" in doc["components"]["schemas"]
    assert doc["components"]["securitySchemes"]["apiToken"]["scheme"] == "bearer"


def _toml_list(values: list[str]) -> str:
    return "[" + ", ".join(json.dumps(v) for v in values) + "]"


def schemathesis_config(api: Api, path: Path) -> Path:
    """A Schemathesis configuration whose node, run, job, model and dataset parameters take
    ids of the demo graph 4 times in 5 (else generated values), so that the answers checked
    against the document are real ones, not only 404s."""
    ids, graph = api.ids, api.graph
    runs = [r["runId"] for job in (EVALUATE, "demo:breast_cancer.train")
            for r in graph.runs(job)]
    versions = [landing(api.demo, ids, 1), landing(api.demo, ids, 2)]
    datasets = [ids.landing, ids.raw, ids.clean, ids.features, ids.model, ids.evaluation]
    dictionaries = {
        "nodes": [*datasets, *versions, *runs, EVALUATE, f"{ids.landing}#worst radius",
                  f"{ids.features}#worst radius"],
        "runs": runs, "jobs": [EVALUATE, "demo:breast_cancer.train"],
        "models": [ids.model], "datasets": [*datasets, *versions],
    }
    lines = []
    for name, values in dictionaries.items():
        lines += [f"[dictionaries.{name}]", f"values = {_toml_list(values)}", ""]
    lines.append("[parameters]")
    for param, dictionary in (("node", "nodes"), ("runId", "runs"), ("run", "runs"),
                              ("runA", "runs"), ("runB", "runs"), ("baseline", "runs"),
                              ("job", "jobs"), ("model", "models"), ("dataset", "datasets")):
        lines.append(f'"query.{param}" = {{ dictionary = "{dictionary}", '
                     'probability = 0.8 }')
    path.write_text("\n".join(lines) + "\n", "utf-8")
    return path


def test_schemathesis_finds_no_server_error_and_no_schema_violation(
    api: Api, tmp_path: Path
) -> None:
    """Every operation, positive and negative cases, at most 25 examples each (bounded: about
    a minute on two cores); the admin token reaches every endpoint (ingestion goes to the
    module's real broker)."""
    report = tmp_path / "report.json"
    config = schemathesis_config(api, tmp_path / "schemathesis.toml")
    done = subprocess.run(
        [str(Path(sys.executable).with_name("st")), "--config-file", str(config), "run",
         f"{api.url}/openapi.json",
         "--header", f"Authorization: Bearer {api.tokens[ADMIN]}",
         "--checks", "not_a_server_error,response_schema_conformance,"
                     "status_code_conformance,content_type_conformance",
         # one worker: Hypothesis parses lambda sources with ast.parse, which CPython 3.11
         # cannot run in two threads at once ("AST constructor recursion depth mismatch")
         "--max-examples", "25", "--phases", "examples,coverage,fuzzing", "--workers", "1",
         "--seed", "19", "--request-timeout", "60", "--report", "json",
         "--report-json-path", str(report), "--output-truncate", "true"],
        capture_output=True, text=True, timeout=600, check=False, cwd=tmp_path)
    summary = done.stdout[-5000:]
    print(summary)  # the numbers, shown with -s
    assert done.returncode == 0, summary + done.stderr[-2000:]
    assert "Test cases:" in summary and " passed" in summary, summary
