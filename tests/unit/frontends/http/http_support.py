"""Helpers shared by the HTTP frontend tests (a module of its own: test files import it
by name, which a conftest module cannot safely be)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

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


@dataclass
class RunningFrontend:
    url: str
    fake: FakeServer
    frontend: HttpFrontend
    loop: asyncio.AbstractEventLoop


