"""What a torch run captures: :class:`RunSpec`, made by :func:`training_run` and
:func:`inference_run`; a context manager and a decorator opening a
:class:`~emitters.torch.run.TorchRun`."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterable, Mapping
from types import TracebackType
from typing import Any, Literal, ParamSpec, TypeVar

import torch
from torch.utils.data import DataLoader

from emitters.torch import fingerprint as _fp
from emitters.torch.run import TorchRun
from lineage_pipeline.events import ParentRun

P = ParamSpec("P")
R = TypeVar("R")

Mode = Literal["training", "inference"]
PathLike = str | os.PathLike[str]


class RunSpec:
    """The settings of a training or inference run; a context manager and a decorator.

    ``with spec as run:`` opens a :class:`TorchRun`; ``@spec`` opens a fresh run around
    every call of the decorated function. See :func:`training_run` for the arguments.
    """

    def __init__(
        self,
        mode: Mode,
        job_name: str,
        namespace: str = "default",
        *,
        model: torch.nn.Module | Iterable[torch.nn.Module] | None = None,
        optimizer: torch.optim.Optimizer | Iterable[torch.optim.Optimizer] | None = None,
        scheduler: object | None = None,
        loaders: Mapping[str, DataLoader[Any]] | DataLoader[Any] | None = None,
        datasets: Mapping[str, object] | None = None,
        dataset_uris: Mapping[str, PathLike] | None = None,
        inputs: Iterable[PathLike] = (),
        outputs: Iterable[PathLike] = (),
        checkpoints: Iterable[PathLike] = (),
        input_kind: str = "features",
        output_kind: str | None = None,
        epochs: int | None = None,
        seed: int | None = None,
        device: str | torch.device | None = None,
        parameters: Mapping[str, Any] | None = None,
        client: Any = None,
        parent: ParentRun | None = None,
        metrics_interval_s: float = 30.0,
        capture_checkpoints: bool = True,
        save_kind: str | None = None,
        load_kind: str = "model",
        digest_weights: bool = True,
        compute_stats: bool = True,
        full_hash_max_bytes: int | None = None,
        sample_rows: int | None = None,
        sample_items: int | None = None,
        enabled: bool = True,
    ) -> None:
        self.mode, self.job_name, self.namespace = mode, job_name, namespace
        # objects described at START (more can be watched later)
        self.models = _as_list(model, torch.nn.Module)
        self.optimizers = _as_list(optimizer, torch.optim.Optimizer)
        self.schedulers = [] if scheduler is None else [scheduler]
        if isinstance(loaders, DataLoader):
            loaders = {"train" if mode == "training" else "inference": loaders}
        self.loaders = dict(loaders or {})
        # declared data
        self.datasets, self.dataset_uris = dict(datasets or {}), dict(dataset_uris or {})
        self.inputs, self.outputs, self.checkpoints = list(inputs), list(outputs), list(checkpoints)
        self.input_kind = input_kind
        self.output_kind = output_kind or ("predictions" if mode == "inference" else "file")
        # recorded parameters, and where the events go
        self.epochs, self.seed, self.device = epochs, seed, device
        self.parameters = dict(parameters or {})
        self.client, self.parent, self.enabled = client, parent, enabled
        self.metrics_interval_s = metrics_interval_s
        # capture options and the dataset fingerprint budget
        self.capture_checkpoints, self.load_kind = capture_checkpoints, load_kind
        self.save_kind = save_kind or ("model" if mode == "training" else "predictions")
        self.digest_weights, self.compute_stats = digest_weights, compute_stats
        self.full_hash_max_bytes = full_hash_max_bytes or _fp.FULL_HASH_MAX_BYTES
        self.sample_rows = sample_rows or _fp.SAMPLE_ROWS
        self.sample_items = sample_items or _fp.SAMPLE_ITEMS
        self._open: list[TorchRun] = []

    def __enter__(self) -> TorchRun:
        run = TorchRun(self)
        self._open.append(run)
        return run.__enter__()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Literal[False]:
        run = self._open.pop()
        return run.__exit__(exc_type, exc, tb)

    def __call__(self, func: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(func)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            with TorchRun(self):
                return func(*args, **kwargs)

        return wrapper


def _as_list(value: Any, cls: type[Any]) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, cls):
        return [value]
    return list(value)


def training_run(job_name: str, namespace: str = "default", **kwargs: Any) -> RunSpec:
    """Describe a training run; use as ``with training_run(...) as run:`` or ``@training_run(...)``.

    Arguments (all keyword, all optional): ``model``, ``optimizer``, ``scheduler`` (objects
    to describe; more can be added with ``run.watch_*``); ``loaders`` (name -> DataLoader, or
    one loader named ``train``); ``datasets`` (name -> torch Dataset, fingerprinted);
    ``dataset_uris`` (name -> the path/URI a loader's or dataset's data was read from:
    then that file is the input, versioned by its SHA-256); ``inputs`` / ``outputs``
    (declared paths/URIs; outputs are digested at the end) with ``input_kind`` (default
    ``features``) / ``output_kind``; ``checkpoints`` (model files loaded before the run);
    ``epochs``; ``seed`` (recorded, never applied: use :func:`seed_everything`); ``device``;
    ``parameters`` (extra hyperparameters); ``client`` (a ``LineageClient``, default the
    process-wide one); ``parent`` (a ``ParentRun``); ``metrics_interval_s`` (minimum seconds
    between RUNNING events, default 30); ``capture_checkpoints`` (wrap ``torch.save`` /
    ``torch.load`` during the run, default on); ``save_kind`` (default ``model``),
    ``load_kind`` (default ``model``); ``digest_weights`` (hash the watched model's
    ``state_dict`` at the end, default on); ``compute_stats`` (schema and statistics of
    declared tabular files); ``full_hash_max_bytes``, ``sample_rows``, ``sample_items``
    (dataset fingerprint budget); ``enabled`` (``False``: a no-op run).

    Raises nothing itself; errors of the run's body propagate unchanged after a FAIL event.
    """
    return RunSpec("training", job_name, namespace, **kwargs)


def inference_run(job_name: str, namespace: str = "default", **kwargs: Any) -> RunSpec:
    """Describe an inference run; arguments as :func:`training_run`.

    Differences: a single DataLoader is named ``inference``; files written with
    ``torch.save`` and declared ``outputs`` default to kind ``predictions``; checkpoints
    read with ``torch.load`` (or declared in ``checkpoints``) are inputs of kind ``model``,
    so the event links the model version to the predictions it produced.
    """
    return RunSpec("inference", job_name, namespace, **kwargs)
