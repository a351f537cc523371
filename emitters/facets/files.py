"""The dataset of a local file as it is now: version, size, and (with pandas) schema and
statistics."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from emitters.facets.content import content_version
from emitters.facets.frames import (
    _file_format,
    dataframe_schema,
    dataframe_statistics,
    pandas_available,
    read_table_file,
)
from emitters.facets.naming import dataset_id_for_path
from lineage_pipeline.events import ContentDigest, Dataset, Statistics

log = logging.getLogger("emitters.facets")

#: Files larger than this get digest and size only (no pandas read for statistics).
DEFAULT_STATS_MAX_BYTES = 64 * 1024 * 1024


def file_dataset(
    path: str | os.PathLike[str],
    *,
    kind: str = "file",
    role: str = "input",
    compute_stats: bool = True,
    stats_max_bytes: int = DEFAULT_STATS_MAX_BYTES,
) -> Dataset:
    """Return the :class:`Dataset` of a local file as it is now.

    namespace ``file``, name = absolute path, ``version`` = :func:`content_version` (SHA-256
    of a file's bytes; a digest over a directory's data files), facets
    ``contentDigest``, ``statistics.bytes`` and (CSV/Parquet/JSON, up to ``stats_max_bytes``,
    when ``compute_stats`` and pandas is installed) ``schema``, ``statistics.rowCount`` and
    column statistics.
    ``role`` (``input``/``output``) only words the log. Never raises: a missing or
    unreadable file gives a dataset without version (logged); remote URIs are named only.
    """
    namespace, name = dataset_id_for_path(path)
    dataset = Dataset(namespace=namespace, name=name, kind=kind)
    if namespace != "file":
        return dataset
    local = Path(name)
    try:
        version = content_version(local)
    except OSError as exc:
        log.info("lineage: %s file %s not readable (%s); no digest", role, local, exc.strerror)
        return dataset
    if version is None:
        log.info("lineage: %s file %s does not exist; no digest", role, local)
        return dataset
    digest, size = version.digest, version.bytes
    dataset.version = digest
    facets = dataset.facets
    facets.contentDigest = ContentDigest(algorithm=version.algorithm, hex=digest)
    facets.statistics = Statistics(bytes=size)
    if (
        compute_stats
        and size <= stats_max_bytes
        and _file_format(local) is not None
        and pandas_available()
    ):
        try:
            df = read_table_file(local)
        except Exception as exc:  # pandas raises many types for unparsable files
            log.info("lineage: cannot read %s for statistics: %s", local, exc)
            df = None
        if df is not None:
            facets.schema_ = dataframe_schema(df)
            stats = dataframe_statistics(df)
            stats.bytes = size
            facets.statistics = stats
    return dataset
