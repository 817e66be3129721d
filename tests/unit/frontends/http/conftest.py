"""Fixtures for the HTTP frontend tests: the ASGI app called directly (no sockets), and
an HttpFrontend on port 0 on its own event loop in a thread, so the blocking
``tritonclient.http`` client (and the aio one, on the test's loop) can drive it."""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from http_fake_server import FakeServer
from http_support import AsgiClient, RunningFrontend

from tritonlite.frontends.http.server import HttpFrontend


@pytest.fixture
def fake() -> FakeServer:
    return FakeServer()


@pytest.fixture
def frontend(fake: FakeServer) -> HttpFrontend:
    return HttpFrontend(fake, address="127.0.0.1", port=0, max_input_size=1 << 20)


@pytest.fixture
def client(frontend: HttpFrontend) -> AsgiClient:
    return AsgiClient(frontend.app)


@pytest.fixture
def running() -> Iterator[RunningFrontend]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="http-frontend", daemon=True)
    thread.start()
    fake_server = asyncio.run_coroutine_threadsafe(_new_fake(), loop).result(timeout=10)
    frontend = HttpFrontend(fake_server, address="127.0.0.1", port=0, max_input_size=1 << 20)
    port = asyncio.run_coroutine_threadsafe(frontend.start(), loop).result(timeout=10)
    try:
        yield RunningFrontend(f"127.0.0.1:{port}", fake_server, frontend, loop)
    finally:
        loop.call_soon_threadsafe(fake_server.release_slow.set)
        asyncio.run_coroutine_threadsafe(frontend.stop(0.5), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


async def _new_fake() -> FakeServer:
    return FakeServer()  # created on the frontend's loop (its asyncio.Event lives there)
