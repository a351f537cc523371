"""Dataset and run facets computed from real things: files, DataFrames, git, the interpreter.

- :func:`dataset_id_for_path`: OpenLineage dataset naming (https://openlineage.io/docs/spec/naming):
  local files are namespace ``file`` + absolute path;
  ``s3://b/k`` -> (``s3://b``, ``k``); ``gs://`` likewise; ``hdfs://host:port/p`` ->
  (``hdfs://host:port``, ``/p``); ``abfss://c@s.dfs.core.windows.net/p`` -> (that, ``p``).
- :func:`file_dataset`: SHA-256 of the file's bytes, streamed in 1 MiB blocks (the dataset
  version), size, and for CSV / Parquet / JSON files that pandas can read: schema, row count
  and per-column statistics.
- :func:`dataframe_dataset`: the same for an in-memory pandas DataFrame; its digest is
  SHA-256 over the column names and dtypes and ``pandas.util.hash_pandas_object(df,
  index=False)`` (a stable 64-bit hash per row, documented as deterministic across runs).
- :func:`collect_code_version`, :func:`collect_environment`: git and interpreter facts,
  computed once per process (they do not change while it runs).

Column statistics: ``nullCount`` (missing values), ``distinctCount`` (exact number of distinct
non-null values; ``None`` for unhashable values), and ``min``/``max``/``mean`` for numeric,
non-boolean columns (``None`` when not finite).
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import getpass
import hashlib
import importlib.util
import json
import logging
import math
import os
import platform
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse, urlunparse

from lineage_pipeline.errors import MissingExtraError
from lineage_pipeline.events import (
    CodeVersion,
    ColumnStats,
    ContentDigest,
    Dataset,
    DatasetFacets,
    Environment,
    SchemaField,
    Statistics,
)

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger("emitters.facets")

#: Files larger than this get digest and size only (no pandas read for statistics).
DEFAULT_STATS_MAX_BYTES = 64 * 1024 * 1024
_BLOCK = 1 << 20

#: Packages whose versions every run records (when installed).
KEY_PACKAGES = (
    "lineage-pipeline",
    "pandas",
    "numpy",
    "pyarrow",
    "scikit-learn",
    "torch",
    "pyspark",
    "confluent-kafka",
    "openlineage-python",
    "fastavro",
    "pydantic",
)

#: True while lineage code itself reads files (so pandas capture ignores those reads).
_INTERNAL_IO: contextvars.ContextVar[bool] = contextvars.ContextVar("lineage_internal_io",
                                                                    default=False)


@contextlib.contextmanager
def internal_io() -> Iterator[None]:
    """Mark file reads inside the block as the emitter's own (not the job's lineage)."""
    token = _INTERNAL_IO.set(True)
    try:
        yield
    finally:
        _INTERNAL_IO.reset(token)


def is_internal_io() -> bool:
    """Return ``True`` inside :func:`internal_io`."""
    return _INTERNAL_IO.get()


# -- naming ----------------------------------------------------------------------------------
def dataset_id_for_path(path: str | os.PathLike[str]) -> tuple[str, str]:
    """Return ``(namespace, name)`` of a file or object path per the OpenLineage naming spec
    (https://openlineage.io/docs/spec/naming; as ``openlineage.client.naming.dataset``).

    Accepts local paths (made absolute, not symlink-resolved), ``file:`` URIs, ``s3://``
    (also ``s3a``/``s3n``), ``gs://``, ``hdfs://`` (port default 8020), ``abfss://``,
    ``wasbs://``; any other ``scheme://authority/path`` maps to (``scheme://authority``,
    ``/path``). Credentials in an authority are dropped.
    """
    text = os.fspath(path)
    if "://" not in text and not text.startswith("file:"):
        return "file", os.path.abspath(os.path.expanduser(text))
    parsed = urlparse(text)
    scheme = parsed.scheme.lower()
    key = unquote(parsed.path)
    host = parsed.netloc.rsplit("@", 1)[-1]
    if scheme == "file":
        return "file", os.path.abspath(key or "/")
    if scheme in ("s3", "s3a", "s3n") and host:
        return f"s3://{host}", key.lstrip("/") or "/"
    if scheme == "gs" and host:
        return f"gs://{host}", key.lstrip("/") or "/"
    if scheme == "hdfs" and parsed.hostname:
        return f"hdfs://{parsed.hostname}:{parsed.port or 8020}", key or "/"
    if scheme in ("abfss", "abfs", "wasbs", "wasb") and "@" in parsed.netloc:
        return f"{scheme}://{parsed.netloc}", key.lstrip("/") or "/"
    return f"{scheme}://{host}", key or "/"


# -- files -----------------------------------------------------------------------------------
def file_digest(path: str | os.PathLike[str]) -> tuple[str, int]:
    """Return ``(sha256 hex, size in bytes)`` of the file, read in 1 MiB blocks.

    Raises ``OSError`` when the file cannot be read.
    """
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while block := fh.read(_BLOCK):
            h.update(block)
            size += len(block)
    return h.hexdigest(), size


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


# -- content versions (files and directories) ------------------------------------------------
def is_hidden(name: str) -> bool:
    """Hadoop's hidden-file rule (``FileInputFormat``/Spark ``InMemoryFileIndex``): a name
    starting with ``.``, or with ``_`` and no ``=`` (``_SUCCESS``, ``.crc`` files)."""
    return name.startswith(".") or (name.startswith("_") and "=" not in name) or name.endswith(
        "._COPYING_"
    )


@dataclass(frozen=True)
class ContentVersion:
    """A dataset's content version: ``digest`` (lower-case hex), ``algorithm`` (``sha256``,
    ``sha256-tree`` or ``sha256-manifest``), total ``bytes`` and number of ``files``."""

    digest: str
    algorithm: str
    bytes: int
    files: int


def _visible_files(root: Path) -> list[tuple[str, Path]]:
    out: list[tuple[str, Path]] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not is_hidden(d))
        for name in filenames:
            if is_hidden(name):
                continue
            full = Path(dirpath) / name
            out.append((full.relative_to(root).as_posix(), full))
    out.sort()
    return out


def content_version(path: Path, max_bytes: int = 256 * 1024 * 1024) -> ContentVersion | None:
    """Return the content version of a local file or directory, ``None`` if it is missing.

    A file: SHA-256 of its bytes (algorithm ``sha256``), whatever wrote it, so pandas, Spark
    and PyTorch emitters agree on one file's version. A directory (Spark, partitioned
    parquet): SHA-256 over its visible data files in sorted order, each contributing its
    relative path, a NUL byte, its size and its bytes (``sha256-tree``); above ``max_bytes``
    the bytes are not read and mtimes stand in for them (``sha256-manifest``).
    Raises ``OSError`` when a file cannot be read.
    """
    if path.is_file():
        digest_hex, size = file_digest(path)
        return ContentVersion(digest_hex, "sha256", size, 1)
    if not path.is_dir():
        return None
    sizes = [(rel, full, full.stat()) for rel, full in _visible_files(path)]
    total = sum(st.st_size for _rel, _full, st in sizes)
    digest = hashlib.sha256()
    manifest = total > max_bytes
    with internal_io():
        for rel, full, st in sizes:
            digest.update(rel.encode("utf-8") + b"\0" + str(st.st_size).encode("ascii"))
            if manifest:
                digest.update(b"\0" + str(st.st_mtime_ns).encode("ascii"))
                continue
            with open(full, "rb") as fh:
                while block := fh.read(1 << 20):
                    digest.update(block)
    return ContentVersion(
        digest.hexdigest(), "sha256-manifest" if manifest else "sha256-tree", total, len(sizes)
    )



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


# -- DataFrames ------------------------------------------------------------------------------
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


# -- environment and code --------------------------------------------------------------------
@functools.cache
def collect_environment() -> Environment:
    """Return Python version, versions of :data:`KEY_PACKAGES` that are installed, host,
    user and platform. Computed once per process; never raises."""
    packages: dict[str, str] = {}
    for name in KEY_PACKAGES:
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
        except Exception:  # broken metadata must not break the job
            continue
    try:
        user: str | None = getpass.getuser()
    except Exception:
        user = None
    return Environment(
        pythonVersion=platform.python_version(),
        packages=packages,
        host=socket.gethostname(),
        user=user,
        platform=platform.platform(),
    )


def _entry_point() -> Path | None:
    main = sys.modules.get("__main__")
    candidate = getattr(main, "__file__", None) or (sys.argv[0] if sys.argv else None)
    if candidate and os.path.exists(candidate):
        return Path(os.path.abspath(candidate))
    return None


def _git(directory: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(directory), *args],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def strip_credentials(url: str) -> str:
    """Return ``url`` without any ``user:password@`` part (``git@host:repo`` is kept)."""
    parsed = urlparse(url)
    if parsed.scheme and parsed.netloc and "@" in parsed.netloc:
        return urlunparse(parsed._replace(netloc=parsed.netloc.rsplit("@", 1)[1]))
    return url


@functools.lru_cache(maxsize=64)
def _code_version(directory: str, entry: str | None) -> CodeVersion:
    root_text = _git(Path(directory), "rev-parse", "--show-toplevel")
    if root_text is None:
        return CodeVersion(entryPoint=entry)
    root = Path(root_text)
    sha = _git(root, "rev-parse", "HEAD")
    status = _git(root, "status", "--porcelain", "--untracked-files=no")
    branch = _git(root, "rev-parse", "--abbrev-ref", "HEAD")
    remote = _git(root, "config", "--get", "remote.origin.url")
    entry_point = entry
    if entry is not None:
        with contextlib.suppress(ValueError):
            entry_point = str(Path(entry).relative_to(root))
    return CodeVersion(
        gitSha=sha,
        dirty=None if status is None else bool(status),
        repository=strip_credentials(remote) if remote else str(root),
        branch=branch if branch and branch != "HEAD" else None,
        entryPoint=entry_point,
    )


def collect_code_version(path: str | os.PathLike[str] | None = None) -> CodeVersion:
    """Return the git commit, dirty flag, repository, branch and entry point of the code.

    ``path``: a file or directory inside the repository (default: the running script,
    else the working directory). The entry point is the script's path relative to the
    repository root. Outside git only ``entryPoint`` is set. Cached per process; never raises.
    """
    try:
        entry = Path(os.path.abspath(path)) if path is not None else _entry_point()
        if entry is None:
            directory = Path.cwd()
        else:
            directory = entry if entry.is_dir() else entry.parent
        return _code_version(str(directory), str(entry) if entry is not None else None)
    except Exception as exc:
        log.info("lineage: code version unknown: %s", exc)
        return CodeVersion()
