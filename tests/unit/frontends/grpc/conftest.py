"""A GrpcFrontend on port 0 over a FakeServer, on its own event loop in a thread, so the
blocking ``tritonclient.grpc`` client and the ``tritonclient.grpc.aio`` client (on the
test's loop) can both drive it."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1]))  # fake_core, shared by the fakes

from grpc_fake_server import FakeServer, RunningFrontend, serving

from tritonlite.frontends.grpc.server import GrpcFrontend


@pytest.fixture(params=["native", "aio", "threaded"])
def grpc_frontend(request: pytest.FixtureRequest) -> Iterator[RunningFrontend]:
    """The frontend on a fake core, in each server shape (``--grpc-server``)."""
    fake = FakeServer()
    frontend = GrpcFrontend(fake, address="127.0.0.1", port=0, health_watch_interval=0.05,
                            shape=request.param)
    with serving(fake, frontend) as running:
        yield running
