"""Real training for the torch emitter tests: breast-cancer Wisconsin (sklearn's bundled
copy, 569 rows x 30 features) -> a small MLP on the CPU, a few epochs in well under a second.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.datasets import load_breast_cancer
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from emitters.torch import TorchRun, seed_everything, training_run

EPOCHS = 4
BATCH_SIZE = 32
LR = 1e-2


def write_features(path: Path) -> Path:
    """Write the standardised breast-cancer features and label as a CSV file; return it."""
    data = load_breast_cancer(as_frame=True)
    frame: pd.DataFrame = data.frame
    features = frame.drop(columns=["target"])
    standardised = (features - features.mean()) / features.std()
    standardised.columns = [c.replace(" ", "_") for c in standardised.columns]
    standardised["label"] = frame["target"].astype("int64")
    standardised.to_csv(path, index=False)
    return path


def load_features(path: Path) -> TensorDataset:
    """Read the features CSV into a TensorDataset (float32 features, int64 labels)."""
    frame = pd.read_csv(path)
    x = torch.tensor(frame.drop(columns=["label"]).to_numpy(np.float32))
    y = torch.tensor(frame["label"].to_numpy(np.int64))
    return TensorDataset(x, y)


def make_model() -> nn.Module:
    return nn.Sequential(nn.Linear(30, 32), nn.ReLU(), nn.Dropout(0.1), nn.Linear(32, 2))


@dataclass
class Trained:
    model: nn.Module
    losses: list[float]
    epoch_losses: list[float]
    run: TorchRun | None = None
    checkpoint: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def train(
    features: Path,
    *,
    seed: int = 0,
    checkpoint: Path | None = None,
    client: Any = None,
    enabled: bool = True,
    epochs: int = EPOCHS,
    metrics_interval_s: float = 0.0,
    job_name: str = "train_breast_cancer_mlp",
    log_steps: bool = False,
) -> Trained:
    """Seed, build, and train the MLP inside a training run; save ``checkpoint`` if given."""
    seed_everything(seed)
    dataset = load_features(features)
    loader = DataLoader(dataset, batch_size=BATCH_SIZE, shuffle=True)
    model = make_model()
    opt = torch.optim.Adam(model.parameters(), lr=LR, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    loss_fn = nn.CrossEntropyLoss()
    losses: list[float] = []
    epoch_losses: list[float] = []
    with training_run(
        job_name,
        "tests.torch",
        model=model,
        optimizer=opt,
        scheduler=sched,
        loaders={"train": loader},
        dataset_uris={"train": features},
        epochs=epochs,
        client=client,
        enabled=enabled,
        metrics_interval_s=metrics_interval_s,
    ) as run:
        for epoch in range(epochs):
            model.train()
            total = 0.0
            for xb, yb in loader:
                opt.zero_grad()
                loss = loss_fn(model(xb), yb)
                loss.backward()
                opt.step()
                losses.append(loss.item())
                total += loss.item() * len(yb)
                if log_steps:
                    run.log_metrics(loss=loss)
            sched.step()
            epoch_losses.append(total / len(dataset))
            run.log_epoch(epoch, loss=epoch_losses[-1])
        if checkpoint is not None:
            torch.save(model.state_dict(), checkpoint)
    return Trained(model, losses, epoch_losses, run, checkpoint)
