"""PyTorch emitter (extra ``[torch]``): lineage of training and inference runs.

Usage::

    from emitters.torch import seed_everything, training_run

    seed_everything(0)
    with training_run("train_classifier", "ml", model=model, optimizer=opt,
                      loaders={"train": train_loader},
                      dataset_uris={"train": "data/features.parquet"}, epochs=5) as run:
        for epoch in range(5):
            ...                                   # the unchanged training loop
            run.log_epoch(epoch, loss=epoch_loss)  # RUNNING at a bounded rate
        torch.save(model.state_dict(), "model.pt")  # output dataset, kind "model", sha256

    with inference_run("score", "ml", outputs=["predictions.csv"]) as run:
        model.load_state_dict(torch.load("model.pt"))  # input dataset, kind "model"
        ...                                             # write predictions.csv

See :mod:`emitters.torch.run` for the event flow and guarantees,
:mod:`emitters.torch.fingerprint` for how datasets and models are fingerprinted.
Importing it without torch raises :class:`~lineage_pipeline.errors.MissingExtraError`.
"""

from lineage_pipeline.errors import MissingExtraError

try:
    import torch  # noqa: F401  (checked first: the extra, not a deep import, is the message)
except ModuleNotFoundError as _exc:
    if _exc.name != "torch":
        raise
    raise MissingExtraError("torch", "emitters.torch") from _exc

from emitters.torch.fingerprint import (
    DatasetFingerprint,
    architecture_digest,
    fingerprint_dataset,
    weights_digest,
)
from emitters.torch.run import TorchRun, current_run
from emitters.torch.seeds import record_seed, recorded_seeds, seed_everything
from emitters.torch.spec import RunSpec, inference_run, training_run

__all__ = [
    "DatasetFingerprint",
    "RunSpec",
    "TorchRun",
    "architecture_digest",
    "current_run",
    "fingerprint_dataset",
    "inference_run",
    "record_seed",
    "recorded_seeds",
    "seed_everything",
    "training_run",
    "weights_digest",
]
