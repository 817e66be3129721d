"""Fixtures for the HTTP frontend tests: the ASGI app called directly (no sockets), and
an HttpFrontend on port 0 on its own event loop in a thread, so the blocking
``tritonclient.http`` client (and the aio one, on the test's loop) can drive it."""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from http_fake_server import FakeServer

from tritonlite.frontends.http.server import HttpFrontend


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes
    chunks: list[bytes] = field(default_factory=list)

    def json(self) -> Any:
        import json

        return json.loads(self.body)


class AsgiClient:
    """Calls an ASGI app in-process: one request, the whole response."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def request(self, method: str, path: str, body: bytes = b"",
                      headers: dict[str, str] | None = None,
                      chunks: list[bytes] | None = None) -> Response:
        pending = [*(chunks if chunks is not None else [body])]
        disconnected = asyncio.Event()

        async def receive() -> dict[str, Any]:
            if pending:
                data = pending.pop(0)
                return {"type": "http.request", "body": data, "more_body": bool(pending)}
            await disconnected.wait()
            return {"type": "http.disconnect"}

        messages: list[dict[str, Any]] = []

        async def send(message: dict[str, Any]) -> None:
            messages.append(message)

        raw = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
        if chunks is None:
            raw.append((b"content-length", str(len(body)).encode()))
        scope = {"type": "http", "method": method, "path": path, "headers": raw}
        await self.app(scope, receive, send)
        disconnected.set()
        start = messages[0]
        parts = [bytes(m.get("body", b"")) for m in messages[1:]]
        hdrs = {k.decode(): v.decode() for k, v in start["headers"]}
        return Response(start["status"], hdrs, b"".join(parts), parts)


@pytest.fixture
def fake() -> FakeServer:
    return FakeServer()


@pytest.fixture
def frontend(fake: FakeServer) -> HttpFrontend:
    return HttpFrontend(fake, address="127.0.0.1", port=0, max_input_size=1 << 20)


@pytest.fixture
def client(frontend: HttpFrontend) -> AsgiClient:
    return AsgiClient(frontend.app)


@dataclass
class RunningFrontend:
    url: str
    fake: FakeServer
    frontend: HttpFrontend
    loop: asyncio.AbstractEventLoop


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
