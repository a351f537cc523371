"""The ``console`` transport: one JSON line per event on stdout or stderr."""

from __future__ import annotations

import importlib.util
import json
import sys
import threading
from typing import TextIO

from emitters.transports.base import Envelope, Transport
from lineage_pipeline.errors import MissingExtraError, TransportError
from lineage_pipeline.metrics import EMITTER_EVENTS


class ConsoleTransport(Transport):
    """Writes each event as one JSON line.

    ``stream``: ``"stdout"``, ``"stderr"`` or an open text stream; ``format``: ``native``
    (this project's event model, ``eventTime`` in epoch ms) or ``openlineage`` (RunEvent
    JSON, see :mod:`lineage_pipeline.openlineage`). Raises :class:`TransportError` when the
    stream cannot be written, :class:`~lineage_pipeline.errors.MissingExtraError` at
    construction for ``openlineage`` without the ``openlineage`` extra.
    """

    kind = "console"

    def __init__(self, stream: str | TextIO = "stderr", format: str = "native") -> None:
        if format == "openlineage" and importlib.util.find_spec("openlineage") is None:
            raise MissingExtraError("openlineage", "the console transport's openlineage format")
        self._stream = stream
        self.format = format
        self._lock = threading.Lock()

    @property
    def stream(self) -> TextIO:
        """The stream written to (resolved at each write, so redirection is honoured)."""
        if self._stream == "stdout":
            return sys.stdout
        if self._stream == "stderr":
            return sys.stderr
        assert not isinstance(self._stream, str)
        return self._stream

    def send(self, envelope: Envelope) -> None:
        """Write the event as one JSON line."""
        if self.format == "openlineage":
            from lineage_pipeline.openlineage import to_openlineage_dict

            line = json.dumps(to_openlineage_dict(envelope.event), sort_keys=True)
        else:
            line = envelope.event.model_dump_json(by_alias=True)
        try:
            with self._lock:
                stream = self.stream
                stream.write(line + "\n")
                stream.flush()
        except (OSError, ValueError) as exc:
            raise TransportError(f"cannot write lineage event to console: {exc}") from exc
        EMITTER_EVENTS.labels("delivered").inc()
