"""Where the demo's data lives (:class:`Paths`, under one root) and what it is: the
namespace, the target column and the defect delivery 2 carries."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

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


def out_path(path: Path) -> Path:
    """``path`` with its parent directory created."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def feature_columns(frame: pd.DataFrame) -> list[str]:
    """Return the 30 measurement columns of ``frame``."""
    return [c for c in frame.columns if c not in ("sample_id", TARGET)]
