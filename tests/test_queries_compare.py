"""The pure comparisons behind diff_runs and changed_upstream."""

from __future__ import annotations

import math

from lineage_queries.compare import column_changes, dict_diff, relative_change, schema_changes


def test_relative_change() -> None:
    assert relative_change(16.0, 160.0) == 9.0  # cm -> mm
    assert relative_change(-2.0, -1.0) == 0.5
    assert relative_change(0, 12) == 12  # nulls appeared
    assert relative_change(0.0, 0.0) == 0.0
    for before, after in (("a", "b"), (None, 1.0), (True, False), (math.nan, 1.0)):
        assert relative_change(before, after) is None


def test_schema_changes() -> None:
    before = [{"name": "id", "type": "long"}, {"name": "x", "type": "double"},
              {"name": "old", "type": "string"}]
    after = [{"name": "id", "type": "string"}, {"name": "x", "type": "double"},
             {"name": "new", "type": "double"}]
    assert schema_changes(before, after) == {
        "added": ["new"], "removed": ["old"],
        "retyped": [{"name": "id", "before": "long", "after": "string"}],
    }


def test_column_changes_rank_numeric_moves_and_skip_unmoved_and_text_columns() -> None:
    before = [
        {"name": "radius", "type": "double", "mean": 16.0, "min": 8.0, "max": 36.0, "nullCount": 0},
        {"name": "age", "type": "double", "mean": 50.0, "min": 20.0, "max": 90.0, "nullCount": 0},
        {"name": "same", "type": "double", "mean": 1.0, "nullCount": 0},
        {"name": "city", "type": "string", "min": "Aarhus", "max": "Zurich", "distinctCount": 3},
    ]
    after = [
        {"name": "radius", "type": "double", "mean": 160.0, "min": 80.0, "max": 360.0,
         "nullCount": 0},
        {"name": "age", "type": "double", "mean": 50.0, "min": 20.0, "max": 90.0, "nullCount": 7},
        {"name": "same", "type": "double", "mean": 1.0, "nullCount": 0},
        {"name": "city", "type": "string", "min": "Basel", "max": "Zurich", "distinctCount": 4},
    ]
    changes = column_changes(before, after)
    assert [(c["name"], c["stat"], c["moved"]) for c in changes] == [
        ("radius", "mean", 9.0), ("age", "nullCount", 7.0)]
    assert changes[1]["stats"]["nullCount"] == {
        "before": 0, "after": 7, "delta": 7.0, "relativeChange": 7.0}
    assert "distinctCount" not in changes[0]["stats"]


def test_dict_diff() -> None:
    assert dict_diff({"lr": 0.1, "seed": 7, "opt": "adam"}, {"lr": 0.2, "seed": 7, "bs": 32}) == {
        "bs": {"before": None, "after": 32},
        "lr": {"before": 0.1, "after": 0.2, "delta": 0.1},
        "opt": {"before": "adam", "after": None},
    }
    assert dict_diff(None, None) == {}
