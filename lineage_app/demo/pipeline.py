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
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from emitters.batch import job_run
from emitters.client import LineageClient

NAMESPACE = "demo"
DEFECT_COLUMN = "worst radius"
DEFECT_FACTOR = 10.0  # cm -> mm
TARGET = "malignant"
SEED = 7


@dataclass(frozen=True)
class Paths:
    """Where each dataset of the demo lives, under one root directory."""

    root: Path

    @property
    def landing(self) -> Path:
        return self.root / "landing" / "breast_cancer.csv"

    @property
    def golden(self) -> Path:
        return self.root / "reference" / "golden_test.csv"

    @property
    def incoming(self) -> Path:
        return self.root / "incoming" / "patients.csv"

    @property
    def raw(self) -> Path:
        return self.root / "raw" / "cells.parquet"

    @property
    def clean(self) -> Path:
        return self.root / "clean" / "cells.parquet"

    @property
    def features(self) -> Path:
        return self.root / "features" / "train_features.parquet"

    @property
    def scaler(self) -> Path:
        return self.root / "models" / "scaler.json"

    @property
    def model(self) -> Path:
        return self.root / "models" / "classifier.pt"

    @property
    def evaluation(self) -> Path:
        return self.root / "metrics" / "evaluation.json"

    @property
    def predictions(self) -> Path:
        return self.root / "predictions" / "scores.csv"


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


def _out(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def feature_columns(frame: pd.DataFrame) -> list[str]:
    """Return the 30 measurement columns of ``frame``."""
    return [c for c in frame.columns if c not in ("sample_id", TARGET)]


def ingest(paths: Paths, client: LineageClient) -> None:
    """Landing CSV -> typed, de-duplicated raw parquet."""
    with job_run("breast_cancer.ingest", namespace=NAMESPACE, client=client) as run:
        run.input_file(paths.landing, kind="table")
        frame = pd.read_csv(paths.landing).drop_duplicates("sample_id")
        frame.to_parquet(_out(paths.raw), index=False)
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
        frame.to_parquet(_out(paths.clean), index=False)
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
        scaled.to_parquet(_out(paths.features), index=False)
        scaler = {**{f"mean_{c}": mean[c] for c in cols}, **{f"std_{c}": std[c] for c in cols}}
        pd.DataFrame([scaler]).to_json(_out(paths.scaler), orient="records", lines=True)
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


def read_scaler(paths: Paths) -> tuple[pd.Series, pd.Series]:
    """Return the scaler's (mean, std) per column, from Spark's JSON directory or a file."""
    source = paths.scaler
    if source.is_dir():
        source = sorted(source.glob("part-*.json"))[0]
    row = pd.read_json(source, lines=True).iloc[0]
    cols = [k[len("mean_"):] for k in row.index if k.startswith("mean_")]
    mean = pd.Series({c: float(row[f"mean_{c}"]) for c in cols})
    std = pd.Series({c: float(row[f"std_{c}"]) or 1.0 for c in cols})
    return mean, std


class Classifier(torch.nn.Module):
    """A small MLP: 30 measurements -> 16 hidden units (ReLU) -> malignant logit."""

    def __init__(self, n_features: int = 30, hidden: int = 16) -> None:
        super().__init__()
        self.net = torch.nn.Sequential(
            torch.nn.Linear(n_features, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.net(x).squeeze(1)
        return out


EPOCHS = 60
LEARNING_RATE = 0.01
BATCH_SIZE = 32


def train(paths: Paths, client: LineageClient) -> None:
    """Train the MLP on the scaled features (PyTorch, CPU); checkpoint it with torch.save.

    The checkpoint bundles the scaler's mean and std, so inference needs nothing else.
    Note that z-scoring cancels a unit change in the features themselves: the defect of
    delivery 2 reaches the model through the scaler it carries.
    """
    from emitters.torch import seed_everything, training_run

    torch.set_num_threads(1)
    frame = pd.read_parquet(paths.features)
    cols = feature_columns(frame)
    mean, std = read_scaler(paths)
    seed_everything(SEED)
    x = torch.tensor(frame[cols].to_numpy(), dtype=torch.float32)
    y = torch.tensor(frame[TARGET].to_numpy(), dtype=torch.float32)
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(x, y), batch_size=BATCH_SIZE, shuffle=True,
        generator=torch.Generator().manual_seed(SEED),
    )
    model = Classifier(len(cols))
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    with training_run(
        "breast_cancer.train", NAMESPACE, client=client, model=model, optimizer=optimizer,
        loaders={"train": loader}, dataset_uris={"train": str(paths.features)},
        inputs=[str(paths.scaler)], input_kind="model",
        epochs=EPOCHS, seed=SEED, metrics_interval_s=1.0,
    ) as run:
        for epoch in range(EPOCHS):
            total = 0.0
            for xb, yb in loader:
                optimizer.zero_grad()
                loss = torch.nn.functional.binary_cross_entropy_with_logits(model(xb), yb)
                loss.backward()  # type: ignore[no-untyped-call]
                optimizer.step()
                total += loss.item() * len(xb)
            run.log_epoch(epoch, loss=total / len(x))
        with torch.no_grad():
            train_accuracy = float(((model(x) > 0).float() == y).float().mean())
        run.log_metrics(train_accuracy=train_accuracy)
        # the checkpoint bundles the scaler: the model is self-contained at inference time
        torch.save({
            "state_dict": model.state_dict(), "columns": cols,
            "mean": mean[cols].tolist(), "std": std[cols].tolist(),
        }, _out(paths.model))


def _load_model(paths: Paths) -> tuple[Classifier, list[str], pd.Series, pd.Series]:
    bundle = torch.load(paths.model)
    cols = list(bundle["columns"])
    model = Classifier(len(cols))
    model.load_state_dict(bundle["state_dict"])
    model.eval()
    return model, cols, pd.Series(bundle["mean"], index=cols), pd.Series(bundle["std"], index=cols)


def _predict(model: Classifier, frame: pd.DataFrame, cols: list[str],
             mean: pd.Series, std: pd.Series) -> np.ndarray:
    x = torch.tensor(((frame[cols] - mean[cols]) / std[cols]).to_numpy(), dtype=torch.float32)
    with torch.no_grad():
        return torch.sigmoid(model(x)).numpy()


def evaluate(paths: Paths, client: LineageClient) -> float:
    """Accuracy of the model on the curated golden test set; a run metric. Returns it."""
    from emitters.torch import inference_run

    with inference_run(
        "breast_cancer.evaluate", NAMESPACE, client=client,
        inputs=[str(paths.golden)], input_kind="table",
        outputs=[str(paths.evaluation)], output_kind="metrics",
    ) as run:
        model, cols, mean, std = _load_model(paths)
        golden = pd.read_csv(paths.golden)
        predicted = _predict(model, golden, cols, mean, std) > 0.5
        accuracy = float((predicted == golden[TARGET].to_numpy().astype(bool)).mean())
        run.log_metrics(accuracy=accuracy)
        _out(paths.evaluation).write_text(json.dumps({"accuracy": accuracy}), "utf-8")
        return accuracy


def score(paths: Paths, client: LineageClient) -> None:
    """Score the incoming patients with the model; write the predictions."""
    from emitters.torch import inference_run

    with inference_run(
        "breast_cancer.score", NAMESPACE, client=client,
        inputs=[str(paths.incoming)], input_kind="table",
        outputs=[str(paths.predictions)], output_kind="predictions",
    ):
        model, cols, mean, std = _load_model(paths)
        incoming = pd.read_csv(paths.incoming)
        out = pd.DataFrame({
            "sample_id": incoming["sample_id"],
            "p_malignant": _predict(model, incoming, cols, mean, std),
        })
        out.to_csv(_out(paths.predictions), index=False)


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
