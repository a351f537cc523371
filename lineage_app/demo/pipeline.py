"""The demo's ML pipeline over real data: the Wisconsin breast-cancer data set.

The data ships offline inside scikit-learn (``sklearn/datasets/data/breast_cancer.csv``:
569 tumours, 30 measurements, benign/malignant). An upstream source "delivers" it to a
landing file; six instrumented steps (namespace ``demo``) turn it into a model and its
scores, each run emitting lineage:

``ingest``, ``clean`` (pandas, batch emitter) -> ``features`` (Spark, lineage from its query
plans) -> ``train`` (PyTorch MLP, checkpoint) -> ``evaluate`` (accuracy) and ``score``
(PyTorch inference from the checkpoint).

Delivery 2 re-delivers the same tumours with one realistic defect: the source switched
``worst radius`` from centimetres to millimetres. Retraining on it drops the accuracy
measured on the curated golden test set (which keeps centimetres).

Here: the upstream source and the data steps (pandas, Spark), and the steps in order
(:data:`STEPS`, :func:`run_pipeline`); the PyTorch steps are :mod:`lineage_app.demo.model`;
paths and constants :mod:`lineage_app.demo.layout`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from emitters.batch import job_run
from emitters.client import LineageClient
from lineage_app.demo.checks import landing_checks
from lineage_app.demo.layout import (
    DEFECT_COLUMN,
    DEFECT_FACTOR,
    NAMESPACE,
    SEED,
    TARGET,
    Paths,
    feature_columns,
    out_path,
)
from lineage_app.demo.model import evaluate, score, train

__all__ = [
    "DEFECT_COLUMN", "STEPS", "Paths", "clean", "deliver", "evaluate", "features", "ingest",
    "run_pipeline", "score", "stop_spark", "train",
]


def load_source() -> pd.DataFrame:
    """Return the real data set with column names and a ``sample_id`` (569 rows x 32)."""
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer(as_frame=True)
    frame: pd.DataFrame = data.frame.rename(columns={"target": "benign"})
    frame[TARGET] = 1 - frame.pop("benign")
    frame.insert(0, "sample_id", np.arange(len(frame)))
    return frame


def deliver(paths: Paths, delivery: int, rows: int | None = None) -> None:
    """The upstream source (not instrumented): write delivery ``delivery`` (1 or 2).

    Delivery 1 also curates the golden test set (30 %, stratified, fixed seed) and the
    incoming patients to score. Delivery 2 has ``worst radius`` in millimetres.
    ``rows`` limits the data set size (for quick tests).
    """
    from sklearn.model_selection import train_test_split

    source = load_source()
    if rows is not None:
        source = source.sample(n=rows, random_state=SEED).sort_values("sample_id")
    train, golden = train_test_split(
        source, test_size=0.3, random_state=SEED, stratify=source[TARGET]
    )
    train = train.sort_values("sample_id")
    if delivery == 1:
        paths.golden.parent.mkdir(parents=True, exist_ok=True)
        golden.sort_values("sample_id").to_csv(paths.golden, index=False)
        paths.incoming.parent.mkdir(parents=True, exist_ok=True)
        golden.drop(columns=[TARGET]).sort_values("sample_id").to_csv(paths.incoming, index=False)
    else:
        train = train.copy()
        train[DEFECT_COLUMN] = train[DEFECT_COLUMN] * DEFECT_FACTOR
    paths.landing.parent.mkdir(parents=True, exist_ok=True)
    train.to_csv(paths.landing, index=False)


def ingest(paths: Paths, client: LineageClient) -> None:
    """Landing CSV -> typed, de-duplicated raw parquet; the delivery is validated on arrival
    (pandera and Great Expectations, :mod:`lineage_app.demo.checks`)."""
    with job_run("breast_cancer.ingest", namespace=NAMESPACE, client=client) as run:
        landing = run.input_file(paths.landing, kind="table")
        frame = pd.read_csv(paths.landing)
        if landing is not None:
            run.add_assertions(landing, landing_checks(frame))
        frame = frame.drop_duplicates("sample_id")
        frame.to_parquet(out_path(paths.raw), index=False)
        run.output_file(paths.raw, kind="table")


def clean(paths: Paths, client: LineageClient) -> None:
    """Impute missing measurements with the median and clip negative values."""
    with job_run(
        "breast_cancer.clean", namespace=NAMESPACE, client=client,
        parameters={"impute": "median", "clip_min": "0"},
    ) as run:
        run.input_file(paths.raw, kind="table")
        frame = pd.read_parquet(paths.raw)
        cols = feature_columns(frame)
        frame[cols] = frame[cols].fillna(frame[cols].median()).clip(lower=0)
        frame.to_parquet(out_path(paths.clean), index=False)
        run.output_file(paths.clean, kind="table")


def features(paths: Paths, client: LineageClient, engine: str = "spark") -> None:
    """Standard-scale the measurements: scaled features and the scaler's mean/std.

    ``engine="spark"`` (the demo): a Spark job in local mode, lineage captured from its
    query plans by :mod:`emitters.spark` (one run per write action). ``engine="pandas"``:
    the same step as a batch job, for quick tests without a JVM.
    """
    if engine == "spark":
        _features_spark(paths, client)
        return
    with job_run(
        "breast_cancer.features", namespace=NAMESPACE, client=client,
        parameters={"scaler": "standard"},
    ) as run:
        run.input_file(paths.clean, kind="table")
        frame = pd.read_parquet(paths.clean)
        cols = feature_columns(frame)
        mean = frame[cols].mean()
        std = frame[cols].std(ddof=0).replace(0, 1)
        scaled = (frame[cols] - mean) / std
        scaled.insert(0, "sample_id", frame["sample_id"].to_numpy())
        scaled[TARGET] = frame[TARGET].to_numpy()
        scaled.to_parquet(out_path(paths.features), index=False)
        scaler = {**{f"mean_{c}": mean[c] for c in cols}, **{f"std_{c}": std[c] for c in cols}}
        pd.DataFrame([scaler]).to_json(out_path(paths.scaler), orient="records", lines=True)
        run.output_file(paths.features, kind="features")
        run.output_file(paths.scaler, kind="model")


def spark_session() -> Any:
    """Return the demo's local Spark session (``local[2]``, no UI, 2 shuffle partitions)."""
    import os

    from pyspark.sql import SparkSession

    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # everything stays on loopback
    spark = (
        SparkSession.builder.master("local[2]").appName("lineage-demo")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.driver.memory", "1g")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def _features_spark(paths: Paths, client: LineageClient) -> None:
    from pyspark.sql import functions as F

    from emitters.spark import disable_lineage, enable_lineage, lineage_handle

    spark = spark_session()
    handle = lineage_handle(spark)
    if handle is not None and getattr(handle, "client", client) is not client:
        disable_lineage(spark)
    lineage = enable_lineage(
        spark, client, namespace=NAMESPACE, app_name="breast_cancer.features"
    )
    frame = spark.read.parquet(str(paths.clean))
    cols = [c for c in frame.columns if c not in ("sample_id", TARGET)]
    scaler = frame.select(
        *[F.avg(F.col(c)).alias(f"mean_{c}") for c in cols],
        *[F.stddev_pop(F.col(c)).alias(f"std_{c}") for c in cols],
    )
    scaler.coalesce(1).write.mode("overwrite").json(str(paths.scaler))
    row = scaler.collect()[0]
    scaled = frame.select(
        "sample_id",
        *[((F.col(c) - row[f"mean_{c}"]) / (row[f"std_{c}"] or 1.0)).alias(c) for c in cols],
        TARGET,
    )
    scaled.coalesce(1).write.mode("overwrite").parquet(str(paths.features))
    lineage.flush()


def stop_spark(timeout_s: float = 30.0) -> None:
    """End the Spark application run (its COMPLETE event) and stop the demo's session."""
    from pyspark.sql import SparkSession

    from emitters.spark import disable_lineage

    spark = SparkSession.getActiveSession()
    if spark is not None:
        disable_lineage(spark, timeout_s)
        spark.stop()


#: The pipeline's steps in order, with the name shown in the progress display.
STEPS: list[tuple[str, Callable[[Paths, LineageClient], object]]] = [
    ("ingest (pandas)", ingest),
    ("clean / impute (pandas)", clean),
    ("features / scale (Spark)", features),
    ("train (PyTorch)", train),
    ("evaluate (PyTorch)", evaluate),
    ("score (PyTorch)", score),
]


def run_pipeline(
    paths: Paths,
    client: LineageClient,
    on_step: Callable[[str], None] | None = None,
    engine: str = "spark",
) -> float:
    """Run every step once over the current delivery; return the evaluated accuracy.

    ``engine`` is the feature step's engine: ``spark`` (the demo) or ``pandas``.
    """
    accuracy = float("nan")
    for label, step in STEPS:
        if on_step is not None:
            on_step(label)
        result: object = None
        if step is features:
            features(paths, client, engine)
        else:
            result = step(paths, client)
        if isinstance(result, float):
            accuracy = result
    return accuracy
