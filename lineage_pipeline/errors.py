"""The project's exception hierarchy: one root, :class:`LineageError`.

Every error the project raises on purpose derives from :class:`LineageError` and answers
:meth:`LineageError.is_retryable`: ``True`` when the same call may succeed later unchanged
(a broker or graph server that is down, a timeout), ``False`` when the input or the
configuration must change first.
"""

from __future__ import annotations


class LineageError(Exception):
    """Root of every error raised by lineage-pipeline."""

    retryable: bool = False

    def is_retryable(self) -> bool:
        """Return ``True`` if repeating the same operation later may succeed."""
        return self.retryable


class ConfigError(LineageError):
    """Configuration is invalid: an unknown key, a bad value, a missing setting."""


class EventError(LineageError):
    """A lineage event is invalid (fails the model's validation)."""


class DecodeError(LineageError):
    """Bytes could not be decoded into an event.

    ``reason`` is a short, stable machine-readable code used as the DLQ reason and as a
    metric label (e.g. ``bad_magic``, ``unknown_fingerprint``, ``truncated``).
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class TransportError(LineageError):
    """An emitter transport failed to hand an event over."""

    retryable = True


class GraphError(LineageError):
    """A graph backend operation failed."""


class GraphUnavailable(GraphError):
    """The graph server cannot be reached or timed out; retry later."""

    retryable = True


class QueryError(GraphError):
    """A lineage query was asked with arguments that cannot be answered (e.g. unknown node)."""


class NotFoundError(QueryError):
    """A query named something the graph does not hold (an unknown run, dataset, version,
    job or column, or a node asked about before it was first observed); the message names
    near misses where there are any. The HTTP API answers it with 404."""


class StackError(LineageError):
    """The local stack (broker, graph, processor, sink) could not be started or stopped."""


class MissingExtraError(LineageError, ImportError):
    """A feature needs an optional dependency that is not installed.

    The plain ``pip install lineage-pipeline`` is the emitter SDK only; pandas statistics,
    SQL parsing, Spark, PyTorch, the processor and the sink come with extras. ``extra`` is
    the extra to install (``pip install 'lineage-pipeline[<extra>]'``); also an
    :class:`ImportError`, so ``except ImportError`` keeps working.
    """

    def __init__(self, extra: str, feature: str) -> None:
        super().__init__(
            f"{feature} needs the {extra!r} extra: pip install 'lineage-pipeline[{extra}]'"
        )
        self.extra = extra
        self.feature = feature
