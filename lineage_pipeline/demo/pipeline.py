"""The demo's ML pipeline over real data: the Wisconsin breast-cancer data set.

The data ships offline inside scikit-learn (``sklearn/datasets/data/breast_cancer.csv``:
569 tumours, 30 measurements, benign/malignant). An upstream source "delivers" it to a
landing file; six instrumented jobs (namespace ``demo``) turn it into a model and its
scores, each run emitting lineage through the batch emitter:

``ingest`` -> ``clean`` -> ``features`` -> ``train`` -> ``evaluate`` (accuracy) and ``score``.

Delivery 2 re-delivers the same tumours with one realistic defect: the source switched
``worst radius`` from centimetres to millimetres. Retraining on it drops the accuracy
measured on the curated golden test set (which keeps centimetres).
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

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
        return self.root / "models" / "classifier.pkl"

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


def features(paths: Paths, client: LineageClient) -> None:
    """Fit a standard scaler on the training rows; write scaled features and the scaler."""
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
        _out(paths.scaler).write_text(
            json.dumps({"mean": mean.to_dict(), "std": std.to_dict()}, sort_keys=True), "utf-8"
        )
        run.output_file(paths.features, kind="features")
        run.output_file(paths.scaler, kind="model")


def train(paths: Paths, client: LineageClient) -> None:
    """Train a logistic-regression classifier on the scaled features."""
    from sklearn.linear_model import LogisticRegression

    params = {"model": "LogisticRegression", "C": 1.0, "max_iter": 5000, "seed": SEED}
    with job_run(
        "breast_cancer.train", namespace=NAMESPACE, client=client,
        parameters={k: str(v) for k, v in params.items()},
    ) as run:
        run.input_file(paths.features, kind="features")
        frame = pd.read_parquet(paths.features)
        cols = feature_columns(frame)
        model = LogisticRegression(C=1.0, max_iter=5000, random_state=SEED)
        model.fit(frame[cols].to_numpy(), frame[TARGET].to_numpy())
        run.log_metric("train_accuracy", float(model.score(frame[cols].to_numpy(), frame[TARGET])))
        with open(_out(paths.model), "wb") as fh:
            pickle.dump({"model": model, "columns": cols}, fh)
        run.output_file(paths.model, kind="model")


def _load_model(paths: Paths) -> tuple[object, list[str], pd.Series, pd.Series]:
    with open(paths.model, "rb") as fh:
        bundle = pickle.load(fh)  # noqa: S301 - the demo's own file
    scaler = json.loads(paths.scaler.read_text("utf-8"))
    return bundle["model"], bundle["columns"], pd.Series(scaler["mean"]), pd.Series(scaler["std"])


def evaluate(paths: Paths, client: LineageClient) -> float:
    """Accuracy of the model on the curated golden test set; a run metric. Returns it."""
    with job_run("breast_cancer.evaluate", namespace=NAMESPACE, client=client) as run:
        run.input_file(paths.model, kind="model")
        run.input_file(paths.scaler, kind="model")
        run.input_file(paths.golden, kind="table")
        model, cols, mean, std = _load_model(paths)
        golden = pd.read_csv(paths.golden)
        x = ((golden[cols] - mean[cols]) / std[cols]).to_numpy()
        accuracy = float((model.predict(x) == golden[TARGET].to_numpy()).mean())  # type: ignore[attr-defined]
        run.log_metric("accuracy", accuracy)
        _out(paths.evaluation).write_text(json.dumps({"accuracy": accuracy}), "utf-8")
        run.output_file(paths.evaluation, kind="metrics")
        return accuracy


def score(paths: Paths, client: LineageClient) -> None:
    """Score the incoming patients with the model; write the predictions."""
    with job_run("breast_cancer.score", namespace=NAMESPACE, client=client) as run:
        run.input_file(paths.model, kind="model")
        run.input_file(paths.scaler, kind="model")
        run.input_file(paths.incoming, kind="table")
        model, cols, mean, std = _load_model(paths)
        incoming = pd.read_csv(paths.incoming)
        x = ((incoming[cols] - mean[cols]) / std[cols]).to_numpy()
        out = pd.DataFrame({
            "sample_id": incoming["sample_id"],
            "p_malignant": model.predict_proba(x)[:, 1],  # type: ignore[attr-defined]
        })
        out.to_csv(_out(paths.predictions), index=False)
        run.output_file(paths.predictions, kind="predictions")


#: The pipeline's steps in order, with the name shown in the progress display.
STEPS: list[tuple[str, Callable[[Paths, LineageClient], object]]] = [
    ("ingest", ingest),
    ("clean / impute", clean),
    ("features / scale", features),
    ("train", train),
    ("evaluate", evaluate),
    ("score", score),
]


def run_pipeline(
    paths: Paths,
    client: LineageClient,
    on_step: Callable[[str], None] | None = None,
) -> float:
    """Run every step once over the current delivery; return the evaluated accuracy."""
    accuracy = float("nan")
    for label, step in STEPS:
        if on_step is not None:
            on_step(label)
        result = step(paths, client)
        if isinstance(result, float):
            accuracy = result
    return accuracy
