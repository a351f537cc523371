"""The demo's data-quality checks on each delivery, as the source's contract says: a
pandera schema and a Great Expectations suite over the landing file, recorded on the
ingest run's input (:mod:`emitters.quality`).

The measurements are in centimetres; ``worst radius`` of a tumour lies well inside 5-50 cm
(the real data: 7.9-36.0). Delivery 2's millimetres (79-360) fail both libraries' range
check on that column, so the graph holds the failed checks on the bad landing version and
root cause names them. Either library missing: its checks are skipped.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import pandas as pd

from lineage_app.demo.layout import DEFECT_COLUMN, TARGET

__all__ = ["RANGES", "landing_checks"]

log = logging.getLogger("lineage_app.demo")

#: Plausible ranges (centimetres) the contract states, per column.
RANGES = {"mean radius": (5.0, 35.0), DEFECT_COLUMN: (5.0, 50.0)}
#: Fewest rows a delivery has.
MIN_ROWS = 50


def _pandera(frame: pd.DataFrame) -> list[dict[str, Any]]:
    try:
        import pandera.pandas as pa
    except ImportError:
        log.info("pandera is not installed: its checks are skipped")
        return []
    from emitters.quality.pandera import pandera_assertions

    columns = {col: pa.Column(float, pa.Check.in_range(low, high), nullable=False)
               for col, (low, high) in RANGES.items()}
    columns["sample_id"] = pa.Column(int, unique=True, nullable=False)
    columns[TARGET] = pa.Column(int, pa.Check.isin([0, 1]))
    return pandera_assertions(pa.DataFrameSchema(columns, name="landing"), frame)


def _great_expectations(frame: pd.DataFrame) -> list[dict[str, Any]]:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")  # no telemetry from a demo
    try:
        import great_expectations as gx
    except ImportError:
        log.info("great_expectations is not installed: its checks are skipped")
        return []
    from great_expectations.data_context.types.base import ProgressBarsConfig
    from great_expectations.expectations.core.expect_column_values_to_be_between import (
        ExpectColumnValuesToBeBetween,
    )
    from great_expectations.expectations.core.expect_column_values_to_be_unique import (
        ExpectColumnValuesToBeUnique,
    )
    from great_expectations.expectations.core.expect_table_row_count_to_be_between import (
        ExpectTableRowCountToBeBetween,
    )

    from emitters.quality.great_expectations import gx_assertions

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch_def = (context.data_sources.add_pandas("demo").add_dataframe_asset("landing")
                 .add_batch_definition_whole_dataframe("delivery"))
    suite = gx.ExpectationSuite(name="landing")
    for col, (low, high) in RANGES.items():
        suite.add_expectation(ExpectColumnValuesToBeBetween(
            column=col, min_value=low, max_value=high))
    suite.add_expectation(ExpectColumnValuesToBeUnique(column="sample_id"))
    suite.add_expectation(ExpectTableRowCountToBeBetween(min_value=MIN_ROWS))
    result = batch_def.get_batch(batch_parameters={"dataframe": frame}).validate(suite)
    return gx_assertions(result)


def landing_checks(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Validate a delivery as read from the landing file; returns the assertions of both
    libraries (``dataQualityAssertions`` entries)."""
    return _pandera(frame) + _great_expectations(frame)
