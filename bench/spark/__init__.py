"""Benchmark: wall time of a representative local Spark job with and without the emitter.

Workload (generated once per run, deterministic): ``payments`` (``rows`` rows, parquet:
user_id, amount, country, day) and ``users`` (``users`` rows, CSV with header: user_id,
age, segment). The job does three write actions, as a feature-engineering step would:

1. join payments with users, filter adults, aggregate per country and day
   (sum/avg/count) -> parquet;
2. top-3 payments per user by a window (``row_number``) -> parquet;
3. users per age and segment -> ``saveAsTable`` (overwrite; CTAS in the session catalog).

One ``SparkSession`` (``local[2]``) runs the job alternately without and with
:func:`emitters.spark.enable_lineage` (events to a real ``LineageClient`` with the
``spool`` transport: encoded and written to local files, no broker needed), in ABBA order
after one warm-up of each. A captured sample is timed from the job's start until
``handle.flush()`` returned, i.e. until every action's lineage (plan walk, output digests)
was handed to the client; enabling (application START) and closing are timed apart.

Reported: median wall seconds of both, their ``ratio`` (goal <= 1.05), the noise
(half the inter-quartile range of the plain samples, relative), the background thread's
time per action, and the number of events.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

GOAL_RATIO = 1.05


def _session() -> Any:
    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.master("local[2]")
        .appName("bench_spark_features")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.driver.memory", "1g")
        .config("spark.sql.execution.arrow.pyspark.enabled", "false")
        .config("spark.sql.warehouse.dir", tempfile.mkdtemp(prefix="bench-spark-wh-"))
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def _make_data(spark: Any, base: Path, rows: int, users: int) -> tuple[str, str]:
    from pyspark.sql import functions as F

    payments = str(base / "payments.parquet")
    users_csv = str(base / "users_csv")
    (
        spark.range(rows)
        .select(
            (F.col("id") % users).alias("user_id"),
            ((F.abs(F.hash("id")) % 100_000) / 100.0).alias("amount"),
            F.element_at(F.array(*[F.lit(c) for c in ("de", "fr", "it", "es", "nl")]),
                         (F.col("id") % 5 + 1).cast("int")).alias("country"),
            F.date_add(F.lit("2024-01-01").cast("date"), (F.col("id") % 90).cast("int"))
            .alias("day"),
        )
        .write.mode("overwrite")
        .parquet(payments)
    )
    (
        spark.range(users)
        .select(
            F.col("id").alias("user_id"),
            (F.col("id") % 70 + 10).alias("age"),
            F.concat(F.lit("s"), (F.col("id") % 7).cast("string")).alias("segment"),
        )
        .coalesce(1)
        .write.mode("overwrite")
        .option("header", True)
        .csv(users_csv)
    )
    return payments, users_csv


def job(spark: Any, payments_path: str, users_path: str, out: Path) -> None:
    """The representative job: three write actions (see the module docstring)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    payments = spark.read.parquet(payments_path)
    users = (
        spark.read.option("header", True)
        .schema("user_id long, age int, segment string")
        .csv(users_path)
    )
    (
        payments.join(users, "user_id")
        .filter(F.col("age") >= 18)
        .groupBy("country", "day")
        .agg(F.sum("amount").alias("total"), F.avg("amount").alias("mean"),
             F.count("*").alias("n"))
        .write.mode("overwrite")
        .parquet(str(out / "daily_country"))
    )
    rank = F.row_number().over(Window.partitionBy("user_id").orderBy(F.desc("amount")))
    (
        payments.withColumn("rank", rank)
        .filter(F.col("rank") <= 3)
        .write.mode("overwrite")
        .parquet(str(out / "top_payments"))
    )
    users.groupBy("age", "segment").count().write.mode("overwrite").saveAsTable("bench_users_age")


@dataclass
class _Samples:
    """What the kept rounds measured: job seconds per variant, enable/close milliseconds per
    captured round, and the lineage handles' counters summed over those rounds."""

    plain: list[float] = field(default_factory=list)
    captured: list[float] = field(default_factory=list)
    enable_ms: list[float] = field(default_factory=list)
    close_ms: list[float] = field(default_factory=list)
    runs: int = 0
    errors: int = 0
    busy_s: float = 0.0
    seen: int = 0

    def figures(self, *, spool_files: int, rows: int, users: int) -> dict[str, Any]:
        """The benchmark's figures (see :func:`run`); medians, ratio and noise."""
        plain, captured = self.plain, self.captured
        p_med, c_med = statistics.median(plain), statistics.median(captured)
        q = statistics.quantiles(plain, n=4) if len(plain) >= 2 else [p_med, p_med, p_med]
        ratio = c_med / p_med
        return {
            "plain_s": round(p_med, 4),
            "captured_s": round(c_med, 4),
            "ratio": round(ratio, 4),
            "goal_ratio": GOAL_RATIO,
            "goal_met": ratio <= GOAL_RATIO,
            "noise_ratio": round((q[2] - q[0]) / 2 / p_med, 4),
            "samples": len(plain),
            "plain_all_s": [round(x, 3) for x in plain],
            "captured_all_s": [round(x, 3) for x in captured],
            "actions": 3,
            "runs_emitted": self.runs,
            "executions_seen": self.seen,
            "background_ms_per_action": round(self.busy_s * 1000 / max(self.runs, 1), 2),
            "enable_ms": round(statistics.median(self.enable_ms), 1),
            "close_ms": round(statistics.median(self.close_ms), 1),
            "errors": self.errors,
            "spool_files": spool_files,
            "rows": rows,
            "users": users,
        }


@dataclass
class _Rounds:
    """Runs :func:`job` on one session and data set, plain or captured, into ``samples``."""

    spark: Any
    client: Any
    enable_lineage: Callable[..., Any]  # emitters.spark.enable_lineage
    payments: str
    users_csv: str
    out: Path
    samples: _Samples = field(default_factory=_Samples)

    def plain(self, keep: bool) -> None:
        """One run without lineage; ``keep``: record its wall time."""
        began = time.perf_counter()
        job(self.spark, self.payments, self.users_csv, self.out)
        elapsed = time.perf_counter() - began
        if keep:
            self.samples.plain.append(elapsed)

    def captured(self, keep: bool) -> None:
        """One run with :func:`emitters.spark.enable_lineage`, timed until ``flush`` returned
        (enable and close timed apart); ``keep``: record it and the handle's counters."""
        t0 = time.perf_counter()
        handle = self.enable_lineage(self.spark, self.client, namespace="bench",
                                app_name="bench_spark")
        t1 = time.perf_counter()
        job(self.spark, self.payments, self.users_csv, self.out)
        handle.flush(120)
        t2 = time.perf_counter()
        handle.close()
        t3 = time.perf_counter()
        if keep:
            s = self.samples
            s.captured.append(t2 - t1)
            s.enable_ms.append((t1 - t0) * 1000)
            s.close_ms.append((t3 - t2) * 1000)
            s.runs += handle.runs
            s.errors += handle.errors
            s.busy_s += handle.busy_s
            s.seen += handle.seen

    def once(self, capture: bool, keep: bool) -> None:
        """One run of either variant."""
        if capture:
            self.captured(keep)
        else:
            self.plain(keep)


def run(*, rows: int = 1_000_000, users: int = 50_000, rounds: int = 2) -> dict[str, Any]:
    """Run the benchmark; return its figures (seconds unless named ``_ms``).

    Keys: ``plain_s``, ``captured_s`` (medians), ``ratio``, ``goal_ratio``, ``goal_met``,
    ``noise_ratio``, ``samples`` (per variant), ``plain_all_s``, ``captured_all_s``,
    ``actions``, ``runs_emitted``, ``events_emitted``, ``background_ms_per_action``,
    ``enable_ms``, ``close_ms``, ``errors``, ``rows``, ``users``.
    """
    from emitters.client import LineageClient
    from emitters.spark import enable_lineage

    tmp = tempfile.TemporaryDirectory(prefix="bench-spark-")
    base = Path(tmp.name)
    spark = _session()
    client = LineageClient.from_config(None, transport="spool", spool_dir=base / "spool")
    try:
        payments, users_csv = _make_data(spark, base, rows, users)
        bench = _Rounds(spark, client, enable_lineage, payments, users_csv, base / "out")
        bench.once(False, keep=False)  # warm-up: JIT, file system cache
        bench.once(True, keep=False)
        for _ in range(rounds):
            for capture in (False, True, True, False):
                bench.once(capture, keep=True)
        client.flush(30)
        events = sum(1 for _ in (base / "spool").rglob("*")) if (base / "spool").exists() else 0
        return bench.samples.figures(spool_files=events, rows=rows, users=users)
    finally:
        client.close(10)
        spark.stop()
        tmp.cleanup()


def main(argv: list[str] | None = None) -> int:
    """Print the benchmark's figures as JSON and a one-line summary; exit 0 (1 if the goal
    is missed)."""
    result = run()
    print(json.dumps(result, indent=2))
    print(
        f"spark emitter: job {result['plain_s']:.2f} s plain, {result['captured_s']:.2f} s "
        f"with lineage = x{result['ratio']:.3f} (goal <= x{GOAL_RATIO}; noise +/- "
        f"{result['noise_ratio'] * 100:.1f} %); {result['background_ms_per_action']:.0f} ms "
        "background work per action",
        file=sys.stderr,
    )
    return 0 if result["goal_met"] else 1
