"""Dataset identity: one (namespace, name) per dataset, per the OpenLineage naming spec.

Source: OpenLineage "Naming" spec (https://openlineage.io/docs/spec/naming, ``spec/Naming.md``
in the OpenLineage repository): a dataset is ``namespace = scheme:[//authority]`` (the data
source) plus ``name = path`` (the dataset in it); namespace + name form a URI.

Producers disagree on the details (OpenLineage #2718, #2625), so the processor maps every
spelling it knows to one canonical form before a dataset reaches the graph:

=====================================================  ===========================================
seen                                                   canonical (namespace, name)
=====================================================  ===========================================
``file`` + ``/tmp/x``; ``file`` + ``file:///tmp/x/``;  ``("file", "/tmp/x")``
``file:/tmp/x``; ``file://localhost/tmp/x``; ``/tmp/x``
``s3a://Bucket`` + ``/k/``; ``s3n://bucket/k``         ``("s3://bucket", "k")``
``gcs://b`` + ``k``                                    ``("gs://b", "k")``
``hdfs://NN:8020`` + ``/a//b/``                        ``("hdfs://nn:8020", "/a/b")``
``postgresql://H:5432`` + ``DB.Public.T``              ``("postgres://h:5432", "db.public.t")``
``snowflake://acct`` + ``db.s.t``                      ``("snowflake://acct", "DB.S.T")``
=====================================================  ===========================================

Rules:

- scheme and authority (host, bucket, account) are lower-cased; a trailing ``/`` on the
  namespace is dropped; scheme aliases fold (``s3a``/``s3n`` -> ``s3``, ``gcs`` -> ``gs``,
  ``postgresql`` -> ``postgres``, ``local`` -> ``file``);
- paths (file, hdfs, abfss, ...) are percent-decoded, ``//``, ``/./`` and ``a/../`` collapse
  and trailing slashes are dropped; object-store keys lose their leading ``/`` too;
- case of the name follows the engine's identifier rules: case-insensitive engines that fold
  unquoted identifiers to lower case (postgres, redshift, trino, duckdb, ...) -> lower case;
  Snowflake folds to upper case; everything else (paths, bigquery, mysql) keeps its case.
"""

from __future__ import annotations

import posixpath
from urllib.parse import unquote, urlsplit

#: Scheme aliases that name the same storage.
SCHEME_ALIASES: dict[str, str] = {
    "s3a": "s3",
    "s3n": "s3",
    "gcs": "gs",
    "postgresql": "postgres",
    "local": "file",
    "abfs": "abfss",
    "wasb": "wasbs",
}

#: Object stores: namespace ``scheme://bucket``, name is the key without a leading ``/``.
OBJECT_STORES = frozenset({"s3", "gs", "abfss", "wasbs"})

#: File systems: name is an absolute path.
FILE_SYSTEMS = frozenset({"file", "hdfs", "dbfs"})

#: Engines whose unquoted identifiers are case-insensitive and folded to lower case.
LOWER_CASE_ENGINES = frozenset(
    {"postgres", "redshift", "trino", "presto", "duckdb", "hive", "awsathena", "sqlserver"}
)

#: Engines whose unquoted identifiers are folded to upper case.
UPPER_CASE_ENGINES = frozenset({"snowflake", "oracle", "db2"})

#: Namespaces that producers use for "the local file system".
_LOCAL_FILE_NAMESPACES = frozenset({"", "file", "file:", "file://", "file://localhost", "local"})


def _scheme_of(text: str) -> str | None:
    """Return the lower-cased URI scheme of ``text``, or ``None`` when it has none."""
    head, sep, _ = text.partition(":")
    if not sep or not head or not head[0].isalpha():
        return None
    if not all(c.isalnum() or c in "+-." for c in head):
        return None
    return head.lower()


def _clean_path(path: str, *, decode: bool = False) -> str:
    """Return ``path`` absolute, collapsed, without a trailing slash (percent-decoded when
    ``decode``: only paths taken from a URI are percent-encoded)."""
    if decode:
        path = unquote(path)
    if not path.startswith("/"):
        path = "/" + path
    cleaned = posixpath.normpath(path)
    # POSIX keeps a leading "//" (implementation-defined); collapse it too.
    while cleaned.startswith("//"):
        cleaned = cleaned[1:]
    return cleaned


def _clean_key(key: str, *, decode: bool = False) -> str:
    """Return an object-store key without leading/trailing slashes and empty segments."""
    if decode:
        key = unquote(key)
    parts = [p for p in key.split("/") if p and p != "."]
    return "/".join(parts)


def _fold_case(scheme: str, name: str) -> str:
    if scheme in LOWER_CASE_ENGINES:
        return name.lower()
    if scheme in UPPER_CASE_ENGINES:
        return name.upper()
    return name


def _from_uri(uri: str) -> tuple[str, str]:
    """Split a full dataset URI (``scheme://authority/path`` or ``file:/path``)."""
    scheme = _scheme_of(uri) or ""
    scheme = SCHEME_ALIASES.get(scheme, scheme)
    parts = urlsplit(uri)
    authority = parts.netloc.lower()
    path = parts.path
    if parts.query:
        path = f"{path}?{parts.query}"
    if scheme == "file":
        # file:/p, file:///p and file://localhost/p are the same local path; another host
        # keeps its authority in the namespace (a file on another machine is another dataset).
        if authority in ("", "localhost", "127.0.0.1"):
            return "file", _clean_path(path, decode=True)
        return f"file://{authority}", _clean_path(path, decode=True)
    if scheme in OBJECT_STORES:
        return f"{scheme}://{authority}", _clean_key(path, decode=True)
    if scheme in FILE_SYSTEMS:
        return f"{scheme}://{authority}", _clean_path(path, decode=True)
    name = unquote(path.lstrip("/"))
    return f"{scheme}://{authority}" if authority else scheme, _fold_case(scheme, name)


def normalize_namespace(namespace: str) -> str:
    """Return the canonical spelling of a dataset namespace (scheme aliases, case, slash).

    ``"S3A://Bucket/"`` -> ``"s3://bucket"``; ``"file://"`` -> ``"file"``; ``"bigquery://"``
    -> ``"bigquery"`` (an empty authority says nothing); a namespace with no scheme
    (``"default"``, ``"bigquery"``) is returned stripped and otherwise unchanged. Only the
    authority is lower-cased: a path after it (a warehouse location,
    ``hdfs://NN:8020/Warehouse``) keeps its case, collapsed like any path.
    """
    namespace = namespace.strip()
    if namespace.lower() in _LOCAL_FILE_NAMESPACES and namespace:
        return "file"
    scheme = _scheme_of(namespace)
    if scheme is None:
        return namespace.rstrip("/")
    folded = SCHEME_ALIASES.get(scheme, scheme)
    rest = namespace[len(scheme) + 1 :]
    if rest.startswith("//"):
        authority, slash, path = rest[2:].partition("/")
        authority = authority.lower()
        path = _clean_path(path).rstrip("/") if slash and path.strip("/") else ""
        if folded == "file" and authority in ("", "localhost", "127.0.0.1"):
            return f"file:{path}" if path else "file"
        if not authority and not path:
            return folded
        return f"{folded}://{authority}{path}"
    if folded in FILE_SYSTEMS and rest.startswith("/"):
        return f"{folded}:{_clean_path(rest)}"
    return f"{folded}:{rest.rstrip('/')}" if rest else folded


def _has_location_path(namespace: str) -> bool:
    """``True`` when a canonical ``namespace`` is a storage location with a path
    (``file:/warehouse``, ``hdfs://nn:8020/warehouse``, ``s3://bucket/warehouse``): the
    namespace of a table in a Spark warehouse or catalog, whose name is ``schema.table``."""
    scheme = _scheme_of(namespace)
    if scheme is None or (scheme not in FILE_SYSTEMS and scheme not in OBJECT_STORES):
        return False
    rest = namespace[len(scheme) + 1 :]
    if rest.startswith("//"):
        return "/" in rest[2:]
    return rest.startswith("/")


def normalize_dataset(namespace: str, name: str) -> tuple[str, str]:
    """Return the canonical ``(namespace, name)`` of a dataset (see the module docstring).

    Accepts a name that is a full URI (``file:///tmp/x``, ``s3a://b/k``) whatever the
    namespace says, a bare absolute path with a local-file or empty namespace, and the
    spec's own ``namespace`` + ``name`` split. Never raises: input it does not recognise is
    returned with only whitespace and trailing namespace slashes trimmed.
    """
    namespace = namespace.strip()
    name = name.strip()
    if "://" in name or _scheme_of(name) == "file":
        # The producer put the whole location (a URI) in the name.
        return _from_uri(name)
    ns = normalize_namespace(namespace) if namespace else ""
    if ns in ("", "file"):
        if name.startswith("/"):
            return "file", _clean_path(name)
        return ns, name
    if _has_location_path(ns):  # a warehouse location: the name is a table, not a path
        return ns, name
    scheme = _scheme_of(ns)
    if scheme is None:
        return ns, name
    if scheme in OBJECT_STORES:
        return ns, _clean_key(name)
    if scheme in FILE_SYSTEMS:
        return ns, _clean_path(name)
    return ns, _fold_case(scheme, name)


def canonical_uids(node: str) -> list[str]:
    """The uids a dataset or dataset version written ``node`` by a user has in the graph once
    its name goes through :func:`normalize_dataset`, as the processor's did: ``node`` cut into
    namespace and name at each ``:`` (and whole, as a URI or a path), each with and without
    a version after its last ``@`` (``namespace:name@version``). Most likely first, no
    repeats; several because a namespace holds colons itself (``s3a://B:k``,
    ``postgresql://H:5432:DB.T``). Never raises."""
    from lineage_pipeline.graph_model import dataset_uid, version_uid

    out: dict[str, None] = {}
    base, at, version = node.rpartition("@")
    for text, ver in ((node, None), (base, version) if at and base and version else ("", None)):
        if not text:
            continue
        splits = [("", text)] + [(text[:i], text[i + 1:]) for i, ch in enumerate(text)
                                 if ch == ":" and i > 0]
        for namespace, name in splits:
            if not name:
                continue
            ns, nm = normalize_dataset(namespace, name)
            if ns and nm:
                out[version_uid(ns, nm, ver) if ver else dataset_uid(ns, nm)] = None
    return list(out)
