"""Read training settings off torch objects as flat run parameters (``dict[str, str]``).

Everything here only reads attributes: no RNG draws, no tensor moves, no CUDA
initialisation. Values are rendered as JSON text (numbers, booleans, lists) or plain
strings (class names), so they survive the ``parameters`` facet (``map<string>``).
Parameter names are dotted: ``data.<loader>.batch_size``, ``optimizer.lr``,
``scheduler.step_size``, ``model.num_parameters``, ``torch.version``...
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import torch
from torch.utils.data import DataLoader, RandomSampler, SequentialSampler

from emitters.torch.fingerprint import architecture_digest, parameter_counts

#: Longest parameter value kept (characters); longer values are cut with a marker.
MAX_VALUE_CHARS = 512


def _class_name(obj: object) -> str:
    cls = type(obj)
    mod = cls.__module__
    if mod.startswith(("torch.", "builtins")):
        return cls.__qualname__
    return f"{mod}.{cls.__qualname__}"


def render(value: Any) -> str:
    """Render a parameter value as text: JSON for data, the class name for objects."""
    if isinstance(value, str):
        text = value
    elif isinstance(value, torch.Tensor):
        text = render(value.item() if value.numel() == 1 else value.tolist())
    elif isinstance(value, float) and not math.isfinite(value):
        text = repr(value)
    else:
        try:
            text = json.dumps(value, default=_class_name, sort_keys=True)
        except (TypeError, ValueError):
            text = _class_name(value)
    if len(text) > MAX_VALUE_CHARS:
        text = text[: MAX_VALUE_CHARS - 3] + "..."
    return text


def _jsonable(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool | list | tuple)


def describe_loader(loader: DataLoader[Any], name: str) -> dict[str, str]:
    """Return ``data.<name>.*`` parameters of a DataLoader.

    Keys: ``batch_size``, ``shuffle`` (``true`` when the sampler is a ``RandomSampler``,
    ``false`` for a ``SequentialSampler``, else absent), ``sampler``, ``batch_sampler``
    (class names), ``num_workers``, ``drop_last``, ``pin_memory``, ``persistent_workers``,
    ``prefetch_factor``, ``generator_seed`` (the loader generator's ``initial_seed()``),
    ``dataset`` (class name), ``num_samples`` (``len(dataset)`` when defined).
    """
    p = f"data.{name}."
    out: dict[str, str] = {}
    sampler = getattr(loader, "sampler", None)
    batch_sampler = getattr(loader, "batch_sampler", None)
    out[p + "batch_size"] = render(getattr(loader, "batch_size", None))
    if isinstance(sampler, RandomSampler):
        out[p + "shuffle"] = "true"
    elif isinstance(sampler, SequentialSampler):
        out[p + "shuffle"] = "false"
    if sampler is not None:
        out[p + "sampler"] = _class_name(sampler)
    if batch_sampler is not None:
        out[p + "batch_sampler"] = _class_name(batch_sampler)
    for attr in ("num_workers", "drop_last", "pin_memory", "persistent_workers",
                 "prefetch_factor"):
        if hasattr(loader, attr):
            out[p + attr] = render(getattr(loader, attr))
    generator = getattr(loader, "generator", None)
    if isinstance(generator, torch.Generator):
        out[p + "generator_seed"] = str(generator.initial_seed())
    dataset = getattr(loader, "dataset", None)
    if dataset is not None:
        out[p + "dataset"] = _class_name(dataset)
        try:
            out[p + "num_samples"] = str(len(dataset))
        except Exception:
            pass
    return out


def _group_values(group: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in group.items() if k != "params"}


def describe_optimizer(
    optimizer: torch.optim.Optimizer, prefix: str = "optimizer"
) -> dict[str, str]:
    """Return ``optimizer.*`` parameters: the class and each ``param_groups`` entry but ``params``.

    One group: ``optimizer.lr``, ``optimizer.betas``...; several groups:
    ``optimizer.groups.<i>.lr``... plus ``optimizer.num_groups``. Keys whose value is
    ``None`` are left out; tensors (e.g. a tensor ``lr``) are rendered by value.
    """
    out = {prefix + ".class": _class_name(optimizer)}
    groups = list(optimizer.param_groups)
    out[prefix + ".num_groups"] = str(len(groups))
    for i, group in enumerate(groups):
        p = f"{prefix}." if len(groups) == 1 else f"{prefix}.groups.{i}."
        for k, v in _group_values(group).items():
            if v is None:
                continue
            out[p + k] = render(v)
        if len(groups) > 1:
            out[p + "num_params"] = str(sum(int(t.numel()) for t in group["params"]))
    return out


def describe_scheduler(scheduler: object, prefix: str = "scheduler") -> dict[str, str]:
    """Return ``scheduler.*`` parameters: the class and its public ``state_dict()`` entries.

    Private entries (leading ``_``) and the running ``last_epoch`` are left out; callables
    (``LambdaLR`` lambdas) are not in ``state_dict`` and so not recorded.
    """
    out = {prefix + ".class": _class_name(scheduler)}
    state_dict = getattr(scheduler, "state_dict", None)
    if callable(state_dict):
        state = state_dict()
        if isinstance(state, Mapping):
            for k, v in state.items():
                if not isinstance(k, str) or k.startswith("_") or k == "last_epoch":
                    continue
                if _jsonable(v) or isinstance(v, torch.Tensor):
                    out[f"{prefix}.{k}"] = render(v)
                else:
                    out[f"{prefix}.{k}"] = _class_name(v)
    return out


def model_device(model: torch.nn.Module) -> str | None:
    """Return the device of the model's first parameter or buffer (``cpu``, ``cuda:0``)."""
    for t in model.parameters():
        return str(t.device)
    for b in model.buffers():
        return str(b.device)
    return None


def describe_model(model: torch.nn.Module, prefix: str = "model") -> dict[str, str]:
    """Return ``model.*`` parameters: ``class``, ``architecture_sha256``, ``num_parameters``,
    ``num_trainable_parameters``, ``dtype`` (of the first parameter), ``device``."""
    total, trainable = parameter_counts(model)
    out = {
        prefix + ".class": _class_name(model),
        prefix + ".architecture_sha256": architecture_digest(model),
        prefix + ".num_parameters": str(total),
        prefix + ".num_trainable_parameters": str(trainable),
    }
    for t in model.parameters():
        out[prefix + ".dtype"] = str(t.dtype).removeprefix("torch.")
        break
    device = model_device(model)
    if device is not None:
        out[prefix + ".device"] = device
    return out


def runtime_parameters() -> dict[str, str]:
    """Return the torch runtime: ``torch.version``, ``torch.cuda_version`` (when built with
    CUDA), ``torch.cuda_available``, ``torch.cudnn_version`` (when CUDA is available),
    ``torch.num_threads``, ``torch.deterministic_algorithms``, ``torch.default_dtype``."""
    out = {
        "torch.version": str(torch.__version__),
        "torch.cuda_available": render(bool(torch.cuda.is_available())),
        "torch.num_threads": str(torch.get_num_threads()),
        "torch.deterministic_algorithms": render(torch.are_deterministic_algorithms_enabled()),
        "torch.default_dtype": str(torch.get_default_dtype()).removeprefix("torch."),
    }
    cuda = torch.version.cuda
    if cuda:
        out["torch.cuda_version"] = str(cuda)
    if torch.cuda.is_available():
        cudnn = torch.backends.cudnn.version()  # type: ignore[no-untyped-call]
        if cudnn is not None:
            out["torch.cudnn_version"] = str(cudnn)
        out["torch.cuda_device_count"] = str(torch.cuda.device_count())
    return out
