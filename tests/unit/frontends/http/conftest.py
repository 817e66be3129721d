"""Fixtures for the HTTP frontend tests.

``client`` drives the app twice: called directly as an ASGI app (what uvicorn serves),
and over a socket to the native transport on the test's loop. ``running`` is an
HttpFrontend of each shape on port 0 on its own event loop in a thread, so the blocking
``tritonclient.http`` client (and the aio one, on the test's loop) can drive it."""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1]))  # fake_core, shared by the fakes

from http_fake_server import FakeServer
from http_support import AsgiClient, RunningFrontend, SocketClient

from tritonlite.frontends.http.server import SHAPES, HttpFrontend


@pytest.fixture
def fake() -> FakeServer:
    return FakeServer()


@pytest.fixture
def frontend(fake: FakeServer) -> HttpFrontend:
    return HttpFrontend(fake, address="127.0.0.1", port=0, max_input_size=1 << 20)


@pytest.fixture(params=["asgi", "native"])
async def client(request: pytest.FixtureRequest,
                 frontend: HttpFrontend) -> AsyncIterator[AsgiClient | SocketClient]:
    if request.param == "asgi":
        yield AsgiClient(frontend.app)
        return
    port = await frontend.start()
    try:
        yield SocketClient(port)
    finally:
        await frontend.stop(1)


@pytest.fixture(params=SHAPES)
def running(request: pytest.FixtureRequest) -> Iterator[RunningFrontend]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="http-frontend", daemon=True)
    thread.start()
    fake_server = asyncio.run_coroutine_threadsafe(_new_fake(), loop).result(timeout=10)
    frontend = HttpFrontend(fake_server, address="127.0.0.1", port=0, max_input_size=1 << 20,
                            shape=request.param)
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
