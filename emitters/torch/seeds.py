"""Seeds: set them all at once and remember what was set, for the run's parameters.

Neither numpy's nor Python's global generator can report the seed it was given, so the
seeds are recorded when :func:`seed_everything` sets them. :func:`seed_parameters` reads
what can be read without touching any generator: ``torch.initial_seed()`` and a short
digest of the numpy and Python generator states.
"""

from __future__ import annotations

import hashlib
import random
import threading

import numpy as np
import torch

_lock = threading.Lock()
_recorded: dict[str, int] = {}


def seed_everything(seed: int, *, deterministic: bool = False) -> int:
    """Seed Python's ``random``, numpy's global generator and torch (CPU and CUDA).

    ``seed``: an integer in ``[0, 2**32)`` (numpy's limit). ``deterministic``: also call
    ``torch.use_deterministic_algorithms(True)``. The seed is remembered and reported as
    the ``seed.python``, ``seed.numpy`` and ``seed.torch`` parameters of every later run.
    Returns ``seed``. Raises ``ValueError`` for a seed numpy rejects.
    """
    seed = int(seed)
    np.random.seed(seed)  # raises ValueError outside [0, 2**32)
    random.seed(seed)
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True)
    with _lock:
        _recorded.update({"python": seed, "numpy": seed, "torch": seed})
    return seed


def record_seed(kind: str, seed: int) -> None:
    """Remember a seed set by other means (``kind``: ``python``, ``numpy``, ``torch``, ...)."""
    with _lock:
        _recorded[kind] = int(seed)


def recorded_seeds() -> dict[str, int]:
    """Return the seeds recorded by :func:`seed_everything` / :func:`record_seed`."""
    with _lock:
        return dict(_recorded)


def _state_digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def seed_parameters() -> dict[str, str]:
    """Return the run parameters describing the RNGs, read without changing any state.

    Keys: ``seed.<kind>`` for each recorded seed; ``seed.torch_initial`` =
    ``torch.initial_seed()``; ``rng.numpy_state`` and ``rng.python_state``: the first 16 hex
    digits of a SHA-256 of the generator state (equal states give equal values, which shows
    two runs started from the same generator state even without a recorded seed).
    """
    params = {f"seed.{k}": str(v) for k, v in recorded_seeds().items()}
    params["seed.torch_initial"] = str(torch.initial_seed())
    _, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)
    params["rng.numpy_state"] = _state_digest(
        np.asarray(keys).tobytes() + f"|{pos}|{has_gauss}|{cached}".encode()
    )
    params["rng.python_state"] = _state_digest(repr(random.getstate()).encode())
    return params
