"""Acceptance tests of the Spark emitter on real pyspark (local mode, one shared session)."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest

from emitters.spark import SparkLineage, enable_lineage
from lineage_pipeline.events import Dataset, EventType, LineageEvent
from lineage_pipeline.metrics import EMITTER_CAPTURE_ERRORS
from tests.spark.conftest import RecordingClient

pytestmark = pytest.mark.spark

HEX64 = re.compile(r"^[0-9a-f]{64}$")


def lineage_map(ds: Dataset) -> dict[str, dict[tuple[str, str], set[tuple[str, str | None]]]]:
    """Output column -> {(input dataset name, column): {(type, subtype)}}."""
    out: dict[str, dict[tuple[str, str], set[tuple[str, str | None]]]] = {}
    for col in ds.facets.columnLineage or []:
        fields = out.setdefault(col.field, {})
        for f in col.inputFields:
            fields.setdefault((f.name, f.field), set()).update(
                (t.type, t.subtype) for t in f.transformations
            )
    return out


def schema(ds: Dataset) -> list[tuple[str, str | None]]:
    return [(f.name, f.type) for f in ds.facets.schema_ or []]


def one_run(recorder: RecordingClient) -> tuple[LineageEvent, LineageEvent]:
    runs = recorder.runs()
    assert len(runs) == 1, [e.job.name for e in recorder.action_events()]
    (events,) = runs.values()
    assert [e.eventType for e in events][:1] == [EventType.START]
    assert len(events) == 2
    return events[0], events[1]


def feature_job(spark: Any, data: Path, out: Path) -> None:
    """Two inputs (parquet, CSV), join, filter, aggregate, write parquet."""
    from pyspark.sql import functions as F

    payments = spark.read.parquet(str(data / "payments.parquet"))
    users = spark.read.option("header", True).option("inferSchema", True).csv(
        str(data / "users.csv")
    )
    (
        payments.join(users, "user_id")
        .filter(F.col("age") > 18)
        .groupBy("country")
        .agg(F.sum("amount").alias("total"))
        .write.mode("overwrite")
        .parquet(str(out))
    )


def test_join_filter_aggregate_gives_one_run_with_column_lineage(
    spark: Any, data_dir: Path, lineage: SparkLineage, recorder: RecordingClient, tmp_path: Path
) -> None:
    out = tmp_path / "features"
    feature_job(spark, data_dir, out)
    assert lineage.flush(30)

    start, complete = one_run(recorder)
    assert complete.eventType == EventType.COMPLETE
    assert complete.job.namespace == "tests"
    assert complete.job.name == f"spark_tests.insert_into_hadoop_fs_relation.{_slug(out)}"
    assert complete.job.facets.jobType is not None
    assert complete.job.facets.jobType.integration == "SPARK"
    assert start.eventTime <= complete.eventTime

    # parent: the application run, which emitted its own START
    (app_start,) = recorder.app_events()
    assert app_start.eventType == EventType.START and app_start.job.name == "spark_tests"
    assert complete.run.parent is not None
    assert complete.run.parent.runId == app_start.run.runId

    inputs = {d.name: d for d in complete.inputs}
    payments, users = str(data_dir / "payments.parquet"), str(data_dir / "users.csv")
    assert set(inputs) == {payments, users}
    assert {d.namespace for d in complete.inputs} == {"file"}
    assert schema(inputs[payments]) == [
        ("user_id", "bigint"), ("amount", "double"), ("country", "string")
    ]
    assert schema(inputs[users]) == [("user_id", "int"), ("name", "string"), ("age", "int")]

    (output,) = complete.outputs
    assert (output.namespace, output.name, output.kind) == ("file", str(out), "file")
    assert schema(output) == [("country", "string"), ("total", "double")]
    indirect = {
        (payments, "user_id"): {("INDIRECT", "JOIN")},
        (users, "user_id"): {("INDIRECT", "JOIN")},
        (users, "age"): {("INDIRECT", "FILTER")},
        (payments, "country"): {("INDIRECT", "GROUP_BY")},
    }
    expected_country = {k: set(v) for k, v in indirect.items()}
    expected_country[(payments, "country")].add(("DIRECT", "IDENTITY"))
    expected_total = {k: set(v) for k, v in indirect.items()}
    expected_total[(payments, "amount")] = {("DIRECT", "AGGREGATION")}
    assert lineage_map(output) == {"country": expected_country, "total": expected_total}

    # users 1, 3, 4 are over 18 -> payments 1 (de), 3 (de), 4 (fr) -> two countries
    assert output.facets.statistics is not None
    assert output.facets.statistics.rowCount == 2
    assert json.loads(output.facets.extra["outputStatistics"])["rowCount"] == 2
    assert output.version is not None and HEX64.match(output.version)
    assert output.facets.contentDigest is not None
    assert output.facets.contentDigest.hex == output.version
    assert complete.run.facets.metrics["spark.numOutputRows"] == 2.0


def test_same_job_twice_gives_two_runs_of_one_job_and_two_versions(
    spark: Any, data_dir: Path, lineage: SparkLineage, recorder: RecordingClient, tmp_path: Path
) -> None:
    out = tmp_path / "features"
    feature_job(spark, data_dir, out)
    feature_job(spark, data_dir, out)
    assert lineage.flush(30)

    completes = recorder.terminal()
    assert len(completes) == 2
    assert len({e.run.runId for e in completes}) == 2
    assert len({(e.job.namespace, e.job.name) for e in completes}) == 1
    versions = [e.outputs[0].version for e in completes]
    assert all(v is not None and HEX64.match(v) for v in versions)
    assert versions[0] != versions[1]  # each write is a new version (new part files)
    assert [e.outputs[0].name for e in completes] == [str(out), str(out)]


def test_save_as_table_then_insert_into(
    spark: Any, data_dir: Path, lineage: SparkLineage, recorder: RecordingClient
) -> None:
    table = f"sales_{uuid.uuid4().hex[:8]}"
    payments = spark.read.parquet(str(data_dir / "payments.parquet"))
    payments.select("user_id", "amount").write.saveAsTable(table)
    assert lineage.flush(30)

    _start, created = one_run(recorder)
    assert created.eventType == EventType.COMPLETE
    assert "create_data_source_table_as_select" in created.job.name
    (output,) = created.outputs
    assert (output.namespace, output.name, output.kind) == ("spark_catalog", f"default.{table}",
                                                            "table")
    assert output.facets.symlinks is not None
    (location,) = output.facets.symlinks
    assert (location.namespace, location.type) == ("file", "LOCATION")
    assert location.name.endswith(f"/warehouse/{table}")
    assert schema(output) == [("user_id", "bigint"), ("amount", "double")]
    assert output.facets.statistics is not None and output.facets.statistics.rowCount == 4
    assert json.loads(output.facets.extra["lifecycleStateChange"]) == {
        "lifecycleStateChange": "CREATE"
    }
    assert [d.name for d in created.inputs] == [str(data_dir / "payments.parquet")]
    assert lineage_map(output)["amount"] == {
        (str(data_dir / "payments.parquet"), "amount"): {("DIRECT", "IDENTITY")}
    }

    recorder.events.clear()
    payments.select("user_id", "amount").limit(1).write.insertInto(table)
    assert lineage.flush(30)
    _start, inserted = one_run(recorder)
    (output2,) = inserted.outputs
    assert (output2.namespace, output2.name) == ("spark_catalog", f"default.{table}")
    assert inserted.run.facets.parameters["spark.saveMode"] == "Append"
    assert json.loads(output2.facets.extra["outputStatistics"])["rowCount"] == 1
    # an append's row count is not the table's: no statistics.rowCount for the version
    assert output2.facets.statistics is None or output2.facets.statistics.rowCount is None
    assert output2.version is not None and output2.version != output.version


def test_ctas_and_insert_select_through_spark_sql(
    spark: Any, data_dir: Path, lineage: SparkLineage, recorder: RecordingClient
) -> None:
    table = f"totals_{uuid.uuid4().hex[:8]}"
    view = f"payments_{uuid.uuid4().hex[:8]}"
    payments = str(data_dir / "payments.parquet")
    spark.read.parquet(payments).createOrReplaceTempView(view)
    spark.sql(
        f"CREATE TABLE {table} USING parquet AS "  # noqa: S608 (generated names)
        f"SELECT country, SUM(amount) AS total FROM {view} GROUP BY country"
    )
    assert lineage.flush(30)
    _start, ctas = one_run(recorder)
    (output,) = ctas.outputs
    assert output.name == f"default.{table}"
    assert [d.name for d in ctas.inputs] == [payments]
    assert lineage_map(output) == {
        "country": {(payments, "country"): {("DIRECT", "IDENTITY"), ("INDIRECT", "GROUP_BY")}},
        "total": {
            (payments, "amount"): {("DIRECT", "AGGREGATION")},
            (payments, "country"): {("INDIRECT", "GROUP_BY")},
        },
    }
    assert output.facets.statistics is not None and output.facets.statistics.rowCount == 2

    recorder.events.clear()
    query = (
        f"INSERT INTO {table} SELECT country, MAX(amount) FROM {view} "  # noqa: S608
        "WHERE amount > 6 GROUP BY country"
    )
    spark.sql(query)
    assert lineage.flush(30)
    _start, insert = one_run(recorder)
    assert insert.job.facets.sql is not None and insert.job.facets.sql.query == query
    (output2,) = insert.outputs
    assert output2.name == f"default.{table}"
    assert lineage_map(output2)["total"] == {
        (payments, "amount"): {("DIRECT", "AGGREGATION"), ("INDIRECT", "FILTER")},
        (payments, "country"): {("INDIRECT", "GROUP_BY")},
    }
    assert json.loads(output2.facets.extra["outputStatistics"])["rowCount"] == 2


def test_failing_job_emits_fail_with_error_facet(
    spark: Any, lineage: SparkLineage, recorder: RecordingClient, tmp_path: Path
) -> None:
    from pyspark.sql import functions as F

    out = tmp_path / "never"
    with pytest.raises(Exception, match="boom"):
        spark.range(3).select(F.raise_error(F.lit("boom")).alias("x")).write.mode(
            "overwrite"
        ).parquet(str(out))
    assert lineage.flush(30)

    _start, failed = one_run(recorder)
    assert failed.eventType == EventType.FAIL
    error = failed.run.facets.error
    assert error is not None
    assert "boom" in error.message and error.programmingLanguage == "java"
    assert error.stackTrace is not None and "USER_RAISED_EXCEPTION" in error.stackTrace
    (output,) = failed.outputs
    assert output.name == str(out) and output.version is None
    assert lineage.errors == 0


def test_reads_emit_nothing_unless_configured(
    spark: Any, data_dir: Path, recorder: RecordingClient
) -> None:
    payments = str(data_dir / "payments.parquet")
    handle = enable_lineage(spark, recorder, namespace="tests", app_name="reads")
    try:
        assert spark.read.parquet(payments).count() == 4
        spark.read.parquet(payments).collect()
        assert handle.flush(30)
        assert recorder.action_events() == []
        assert handle.seen >= 2
    finally:
        handle.close()

    reads = RecordingClient()
    handle = enable_lineage(spark, reads, namespace="tests", app_name="reads", emit_reads=True)
    try:
        spark.read.parquet(payments).where("amount > 6").collect()
        assert handle.flush(30)
    finally:
        handle.close()
    (run,) = reads.terminal()
    assert [d.name for d in run.inputs] == [payments] and run.outputs == []
    assert run.job.name == f"reads.collect_to_python.{_slug(Path(payments))}"


def test_jdbc_write_and_read_name_the_table_without_credentials(
    spark: Any, data_dir: Path, lineage: SparkLineage, recorder: RecordingClient, tmp_path: Path
) -> None:
    db = f"lineage_{uuid.uuid4().hex[:8]}"
    url = f"jdbc:derby:memory:{db};create=true"
    props = {"driver": "org.apache.derby.iapi.jdbc.AutoloadedDriver", "user": "app",
             "password": "s3cret-pw"}
    spark.read.parquet(str(data_dir / "payments.parquet")).write.jdbc(
        url, "PAYMENTS_COPY", mode="overwrite", properties=props
    )
    out = tmp_path / "from_jdbc"
    spark.read.jdbc(url, "PAYMENTS_COPY", properties=props).select("country").write.parquet(
        str(out)
    )
    assert lineage.flush(30)

    first, second = recorder.terminal()
    (table,) = first.outputs
    assert (table.namespace, table.name) == (f"derby:memory:{db}", "PAYMENTS_COPY")
    assert lineage_map(table)["amount"] == {
        (str(data_dir / "payments.parquet"), "amount"): {("DIRECT", "IDENTITY")}
    }
    assert [(d.namespace, d.name) for d in second.inputs] == [(f"derby:memory:{db}",
                                                               "PAYMENTS_COPY")]
    assert lineage_map(second.outputs[0]) == {
        "country": {("PAYMENTS_COPY", "country"): {("DIRECT", "IDENTITY")}}
    }
    dumped = json.dumps([e.model_dump(mode="json") for e in recorder.events])
    assert "s3cret-pw" not in dumped


def test_window_union_subquery_cte_and_masking(
    spark: Any, data_dir: Path, lineage: SparkLineage, recorder: RecordingClient, tmp_path: Path
) -> None:
    payments, users = str(data_dir / "payments.parquet"), str(data_dir / "users.csv")
    spark.read.parquet(payments).createOrReplaceTempView("p_cplx")
    spark.read.option("header", True).option("inferSchema", True).csv(users) \
        .createOrReplaceTempView("u_cplx")
    spark.sql("""
        WITH big AS (SELECT user_id, amount, country FROM p_cplx WHERE amount > 6)
        SELECT b.user_id, sha2(u.name, 256) AS name_hash, b.amount * 2 AS double_amount,
               SUM(b.amount) OVER (PARTITION BY b.country) AS country_total,
               row_number() OVER (PARTITION BY b.country ORDER BY b.amount) AS rn
        FROM big b JOIN u_cplx u ON b.user_id = u.user_id
        WHERE u.user_id IN (SELECT user_id FROM u_cplx WHERE age > 18)
        ORDER BY b.user_id
    """).write.parquet(str(tmp_path / "complex"))
    union = "SELECT user_id FROM p_cplx UNION ALL SELECT CAST(user_id AS BIGINT) FROM u_cplx"
    spark.sql(union).write.parquet(str(tmp_path / "union"))
    assert lineage.flush(30)

    complex_run, union_run = recorder.terminal()
    got = lineage_map(complex_run.outputs[0])
    indirect = {
        (payments, "amount"): {("INDIRECT", "FILTER"), ("INDIRECT", "WINDOW")},
        (payments, "user_id"): {("INDIRECT", "JOIN"), ("INDIRECT", "SORT")},
        (payments, "country"): {("INDIRECT", "WINDOW")},
        (users, "user_id"): {("INDIRECT", "JOIN"), ("INDIRECT", "FILTER")},
        (users, "age"): {("INDIRECT", "FILTER")},
    }
    assert got["rn"] == indirect
    assert got["user_id"][(payments, "user_id")] >= {("DIRECT", "IDENTITY")}
    assert ("DIRECT", "TRANSFORMATION") in got["name_hash"][(users, "name")]
    assert ("DIRECT", "TRANSFORMATION") in got["double_amount"][(payments, "amount")]
    assert ("DIRECT", "AGGREGATION") in got["country_total"][(payments, "amount")]
    masked = {
        (c.field, f.field): any(t.masking for t in f.transformations)
        for c in complex_run.outputs[0].facets.columnLineage or []
        for f in c.inputFields
        if f.name == users
    }
    assert masked[("name_hash", "name")] is True
    assert masked[("name_hash", "user_id")] is False

    assert lineage_map(union_run.outputs[0]) == {
        "user_id": {
            (payments, "user_id"): {("DIRECT", "IDENTITY")},
            (users, "user_id"): {("DIRECT", "IDENTITY")},
        }
    }


def test_failures_inside_the_listener_are_counted_not_raised(
    spark: Any, data_dir: Path, tmp_path: Path
) -> None:
    class BrokenClient:
        def emit(self, event: LineageEvent) -> None:
            raise RuntimeError("transport exploded")

    before = EMITTER_CAPTURE_ERRORS.labels("spark")._value.get()
    handle = enable_lineage(spark, BrokenClient(), namespace="tests", app_name="broken")
    try:
        out = tmp_path / "still_written"
        spark.read.parquet(str(data_dir / "payments.parquet")).write.parquet(str(out))
        assert handle.flush(30)
        assert spark.read.parquet(str(out)).count() == 4  # the job itself is unaffected
        assert handle.errors == 1 and handle.runs == 0
    finally:
        handle.close()
    assert EMITTER_CAPTURE_ERRORS.labels("spark")._value.get() >= before + 2  # START + action


def test_autoload_enables_sessions_from_configuration(
    spark: Any, data_dir: Path, recorder: RecordingClient, tmp_path: Path
) -> None:
    from pyspark.sql import SparkSession

    from emitters.client import set_client
    from emitters.spark import autoload, lineage_handle

    set_client(recorder)  # type: ignore[arg-type]  # the process-wide default client
    try:
        autoload.install()
        assert lineage_handle(spark) is None  # not configured yet
        same = (
            SparkSession.builder.config("spark.lineage.enabled", "true")
            .config("spark.lineage.namespace", "configured")
            .config("spark.lineage.appName", "autoloaded")
            .getOrCreate()
        )
        assert same is spark
        handle = lineage_handle(spark)
        assert handle is not None and handle.config.namespace == "configured"
        spark.read.parquet(str(data_dir / "payments.parquet")).write.parquet(str(tmp_path / "o"))
        handle.close()
    finally:
        for key in ("enabled", "namespace", "appName"):
            spark.conf.unset(f"spark.lineage.{key}")
        autoload.uninstall()
        set_client(None)
    (run,) = recorder.terminal()
    assert run.job.namespace == "configured"
    assert run.job.name.startswith("autoloaded.insert_into_hadoop_fs_relation.")
    assert [e.eventType for e in recorder.app_events()] == [EventType.START, EventType.COMPLETE]


def _slug(path: Path) -> str:
    from emitters.spark.datasets import slug

    return slug(str(path))
