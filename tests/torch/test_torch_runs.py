"""What the torch emitter captures from real training and inference on real data."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch.utils.data import DataLoader, Dataset, TensorDataset

from emitters.torch import (
    current_run,
    fingerprint_dataset,
    inference_run,
    training_run,
    weights_digest,
)
from lineage_pipeline.events import EventType, LineageEvent
from tests.support.recording import RecordingClient
from tests.torch._mlp import BATCH_SIZE, EPOCHS, LR, load_features, make_model, train

pytestmark = pytest.mark.torch


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def only(events: list[LineageEvent]) -> LineageEvent:
    assert len(events) == 1, [e.eventType for e in events]
    return events[0]


def test_training_run_emits_start_running_complete_with_training_facts(
    tmp_path: Path, features_csv: Path, recorder: RecordingClient
) -> None:
    ckpt = tmp_path / "mlp.pt"
    trained = train(features_csv, seed=7, checkpoint=ckpt, client=recorder)
    assert trained.run is not None and trained.run.capture_errors == 0
    types = [e.eventType for e in recorder.events]
    assert types[0] == EventType.START and types[-1] == EventType.COMPLETE
    running = recorder.of_type(EventType.RUNNING)
    assert len(running) == EPOCHS  # metrics_interval_s=0: one per epoch
    assert [e.run.facets.metrics["epoch"] for e in running] == list(range(EPOCHS))
    assert [e.run.facets.metrics["loss"] for e in running] == pytest.approx(trained.epoch_losses)

    start = only(recorder.of_type(EventType.START))
    complete = only(recorder.of_type(EventType.COMPLETE))
    assert complete.job.facets.jobType is not None
    assert complete.job.facets.jobType.jobType == "TRAINING"
    params = complete.run.facets.parameters
    assert params["mode"] == "training"
    assert params["epochs"] == str(EPOCHS)
    assert params["seed.torch"] == params["seed.numpy"] == params["seed.python"] == "7"
    assert params["seed.torch_initial"] == "7"
    assert params["data.train.batch_size"] == str(BATCH_SIZE)
    assert params["data.train.shuffle"] == "true"
    assert params["data.train.sampler"] == "RandomSampler"
    assert params["data.train.num_workers"] == "0"
    assert params["optimizer.class"] == "Adam"
    assert float(params["optimizer.lr"]) == LR
    assert json.loads(params["optimizer.betas"]) == [0.9, 0.999]
    assert params["scheduler.class"] == "StepLR"
    assert params["scheduler.step_size"] == "2" and params["scheduler.gamma"] == "0.5"
    model = trained.model
    n_params = sum(p.numel() for p in model.parameters())
    assert params["model.num_parameters"] == str(n_params) == str(30 * 32 + 32 + 32 * 2 + 2)
    assert len(params["model.architecture_sha256"]) == 64
    assert params["model.weights_sha256"] == weights_digest(model)
    assert params["device"] == "cpu"
    assert params["torch.version"] == torch.__version__
    assert ("torch.cuda_version" in params) == (torch.version.cuda is not None)
    # hyperparameters are already on START
    assert start.run.facets.parameters["optimizer.lr"] == params["optimizer.lr"]

    metrics = complete.run.facets.metrics
    assert metrics["loss"] == pytest.approx(trained.epoch_losses[-1])
    assert metrics["epochs_completed"] == EPOCHS
    assert metrics["steps"] == len(trained.losses)
    assert metrics["lr"] == pytest.approx(LR * 0.5 ** (EPOCHS // 2))

    (data_in,) = complete.inputs
    assert (data_in.namespace, data_in.name) == ("file", str(features_csv))
    assert data_in.version == sha256_file(features_csv)
    assert data_in.kind == "features"
    (model_out,) = complete.outputs
    assert (model_out.namespace, model_out.name, model_out.kind) == ("file", str(ckpt), "model")
    assert model_out.version == sha256_file(ckpt)  # digest == SHA-256 of the file on disk
    saved = json.loads(model_out.facets.extra["torchCheckpoint"])
    assert saved["numTensors"] == 4
    # torch.save is the original function again
    assert not getattr(torch.save, "__lineage_wrapper__", False)
    assert not getattr(torch.load, "__lineage_wrapper__", False)


def test_same_seed_same_model_and_emitter_changes_no_numerics(
    tmp_path: Path, features_csv: Path, recorder: RecordingClient
) -> None:
    # torch.save names the records in its zip after the file's stem: same name, other dirs
    for sub in ("a", "b", "off"):
        (tmp_path / sub).mkdir()
    a = train(features_csv, seed=3, checkpoint=tmp_path / "a" / "mlp.pt", client=recorder,
              log_steps=True)
    b = train(features_csv, seed=3, checkpoint=tmp_path / "b" / "mlp.pt", client=recorder)
    off = train(features_csv, seed=3, checkpoint=tmp_path / "off" / "mlp.pt", client=recorder,
                enabled=False)
    assert a.losses == b.losses == off.losses  # bit-identical loss curves, on or off
    assert weights_digest(a.model) == weights_digest(off.model)
    completes = recorder.of_type(EventType.COMPLETE)
    assert len(completes) == 2  # the disabled run emitted nothing
    digests = {e.run.facets.parameters["model.weights_sha256"] for e in completes}
    assert len(digests) == 1
    assert {e.outputs[0].version for e in completes} == {sha256_file(tmp_path / "a" / "mlp.pt")}
    assert sha256_file(tmp_path / "b" / "mlp.pt") == sha256_file(tmp_path / "off" / "mlp.pt")
    other = train(features_csv, seed=4, client=recorder)
    assert weights_digest(other.model) not in digests


def test_inference_run_links_checkpoint_version_to_predictions(
    tmp_path: Path, features_csv: Path, recorder: RecordingClient
) -> None:
    ckpt = tmp_path / "mlp.pt"
    train(features_csv, seed=1, checkpoint=ckpt, client=recorder)
    training = only(recorder.of_type(EventType.COMPLETE))
    predictions = tmp_path / "predictions.csv"
    dataset = load_features(features_csv)
    with inference_run(
        "score_breast_cancer", "tests.torch", client=recorder, outputs=[predictions],
        loaders=DataLoader(dataset, batch_size=128), dataset_uris={"inference": features_csv},
    ) as run:
        model = make_model()
        model.load_state_dict(torch.load(ckpt))
        run.watch_model(model)
        model.eval()
        with torch.no_grad():
            probs = torch.softmax(model(dataset.tensors[0]), dim=1)[:, 1].numpy()
        pd.DataFrame({"row": np.arange(len(probs)), "p_malignant": probs}).to_csv(
            predictions, index=False
        )
    event = only(recorder.of_type(EventType.COMPLETE, run.run_id))
    assert event.job.facets.jobType is not None
    assert event.job.facets.jobType.jobType == "INFERENCE"
    by_kind = {d.kind: d for d in event.inputs + event.outputs}
    model_in = by_kind["model"]
    assert model_in in event.inputs
    assert (model_in.name, model_in.version) == (str(ckpt), training.outputs[0].version)
    preds = by_kind["predictions"]
    assert preds in event.outputs
    assert (preds.namespace, preds.name) == ("file", str(predictions))
    assert preds.version == sha256_file(predictions)
    assert by_kind["features"].version == sha256_file(features_csv)
    assert event.run.facets.parameters["model.weights_sha256"] == weights_digest(model)
    assert event.run.facets.parameters["data.inference.shuffle"] == "false"


def test_running_events_are_rate_limited_and_final_metrics_on_complete(
    features_csv: Path, recorder: RecordingClient
) -> None:
    trained = train(features_csv, client=recorder, metrics_interval_s=3600.0, log_steps=True,
                    epochs=3)
    running = recorder.of_type(EventType.RUNNING)
    assert len(running) == 1  # the first one, then nothing for an hour
    complete = only(recorder.of_type(EventType.COMPLETE))
    assert complete.run.facets.metrics["loss"] == pytest.approx(trained.epoch_losses[-1])
    assert complete.run.facets.metrics["epoch"] == 2


def test_failure_in_the_loop_emits_fail_and_propagates_unchanged(
    recorder: RecordingClient, tmp_path: Path
) -> None:
    class Boom(RuntimeError):
        pass

    original_save = torch.save
    with pytest.raises(Boom) as info:
        with training_run("fails", client=recorder) as run:
            torch.save({"w": torch.zeros(2)}, tmp_path / "partial.pt")
            raise Boom("diverged")
    assert str(info.value) == "diverged"
    fail = only(recorder.of_type(EventType.FAIL, run.run_id))
    assert fail.run.facets.error is not None and "diverged" in fail.run.facets.error.message
    assert [d.name for d in fail.outputs] == [str(tmp_path / "partial.pt")]
    assert torch.save is original_save
    # outside a run nothing is captured
    torch.save({"w": torch.zeros(2)}, tmp_path / "outside.pt")
    assert len(recorder.events) == 2


def test_capture_failures_are_counted_never_raised(
    recorder: RecordingClient, tmp_path: Path
) -> None:
    class BrokenDataset(Dataset[int]):
        def __len__(self) -> int:
            return 10

        def __getitem__(self, i: int) -> int:
            raise OSError("disk gone")

    model = make_model()
    with training_run("capture_breaks", client=recorder, model=model,
                      datasets={"broken": BrokenDataset()}) as run:
        run.log_metrics(bad=object())  # type: ignore[arg-type]
        run.log_metrics(good=1.5)
        with open(tmp_path / "x.pt", "wb") as fh:
            torch.save(model.state_dict(), fh)  # open file object: digested at the end
        value = 41 + 1
    assert value == 42
    assert run.capture_errors >= 2
    complete = only(recorder.of_type(EventType.COMPLETE))
    assert complete.run.facets.metrics["good"] == 1.5
    assert complete.run.facets.parameters["lineage.capture_errors"] == str(run.capture_errors)
    assert complete.outputs[0].version == sha256_file(tmp_path / "x.pt")


def test_decorator_opens_a_fresh_run_per_call(recorder: RecordingClient) -> None:
    @training_run("decorated", client=recorder, epochs=1)
    def step(x: int) -> str:
        run = current_run()
        assert run is not None
        run.log_epoch(0, loss=float(x))
        return run.run_id or ""

    first, second = step(1), step(2)
    assert first and second and first != second
    assert current_run() is None
    completes = recorder.of_type(EventType.COMPLETE)
    assert [e.run.facets.metrics["loss"] for e in completes] == [1.0, 2.0]


class NoisyDataset(Dataset[torch.Tensor]):
    """A dataset whose items draw from every global RNG (like random augmentations)."""

    def __init__(self, n: int) -> None:
        self.base = torch.arange(n, dtype=torch.float32)

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i: int) -> torch.Tensor:
        noise = torch.rand(1).item() + np.random.rand() + random.random()
        return self.base[i] + 0 * noise


def test_dataset_fingerprints_leave_rngs_alone_and_sample_large_data(
    features_csv: Path,
) -> None:
    torch.manual_seed(0)
    np.random.seed(0)
    random.seed(0)
    expected = (torch.rand(3), np.random.rand(3), [random.random() for _ in range(3)])
    torch.manual_seed(0)
    np.random.seed(0)
    random.seed(0)
    fp = fingerprint_dataset(NoisyDataset(1000))
    got = (torch.rand(3), np.random.rand(3), [random.random() for _ in range(3)])
    assert torch.equal(got[0], expected[0])
    assert np.array_equal(got[1], expected[1]) and got[2] == expected[2]
    assert fp.algorithm == "sha256-items-sampled" and fp.length == 1000
    assert fingerprint_dataset(NoisyDataset(1000)).hex == fp.hex

    real = load_features(features_csv)
    full = fingerprint_dataset(real)
    assert full.algorithm == "sha256-tensors" and not full.sampled
    assert full.tensors == [{"dtype": "float32", "shape": [569, 30]},
                            {"dtype": "int64", "shape": [569]}]
    sampled = fingerprint_dataset(real, full_hash_max_bytes=1024, sample_rows=64)
    assert sampled.algorithm == "sha256-tensors-sampled" and sampled.hashed_bytes < 64 * 1024
    # a change inside the sample changes the fingerprint; equal data gives equal hex
    x, y = (t.clone() for t in real.tensors)
    assert fingerprint_dataset(TensorDataset(x, y)).hex == full.hex
    x[0, 0] += 1.0
    assert fingerprint_dataset(TensorDataset(x, y), full_hash_max_bytes=1024,
                               sample_rows=64).hex != sampled.hex


def test_in_memory_dataset_is_versioned_by_its_fingerprint(
    features_csv: Path, recorder: RecordingClient
) -> None:
    dataset = load_features(features_csv)
    loader = DataLoader(dataset, batch_size=64, shuffle=False, num_workers=0, drop_last=True)
    with training_run("in_memory", "tests.torch", client=recorder, loaders=loader):
        pass
    complete = only(recorder.of_type(EventType.COMPLETE))
    (ds,) = complete.inputs
    assert (ds.namespace, ds.name, ds.kind) == ("torch", "tests.torch/in_memory/train", "features")
    expected = fingerprint_dataset(dataset)
    assert ds.version == expected.hex
    assert ds.facets.contentDigest is not None
    assert ds.facets.contentDigest.algorithm == "sha256-tensors"
    assert ds.facets.statistics is not None and ds.facets.statistics.rowCount == 569
    assert json.loads(ds.facets.extra["torchDataset"])["tensors"][0]["shape"] == [569, 30]
    params = complete.run.facets.parameters
    assert params["data.train.shuffle"] == "false" and params["data.train.drop_last"] == "true"
