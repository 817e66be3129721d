"""A GrpcFrontend on port 0 over a FakeServer, on its own event loop in a thread, so the
blocking ``tritonclient.grpc`` client and the ``tritonclient.grpc.aio`` client (on the
test's loop) can both drive it."""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from grpc_fake_server import FakeServer, RunningFrontend

from tritonlite.frontends.grpc.server import GrpcFrontend


@pytest.fixture(params=["native", "aio", "threaded"])
def grpc_frontend(request: pytest.FixtureRequest) -> Iterator[RunningFrontend]:
    """The frontend on a fake core, in each server shape (``--grpc-server``)."""
    fake = FakeServer()
    frontend = GrpcFrontend(fake, address="127.0.0.1", port=0, health_watch_interval=0.05,
                            shape=request.param)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="grpc-frontend", daemon=True)
    thread.start()
    port = asyncio.run_coroutine_threadsafe(frontend.start(), loop).result(timeout=10)
    try:
        yield RunningFrontend(f"127.0.0.1:{port}", fake, frontend, loop)
    finally:
        fake.release_slow.set()
        asyncio.run_coroutine_threadsafe(frontend.stop(0.5), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
