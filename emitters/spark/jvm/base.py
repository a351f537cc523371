"""JVM values and plans: class names, Scala ``Option``/``Seq``, plan JSON, SQL text, errors,
session facts; and the plain dataclasses (:class:`RelationInfo`, :class:`WriteInfo`) the
rest of the package gets instead of JVM objects."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: Separator used to fetch a Scala ``Seq[String]`` in one call (``mkString``).
_SEP = "\u001f"

@dataclass
class RelationInfo:
    """What a leaf relation or a write target points at.

    ``kind``: ``files`` (paths), ``table`` (a catalog table, with ``location`` when known),
    ``jdbc`` (``jdbc_url`` + ``jdbc_table``), ``v2`` (a DataSource V2 table ``table`` in
    ``catalog``) or ``other``. ``paths``/``location`` are URIs as Spark prints them
    (``file:/tmp/x``). ``file_format``: Spark's name (``Parquet``, ``CSV``...) or provider.
    """

    kind: str
    paths: list[str] = field(default_factory=list)
    table: str | None = None
    database: str | None = None
    catalog: str | None = None
    location: str | None = None
    file_format: str | None = None
    jdbc_url: str | None = None
    jdbc_table: str | None = None
    source_class: str | None = None
    identifier: Any = None  # the JVM TableIdentifier, to look the table up after the write


@dataclass
class WriteInfo:
    """The target of a write command: ``target``, save ``mode`` (``Overwrite``, ``Append``,
    ``ErrorIfExists``, ``Ignore``), and the output column names when Spark records them."""

    command: str
    target: RelationInfo
    mode: str | None = None
    output_columns: list[str] = field(default_factory=list)


def class_name(obj: Any) -> str:
    """Full JVM class name of ``obj`` (``obj.getClass().getName()``)."""
    return str(obj.getClass().getName())


def short_name(obj: Any) -> str:
    """Simple class name without the Scala ``$`` suffix."""
    return class_name(obj).rsplit(".", 1)[-1].rstrip("$")


def option(opt: Any) -> Any | None:
    """Value of a Scala ``Option`` or ``None``."""
    if opt is None or not opt.isDefined():
        return None
    return opt.get()


def seq(items: Any, limit: int = 10_000) -> list[Any]:
    """Elements of a Scala ``Seq`` (``size``/``apply``), at most ``limit``."""
    n = min(int(items.size()), limit)
    return [items.apply(i) for i in range(n)]


def str_seq(items: Any) -> list[str]:
    """A Scala ``Seq[String]`` as a list, fetched in one call via ``mkString``."""
    text = str(items.mkString(_SEP))
    return text.split(_SEP) if text else []


def ensure_callback_server(gateway: Any) -> None:
    """Start py4j's callback server (Java -> Python calls) if it is not running
    (``pyspark.java_gateway.ensure_callback_server_started``)."""
    from pyspark import java_gateway

    start: Any = java_gateway.ensure_callback_server_started
    start(gateway)


def plan_json(plan: Any) -> str:
    """``TreeNode.toJSON`` of a logical plan: the whole tree in one call."""
    return str(plan.toJSON())


def sql_text(qe: Any) -> str | None:
    """The SQL text a plan was parsed from (``CurrentOrigin.sqlText``), if Spark kept it."""
    value = option(qe.logical().origin().sqlText())
    return str(value) if value is not None else None


# -- errors and session ----------------------------------------------------------------------
def exception_info(jvm: Any, exc: Any, max_chars: int = 16_384) -> tuple[str, str]:
    """``(message, stack trace)`` of a JVM ``Throwable`` (``Utils.exceptionString``)."""
    cls = class_name(exc)
    msg = exc.getMessage()
    message = f"{cls}: {msg}" if msg is not None else cls
    try:
        trace = str(jvm.org.apache.spark.util.Utils.exceptionString(exc))
    except Exception:
        trace = str(exc.toString())
    return message, trace[:max_chars]


def session_facts(jsession: Any) -> dict[str, str]:
    """Spark version, master and application id/name of a JVM ``SparkSession``."""
    sc = jsession.sparkContext()
    return {
        "spark.version": str(jsession.version()),
        "spark.master": str(sc.master()),
        "spark.app.id": str(sc.applicationId()),
        "spark.app.name": str(sc.appName()),
    }
