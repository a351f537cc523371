"""Dead-letter records of the sink: what could not be decoded or was refused by the graph.

The record keeps the original key and value; headers say why (the same header names as the
processor's DLQ): ``reason`` (a stable code, e.g. ``bad_magic``, ``truncated``,
``invalid_mutations``, ``graph_rejected``), ``detail``, ``source_topic``,
``source_partition``, ``source_offset``, ``dlq_time_ms``. All header values are UTF-8 text.
"""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One record for the DLQ topic: where it came from and why it cannot be written."""

    key: bytes | None
    value: bytes | None
    reason: str
    detail: str
    source_topic: str
    source_partition: int
    source_offset: int

    def headers(self, now_ms: int | None = None) -> list[tuple[str, str | bytes | None]]:
        """Return the Kafka headers of this record (``detail`` capped at 1,000 characters)."""
        now = now_ms if now_ms is not None else int(time.time() * 1000)
        return [
            ("reason", self.reason.encode()),
            ("detail", self.detail[:1000].encode()),
            ("source_topic", self.source_topic.encode()),
            ("source_partition", str(self.source_partition).encode()),
            ("source_offset", str(self.source_offset).encode()),
            ("dlq_time_ms", str(now).encode()),
        ]
