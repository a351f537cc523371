"""An example beside the demo: synthetic data made from the demo's cleaned cells, and a
model trained on it whose lineage still reaches the real seed.

``breast_cancer.synthesize`` fits scikit-learn's ``GaussianMixture`` (full covariance) on
each diagnosis class of the cleaned cells (the seed), samples as many synthetic tumours per
class as the seed has, and records the generator and its fidelity against the seed
(:func:`emitters.synthetic.record_generation`). ``breast_cancer.train_synthetic`` trains a
logistic regression on the synthetic cells only and writes it as a model. Afterwards
``lineage synthetic demo:.../synthetic/cells.parquet`` shows the chain of custody and
``lineage trained-on`` of the raw delivery lists the synthetic-trained model too.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pandas as pd

from emitters.batch import job_run
from emitters.client import LineageClient
from emitters.synthetic import record_generation
from lineage_app.demo.layout import NAMESPACE, SEED, TARGET, Paths, feature_columns, out_path

__all__ = ["MixtureByClass", "synthesize", "synthetic_paths", "train_on_synthetic"]

#: Mixture components per class.
COMPONENTS = 2


class MixtureByClass:
    """One ``sklearn.mixture.GaussianMixture`` per value of the class column: the generator.

    ``fit(frame)`` learns each class's share and mixture; ``sample(n)`` returns ``n`` rows
    with the same columns (features as float, the class column as int), classes in the
    seed's proportions. Seeded by ``random_state``.
    """

    def __init__(self, target: str, components: int = COMPONENTS, random_state: int = SEED):
        self.target = target
        self.components = components
        self.random_state = random_state
        self.columns: list[str] = []
        self.models: dict[int, object] = {}
        self.shares: dict[int, float] = {}

    def get_params(self) -> dict[str, object]:
        """The generator's parameters (recorded in the ``syntheticGenerator`` facet)."""
        return {"target": self.target, "components": self.components,
                "covariance_type": "full", "random_state": self.random_state}

    def fit(self, frame: pd.DataFrame) -> MixtureByClass:
        """Fit one mixture per class of ``frame[target]``."""
        from sklearn.mixture import GaussianMixture

        self.columns = feature_columns(frame)
        for value, part in frame.groupby(self.target):
            key = int(value)
            self.shares[key] = len(part) / len(frame)
            self.models[key] = GaussianMixture(
                self.components, covariance_type="full",
                random_state=self.random_state).fit(part[self.columns].to_numpy())
        return self

    def sample(self, n: int) -> pd.DataFrame:
        """``n`` synthetic rows (see the class docstring)."""
        parts = []
        for key, model in sorted(self.models.items()):
            count = round(n * self.shares[key])
            values, _ = model.sample(count)  # type: ignore[attr-defined]
            part = pd.DataFrame(np.clip(values, 0, None), columns=self.columns)
            part[self.target] = key
            parts.append(part)
        return pd.concat(parts, ignore_index=True)


def synthetic_paths(paths: Paths) -> tuple[Path, Path]:
    """(synthetic cells parquet, model trained on them) under the demo's root."""
    return (paths.root / "synthetic" / "cells.parquet",
            paths.root / "models" / "synthetic_classifier.pkl")


def synthesize(paths: Paths, client: LineageClient) -> dict[str, object]:
    """The generator run: seed = the cleaned cells; returns the fidelity it recorded."""
    out, _ = synthetic_paths(paths)
    with job_run("breast_cancer.synthesize", namespace=NAMESPACE, client=client,
                 parameters={"generator": "GaussianMixture per class"}) as run:
        run.input_file(paths.clean, kind="table")
        seed = pd.read_parquet(paths.clean).drop(columns=["sample_id"])
        generator = MixtureByClass(TARGET).fit(seed)
        synthetic = generator.sample(len(seed))
        synthetic.to_parquet(out_path(out), index=False)
        run.output_file(out, kind="table")
        return record_generation(run, generator, seed, synthetic, categorical=[TARGET],
                                 library="sklearn", random_state=SEED)


def train_on_synthetic(paths: Paths, client: LineageClient) -> float:
    """Train a logistic regression on the synthetic cells only; returns its accuracy on the
    curated golden test set (real data)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    cells, model_path = synthetic_paths(paths)
    with job_run("breast_cancer.train_synthetic", namespace=NAMESPACE, client=client) as run:
        run.input_file(cells, kind="features")
        run.input_file(paths.golden, kind="table")
        frame = pd.read_parquet(cells)
        cols = feature_columns(frame)
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
        model.fit(frame[cols], frame[TARGET])
        golden = pd.read_csv(paths.golden)
        accuracy = float(model.score(golden[cols], golden[TARGET]))
        run.log_metric("accuracy", accuracy)
        out_path(model_path).write_bytes(pickle.dumps(model))
        run.output_file(model_path, kind="model")
        return accuracy
