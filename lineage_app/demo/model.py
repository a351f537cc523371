"""The demo's PyTorch steps: train an MLP on the scaled features, evaluate it on the golden
test set, score the incoming patients (lineage from :mod:`emitters.torch`)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import torch

from emitters.client import LineageClient
from lineage_app.demo.layout import NAMESPACE, SEED, TARGET, Paths, feature_columns, out_path


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
        }, out_path(paths.model))


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
        out_path(paths.evaluation).write_text(json.dumps({"accuracy": accuracy}), "utf-8")
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
        out.to_csv(out_path(paths.predictions), index=False)
