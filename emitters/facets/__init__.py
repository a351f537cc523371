"""Dataset and run facets computed from real things: files, DataFrames, git, the interpreter.

- :func:`dataset_id_for_path`: OpenLineage dataset naming (https://openlineage.io/docs/spec/naming):
  local files are namespace ``file`` + absolute path;
  ``s3://b/k`` -> (``s3://b``, ``k``); ``gs://`` likewise; ``hdfs://host:port/p`` ->
  (``hdfs://host:port``, ``/p``); ``abfss://c@s.dfs.core.windows.net/p`` -> (that, ``p``).
- :func:`file_dataset`: SHA-256 of the file's bytes, streamed in 1 MiB blocks (the dataset
  version), size, and for CSV / Parquet / JSON files that pandas (the ``pandas`` extra) can
  read: schema, row count and per-column statistics.
- :func:`dataframe_dataset`: the same for an in-memory pandas DataFrame; its digest is
  SHA-256 over the column names and dtypes and ``pandas.util.hash_pandas_object(df,
  index=False)`` (a stable 64-bit hash per row, documented as deterministic across runs).
- :func:`collect_code_version`, :func:`collect_environment`: git and interpreter facts,
  computed once per process (they do not change while it runs).

Column statistics: ``nullCount`` (missing values), ``distinctCount`` (exact number of distinct
non-null values; ``None`` for unhashable values), and ``min``/``max``/``mean`` for numeric,
non-boolean columns (``None`` when not finite).

Modules: :mod:`.naming`, :mod:`.content` (versions of files and directories),
:mod:`.frames` (pandas), :mod:`.files` (:func:`file_dataset`), :mod:`.environment`.
"""

from emitters.facets.content import (
    ContentVersion,
    content_version,
    file_digest,
    internal_io,
    is_hidden,
    is_internal_io,
)
from emitters.facets.environment import (
    KEY_PACKAGES,
    collect_code_version,
    collect_environment,
    strip_credentials,
)
from emitters.facets.files import DEFAULT_STATS_MAX_BYTES, file_dataset
from emitters.facets.frames import (
    column_stats,
    dataframe_dataset,
    dataframe_digest,
    dataframe_schema,
    dataframe_statistics,
    pandas_available,
    read_table_file,
)
from emitters.facets.naming import dataset_id_for_path

__all__ = [
    "DEFAULT_STATS_MAX_BYTES",
    "KEY_PACKAGES",
    "ContentVersion",
    "collect_code_version",
    "collect_environment",
    "column_stats",
    "content_version",
    "dataframe_dataset",
    "dataframe_digest",
    "dataframe_schema",
    "dataframe_statistics",
    "dataset_id_for_path",
    "file_dataset",
    "file_digest",
    "internal_io",
    "is_hidden",
    "is_internal_io",
    "pandas_available",
    "read_table_file",
    "strip_credentials",
]
