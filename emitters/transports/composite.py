"""The ``composite`` transport: several transports with an explicit failure policy.

Policies (compare openlineage-python's ``continue_on_failure``/``continue_on_success``):

- ``all``: send to every child; the send fails if **any** child failed.
- ``any``: send to every child; the send fails only if **every** child failed.
- ``first_success``: try children in order and stop at the first that accepts the event;
  the send fails if none did.

A failed send raises :class:`~lineage_pipeline.errors.TransportError` naming each child's
error; the client counts it and logs it (rate-limited), never raising into the job.
Note the ``kafka`` child *accepts* an event when it is queued in the producer or spooled.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from emitters.transports.base import Envelope, Transport
from lineage_pipeline.errors import ConfigError, TransportError

POLICIES = ("all", "any", "first_success")


class CompositeTransport(Transport):
    """Fans events out to ``transports`` under ``policy`` (``all``, ``any``, ``first_success``)."""

    kind = "composite"

    def __init__(self, transports: Sequence[Transport], policy: str = "all") -> None:
        if policy not in POLICIES:
            raise ConfigError(f"composite policy {policy!r} is not one of {', '.join(POLICIES)}")
        if not transports:
            raise ConfigError("composite transport needs at least one child transport")
        self.transports = list(transports)
        self.policy = policy

    def send(self, envelope: Envelope) -> None:
        """Send per the policy; raises ``TransportError`` when the policy says it failed."""
        errors: list[str] = []
        successes = 0
        for transport in self.transports:
            try:
                transport.send(envelope)
            except Exception as exc:
                errors.append(f"{transport.kind or type(transport).__name__}: {exc}")
                continue
            successes += 1
            if self.policy == "first_success":
                return
        failed = bool(errors) if self.policy == "all" else successes == 0
        if failed:
            raise TransportError(
                f"composite ({self.policy}) send failed: " + "; ".join(errors)
            )

    def flush(self, timeout_s: float) -> int:
        """Flush every child within the shared ``timeout_s``; return the total pending."""
        deadline = time.monotonic() + timeout_s
        return sum(t.flush(max(deadline - time.monotonic(), 0.0)) for t in self.transports)

    def close(self, timeout_s: float) -> None:
        """Close every child within the shared ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        for transport in self.transports:
            try:
                transport.close(max(deadline - time.monotonic(), 0.0))
            except Exception:  # close never raises
                pass

    def after_fork(self) -> None:
        """Reset every child."""
        for transport in self.transports:
            transport.after_fork()
