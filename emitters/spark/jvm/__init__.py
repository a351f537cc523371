"""The py4j boundary: every call into Spark's JVM objects lives here.

pyspark and py4j are untyped; this module takes and returns ``Any`` for JVM objects and
plain Python values (str, int, dataclasses) for everything else, so the rest of the
package is typed. Each function documents the Spark (4.x, Scala 2.13) API it calls; all of
them may raise ``py4j.protocol.Py4JError`` (or any exception py4j surfaces) and leave
catching to the caller, which logs and counts it.

Modules: :mod:`.base` (values, plans, errors, session facts), :mod:`.relations` (what a
plan reads), :mod:`.writes` (what a write command writes, and its metrics).
"""

from emitters.spark.jvm.base import (
    RelationInfo,
    WriteInfo,
    class_name,
    ensure_callback_server,
    exception_info,
    option,
    plan_json,
    seq,
    session_facts,
    short_name,
    sql_text,
    str_seq,
)
from emitters.spark.jvm.relations import describe_relation, first_output_id, leaf_relations
from emitters.spark.jvm.writes import (
    WRITE_EXEC_NODES,
    WRITE_METRICS,
    describe_write,
    query_plan,
    table_location,
    write_metrics,
)

__all__ = [
    "WRITE_EXEC_NODES",
    "WRITE_METRICS",
    "RelationInfo",
    "WriteInfo",
    "class_name",
    "describe_relation",
    "describe_write",
    "ensure_callback_server",
    "exception_info",
    "first_output_id",
    "leaf_relations",
    "option",
    "plan_json",
    "query_plan",
    "seq",
    "session_facts",
    "short_name",
    "sql_text",
    "str_seq",
    "table_location",
    "write_metrics",
]
