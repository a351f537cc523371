"""The metrics of a torch run: latest values, the per-epoch history, RUNNING events at a
bounded rate.

:class:`RunMetrics` is a part of :class:`~emitters.torch.run.TorchRun`.
"""

from __future__ import annotations

import time
from typing import Any

import torch

from emitters.run import RunContext
from emitters.torch._safe import CaptureGuard

#: Epochs kept in the ``torchEpochs`` run facet (the latest), one row of metrics each.
MAX_EPOCH_HISTORY = 200


class RunMetrics:
    """Metrics of a :class:`~emitters.torch.run.TorchRun` (a part of it, not used alone).

    Values are floats or 0-d tensors (read when an event is sent); ``steps`` (optimizer
    steps), ``epochs_completed`` and the first optimizer's ``lr`` are added to every
    RUNNING and the terminal event.
    """

    enabled: bool
    context: RunContext | None
    steps: int
    _guard: CaptureGuard
    _interval: float
    _last_running: float
    _latest: dict[str, Any]
    _epochs_done: int
    _history: list[dict[str, float]]
    _optimizers: list[torch.optim.Optimizer]
    _started: bool

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
