"""Fixtures of the torch emitter tests: the real features file and an in-process client.

:class:`tests.support.recording.RecordingClient` implements the client side of the emitter
contract (``emit`` / ``flush`` / ``close``) by keeping the events in a list: it replaces only
the transport, for tests about what is captured; ``test_torch_kafka.py`` runs the same
training through the real ``LineageClient`` and the Kafka broker.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from tests.support.recording import RecordingClient
from tests.torch._mlp import write_features


@pytest.fixture(autouse=True)
def one_torch_thread() -> Iterator[None]:
    """Train on one intra-op thread: on 2 shared cores, more threads spin and run 30x slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture
def recorder() -> RecordingClient:
    return RecordingClient()


@pytest.fixture(scope="session")
def features_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_features(tmp_path_factory.mktemp("torch_data") / "features.csv")
