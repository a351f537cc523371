"""Content fingerprints of torch datasets and models (read-only: no RNG use, no tensor moves).

Datasets (:func:`fingerprint_dataset`)
--------------------------------------
A fingerprint is a SHA-256 over a canonical encoding, never over pickles or reprs that carry
memory addresses, so the same data gives the same hex in every process:

- header: the dataset class name, ``len(dataset)``, and for every tensor its dtype and shape;
- tensors are encoded as ``dtype | shape | raw little-endian bytes`` (C-contiguous);
  numpy arrays the same way; numbers, strings and bytes by value; tuples, lists and dicts
  recursively.

Cost control for large datasets (the *cheap fingerprint*):

- **Tensor-backed datasets** (``TensorDataset``; any dataset exposing ``tensors`` or
  ``data``/``targets`` tensors or arrays, as torchvision's do; ``Subset`` of those, plus its
  indices): when all tensors together hold at most ``full_hash_max_bytes`` (default 64 MiB)
  the full bytes are hashed (algorithm ``sha256-tensors``). Above it, the header plus
  ``sample_rows`` (default 1,024) rows taken at a fixed stride along dimension 0
  (``i * n // k`` for ``i < k``, plus the last row) are hashed (algorithm
  ``sha256-tensors-sampled``): O(k) instead of O(n), and deterministic, but a change confined
  to rows outside the sample is not seen.
- **Other map-style datasets** (``__len__`` + ``__getitem__``): up to ``sample_items``
  (default 256) items are read at a fixed stride and encoded (algorithm
  ``sha256-items``, or ``sha256-items-sampled`` when the dataset is longer). Since
  ``__getitem__`` may draw random numbers (augmentations), the torch CPU, numpy and
  Python global RNG states are saved before and restored after, so training numerics are
  unchanged.
- **Iterable datasets** cannot be read without being consumed: only the class name is
  recorded (algorithm ``type-only``, no version). Declare their source URI instead.

Models
------
- :func:`architecture_digest`: SHA-256 of ``repr(module)`` plus the names, shapes and dtypes
  of its parameters and buffers: the same for two models of the same architecture,
  whatever their weights.
- :func:`weights_digest`: SHA-256 over the ``state_dict`` (names, dtypes, shapes, bytes): the
  same for two models with identical weights.
"""

from __future__ import annotations

import hashlib
import random
import struct
from collections.abc import Iterator, Mapping, Sequence, Sized
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, IterableDataset, Subset, TensorDataset

#: Tensor datasets up to this many bytes are hashed in full.
FULL_HASH_MAX_BYTES = 64 * 1024 * 1024
#: Rows hashed from a larger tensor dataset (evenly strided along dimension 0).
SAMPLE_ROWS = 1024
#: Items read from a generic map-style dataset (all of them when it is no longer).
SAMPLE_ITEMS = 256


@dataclass(frozen=True)
class DatasetFingerprint:
    """The fingerprint of one dataset.

    ``algorithm``: ``sha256-tensors``, ``sha256-tensors-sampled``, ``sha256-items``,
    ``sha256-items-sampled`` or ``type-only``; ``hex``: lower-case SHA-256 hex (``None`` for
    ``type-only``); ``length``: ``len(dataset)`` when defined; ``tensors``: dtype and shape
    of each backing tensor (``[{"dtype": "float32", "shape": [569, 30]}, ...]``);
    ``sampled``: whether only part of the content was hashed; ``hashed_bytes``: bytes fed to
    the hash.
    """

    algorithm: str
    hex: str | None
    type_name: str
    length: int | None = None
    tensors: list[dict[str, Any]] = field(default_factory=list)
    sampled: bool = False
    hashed_bytes: int = 0

    def describe(self) -> dict[str, Any]:
        """Return a JSON-ready dict of the fingerprint."""
        return {
            "algorithm": self.algorithm,
            "hex": self.hex,
            "type": self.type_name,
            "length": self.length,
            "tensors": self.tensors,
            "sampled": self.sampled,
            "hashedBytes": self.hashed_bytes,
        }


class _Hasher:
    """SHA-256 over a canonical, type-tagged encoding of Python and torch values."""

    def __init__(self) -> None:
        self.h = hashlib.sha256()
        self.nbytes = 0

    def raw(self, data: bytes | memoryview) -> None:
        self.h.update(data)
        self.nbytes += len(data)

    def tag(self, text: str) -> None:
        encoded = text.encode()
        self.raw(struct.pack("<I", len(encoded)) + encoded)

    def tensor(self, t: torch.Tensor) -> None:
        t = t.detach()
        if t.device.type != "cpu":
            t = t.to("cpu")  # a copy; the caller's tensor stays where it is
        if t.is_sparse:
            t = t.to_dense()
        self.tag(f"tensor|{str(t.dtype).removeprefix('torch.')}|{list(t.shape)}")
        flat = t.reshape(-1).contiguous()
        if flat.numel():
            self.raw(flat.view(torch.uint8).numpy().data)

    def array(self, a: np.ndarray[Any, Any]) -> None:
        self.tag(f"ndarray|{a.dtype.str}|{list(a.shape)}")
        if a.dtype.hasobject:
            for item in a.reshape(-1).tolist():
                self.value(item)
        elif a.size:
            self.raw(np.ascontiguousarray(a).reshape(-1).view(np.uint8).data)

    def value(self, v: Any) -> None:
        """Feed one item; unknown objects contribute their type name and ``tobytes()``."""
        if isinstance(v, torch.Tensor):
            self.tensor(v)
        elif isinstance(v, np.ndarray):
            self.array(v)
        elif v is None or isinstance(v, bool | int | float | complex | str | np.generic):
            self.tag(f"{type(v).__name__}|{v!r}")
        elif isinstance(v, bytes | bytearray):
            self.tag("bytes")
            self.raw(struct.pack("<Q", len(v)) + bytes(v))
        elif isinstance(v, Mapping):
            self.tag(f"map|{len(v)}")
            for k in sorted(v, key=repr):
                self.value(k)
                self.value(v[k])
        elif isinstance(v, Sequence):
            self.tag(f"seq|{len(v)}")
            for item in v:
                self.value(item)
        else:
            self.tag(f"obj|{type(v).__module__}.{type(v).__qualname__}")
            tobytes = getattr(v, "tobytes", None)  # PIL images and similar
            if callable(tobytes):
                data = tobytes()
                if isinstance(data, bytes):
                    self.raw(data)

    def hexdigest(self) -> str:
        return self.h.hexdigest()


def _type_name(obj: object) -> str:
    return f"{type(obj).__module__}.{type(obj).__qualname__}"


def _as_tensor_like(v: Any) -> torch.Tensor | np.ndarray[Any, Any] | None:
    if isinstance(v, torch.Tensor | np.ndarray):
        return v
    return None


def _backing_arrays(ds: object) -> list[torch.Tensor | np.ndarray[Any, Any]] | None:
    """Return the tensors/arrays holding a dataset's content, or ``None`` if unknown."""
    if isinstance(ds, TensorDataset):
        return list(ds.tensors)
    tensors = getattr(ds, "tensors", None)
    if isinstance(tensors, list | tuple) and tensors:
        found = [_as_tensor_like(t) for t in tensors]
        if all(t is not None for t in found):
            return [t for t in found if t is not None]
    data = _as_tensor_like(getattr(ds, "data", None))
    if data is not None:
        arrays: list[torch.Tensor | np.ndarray[Any, Any]] = [data]
        targets = getattr(ds, "targets", None)
        if isinstance(targets, list) and targets and isinstance(targets[0], int):
            targets = np.asarray(targets)
        t = _as_tensor_like(targets)
        if t is not None:
            arrays.append(t)
        return arrays
    return None


def _nbytes(a: torch.Tensor | np.ndarray[Any, Any]) -> int:
    if isinstance(a, torch.Tensor):
        return int(a.numel() * a.element_size())
    return int(a.nbytes)


def _shape_info(a: torch.Tensor | np.ndarray[Any, Any]) -> dict[str, Any]:
    dtype = str(a.dtype).removeprefix("torch.")
    return {"dtype": dtype, "shape": list(a.shape)}


def strided_indices(n: int, k: int) -> list[int]:
    """Return ``k`` (or ``n`` if smaller) evenly strided indices of ``range(n)``, last included.

    Index ``i`` of the sample is ``i * n // k``; the last index ``n - 1`` is added when
    missing. Deterministic: the same ``n`` and ``k`` always give the same indices.
    """
    if n <= k:
        return list(range(n))
    idx = [i * n // k for i in range(k)]
    if idx[-1] != n - 1:
        idx.append(n - 1)
    return idx


def _take_rows(
    a: torch.Tensor | np.ndarray[Any, Any], idx: list[int]
) -> torch.Tensor | np.ndarray[Any, Any]:
    if isinstance(a, torch.Tensor):
        return a.detach()[torch.tensor(idx, dtype=torch.long, device=a.device)]
    return a[np.asarray(idx, dtype=np.int64)]


def _fingerprint_arrays(
    type_name: str,
    length: int | None,
    arrays: list[torch.Tensor | np.ndarray[Any, Any]],
    extra: list[int] | None,
    full_hash_max_bytes: int,
    sample_rows: int,
) -> DatasetFingerprint:
    h = _Hasher()
    info = [_shape_info(a) for a in arrays]
    h.tag(f"dataset|{type_name}|{length}")
    total = sum(_nbytes(a) for a in arrays)
    sampled = total > full_hash_max_bytes
    for a in arrays:
        if sampled and a.ndim > 0 and a.shape[0] > sample_rows:
            h.tag(f"rows|{_shape_info(a)}")
            a = _take_rows(a, strided_indices(int(a.shape[0]), sample_rows))
        h.value(a)
    if extra is not None:
        h.tag("indices")
        h.array(np.asarray(extra, dtype=np.int64))
    return DatasetFingerprint(
        algorithm="sha256-tensors-sampled" if sampled else "sha256-tensors",
        hex=h.hexdigest(),
        type_name=type_name,
        length=length,
        tensors=info,
        sampled=sampled,
        hashed_bytes=h.nbytes,
    )


@contextmanager
def preserved_rng() -> Iterator[None]:
    """Save the torch CPU, numpy and Python global RNG states and restore them on exit.

    Used around code that may draw random numbers on the user's behalf (a dataset's
    ``__getitem__``), so that capture leaves every generator exactly as it found it.
    CUDA generators are saved too when CUDA is initialised.
    """
    torch_state = torch.get_rng_state()
    np_state = np.random.get_state()
    py_state = random.getstate()
    cuda_states = None
    if torch.cuda.is_available() and torch.cuda.is_initialized():  # type: ignore[no-untyped-call]
        cuda_states = torch.cuda.get_rng_state_all()
    try:
        yield
    finally:
        torch.set_rng_state(torch_state)
        np.random.set_state(np_state)
        random.setstate(py_state)
        if cuda_states is not None:
            torch.cuda.set_rng_state_all(cuda_states)


def _len(ds: object) -> int | None:
    if not isinstance(ds, Sized):
        return None
    try:
        return len(ds)
    except Exception:
        return None


def fingerprint_dataset(
    ds: Dataset[Any] | object,
    *,
    full_hash_max_bytes: int = FULL_HASH_MAX_BYTES,
    sample_rows: int = SAMPLE_ROWS,
    sample_items: int = SAMPLE_ITEMS,
) -> DatasetFingerprint:
    """Return the content fingerprint of a torch dataset (see the module docstring).

    Reads the dataset without moving its tensors and without changing any RNG state.
    Raises whatever the dataset's own ``__len__``/``__getitem__`` raise (callers in this
    package run it under a capture guard).
    """
    type_name = _type_name(ds)
    length = _len(ds)
    if isinstance(ds, Subset):
        base = ds.dataset
        arrays = _backing_arrays(base)
        if arrays is not None:
            return _fingerprint_arrays(
                type_name, length, arrays, list(ds.indices), full_hash_max_bytes, sample_rows
            )
    else:
        arrays = _backing_arrays(ds)
        if arrays is not None:
            return _fingerprint_arrays(
                type_name, length, arrays, None, full_hash_max_bytes, sample_rows
            )
    if isinstance(ds, IterableDataset) or length is None or not hasattr(ds, "__getitem__"):
        return DatasetFingerprint(algorithm="type-only", hex=None, type_name=type_name,
                                  length=length)
    idx = strided_indices(length, sample_items)
    sampled = len(idx) < length
    h = _Hasher()
    h.tag(f"dataset|{type_name}|{length}")
    with preserved_rng():
        for i in idx:
            h.tag(f"item|{i}")
            h.value(ds[i])
    return DatasetFingerprint(
        algorithm="sha256-items-sampled" if sampled else "sha256-items",
        hex=h.hexdigest(),
        type_name=type_name,
        length=length,
        sampled=sampled,
        hashed_bytes=h.nbytes,
    )


def architecture_digest(model: torch.nn.Module) -> str:
    """SHA-256 hex of ``repr(model)`` and the names, shapes and dtypes of its tensors.

    Independent of the weights' values; changes with any layer, size or dtype change.
    """
    h = _Hasher()
    h.tag(repr(model))
    for name, p in model.named_parameters():
        h.tag(f"param|{name}|{list(p.shape)}|{p.dtype}|{p.requires_grad}")
    for name, b in model.named_buffers():
        h.tag(f"buffer|{name}|{list(b.shape)}|{b.dtype}")
    return h.hexdigest()


def parameter_counts(model: torch.nn.Module) -> tuple[int, int]:
    """Return ``(total, trainable)`` parameter counts (elements, shared tensors once)."""
    seen: set[int] = set()
    total = trainable = 0
    for p in model.parameters():
        if id(p) in seen:
            continue
        seen.add(id(p))
        n = int(p.numel())
        total += n
        if p.requires_grad:
            trainable += n
    return total, trainable


def weights_digest(model: torch.nn.Module) -> str:
    """SHA-256 hex over the model's ``state_dict`` (names, dtypes, shapes, bytes, in order)."""
    h = _Hasher()
    with torch.no_grad():
        for name, t in model.state_dict().items():
            h.tag(f"entry|{name}")
            h.value(t)
    return h.hexdigest()
