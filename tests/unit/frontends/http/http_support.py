"""Helpers shared by the HTTP frontend tests (a module of its own: test files import it
by name, which a conftest module cannot safely be)."""

from __future__ import annotations

import asyncio
import weakref
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


class SocketClient:
    """:class:`AsgiClient`'s ``request`` over a real connection to a started frontend
    (one connection per request), so the app tests also run through the transport."""

    def __init__(self, port: int) -> None:
        self.port = port

    async def request(self, method: str, path: str, body: bytes = b"",
                      headers: dict[str, str] | None = None,
                      chunks: list[bytes] | None = None) -> Response:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        try:
            lines = [f"{method} {path} HTTP/1.1", "Host: test"]
            lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
            if chunks is None:
                lines.append(f"Content-Length: {len(body)}")
                payload = body
            else:
                lines.append("Transfer-Encoding: chunked")
                payload = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks if c)
                payload += b"0\r\n\r\n"
            writer.write("\r\n".join(lines).encode("latin-1") + b"\r\n\r\n" + payload)
            await writer.drain()
            return await read_response(reader)
        finally:
            writer.close()


async def read_response(reader: asyncio.StreamReader) -> Response:
    """The next HTTP/1.1 response on ``reader`` (httptools parses it; bytes of the
    responses after it stay for the next call)."""
    stream = _streams.get(reader)
    if stream is None:
        stream = _streams[reader] = _ResponseStream()
    while not stream.done:
        data = await reader.read(1 << 16)
        stream.feed(data)
        if not data:
            break
    if not stream.done:
        return Response(0, {}, b"")  # the connection closed first
    return stream.done.pop(0)


class _ResponseStream:
    def __init__(self) -> None:
        import httptools

        self.parser = httptools.HttpResponseParser(self)
        self.done: list[Response] = []
        self.headers: dict[str, str] = {}
        self.chunks: list[bytes] = []

    def feed(self, data: bytes) -> None:
        self.parser.feed_data(data)  # b"": EOF ends a body delimited by the close

    def on_message_begin(self) -> None:
        self.headers, self.chunks = {}, []

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.decode().lower()] = value.decode()

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)

    def on_message_complete(self) -> None:
        self.done.append(Response(self.parser.get_status_code(), self.headers,
                                  b"".join(self.chunks), self.chunks))


_streams: weakref.WeakKeyDictionary[asyncio.StreamReader, _ResponseStream] = (
    weakref.WeakKeyDictionary())


@dataclass
class RunningFrontend:
    url: str
    fake: FakeServer
    frontend: HttpFrontend
    loop: asyncio.AbstractEventLoop


