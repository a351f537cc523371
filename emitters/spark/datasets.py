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

Versions (:func:`directory_version`, i.e. :func:`emitters.facets.content_version`): the
SHA-256 of a file's bytes, the same digest the batch emitter records, or for a directory a
SHA-256 over its visible data files. Spark names part files per write job, so every write
is a new version even when the rows are equal.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlparse

from emitters.facets import (  # noqa: F401 - re-exported for the Spark emitter
    ContentVersion,
    content_version,
    dataset_id_for_path,
    is_hidden,
)

#: A written directory's (or file's) version: see :func:`emitters.facets.content_version`.
directory_version = content_version

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


_SLUG = re.compile(r"[^0-9A-Za-z]+")


def slug(text: str, max_chars: int = 80) -> str:
    """A job-name-safe form of a dataset name: runs of other characters become ``_``,
    keeping the last ``max_chars`` characters (the most specific part of a path)."""
    out = _SLUG.sub("_", text).strip("_")
    return out[-max_chars:].lstrip("_") if len(out) > max_chars else out
