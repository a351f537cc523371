"""Rules the demo graph cannot show, on a small hand-built graph: declared column lineage
(renames suppress matching by name), and root-cause candidates from code and parameter
changes and from failed upstream runs, ranked.

    src@s1 --load-1 (sha1)--> orders@o1 --agg-1 {window: 7}--> report@r1
    src@s1 --load-2 (sha2)--> orders@o2 --agg-2 {window: 30}-> report@r2
                     load-3 FAIL (after load-2, before agg-2)
    dims-1 COMPLETE --> dim@d1 --agg-1;   dims-2 FAIL --> dim@d2 --agg-2

agg declares column lineage ``report.amount <- orders.amount_cents``. The graph is built once
per backend (Neo4j and FalkorDB); the answers must be the same on both.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from graph_sink.testing import ColumnLineage, VersionSpec, run_mutations
from graph_sink.writer import GraphWriter
from lineage_pipeline.graph import GraphBackend, open_backend
from lineage_queries.api import LineageGraph
from tests.conftest import BACKENDS, GraphFactory

T1, T2 = 1_000_000, 2_000_000
STATS = {"mean": 10.0, "min": 0.0, "max": 20.0, "nullCount": 0}
SRC = VersionSpec("file", "/d/src.csv", "s1", digest="s1", fields={"amount_cents": STATS})


def _orders(n: int) -> VersionSpec:
    return VersionSpec("file", "/d/orders.parquet", f"o{n}", digest=f"o{n}",
                       fields={"amount_cents": STATS, "region": STATS})


def _report(n: int) -> VersionSpec:
    return VersionSpec("file", "/d/report.csv", f"r{n}", digest=f"r{n}",
                       fields={"amount": STATS, "region": STATS})


def _dim(n: int) -> VersionSpec:
    return VersionSpec("file", "/d/dim.csv", f"d{n}", digest=f"d{n}")


def _declared(n: int) -> list[ColumnLineage]:
    return [ColumnLineage(_report(n), "amount", _orders(n), "amount_cents", "INDIRECT")]


@pytest.fixture(scope="module", params=BACKENDS)
def graph(request: pytest.FixtureRequest, graphs: GraphFactory) -> Iterator[LineageGraph]:
    """The graph of the module docstring, once per backend."""
    with graphs.fresh(request.param) as settings, LineageGraph(open_backend(settings)) as g:
        _write(g.backend)
        yield g


def _write(backend: GraphBackend) -> None:
    backend.ensure_schema()
    load, agg, dims = ("t", "load"), ("t", "agg"), ("t", "dims")
    GraphWriter(backend).write([
        run_mutations(load, "load-1", time_ms=T1, inputs=[SRC], outputs=[_orders(1)],
                      git_sha="sha1"),
        run_mutations(dims, "dims-1", time_ms=T1, outputs=[_dim(1)]),
        run_mutations(agg, "agg-1", time_ms=T1 + 10_000, inputs=[_orders(1), _dim(1)],
                      outputs=[_report(1)], parameters={"window": 7},
                      column_lineage=_declared(1)),
        run_mutations(load, "load-2", time_ms=T2, inputs=[SRC], outputs=[_orders(2)],
                      git_sha="sha2"),
        run_mutations(dims, "dims-2", time_ms=T2, outputs=[_dim(2)], state="FAIL"),
        run_mutations(load, "load-3", time_ms=T2 + 5_000, inputs=[SRC], state="FAIL"),
        run_mutations(agg, "agg-2", time_ms=T2 + 10_000, inputs=[_orders(2), _dim(2)],
                      outputs=[_report(2)], parameters={"window": 30},
                      column_lineage=_declared(2)),
    ])


def test_declared_column_lineage_follows_renames_and_suppresses_name_matching(
    graph: LineageGraph,
) -> None:
    up = graph.upstream(f"{_report(1).uid}#amount", depth=10)
    fields = {(n["dataset"], n["name"], n["depth"]) for n in up["nodes"] if n["label"] == "Field"}
    assert fields == {("file:/d/report.csv", "amount", 0),
                      ("file:/d/orders.parquet", "amount_cents", 2),
                      ("file:/d/src.csv", "amount_cents", 4)}
    declared = [e for e in up["relationships"] if e["type"] == "DERIVED_FROM"
                and e.get("transformation") == "INDIRECT"]
    assert [(e["from"], e["to"], e["runId"]) for e in declared] == [
        (f"{_report(1).uid}#amount", f"{_orders(1).uid}#amount_cents", "agg-1")]
    # agg declared its column lineage: 'region' is not matched by name through agg
    region = graph.upstream(f"{_report(1).uid}#region", depth=10)
    assert [n["id"] for n in region["nodes"] if n["label"] == "Field"] == [
        f"{_report(1).uid}#region"]
    down = graph.downstream("file:/d/orders.parquet#amount_cents", depth=10)
    assert {n["id"] for n in down["nodes"] if n["label"] == "Field"} == {
        f"{_orders(1).uid}#amount_cents", f"{_orders(2).uid}#amount_cents",
        f"{_report(1).uid}#amount", f"{_report(2).uid}#amount"}


def test_root_cause_ranks_parameters_failed_producer_code_and_upstream_failure(
    graph: LineageGraph,
) -> None:
    answer = graph.root_cause("agg-2")
    assert answer["baseline"]["runId"] == "agg-1"
    ranked = [(c["rank"], c["type"], c["severity"], c["distance"], c.get("job"))
              for c in answer["candidates"]]
    assert ranked == [
        (1, "parameters", "high", 0, "t:agg"),
        (2, "failed_producer", "high", 1, "t:dims"),
        (3, "code", "high", 2, "t:load"),
        (4, "upstream_failure", "medium", 2, "t:load"),
        (5, "data", "low", 1, None),
    ]
    params, failed, code, upstream, data = answer["candidates"]
    assert params["evidence"]["window"] == {"before": 7, "after": 30, "delta": 23}
    assert failed["run"] == "dims-2" and failed["evidence"]["producer"]["state"] == "FAIL"
    assert code["evidence"]["gitSha"] == {"before": "sha1", "after": "sha2"}
    assert [c["id"] for c in code["chain"]] == ["load-2#code", "load-2", _orders(2).uid,
                                                "agg-2"]
    assert upstream["run"] == "load-3" and upstream["evidence"]["readVersion"] == _orders(2).uid
    assert data["node"] == _dim(2).uid  # dims-2 read nothing and ran the same code
    [orders] = answer["consequences"]
    assert (orders["node"], orders["causedBy"]) == (_orders(2).uid, ["load-2#code"])
