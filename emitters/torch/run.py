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
"""

from __future__ import annotations

import contextvars
import functools
import json
import os
import time
from collections.abc import Callable, Iterable, Mapping
from types import TracebackType
from typing import Any, Literal, ParamSpec, TypeVar

import torch
from torch.utils.data import DataLoader

from emitters.facets import dataset_id_for_path, file_dataset
from emitters.run import RunContext
from emitters.torch import checkpoints
from emitters.torch._safe import CaptureGuard
from emitters.torch.fingerprint import DatasetFingerprint, fingerprint_dataset, weights_digest
from emitters.torch.introspect import (
    describe_loader,
    describe_model,
    describe_optimizer,
    describe_scheduler,
    model_device,
    render,
    runtime_parameters,
)
from emitters.torch.seeds import seed_parameters
from lineage_pipeline.events import (
    ContentDigest,
    Dataset,
    DatasetFacets,
    JobType,
    ParentRun,
    Statistics,
)

P = ParamSpec("P")
R = TypeVar("R")

PRODUCER = "https://github.com/lineage-pipeline/lineage-pipeline/tree/main/emitters/torch"
#: Namespace of datasets known only as in-memory torch datasets (no declared URI); their name
#: is ``<job namespace>/<job name>/<dataset name>``.
MEMORY_NAMESPACE = "torch"
#: Most inputs or outputs per run; further ones are counted (``lineage.datasets_dropped``).
MAX_DATASETS_PER_SIDE = 64
#: Epochs kept in the ``torchEpochs`` run facet (the latest), one row of metrics each.
MAX_EPOCH_HISTORY = 200

Mode = Literal["training", "inference"]
PathLike = str | os.PathLike[str]

_current_run: contextvars.ContextVar[TorchRun | None] = contextvars.ContextVar(
    "lineage_torch_current_run", default=None
)


def current_run() -> TorchRun | None:
    """Return the innermost open run in this context (``None`` outside any run)."""
    return _current_run.get()


def _key(ds: Dataset) -> tuple[str, str]:
    return ds.namespace, ds.name


class TorchRun:
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

    def input_dataset(
        self,
        dataset: object,
        *,
        name: str = "train",
        uri: PathLike | None = None,
        kind: str | None = None,
        fingerprint: bool | None = None,
    ) -> None:
        """Record a torch ``Dataset`` (or any object with ``__len__``/``__getitem__``) as an input.

        Without ``uri`` the input is ``torch:<job namespace>/<job name>/<name>`` with the
        content fingerprint (see :mod:`emitters.torch.fingerprint`) as its version. With a
        ``uri`` it is that dataset (a local file: SHA-256 of its bytes as version).
        """
        if not self.enabled or self.context is None:
            return
        kind = kind or "features"
        self._guard.call(
            "input_dataset",
            lambda: self._add_input(self._dataset_for(dataset, name, uri, kind, fingerprint)),
            None,
        )

    def input_file(self, path: PathLike, *, kind: str = "file") -> None:
        """Record a file or URI read by the run (local files digested now: SHA-256)."""
        if self.enabled and self.context is not None:
            self._guard.call(
                "input_file", lambda: self._add_input(self._uri_dataset(path, kind, "input")),
                None,
            )

    def output_file(self, path: PathLike, *, kind: str = "file") -> None:
        """Declare a file the run writes (e.g. ``kind="predictions"``).

        It is digested (SHA-256 of its bytes, plus schema and statistics for CSV/Parquet/JSON)
        when the run ends, so it may be declared before it is written.
        """
        if self.enabled and self.context is not None:

            def do() -> None:
                ns, nm = dataset_id_for_path(os.fspath(path))
                if ns == "file":
                    self._deferred_outputs[nm] = (kind, {})
                else:
                    self._add_output(Dataset(namespace=ns, name=nm, kind=kind))

            self._guard.call("output_file", do, None)

    # -- metrics ----------------------------------------------------------------------------

    def log_metrics(self, **metrics: float | torch.Tensor) -> None:
        """Record the latest values of metrics (floats or 0-d tensors, read lazily), e.g.
        ``run.log_metrics(step=i, loss=loss)``.

        Cheap enough to call every step: values are stored (tensors detached, not synced) and
        a RUNNING event is sent only when ``metrics_interval_s`` has passed since the last.
        """
        if not self.enabled:
            return
        try:
            latest = self._latest
            for k, v in metrics.items():
                latest[k] = v.detach() if isinstance(v, torch.Tensor) else v
            if time.monotonic() - self._last_running >= self._interval:
                self._emit_running()
        except Exception as exc:
            self._guard.record("log_metrics", exc)

    def log_epoch(self, epoch: int, **metrics: float | torch.Tensor) -> None:
        """Record the end of epoch ``epoch`` (0- or 1-based, as the caller counts) and its
        metrics; sends a RUNNING event at the bounded rate (see :meth:`log_metrics`)."""
        if not self.enabled:
            return
        self._epochs_done += 1
        self._latest["epoch"] = epoch
        self.log_metrics(**metrics)
        try:
            row = {"epoch": float(epoch)}
            for k, v in metrics.items():
                row[k] = float(v.item()) if isinstance(v, torch.Tensor) else float(v)
            self._history.append(row)
            if len(self._history) > MAX_EPOCH_HISTORY:
                del self._history[: len(self._history) - MAX_EPOCH_HISTORY]
        except Exception as exc:
            self._guard.record("log_epoch", exc)

    def _collect_metrics(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for k, v in self._latest.items():
            try:
                out[k] = float(v.item()) if isinstance(v, torch.Tensor) else float(v)
            except Exception as exc:
                self._guard.record(f"metric:{k}", exc)
        out["steps"] = float(self.steps)
        out["epochs_completed"] = float(self._epochs_done)
        if self._optimizers:
            groups = self._optimizers[0].param_groups
            if groups and "lr" in groups[0]:
                lr = groups[0]["lr"]
                out["lr"] = float(lr.item()) if isinstance(lr, torch.Tensor) else float(lr)
        return out

    def _flush_metrics(self) -> None:
        ctx = self.context
        assert ctx is not None
        for k, v in self._collect_metrics().items():
            ctx.log_metric(k, v)

    def _emit_running(self) -> None:
        self._last_running = time.monotonic()
        ctx = self.context
        if ctx is None or not self._started:
            return
        self._flush_metrics()
        ctx.running()

    # -- datasets ---------------------------------------------------------------------------

    def _fingerprint(self, dataset: object) -> DatasetFingerprint:
        fp = self._fingerprints.get(id(dataset))
        if fp is None:
            spec = self.spec
            fp = fingerprint_dataset(
                dataset,
                full_hash_max_bytes=spec.full_hash_max_bytes,
                sample_rows=spec.sample_rows,
                sample_items=spec.sample_items,
            )
            self._fingerprints[id(dataset)] = fp
        return fp

    def _dataset_for(
        self, dataset: object, name: str, uri: PathLike | None, kind: str, fingerprint: bool | None
    ) -> Dataset:
        fp: DatasetFingerprint | None = None
        if fingerprint or (fingerprint is None and uri is None):
            fp = self._fingerprint(dataset)
        if uri is not None:
            ds = self._uri_dataset(uri, kind, "input", version=fp.hex if fp else None)
        else:
            job = self.spec
            ds = Dataset(
                namespace=MEMORY_NAMESPACE,
                name=f"{job.namespace}/{job.job_name}/{name}",
                kind=kind,
                version=fp.hex if fp is not None else None,
                facets=DatasetFacets(),
            )
            if fp is not None and fp.hex is not None:
                ds.facets.contentDigest = ContentDigest(algorithm=fp.algorithm, hex=fp.hex)
            if fp is not None and fp.length is not None:
                ds.facets.statistics = Statistics(rowCount=fp.length)
        if fp is not None:
            ds.facets.extra["torchDataset"] = json.dumps(fp.describe(), sort_keys=True)
        return ds

    def _uri_dataset(
        self, uri: PathLike, kind: str, role: Literal["input", "output"],
        version: str | None = None,
    ) -> Dataset:
        ns, nm = dataset_id_for_path(os.fspath(uri))
        if ns == "file" and os.path.isfile(nm):
            return file_dataset(nm, kind=kind, role=role, compute_stats=self.spec.compute_stats)
        return Dataset(namespace=ns, name=nm, kind=kind, version=version)

    def _add_input(self, ds: Dataset) -> None:
        if self._put(self._inputs, "inputs", ds) and self.context is not None:
            self.context.add_input(ds)

    def _add_output(self, ds: Dataset) -> None:
        if self._put(self._outputs, "outputs", ds) and self.context is not None:
            self.context.add_output(ds)

    def _put(self, side: dict[tuple[str, str], Dataset], label: str, ds: Dataset) -> bool:
        """Keep ``ds`` (the latest per namespace/name); ``False`` past the per-side cap."""
        key = _key(ds)
        if key not in side and len(side) >= MAX_DATASETS_PER_SIDE:
            self._dropped[label] += 1
            return False
        side[key] = ds
        return True

    def _add_file_output(self, path: str, kind: str, extra: dict[str, str]) -> None:
        if not os.path.isfile(path):
            self._guard.record("output.missing", FileNotFoundError(path))
            return
        ds = file_dataset(path, kind=kind, role="output",
                          compute_stats=self.spec.compute_stats and kind != "model")
        ds.facets.extra.update(extra)
        self._add_output(ds)

    # -- checkpoints (called by the torch.save / torch.load wrappers) -------------------------

    def on_save(self, obj: object, f: object) -> None:
        """``torch.save(obj, f)`` returned: record the file as an output of kind ``save_kind``
        (digested now if closed, else when the run ends). Never raises."""
        if not self.enabled:
            return

        def do() -> None:
            path, closed = checkpoints.path_of(f)
            if path is None:
                return  # an in-memory buffer: nothing on disk to version
            extra = {"torchCheckpoint": json.dumps(_describe_saved(obj), sort_keys=True)}
            if closed:
                self._deferred_outputs.pop(path, None)
                self._add_file_output(path, self.spec.save_kind, extra)
            else:
                self._deferred_outputs[path] = (self.spec.save_kind, extra)

        self._guard.call("on_save", do, None)

    def on_load(self, f: object, result: object) -> None:
        """``torch.load(f)`` returned: record the file as an input of kind ``load_kind``,
        unless it is a version this run itself wrote (a reload of its own checkpoint)."""
        if not self.enabled:
            return

        def do() -> None:
            path, _ = checkpoints.path_of(f)
            if path is None:
                return
            ds = file_dataset(path, kind=self.spec.load_kind, role="input", compute_stats=False)
            own = self._outputs.get(_key(ds))
            if own is not None and own.version == ds.version:
                return
            ds.facets.extra["torchCheckpoint"] = json.dumps(_describe_saved(result),
                                                            sort_keys=True)
            self._add_input(ds)

        self._guard.call("on_load", do, None)

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


def _describe_saved(obj: object) -> dict[str, Any]:
    """Describe a saved/loaded object without its values: type, tensor count, top-level keys."""
    out: dict[str, Any] = {"type": f"{type(obj).__module__}.{type(obj).__qualname__}"}
    if isinstance(obj, torch.nn.Module):
        obj = obj.state_dict()
        out["module"] = True
    if isinstance(obj, Mapping):
        keys = [str(k) for k in obj]
        out["keys"] = keys[:32]
        out["numKeys"] = len(keys)
        tensors = [v for v in obj.values() if isinstance(v, torch.Tensor)]
        out["numTensors"] = len(tensors)
        out["numElements"] = sum(int(t.numel()) for t in tensors)
    elif isinstance(obj, torch.Tensor):
        out["dtype"] = str(obj.dtype).removeprefix("torch.")
        out["shape"] = list(obj.shape)
    return out


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
        from emitters.torch import fingerprint as _fp

        self.mode: Mode = mode
        self.job_name = job_name
        self.namespace = namespace
        self.models = _as_list(model, torch.nn.Module)
        self.optimizers = _as_list(optimizer, torch.optim.Optimizer)
        self.schedulers = [] if scheduler is None else [scheduler]
        if isinstance(loaders, DataLoader):
            loaders = {"train" if mode == "training" else "inference": loaders}
        self.loaders = dict(loaders or {})
        self.datasets = dict(datasets or {})
        self.dataset_uris = dict(dataset_uris or {})
        self.inputs = list(inputs)
        self.outputs = list(outputs)
        self.checkpoints = list(checkpoints)
        self.input_kind = input_kind
        self.output_kind = output_kind or ("predictions" if mode == "inference" else "file")
        self.epochs = epochs
        self.seed = seed
        self.device = device
        self.parameters = dict(parameters or {})
        self.client = client
        self.parent = parent
        self.metrics_interval_s = metrics_interval_s
        self.capture_checkpoints = capture_checkpoints
        self.save_kind = save_kind or ("model" if mode == "training" else "predictions")
        self.load_kind = load_kind
        self.digest_weights = digest_weights
        self.compute_stats = compute_stats
        self.full_hash_max_bytes = full_hash_max_bytes or _fp.FULL_HASH_MAX_BYTES
        self.sample_rows = sample_rows or _fp.SAMPLE_ROWS
        self.sample_items = sample_items or _fp.SAMPLE_ITEMS
        self.enabled = enabled
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
