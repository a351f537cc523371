"""Dataset names and versions of what Spark reads and writes.

Names follow the OpenLineage naming spec (https://openlineage.io/docs/spec/naming):

- files and directories: :func:`emitters.facets.dataset_id_for_path`, the same function the
  batch emitter uses, so ``/data/out`` written by Spark and read by pandas is one dataset
  (namespace ``file``, name ``/data/out``; ``s3://bucket`` + key, ``hdfs://host:port`` + path);
- catalog tables: namespace ``spark_catalog`` (the session catalog; ``hive://host:port`` when
  a Hive metastore URI is configured), name ``database.table``; the table's storage location
  travels as a ``symlinks`` entry of type ``LOCATION``;
- JDBC tables: ``postgres://host:port`` + ``database.table``, ``mysql://host:port`` +
  ``database.table``; other drivers: the URL without ``jdbc:``, credentials and properties
  (e.g. ``derby:memory:sales``) + the table name.

Version of a written directory (:func:`directory_version`): SHA-256 over the directory's
visible data files in sorted order, each contributing its relative path, a NUL byte, its
size and its bytes. Hidden files (Hadoop's rule: a name starting with ``.``, or with ``_``
and no ``=``, e.g. ``_SUCCESS`` and ``.crc`` files) are left out. Spark names part files
per write job, so every write is a new version even when the rows are equal. Above
``max_bytes`` the bytes are not read: the digest covers path, size and mtime only
(algorithm ``sha256-manifest``).
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from emitters.facets import dataset_id_for_path, internal_io

_BLOCK = 1 << 20
DEFAULT_CATALOG_NAMESPACE = "spark_catalog"


def path_dataset_id(uri: str) -> tuple[str, str]:
    """``(namespace, name)`` of a path or URI as Spark prints it (``file:/tmp/x``)."""
    return dataset_id_for_path(uri)


def table_dataset_id(
    table: str, database: str | None, catalog_namespace: str = DEFAULT_CATALOG_NAMESPACE
) -> tuple[str, str]:
    """``(namespace, name)`` of a catalog table: ``(catalog_namespace, "db.table")``."""
    return catalog_namespace, f"{database or 'default'}.{table}"


def catalog_namespace_for(metastore_uris: str | None) -> str:
    """Namespace of the session catalog's tables: ``hive://host:port`` of the first Hive
    metastore URI when one is configured, else ``spark_catalog``."""
    if metastore_uris:
        first = metastore_uris.split(",")[0].strip()
        parsed = urlparse(first)
        if parsed.hostname:
            port = f":{parsed.port}" if parsed.port else ""
            return f"hive://{parsed.hostname}{port}"
    return DEFAULT_CATALOG_NAMESPACE


_JDBC_SCHEMES = {"postgresql": "postgres", "mysql": "mysql", "mariadb": "mysql"}


def jdbc_dataset_id(url: str, table: str) -> tuple[str, str]:
    """``(namespace, name)`` of a JDBC table; credentials and properties never appear."""
    text = url[5:] if url.lower().startswith("jdbc:") else url
    text = text.split("?", 1)[0].split(";", 1)[0]
    parsed = urlparse(text)
    scheme = parsed.scheme.lower()
    if scheme in _JDBC_SCHEMES and parsed.hostname:
        port = f":{parsed.port}" if parsed.port else ""
        namespace = f"{_JDBC_SCHEMES[scheme]}://{parsed.hostname}{port}"
        database = parsed.path.strip("/")
        return namespace, f"{database}.{table}" if database else table
    if parsed.netloc and "@" in parsed.netloc:
        text = text.replace(parsed.netloc, parsed.netloc.rsplit("@", 1)[1], 1)
    return text, table


def local_path(uri: str) -> Path | None:
    """The local filesystem path of a ``file:`` URI or plain path, else ``None``."""
    namespace, name = path_dataset_id(uri)
    return Path(name) if namespace == "file" else None


def is_hidden(name: str) -> bool:
    """Hadoop's hidden-file rule (``FileInputFormat``/Spark ``InMemoryFileIndex``)."""
    return name.startswith(".") or (name.startswith("_") and "=" not in name) or name.endswith(
        "._COPYING_"
    )


@dataclass(frozen=True)
class ContentVersion:
    """A directory's version: ``digest`` (lower-case hex), ``algorithm`` (``sha256`` or
    ``sha256-manifest``), total ``bytes`` and number of ``files``."""

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


def directory_version(path: Path, max_bytes: int = 256 * 1024 * 1024) -> ContentVersion | None:
    """The content version of a written directory (or single file), ``None`` if it does not
    exist. Raises ``OSError`` when a file cannot be read. See the module docstring."""
    if path.is_file():
        files = [(path.name, path)]
    elif path.is_dir():
        files = _visible_files(path)
    else:
        return None
    sizes = [(rel, full, full.stat()) for rel, full in files]
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
                while block := fh.read(_BLOCK):
                    digest.update(block)
    return ContentVersion(
        digest=digest.hexdigest(),
        algorithm="sha256-manifest" if manifest else "sha256",
        bytes=total,
        files=len(sizes),
    )


_SLUG = re.compile(r"[^0-9A-Za-z]+")


def slug(text: str, max_chars: int = 80) -> str:
    """A job-name-safe form of a dataset name: runs of other characters become ``_``,
    keeping the last ``max_chars`` characters (the most specific part of a path)."""
    out = _SLUG.sub("_", text).strip("_")
    return out[-max_chars:].lstrip("_") if len(out) > max_chars else out
