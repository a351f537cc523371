"""The answer shapes (:mod:`lineage_queries.answers`, ``docs/queries.md``) are what the API
returns and the CLI prints.

On the demo graph (:mod:`tests.queries_demo_graph`: real runs of the demo pipeline, loaded
into a fresh graph of each backend), for each query command: the CLI's ``--json`` output
equals the Python API's answer, and both have exactly the keys the answer's ``TypedDict``
declares -- every required key, no undeclared one -- at the top level and in the nested
shapes below it (a ``Subgraph``'s nodes and relationships, a candidate's chain, a row's cause...).
"""

from __future__ import annotations

import json
import types
import typing
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest
import typer

from lineage_pipeline.freshness import FreshnessPolicy
from lineage_queries import answers
from lineage_queries.api import LineageGraph
from lineage_queries.pii import PiiView
from tests.conftest import BACKENDS, GraphFactory
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

EVALUATE = "demo:breast_cancer.evaluate"
POLICY = FreshnessPolicy(expected={"file:*": 60})
#: How many levels below the answer are checked (answer -> subgraph -> nodes -> ...).
NESTED_LEVELS = 3


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    return run_demo(tmp_path_factory.mktemp("demo") / "data")


@pytest.fixture(scope="module", params=BACKENDS)
def demo(request: pytest.FixtureRequest, graphs: GraphFactory, demo_run: DemoRun
         ) -> Iterator[DemoGraph]:
    with graphs.fresh(request.param) as settings, demo_graph(demo_run, settings) as built:
        yield built


@pytest.fixture(scope="module")
def graph(demo: DemoGraph) -> LineageGraph:
    return LineageGraph(demo.backend)


@pytest.fixture(scope="module")
def cli(graph: LineageGraph) -> typer.Typer:
    return demo_cli(graph, POLICY)


# -- the key check --------------------------------------------------------------------------
def _shapes(tp: Any) -> list[Any]:
    """The TypedDicts a declared type holds: itself, list items, dict values, union arms."""
    if typing.is_typeddict(tp):
        return [tp]
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (list, typing.Union, types.UnionType):
        return [s for arg in args for s in _shapes(arg)]
    if origin is dict:
        return _shapes(args[1])
    return []


def _values(tp: Any, value: Any) -> list[Any]:
    """The values of ``value`` that the nested shapes of declared type ``tp`` describe."""
    origin = typing.get_origin(tp)
    if origin is list and isinstance(value, list):
        return value
    if origin is dict and isinstance(value, dict):
        return list(value.values())
    return [] if value is None else [value]


def key_problems(value: Any, shape: Any, where: str = "answer", levels: int = NESTED_LEVELS
                 ) -> list[str]:
    """What in ``value`` disagrees with TypedDict ``shape``: missing required keys,
    undeclared keys; then the same for nested shapes, ``levels`` deep."""
    if not isinstance(value, dict):
        return [f"{where}: {type(value).__name__}, not a {shape.__name__} dict"]
    required, optional = shape.__required_keys__, shape.__optional_keys__
    problems = [f"{where}: {shape.__name__} misses {sorted(required - value.keys())}"
                ] if required - value.keys() else []
    extra = value.keys() - required - optional
    if extra:
        problems.append(f"{where}: {shape.__name__} does not declare {sorted(extra)}")
    if levels == 0:
        return problems
    hints = typing.get_type_hints(shape)
    for key in sorted(value.keys() & hints.keys()):
        nested = _shapes(hints[key])
        for i, item in enumerate(_values(hints[key], value[key])):
            if nested and isinstance(item, dict):
                problems += key_problems(item, _pick(nested, item), f"{where}.{key}[{i}]",
                                         levels - 1)
    return problems


def _pick(shapes: list[Any], item: Mapping[str, Any]) -> Any:
    """The shape of ``shapes`` whose required keys ``item`` has (the first when none)."""
    return next((s for s in shapes if s.__required_keys__ <= item.keys()), shapes[0])


def test_the_key_check_finds_missing_and_undeclared_keys() -> None:
    relationship = {"from": "a", "to": "b", "type": "RUN_OF"}
    node = {"id": "a", "label": "Job", "kind": "job", "namespace": "n", "name": "a",
            "version": None, "depth": 0}
    sub = {"root": "a", "direction": "upstream", "depth": 1, "nodes": [node],
           "relationships": [relationship]}
    assert key_problems(sub, answers.Subgraph) == []
    assert key_problems({**sub, "nodes": [{**node, "colour": "red"}]}, answers.Subgraph) == [
        "answer.nodes[0]: Node does not declare ['colour']"]
    rest = {k: v for k, v in sub.items() if k != "relationships"}
    assert key_problems(rest, answers.Subgraph) == [
        "answer: Subgraph misses ['relationships']"]
    assert key_problems({**sub, "relationships": [{"from": "a", "to": "b"}]}, answers.Subgraph) == [
        "answer.relationships[0]: Relationship misses ['type']"]


# -- the answers ------------------------------------------------------------------------------
def _runs(graph: LineageGraph) -> tuple[str, str]:
    """(good, bad) evaluation runs."""
    bad, good = (r["runId"] for r in graph.runs(EVALUATE)[:2])
    return good, bad


#: command -> (CLI arguments, API call, the answer's shape), given the graph, ids and demo
Case = Callable[[LineageGraph, Ids, DemoGraph], tuple[list[str], Callable[[], Any], Any]]
CASES: dict[str, Case] = {
    "upstream": lambda g, ids, d: (
        ["upstream", ids.model, "--depth", "10"], lambda: g.upstream(ids.model, 10),
        answers.Subgraph),
    "downstream --kind": lambda g, ids, d: (
        ["downstream", landing(d, ids, 1), "-k", "model"],
        lambda: g.downstream(landing(d, ids, 1), kinds=["model"]), answers.Subgraph),
    "runs": lambda g, ids, d: (
        ["runs", EVALUATE], lambda: g.runs(EVALUATE, limit=20), answers.RunSummary),
    "run": lambda g, ids, d: (
        ["run", _runs(g)[1]], lambda: g.run(_runs(g)[1]), answers.RunDetail),
    "diff": lambda g, ids, d: (
        ["diff", *_runs(g)], lambda: g.diff_runs(*_runs(g)), answers.RunDiff),
    "root-cause": lambda g, ids, d: (
        ["root-cause", _runs(g)[1]], lambda: g.root_cause(_runs(g)[1]), answers.RootCause),
    "impact": lambda g, ids, d: (
        ["impact", f"{ids.landing}#worst radius"],
        lambda: g.impact(f"{ids.landing}#worst radius"), answers.Impact),
    "trained-on": lambda g, ids, d: (
        ["trained-on", landing(d, ids, 1)], lambda: g.trained_on(landing(d, ids, 1)),
        answers.TrainedOn),
    "inputs": lambda g, ids, d: (
        ["inputs", ids.model], lambda: g.model_inputs(ids.model), answers.ModelInputs),
    "freshness": lambda g, ids, d: (
        ["freshness", "--all", "--as-of", str(d.failed_ms + 120_000)],
        lambda: g.freshness(POLICY, as_of=d.failed_ms + 120_000, include_fresh=True),
        answers.FreshnessReport),
}


@pytest.mark.parametrize("command", list(CASES))
def test_cli_json_api_answer_and_declared_shape_agree(
    command: str, graph: LineageGraph, cli: typer.Typer, demo: DemoGraph
) -> None:
    args, call, shape = CASES[command](graph, Ids(demo.paths), demo)
    printed = json.loads(run_cli(cli, *args, "--json"))
    answer = call()
    assert printed == json.loads(json.dumps(answer))
    items = answer if isinstance(answer, list) else [answer]
    assert items, f"{command}: an empty answer checks nothing"
    for i, item in enumerate(items):
        assert key_problems(item, shape, f"{command}[{i}]") == []


def test_api_only_answers_have_their_declared_shapes(graph: LineageGraph, demo: DemoGraph
                                                    ) -> None:
    ids = Ids(demo.paths)
    good, bad = _runs(graph)
    checks: list[tuple[Any, Any]] = [
        (graph.baseline_run(bad), answers.BaselineRun),
        *((c, answers.UpstreamChange) for c in graph.changed_upstream(bad, good)),
        *((f, answers.FieldView) for f in PiiView(demo.backend).fields(ids.raw)),
        *((f, answers.FieldProps) for fields in graph.fields([landing(demo, ids, 1)]).values()
          for f in fields),
    ]
    assert len(checks) > 3
    for i, (value, shape) in enumerate(checks):
        assert key_problems(value, shape, f"{shape.__name__}[{i}]") == []
