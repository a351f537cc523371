"""DataFrame facets: schema, statistics and digest of pandas DataFrames and table files.

Everything here needs pandas (the ``pandas`` extra); :func:`pandas_available` tells whether
it is installed without importing it.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import logging
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from emitters.facets.content import internal_io
from lineage_pipeline.errors import MissingExtraError
from lineage_pipeline.events import (
    ColumnStats,
    ContentDigest,
    Dataset,
    DatasetFacets,
    SchemaField,
    Statistics,
)

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger("emitters.facets")


def _file_format(path: Path) -> str | None:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in (".gz", ".bz2", ".zip", ".xz", ".zst"):
        suffixes = suffixes[:-1]
    last = suffixes[-1] if suffixes else ""
    return {
        ".csv": "csv",
        ".tsv": "tsv",
        ".parquet": "parquet",
        ".pq": "parquet",
        ".json": "json",
        ".jsonl": "jsonl",
        ".ndjson": "jsonl",
    }.get(last)


@functools.cache
def pandas_available() -> bool:
    """Return ``True`` when pandas is installed (the ``pandas`` extra); checked once."""
    found = importlib.util.find_spec("pandas") is not None
    if not found:
        log.info("lineage: pandas is not installed; files get digest and size only "
                 "(pip install 'lineage-pipeline[pandas]' for schema and statistics)")
    return found


def read_table_file(path: Path) -> pd.DataFrame | None:
    """Read a CSV/TSV/Parquet/JSON file with pandas; ``None`` if the format is not one of these.

    Raises whatever pandas raises for an unreadable file, and
    :class:`~lineage_pipeline.errors.MissingExtraError` without pandas (the ``pandas`` extra).
    """
    try:
        import pandas as pd
    except ModuleNotFoundError as exc:
        raise MissingExtraError("pandas", "reading a table file for statistics") from exc

    fmt = _file_format(path)
    with internal_io():
        if fmt == "csv":
            return pd.read_csv(path)
        if fmt == "tsv":
            return pd.read_csv(path, sep="\t")
        if fmt == "parquet":
            return pd.read_parquet(path)
        if fmt == "json":
            try:
                return pd.read_json(path)
            except ValueError:
                return pd.read_json(path, lines=True)
        if fmt == "jsonl":
            return pd.read_json(path, lines=True)
    return None


def dataframe_schema(df: pd.DataFrame) -> list[SchemaField]:
    """Return one :class:`SchemaField` per column: name and pandas dtype text."""
    return [SchemaField(name=str(col), type=str(dtype)) for col, dtype in df.dtypes.items()]


def _finite(value: Any) -> float | None:
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def column_stats(name: str, series: pd.Series[Any]) -> ColumnStats:
    """Return null count, distinct count and (numeric columns) min/max/mean of ``series``."""
    from pandas.api import types as ptypes

    stats = ColumnStats(name=name, nullCount=int(series.isna().sum()))
    try:
        stats.distinctCount = int(series.nunique(dropna=True))
    except TypeError:  # unhashable values (lists, dicts)
        stats.distinctCount = None
    if ptypes.is_numeric_dtype(series.dtype) and not ptypes.is_bool_dtype(series.dtype):
        values = series.dropna()
        if len(values):
            stats.min = _finite(values.min())
            stats.max = _finite(values.max())
            stats.mean = _finite(values.mean())
    return stats


def dataframe_statistics(df: pd.DataFrame) -> Statistics:
    """Return row count and per-column statistics of ``df`` (``bytes`` left ``None``)."""
    columns = [column_stats(str(col), df.iloc[:, i]) for i, col in enumerate(df.columns)]
    return Statistics(rowCount=len(df), columns=columns)


def dataframe_digest(df: pd.DataFrame) -> str:
    """Return a stable SHA-256 hex of ``df``: column names + dtypes + row hashes (no index).

    Row hashes are ``pandas.util.hash_pandas_object(df, index=False)``; columns holding
    unhashable objects are hashed through their ``str`` form.
    """
    import pandas as pd

    h = hashlib.sha256()
    header = [[str(c), str(t)] for c, t in df.dtypes.items()]
    h.update(json.dumps(header).encode("utf-8"))
    try:
        rows = pd.util.hash_pandas_object(df, index=False)
    except TypeError:
        rows = pd.util.hash_pandas_object(df.astype(str), index=False)
    h.update(rows.to_numpy().tobytes())
    return h.hexdigest()


def dataframe_dataset(
    df: pd.DataFrame, namespace: str, name: str, kind: str = "table", *, compute_stats: bool = True
) -> Dataset:
    """Return the :class:`Dataset` of an in-memory DataFrame.

    ``version`` = :func:`dataframe_digest`; facets ``contentDigest``, ``schema`` and
    (``compute_stats``) row count and column statistics. Raises nothing on odd frames: a
    failing statistic is left out (logged).
    """
    digest = dataframe_digest(df)
    facets = DatasetFacets(
        contentDigest=ContentDigest(algorithm="sha256", hex=digest),
        schema=dataframe_schema(df),
    )
    try:
        facets.statistics = (
            dataframe_statistics(df) if compute_stats else Statistics(rowCount=len(df))
        )
    except Exception as exc:
        log.info("lineage: statistics of DataFrame %s failed: %s", name, exc)
        facets.statistics = Statistics(rowCount=len(df))
    return Dataset(namespace=namespace, name=name, kind=kind, version=digest, facets=facets)
