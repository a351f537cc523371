"""Issue 20: validation results and synthetic-data generators captured by the SDK.

The real libraries run on the bundled breast-cancer data: a pandera schema and a Great
Expectations suite (the demo's, :mod:`lineage_app.demo.checks`) pass on the delivery as
measured and fail on the one in millimetres; the results ride the run's COMPLETE event as the
OpenLineage ``dataQualityAssertions`` input facet and the processor's stitching puts them on
the run with the version they checked. Fidelity metrics behave as distances. (Through the
broker, processor, sink and graph: ``tests/test_e2e_demo.py``.)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import cast

import numpy as np
import pandas as pd
import pytest

from emitters.batch import job_run
from emitters.client import LineageClient
from emitters.quality import INPUT_ASSERTIONS, assertion, merge
from emitters.quality.great_expectations import gx_assertions
from emitters.quality.pandera import pandera_assertions
from emitters.synthetic import fidelity, generator_facet, record_generation
from lineage_app.demo.checks import landing_checks
from lineage_app.demo.layout import DEFECT_COLUMN, DEFECT_FACTOR
from lineage_app.demo.pipeline import load_source
from lineage_app.demo.synthetic import MixtureByClass
from lineage_pipeline.events import EventType
from lineage_pipeline.metrics import EMITTER_CAPTURE_ERRORS
from lineage_queries.rootcause.report import ranked
from stream_processor.quality import quality_assertions
from stream_processor.stitch import stitch
from tests.support.recording import RecordingClient


def _client(kept: RecordingClient) -> LineageClient:
    return cast(LineageClient, kept)


@pytest.fixture(scope="module")
def cells() -> pd.DataFrame:
    return load_source()


def _failed(rows: list[dict[str, object]]) -> set[tuple[object, object]]:
    return {(r["assertion"], r.get("column")) for r in rows if r["success"] is False}


def test_pandera_and_great_expectations_pass_on_centimetres_and_fail_on_millimetres(
    cells: pd.DataFrame,
) -> None:
    good = landing_checks(cells)
    assert good and all(r["success"] for r in good)
    assert {r["assertion"] for r in good} >= {"in_range", "dtype", "not_nullable", "unique",
                                              "expect_column_values_to_be_between",
                                              "expect_table_row_count_to_be_between"}
    bad_cells = cells.assign(**{DEFECT_COLUMN: cells[DEFECT_COLUMN] * DEFECT_FACTOR})
    bad = landing_checks(bad_cells)
    assert _failed(bad) == {("in_range", DEFECT_COLUMN),
                            ("expect_column_values_to_be_between", DEFECT_COLUMN)}
    gx_failed = next(r for r in bad if r["assertion"] == "expect_column_values_to_be_between"
                     and r["column"] == DEFECT_COLUMN)
    assert json.loads(str(gx_failed["expected"])) == {"min_value": 5.0, "max_value": 50.0}
    assert str(gx_failed["actual"]).startswith(f"{len(cells)} of {len(cells)} unexpected")
    pa_failed = next(r for r in bad if r["assertion"] == "in_range"
                     and r["column"] == DEFECT_COLUMN)
    assert str(pa_failed["actual"]).startswith(f"{len(cells)} failing")


def test_a_missing_column_is_a_failed_check_and_unreadable_results_never_raise(
    cells: pd.DataFrame,
) -> None:
    import pandera.pandas as pa

    schema = pa.DataFrameSchema({"no such column": pa.Column(float)})
    rows = pandera_assertions(schema, cells)
    assert rows and not any(r["success"] for r in rows)
    assert ("column_in_dataframe", "no such column") in _failed(rows)
    before = EMITTER_CAPTURE_ERRORS.labels("great_expectations")._value.get()
    assert gx_assertions(object()) == []
    assert EMITTER_CAPTURE_ERRORS.labels("great_expectations")._value.get() == before + 1
    assert pandera_assertions("not a schema", cells) == []


def test_assertions_ride_the_input_facet_and_land_on_the_run_with_the_version(
    tmp_path: Path, cells: pd.DataFrame,
) -> None:
    kept = RecordingClient()
    client = _client(kept)
    src = tmp_path / "cells.csv"
    cells.to_csv(src, index=False)
    with job_run("validate", namespace="tests", client=client) as run:
        ds = run.input_file(src, kind="table")
        assert ds is not None
        run.add_assertions(ds, [assertion("not_null", True, column="sample_id"),
                                assertion("in_range", False, column=DEFECT_COLUMN,
                                          expected={"max_value": 50}, actual="569 failing")])
        with pytest.raises(ValueError):
            merge({}, ds, [{"assertion": "x"}])  # no success: refused (add_assertions logs)
    complete = next(e for e in kept.events if e.eventType is EventType.COMPLETE)
    facet = json.loads(complete.inputs[0].facets.extra[INPUT_ASSERTIONS])
    assert [a["assertion"] for a in facet["assertions"]] == ["not_null", "in_range"]
    rows = json.loads(quality_assertions(stitch(kept.events)) or "[]")
    version = complete.inputs[0].version
    assert [(r["assertion"], r["success"], r["version"], r["role"]) for r in rows] == [
        ("not_null", True, version, "input"), ("in_range", False, version, "input")]
    assert rows[0]["dataset"] == f"file:{src}"


def test_a_version_with_failed_checks_ranks_above_an_equally_severe_nearer_one() -> None:
    base = {"type": "data", "severity": "high", "label": "DatasetVersion", "score": 3.0,
            "summary": "", "kind": "table"}
    plain = {**base, "node": "file:/a@1", "dataset": "file:/a", "distance": 1,
             "evidence": {"drift": []}}
    checked = {**base, "node": "file:/b@1", "dataset": "file:/b", "distance": 4, "score": 0.0,
               "evidence": {"drift": [], "quality": [{"assertion": "in_range"}]}}
    order = [c["node"] for c in ranked([plain, checked])]  # type: ignore[list-item]
    assert order == ["file:/b@1", "file:/a@1"]


def test_fidelity_is_zero_against_itself_and_grows_with_a_shift(cells: pd.DataFrame) -> None:
    seed = cells.drop(columns=["sample_id"])
    same = fidelity(seed, seed.copy(), categorical=["malignant"])
    assert same["columns"][DEFECT_COLUMN]["wasserstein"] == pytest.approx(0.0, abs=1e-12)
    assert same["columns"]["malignant"]["totalVariation"] == pytest.approx(0.0)
    assert same["overall"]["classifierAuc"] < 0.6  # no better than chance
    shifted = seed.assign(**{DEFECT_COLUMN: seed[DEFECT_COLUMN] * DEFECT_FACTOR})
    far = fidelity(seed, shifted, categorical=["malignant"])
    assert far["columns"][DEFECT_COLUMN]["wassersteinNormalised"] > 5
    assert far["overall"]["mmd"] > same["overall"]["mmd"] + 0.05
    assert far["overall"]["classifierAuc"] > 0.9
    with pytest.raises(ValueError):
        fidelity(seed, pd.DataFrame({"other": [1.0]}))


def test_generator_run_records_the_generator_and_its_fidelity(cells: pd.DataFrame) -> None:
    seed = cells.drop(columns=["sample_id"])
    generator = MixtureByClass("malignant").fit(seed)
    synthetic = generator.sample(len(seed))
    assert list(synthetic.columns) == list(seed.columns)
    assert abs(synthetic["malignant"].mean() - seed["malignant"].mean()) < 0.01
    facet = generator_facet(generator, library="sklearn")
    assert facet["model"] == "MixtureByClass" and facet["libraryVersion"]
    assert facet["digest"] == generator_facet(generator, library="sklearn")["digest"]
    kept = RecordingClient()
    with job_run("synthesize", namespace="tests", client=_client(kept)) as run:
        scores = record_generation(run, generator, seed, synthetic, categorical=["malignant"])
    assert scores["overall"]["classifierAuc"] < 0.9  # hard to tell from the seed
    complete = next(e for e in kept.events if e.eventType is EventType.COMPLETE)
    extra = complete.run.facets.extra
    assert json.loads(extra["syntheticGenerator"])["parameters"]["components"] == "2"
    assert json.loads(extra["syntheticFidelity"]) == json.loads(json.dumps(scores))
    assert complete.run.facets.metrics["fidelity.mmd"] == pytest.approx(scores["overall"]["mmd"])
    assert np.isfinite(complete.run.facets.metrics["fidelity.classifierAuc"])
