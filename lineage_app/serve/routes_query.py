"""The query endpoints: ``GET /api/v1/<query>``, one per query command of the CLI, each
answering exactly what ``lineage <query> ... --json`` prints (``docs/queries.md``).

=============================  ===============================  ====================
endpoint                       CLI                              answer
=============================  ===============================  ====================
``/api/v1/upstream``           ``lineage upstream NODE``        ``Subgraph``
``/api/v1/downstream``         ``lineage downstream NODE``      ``Subgraph``
``/api/v1/runs``               ``lineage runs JOB``             ``list[RunSummary]``
``/api/v1/run``                ``lineage run RUN_ID``           ``RunDetail``
``/api/v1/diff``               ``lineage diff RUN_A RUN_B``     ``RunDiff``
``/api/v1/root-cause``         ``lineage root-cause RUN``       ``RootCause``
``/api/v1/impact``             ``lineage impact NODE``          ``Impact``
``/api/v1/trained-on``         ``lineage trained-on NODE``      ``TrainedOn``
``/api/v1/inputs``             ``lineage inputs MODEL``         ``ModelInputs``
``/api/v1/freshness``          ``lineage freshness [--all]``    ``FreshnessReport``
``/api/v1/fields``             ``lineage fields DATASET``       ``list[FieldView]``
=============================  ===============================  ====================

Query parameters are the CLI's options in camelCase (``asOf``, ``lowerIsBetter``...); NODE
strings as the CLI reads them. Statistics of PII-tagged fields are redacted by the token's
role where the CLI redacts them by ``$LINEAGE_ROLE`` (upstream, downstream, run, impact) or
``--role`` (fields). Errors: :mod:`lineage_app.serve.errors` (unknown node 404, bad
parameter 422, graph unavailable 503).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from pydantic import BaseModel

from lineage_app.serve.auth import QUERY_ROLES, Principal
from lineage_app.serve.errors import COMMON_ERRORS, NOT_FOUND, AnswerResponse
from lineage_app.serve.models import answer_model
from lineage_app.serve.state import ServeState, graph_of, requires, state_of
from lineage_pipeline.errors import QueryError
from lineage_queries import answers
from lineage_queries.api import LineageGraph
from lineage_queries.compare import DRIFT_THRESHOLD
from lineage_queries.walk import MAX_DEPTH

T = TypeVar("T")
#: The latest time ``asOf`` may name (9999-12-31T23:59:59.999Z), in epoch ms.
MAX_TIME_MS = 253_402_300_799_999

router = APIRouter(prefix="/api/v1", tags=["queries"],
                   responses={**COMMON_ERRORS, **NOT_FOUND})

Reader = Annotated[Principal, Depends(requires(QUERY_ROLES))]
Graph = Annotated[LineageGraph, Depends(graph_of)]
State = Annotated[ServeState, Depends(state_of)]
Node = Annotated[str, Query(min_length=1, description=(
    "A run id, a dataset or job 'namespace:name' (local files 'file:/abs/path'), a dataset "
    "version 'namespace:name@version' or a column 'namespace:name[@version]#column'."))]
RunId = Annotated[str, Query(min_length=1, description="A run id.")]
Depth = Annotated[int, Query(ge=0, le=MAX_DEPTH, description="Lineage hops to follow.")]
#: Epoch ms (or s with a fraction) or an ISO 8601 date, date-time, with a zone or UTC.
TIME_PATTERN = (r"^\d{1,15}(\.\d{0,3})?$|^\d{4}-\d{2}-\d{2}"
                r"([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?([Zz]|[+-]\d{2}:\d{2})?)?$")
AsOf = Annotated[str | None, Query(alias="asOf", pattern=TIME_PATTERN, description=(
    "Answer from the graph as it was at this time: epoch ms or ISO 8601 "
    "(2024-05-01T12:00:00Z; UTC when no zone is given)."))]
Kinds = Annotated[list[str] | None, Query(alias="kind", description=(
    "Keep only nodes of these kinds (repeatable): model, features, table, file, predictions, "
    "metrics, dataset, run, job, field."))]
Column = Annotated[str | None, Query(description="A column of the dataset or version.")]
Since = Annotated[str | None, Query(pattern=TIME_PATTERN, description=(
    "Only runs that ran at or after this time (epoch ms or ISO 8601), and what they link to "
    "the node."))]
Until = Annotated[str | None, Query(pattern=TIME_PATTERN, description=(
    "Only runs that ran at or before this time; the graph as it was then."))]
GranularityParam = Annotated[Literal["run", "application", "job", "dataset"], Query(
    description="run; application (child runs into their parent run); job (runs into their "
                "job); dataset (dataset-to-dataset lineage).")]


def _time(text: str | None) -> int | None:
    """``asOf`` in epoch ms (:func:`~lineage_pipeline.timeparse.parse_time`); raises
    :class:`QueryError` (422) for an unreadable time or one outside years 1970..9999."""
    if text is None:
        return None
    from lineage_pipeline.timeparse import parse_time

    ms = parse_time(text)
    if not 0 <= ms <= MAX_TIME_MS:
        raise QueryError(f"time {text!r} is outside 1970-01-01..9999-12-31")
    return ms


def _redacted(graph: LineageGraph, answer: T, principal: Principal) -> T:
    """``answer`` with PII statistics hidden unless the token's role may see them (as the
    CLI's ``shown_to_caller`` does with ``$LINEAGE_ROLE``)."""
    from lineage_queries.pii import PiiView

    return PiiView(graph.backend).redact_answer(answer, principal.role)


def _json(answer: Any) -> Response:
    return AnswerResponse(answer)


def _walk(graph: LineageGraph, direction: str, node: str, depth: int, kind: list[str] | None,
          as_of: str | None, column: str | None, since: str | None, until: str | None,
          granularity: str) -> answers.Subgraph:
    from lineage_queries.granularity import windowed_walk

    return windowed_walk(graph, direction, node, depth, kinds=kind, as_of=_time(as_of),
                         column=column, since=_time(since), until=_time(until),
                         granularity=granularity)


@router.get("/upstream", response_model=answer_model(answers.Subgraph),
            operation_id="upstream")
def upstream(principal: Reader, graph: Graph, node: Node, depth: Depth = 10,
             kind: Kinds = None, as_of: AsOf = None, column: Column = None,
             since: Since = None, until: Until = None,
             granularity: GranularityParam = "run") -> Response:
    """What NODE was made from: runs, jobs, dataset versions and columns (``Subgraph``)."""
    sub = _walk(graph, "upstream", node, depth, kind, as_of, column, since, until, granularity)
    return _json(_redacted(graph, sub, principal))


@router.get("/downstream", response_model=answer_model(answers.Subgraph),
            operation_id="downstream")
def downstream(principal: Reader, graph: Graph, node: Node, depth: Depth = 10,
               kind: Kinds = None, as_of: AsOf = None, column: Column = None,
               since: Since = None, until: Until = None,
               granularity: GranularityParam = "run") -> Response:
    """What was made from NODE: the runs that read it and what they wrote (``Subgraph``)."""
    sub = _walk(graph, "downstream", node, depth, kind, as_of, column, since, until,
                granularity)
    return _json(_redacted(graph, sub, principal))


@router.get("/runs", response_model=list[answer_model(answers.RunSummary)],  # type: ignore[misc]
            operation_id="runs")
def runs(_principal: Reader, graph: Graph,
         job: Annotated[str, Query(min_length=1, description="A job 'namespace:name'.")],
         limit: Annotated[int, Query(ge=1, le=10_000, description="Newest N runs.")] = 20,
         ) -> Response:
    """The runs of JOB, newest first (``list[RunSummary]``)."""
    return _json(graph.runs(job, limit=limit))


@router.get("/run", response_model=answer_model(answers.RunDetail), operation_id="run")
def run(principal: Reader, graph: Graph,
        run_id: Annotated[str, Query(alias="runId", min_length=1, description="A run id.")],
        ) -> Response:
    """One run in full: properties, inputs and outputs with column statistics
    (``RunDetail``)."""
    return _json(_redacted(graph, graph.run(run_id), principal))


@router.get("/diff", response_model=answer_model(answers.RunDiff), operation_id="diff")
def diff(_principal: Reader, graph: Graph,
         run_a: Annotated[str, Query(alias="runA", min_length=1,
                                     description="The earlier (good) run id.")],
         run_b: Annotated[str, Query(alias="runB", min_length=1,
                                     description="The later (bad) run id.")]) -> Response:
    """What differs between two runs (``RunDiff``)."""
    return _json(graph.diff_runs(run_a, run_b))


@router.get("/root-cause", response_model=answer_model(answers.RootCause),
            operation_id="rootCause")
def root_cause(
    _principal: Reader, graph: Graph,
    run_id: Annotated[str, Query(alias="run", min_length=1, description="The bad run id.")],
    baseline: Annotated[str | None, Query(
        description="Compare with this run (default: the job's last COMPLETE run before).")
    ] = None,
    metric: Annotated[str | None, Query(
        description="Default baseline: the last COMPLETE run with a better value of this.")
    ] = None,
    lower_is_better: Annotated[bool, Query(alias="lowerIsBetter")] = False,
    drift_threshold: Annotated[float, Query(alias="driftThreshold", ge=0.0, le=1e12)
                               ] = DRIFT_THRESHOLD,
) -> Response:
    """Ranked candidate causes of a bad run with their evidence and chains (``RootCause``)."""
    return _json(graph.root_cause(run_id, baseline, metric=metric,
                                  higher_is_better=not lower_is_better,
                                  drift_threshold=drift_threshold))


@router.get("/impact", response_model=answer_model(answers.Impact), operation_id="impact")
def impact(principal: Reader, graph: Graph, node: Node, column: Column = None,
           depth: Depth = MAX_DEPTH, as_of: AsOf = None) -> Response:
    """The blast radius of a change to a dataset or column (``Impact``)."""
    answer = graph.impact(node, column=column, depth=depth, as_of=_time(as_of))
    return _json(_redacted(graph, answer, principal))


@router.get("/trained-on", response_model=answer_model(answers.TrainedOn),
            operation_id="trainedOn")
def trained_on(_principal: Reader, graph: Graph, node: Node, as_of: AsOf = None) -> Response:
    """The models trained on this data, directly or through derived data (``TrainedOn``)."""
    return _json(graph.trained_on(node, as_of=_time(as_of)))


@router.get("/inputs", response_model=answer_model(answers.ModelInputs),
            operation_id="inputs")
def inputs(_principal: Reader, graph: Graph,
           model: Annotated[str, Query(min_length=1, description=(
               "A model's digest (or a unique prefix), version 'namespace:name@version' or "
               "dataset 'namespace:name' (its latest version)."))]) -> Response:
    """Every input digest and parameter behind a model (``ModelInputs``)."""
    return _json(graph.model_inputs(model))


@router.get("/freshness", response_model=answer_model(answers.FreshnessReport),
            operation_id="freshness")
def freshness(_principal: Reader, graph: Graph, state: State, as_of: AsOf = None,
              show_all: Annotated[bool, Query(alias="all", description=(
                  "Also list fresh datasets and those without a known interval."))] = False,
              ) -> Response:
    """Stale datasets against their SLA, with the upstream cause (``FreshnessReport``)."""
    return _json(graph.freshness(state.settings.freshness, as_of=_time(as_of),
                                 include_fresh=show_all))


@router.get("/fields", response_model=list[answer_model(answers.FieldView)],  # type: ignore[misc]
            operation_id="fields")
def fields(principal: Reader, graph: Graph,
           dataset: Annotated[str, Query(min_length=1, description=(
               "'namespace:name' (its newest version) or 'namespace:name@version'."))],
           ) -> Response:
    """A dataset version's columns: type, PII tags (own and inherited), statistics
    (``list[FieldView]``; statistics of PII-tagged fields by the token's role)."""
    from lineage_queries.pii import PiiView

    return _json(PiiView(graph.backend).fields(dataset, principal.role))


class SearchHit(BaseModel):
    """One node the search found: ``label`` (Dataset, Job or Run), ``uid`` (the NODE string
    the other endpoints take), ``kind`` (the dataset's kind, ``job`` or ``run``), and for a
    run its ``job``, ``state`` and ``startTime`` (ms)."""

    label: str
    uid: str
    kind: str | None = None
    job: str | None = None
    state: str | None = None
    startTime: int | None = None


@router.get("/search", response_model=list[SearchHit], operation_id="search")
def search(_principal: Reader, graph: Graph,
           q: Annotated[str, Query(min_length=1, max_length=200, description=(
               "Part of a dataset or job 'namespace:name' (any case), or the start of a "
               "run id."))],
           limit: Annotated[int, Query(ge=1, le=100, description="At most N per label.")] = 10,
           ) -> Response:
    """Datasets and jobs whose id contains ``q`` and runs whose id starts with it, at most
    ``limit`` of each, shortest ids first (``list[SearchHit]``; the lineage page's search)."""
    rows = graph.query("search_nodes", needle=q.strip().lower() or q, limit=limit)
    return _json([{k: row.get(k) for k in SearchHit.model_fields} for row in rows])
