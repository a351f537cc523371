"""OpenLineage dataset naming of file and object paths."""

from __future__ import annotations

import os
from urllib.parse import unquote, urlparse


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
