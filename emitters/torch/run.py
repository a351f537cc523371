"""Training and inference runs of PyTorch code as lineage runs.

:func:`training_run` and :func:`inference_run` return a :class:`RunSpec`: a context manager
that yields a :class:`TorchRun`, and a decorator that opens a fresh run around every call of
the decorated function (inside it, :func:`current_run` returns the run).

Event flow (through :class:`emitters.run.RunContext`, hence through ``client.emit``, which
only enqueues):

- **START** on entry, with the parameters known then (hyperparameters, loader settings,
  model architecture, seeds, device, versions) and the declared inputs.
- **RUNNING** from :meth:`TorchRun.log_epoch` / :meth:`TorchRun.log_metrics`, at most one per
  ``metrics_interval_s`` (the first one at once), carrying the latest metrics.
- **COMPLETE** on a normal exit with the final metrics, the per-epoch metrics
  (``torchEpochs`` run facet, the latest :data:`MAX_EPOCH_HISTORY` epochs), the weights
  digest of the watched model and every input and output, checkpoints included; **FAIL**
  with the error facet when the body raised (**ABORT** on ``KeyboardInterrupt``); the
  exception then propagates unchanged.

Inputs and outputs join the run as they are seen (a checkpoint saved in epoch 3 is in the
next RUNNING event); the RunContext keeps one dataset per namespace/name, the latest wins
(a checkpoint file overwritten every epoch is one output, at its last version).

Guarantees: capture is opt-in (nothing is patched or hooked outside a run), it changes no
numerics (it never draws from or reseeds an RNG and never moves a tensor: dataset sampling
that may call a dataset's ``__getitem__`` restores every RNG state afterwards), and a failure
inside capture is logged and counted (``TorchRun.capture_errors``,
``lineage_emitter_capture_errors_total{integration="pytorch"}``), never raised into the loop.

Parts: :mod:`emitters.torch.spec` (:class:`RunSpec`, :func:`training_run`,
:func:`inference_run`), :mod:`emitters.torch.run_datasets` (inputs, outputs, checkpoints),
:mod:`emitters.torch.run_metrics` (metrics and RUNNING events).
"""

from __future__ import annotations

import contextvars
import functools
import json
from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

import torch
from torch.utils.data import DataLoader

from emitters.run import RunContext
from emitters.torch import checkpoints
from emitters.torch._safe import CaptureGuard
from emitters.torch.fingerprint import DatasetFingerprint, weights_digest
from emitters.torch.introspect import (
    describe_loader,
    describe_model,
    describe_optimizer,
    describe_scheduler,
    model_device,
    render,
    runtime_parameters,
)
from emitters.torch.run_datasets import MAX_DATASETS_PER_SIDE, MEMORY_NAMESPACE, RunDatasets
from emitters.torch.run_metrics import MAX_EPOCH_HISTORY, RunMetrics
from emitters.torch.seeds import seed_parameters
from lineage_pipeline.events import Dataset, JobType

if TYPE_CHECKING:
    from emitters.torch.spec import Mode, PathLike, RunSpec

PRODUCER = "https://github.com/lineage-pipeline/lineage-pipeline/tree/main/emitters/torch"

_current_run: contextvars.ContextVar[TorchRun | None] = contextvars.ContextVar(
    "lineage_torch_current_run", default=None
)


def current_run() -> TorchRun | None:
    """Return the innermost open run in this context (``None`` outside any run)."""
    return _current_run.get()


class TorchRun(RunDatasets, RunMetrics):
    """One open training or inference run. Obtain it from :func:`training_run` /
    :func:`inference_run`; every method is safe to call from the training loop (failures
    are logged and counted, never raised) and a no-op when the run is disabled.

    Attributes: ``run_id`` (UUID text; ``None`` when disabled), ``mode`` (``training`` or
    ``inference``), ``context`` (the underlying :class:`~emitters.run.RunContext`),
    ``steps`` (optimizer steps seen), ``capture_errors`` (failures swallowed so far).
    """

    def __init__(self, spec: RunSpec) -> None:
        self.spec = spec
        self.mode: Mode = spec.mode
        self.enabled = spec.enabled
        self.steps = 0
        self._guard = CaptureGuard()
        self._interval = float(spec.metrics_interval_s)
        self._last_running = float("-inf")
        self._latest: dict[str, Any] = {}
        self._epochs_done = 0
        self._models: list[tuple[str, torch.nn.Module]] = []
        self._optimizers: list[torch.optim.Optimizer] = []
        self._hooks: list[Any] = []
        self._inputs: dict[tuple[str, str], Dataset] = {}
        self._outputs: dict[tuple[str, str], Dataset] = {}
        self._history: list[dict[str, float]] = []
        self._deferred_outputs: dict[str, tuple[str, dict[str, str]]] = {}
        self._dropped = {"inputs": 0, "outputs": 0}
        self._fingerprints: dict[int, DatasetFingerprint] = {}
        self._started = False
        self._token: contextvars.Token[TorchRun | None] | None = None
        self._ckpt_token: Any = None
        self.context: RunContext | None = None
        self.run_id: str | None = None
        if not self.enabled:
            return
        self.context = self._guard.call("run.init", self._make_context, None)
        if self.context is not None:
            self.run_id = self.context.run_id

    # -- lifecycle --------------------------------------------------------------------------

    def _make_context(self) -> RunContext:
        spec = self.spec
        return RunContext(
            spec.job_name,
            spec.namespace,
            client=spec.client,
            parameters=None,
            parent=spec.parent,
            job_type=JobType(
                processingType="BATCH",
                integration="PYTORCH",
                jobType="TRAINING" if spec.mode == "training" else "INFERENCE",
            ),
            producer=PRODUCER,
        )

    def _open(self) -> None:
        self._token = _current_run.set(self)
        if not self.enabled or self.context is None:
            return
        spec = self.spec
        if spec.capture_checkpoints:
            self._ckpt_token = self._guard.call(
                "checkpoints.attach", lambda: checkpoints.attach(self), None
            )
        self._guard.call("run.parameters", self._initial_parameters, None)
        for model in spec.models:
            self.watch_model(model)
        for opt in spec.optimizers:
            self.watch_optimizer(opt)
        for sched in spec.schedulers:
            self.watch_scheduler(sched)
        for name, loader in spec.loaders.items():
            self.watch_loader(loader, name=name, uri=spec.dataset_uris.get(name))
        for name, ds in spec.datasets.items():
            self.input_dataset(ds, name=name, uri=spec.dataset_uris.get(name))
        for uri in spec.inputs:
            self.input_file(uri, kind=spec.input_kind)
        for uri in spec.outputs:
            self.output_file(uri, kind=spec.output_kind)
        for path in spec.checkpoints:
            self.input_file(path, kind="model")
        self._guard.call("run.start", self._start, None)

    def _initial_parameters(self) -> None:
        ctx = self.context
        assert ctx is not None
        spec = self.spec
        params: dict[str, str] = {"mode": spec.mode}
        params.update(runtime_parameters())
        params.update(seed_parameters())
        if spec.seed is not None:
            params["seed"] = str(spec.seed)
        if spec.epochs is not None:
            params["epochs"] = str(spec.epochs)
        if spec.device is not None:
            params["device"] = str(spec.device)
        for k, v in spec.parameters.items():
            params[k] = render(v)
        for k, v in params.items():
            ctx.log_param(k, v)

    def _start(self) -> None:
        ctx = self.context
        assert ctx is not None
        ctx.start()
        self._started = True

    def _close(self, exc: BaseException | None) -> None:
        try:
            if self.enabled and self.context is not None:
                self._guard.call("run.finish", self._finish, None)
                self._guard.call("run.terminal", functools.partial(self._terminal, exc), None)
        finally:
            for hook in self._hooks:
                try:
                    hook.remove()
                except Exception as e:
                    self._guard.record("hook.remove", e)
            self._hooks.clear()
            if self._ckpt_token is not None:
                self._guard.call(
                    "checkpoints.detach", lambda: checkpoints.detach(self, self._ckpt_token), None
                )
                self._ckpt_token = None
            if self._token is not None:
                try:
                    _current_run.reset(self._token)
                except ValueError:
                    _current_run.set(None)
                self._token = None

    def _finish(self) -> None:
        """Digest deferred outputs and the weights, flush metrics: all before the terminal
        event, so it carries them."""
        ctx = self.context
        assert ctx is not None
        for path, (kind, extra) in list(self._deferred_outputs.items()):
            self._guard.call(
                "output.digest", functools.partial(self._add_file_output, path, kind, extra), None
            )
        self._deferred_outputs.clear()
        if self.spec.digest_weights:
            for prefix, model in self._models:
                digest = self._guard.call(
                    "model.weights", functools.partial(weights_digest, model), None
                )
                if digest is not None:
                    ctx.log_param(f"{prefix}.weights_sha256", digest)
        if self._dropped["inputs"] or self._dropped["outputs"]:
            ctx.log_param("lineage.datasets_dropped", json.dumps(self._dropped))
        self._flush_metrics()
        if self._history:
            ctx.add_run_facet("torchEpochs", {"epochs": self._history})

    def _terminal(self, exc: BaseException | None) -> None:
        ctx = self.context
        assert ctx is not None
        if self._guard.errors:
            ctx.log_param("lineage.capture_errors", str(self._guard.errors))
        if exc is None or (isinstance(exc, SystemExit) and exc.code in (0, None)):
            ctx.complete()
        elif isinstance(exc, KeyboardInterrupt):
            ctx.abort()
        else:
            ctx.fail(exc)

    @property
    def capture_errors(self) -> int:
        """Failures inside this run's capture, swallowed so far."""
        return self._guard.errors

    # -- declarations -----------------------------------------------------------------------

    def log_param(self, key: str, value: Any) -> None:
        """Record one run parameter (rendered as text: JSON for data, class name for objects)."""
        if self.enabled and self.context is not None:
            ctx = self.context
            self._guard.call("log_param", lambda: ctx.log_param(key, render(value)), None)

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Record several run parameters."""
        for k, v in params.items():
            self.log_param(k, v)

    def watch_model(self, model: torch.nn.Module, *, name: str = "model") -> None:
        """Record a model: class, architecture digest, parameter counts, dtype, device
        (parameters ``<name>.*``); its weights digest is added when the run ends."""
        if not self.enabled or self.context is None:
            return

        def do() -> None:
            if any(m is model for _, m in self._models):
                return
            taken = {p for p, _ in self._models}
            prefix = name if name not in taken else f"{name}{len(self._models)}"
            self._models.append((prefix, model))
            self.log_params(describe_model(model, prefix))
            device = model_device(model)
            if len(self._models) == 1 and self.spec.device is None and device is not None:
                self.log_param("device", device)

        self._guard.call("watch_model", do, None)

    def watch_optimizer(self, optimizer: torch.optim.Optimizer, *, name: str = "optimizer") -> None:
        """Record an optimizer's class and hyperparameters (``param_groups`` minus ``params``)
        and count its steps (``steps`` metric) with a step post-hook removed at run end."""
        if not self.enabled or self.context is None:
            return

        def do() -> None:
            if any(o is optimizer for o in self._optimizers):
                return
            self._optimizers.append(optimizer)
            self.log_params(describe_optimizer(optimizer, name))
            register = getattr(optimizer, "register_step_post_hook", None)
            if callable(register) and len(self._optimizers) == 1:
                self._hooks.append(register(self._on_step))

        self._guard.call("watch_optimizer", do, None)

    def _on_step(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        self.steps += 1

    def watch_scheduler(self, scheduler: object, *, name: str = "scheduler") -> None:
        """Record an LR scheduler's class and settings (public ``state_dict`` entries)."""
        if self.enabled and self.context is not None:
            self._guard.call(
                "watch_scheduler", lambda: self.log_params(describe_scheduler(scheduler, name)),
                None,
            )

    def watch_loader(
        self,
        loader: DataLoader[Any],
        *,
        name: str = "train",
        uri: PathLike | None = None,
        kind: str | None = None,
        fingerprint: bool | None = None,
    ) -> None:
        """Record a DataLoader's settings (``data.<name>.*``) and its dataset as an input.

        ``uri``: where the dataset was read from (a path or URI); then the input is that
        file/URI and the in-memory fingerprint is attached as the ``torchDataset`` facet.
        ``kind`` defaults to ``features``. ``fingerprint``: hash the dataset object (default:
        yes when no ``uri`` is given, else no).
        """
        if not self.enabled or self.context is None:
            return
        self._guard.call("watch_loader", lambda: self.log_params(describe_loader(loader, name)),
                         None)
        self.input_dataset(loader.dataset, name=name, uri=uri, kind=kind, fingerprint=fingerprint)
    # -- context manager ----------------------------------------------------------------------

    def __enter__(self) -> TorchRun:
        self._open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Literal[False]:
        self._close(exc)
        return False


__all__ = [
    "MAX_DATASETS_PER_SIDE",
    "MAX_EPOCH_HISTORY",
    "MEMORY_NAMESPACE",
    "PRODUCER",
    "TorchRun",
    "current_run",
]
