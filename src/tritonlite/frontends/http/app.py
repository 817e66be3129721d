"""The HTTP/REST frontend's application: routing, and body I/O as a raw ASGI app.

Routes are Triton's (``HTTPAPIServer::Handle``), matched in its order on the request
path: ``/v2/models/stats``, ``/v2/logging``, the model routes
``/v2/models/<m>[/versions/<v>][/infer|/generate|/generate_stream|/ready|/config|/stats|
/trace/setting]``, ``/v2``, ``/v2/health/(live|ready)``, the shared-memory and repository
routes, ``/v2/trace/setting``; anything else is 404 ``{"error":"Not Found"}``. Each
handler checks the method itself (405 ``Method Not Allowed``), as Triton does.

The body is read whole before a handler runs (HTTP/1.1 inference is request/response),
bounded by ``--http-max-input-size``: a declared ``Content-Length`` over the limit is
refused before a byte is read, a chunked body as soon as it passes the limit (and the
connection is closed). Replies are written as their parts come (JSON header, then the
tensor bytes as they are, no join); ``generate_stream`` replies are chunked.

No framework sits between the transport and this app: measured on one core, a routing
framework would add more than the whole app costs per request (see ``server.py``). The
native transport (``native.py``) reads the request itself and calls :meth:`HttpApp.handle`;
the ASGI entry point below is what uvicorn (``--http-server uvicorn``) calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any

from tritonlite.frontends.http.codec import max_size_error
from tritonlite.frontends.http.errors import NOT_FOUND, error_body
from tritonlite.frontends.http.handlers import (
    INTERNAL_TEXT,
    Handlers,
    HttpRequest,
    Reply,
    message_reply,
)

__all__ = ["HttpApp", "read_headers"]

logger = logging.getLogger(__name__)

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

_MODEL = re.compile(
    r"/v2/models/([^/]+)(?:/versions/([0-9]+))?"
    r"(?:/(infer|generate|generate_stream|ready|config|stats|trace/setting))?"
)
_SERVER = re.compile(r"/v2(?:/health/(live|ready))?")
_SYSTEM_SHM = re.compile(r"/v2/systemsharedmemory(?:/region/([^/]+))?/(status|register|unregister)")
_CUDA_SHM = re.compile(r"/v2/cudasharedmemory(?:/region/([^/]+))?/(status|register|unregister)")
_REPOSITORY = re.compile(r"/v2/repository(?:/([^/]+))?/(index|models/([^/]+)/(load|unload))")

_JOIN_LIMIT = 64 * 1024  # smaller replies are joined and written at once
WATCH_AFTER_S = 0.05  # requests running longer than this watch for a disconnect

# The headers a handler reads; others are kept only when headers are forwarded.
_WANTED = frozenset(
    (
        b"content-length",
        b"content-encoding",
        b"accept-encoding",
        b"inference-header-content-length",
    )
)


def read_headers(pairs: Iterable[tuple[bytes, bytes]], *,
                 keep_all: bool) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """The headers a handler reads (lower-case names, the last of a repeated one) and,
    when ``keep_all`` (headers are forwarded), every header in order."""
    headers: dict[str, str] = {}
    raw_headers: list[tuple[str, str]] = []
    for name, value in pairs:
        if name in _WANTED:
            headers[name.decode("latin-1")] = value.decode("latin-1")
        if keep_all:
            raw_headers.append((name.decode("latin-1"), value.decode("latin-1")))
    return headers, raw_headers


class HttpApp:
    """ASGI 3 application over :class:`Handlers`."""

    def __init__(self, handlers: Handlers, *, max_input_size: int) -> None:
        self.handlers = handlers
        self.max_input_size = max_input_size

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # lifespan is off; websockets are not served
            return
        headers, raw_headers = read_headers(
            scope["headers"], keep_all=self.handlers.header_forward_pattern is not None)
        body = await self._read_body(headers, receive, send)
        if body is None:
            return
        request = HttpRequest(scope["method"], headers, body, raw_headers)
        watch = _DisconnectWatch(receive)
        try:
            reply = await self.handle(scope["path"], request)
        except asyncio.CancelledError:
            if watch.fired:  # the client went away: the core has cancelled the request
                return
            raise
        finally:
            watch.close()
        await self._send(send, reply, receive)

    async def handle(self, path: str, request: HttpRequest) -> Reply:
        """The reply to one whole request (both transports call this): :meth:`route`,
        with an unexpected error logged and answered 500 instead of dropping the
        connection."""
        try:
            return await self.route(path, request)
        except Exception:
            logger.exception("unexpected error handling %s %s", request.method, path)
            return message_reply(500, INTERNAL_TEXT)

    def handle_now(self, path: str, request: HttpRequest,
                   done: Callable[[Reply], None]) -> Callable[[], None] | bool | None:
        """The callback form of :meth:`handle`, for a transport that can take a reply
        from a callback: an inference request that needs no awaiting (the hot path) is
        started at once and its reply goes to ``done``; returns the cancel function of
        the request in flight, or None once ``done`` has been called. Any other request
        gets False: use :meth:`handle`."""
        if not path.endswith("/infer"):
            return False
        match = _MODEL.fullmatch(path)
        if match is None or match.group(3) != "infer" or not self.handlers.can_infer_now(request):
            return False
        answered = False

        def reply(answer: Reply) -> None:
            nonlocal answered
            answered = True
            done(answer)

        try:
            return self.handlers.infer_now(request, match.group(1), match.group(2) or "",
                                           reply)
        except Exception:
            logger.exception("unexpected error handling %s %s", request.method, path)
            if answered:
                return None
            done(message_reply(500, INTERNAL_TEXT))
            return None

    def declared_over_limit(self, declared: str | bytes | None) -> int | None:
        """The ``Content-Length`` value ``declared`` as a number, if it is over
        ``--http-max-input-size`` (both transports check it before reading the body)."""
        if (declared is not None and declared.isascii() and declared.isdigit()
                and int(declared) > self.max_input_size):
            return int(declared)
        return None

    def too_large(self, size: int) -> Reply:
        """The refusal of a body of ``size`` bytes over ``--http-max-input-size``; the
        connection closes after it (the rest of the body is never read)."""
        error = max_size_error("request size", size, self.max_input_size)
        return Reply(400, [error_body(str(error))], headers=[("connection", "close")])

    async def _read_body(self, headers: dict[str, str], receive: Receive,
                         send: Send) -> bytes | None:
        limit = self.max_input_size
        declared = self.declared_over_limit(headers.get("content-length"))
        if declared is not None:
            await self._refuse(send, declared)
            return None
        message = await receive()
        body: bytes = message.get("body", b"")
        if not message.get("more_body", False):
            return body
        chunks = [body]
        size = len(body)
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await self._refuse(send, size)
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def _refuse(self, send: Send, size: int) -> None:
        await self._send(send, self.too_large(size), None)

    async def route(self, path: str, req: HttpRequest) -> Reply:
        """Dispatch ``req`` for ``path`` to its handler (Triton's matching order)."""
        h = self.handlers
        if path == "/v2/models/stats":
            return await h.model_stats(req)
        if path == "/v2/logging":
            return await h.logging(req)
        match = _MODEL.fullmatch(path)
        if match is not None:
            model, version, kind = match.group(1), match.group(2) or "", match.group(3)
            if kind == "infer":
                return await h.infer(req, model, version)
            if kind is None:
                return await h.model_metadata(req, model, version)
            if kind == "ready":
                return await h.model_ready(req, model, version)
            if kind == "generate":
                return await h.generate(req, model, version, streaming=False)
            if kind == "generate_stream":
                return await h.generate(req, model, version, streaming=True)
            if kind == "config":
                return await h.model_config(req, model, version)
            if kind == "stats":
                return await h.model_stats(req, model, version)
            if not version:  # trace/setting has no per-version form
                return await h.trace_setting(req, model)
        elif (match := _SERVER.fullmatch(path)) is not None:
            kind = match.group(1)
            return await (h.server_metadata(req) if kind is None else h.health(req, kind))
        elif (match := _SYSTEM_SHM.fullmatch(path)) is not None:
            return await h.shared_memory(req, match.group(1) or "", match.group(2), cuda=False)
        elif (match := _CUDA_SHM.fullmatch(path)) is not None:
            return await h.shared_memory(req, match.group(1) or "", match.group(2), cuda=True)
        elif (match := _REPOSITORY.fullmatch(path)) is not None:
            repository = match.group(1) or ""
            if match.group(2) == "index":
                return await h.repository_index(req, repository)
            return await h.repository_control(req, repository, match.group(3), match.group(4))
        elif path == "/v2/trace/setting":
            return await h.trace_setting(req)
        return message_reply(404, NOT_FOUND)

    @staticmethod
    async def _send(send: Send, reply: Reply, receive: Receive | None) -> None:
        headers = [(b"content-type", reply.content_type.encode("latin-1"))]
        for name, value in reply.headers:
            headers.append((name.encode("latin-1"), value.encode("latin-1")))
        if reply.stream is not None:
            await send({"type": "http.response.start", "status": reply.status,
                        "headers": headers})
            if await _stream(send, reply.stream, receive):
                await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        parts = [p if isinstance(p, bytes) else memoryview(p).cast("B") for p in reply.body]
        size = sum(len(p) for p in parts)
        headers.append((b"content-length", str(size).encode("latin-1")))
        await send({"type": "http.response.start", "status": reply.status, "headers": headers})
        if len(parts) <= 1 or size <= _JOIN_LIMIT:  # one write beats several small ones
            body = parts[0] if len(parts) == 1 else b"".join(parts)
            await send({"type": "http.response.body", "body": body})
            return
        last = len(parts) - 1
        for i, part in enumerate(parts):
            await send({"type": "http.response.body", "body": part, "more_body": i < last})


class _DisconnectWatch:
    """Cancels the request's task if its client disconnects while a handler runs, as
    Triton cancels a request whose connection closed (the model sees
    ``is_cancelled()``). Only requests still running after :data:`WATCH_AFTER_S` get a
    watcher task; fast ones pay for one timer."""

    __slots__ = ("_receive", "_task", "_timer", "_watcher", "fired")

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self._task = asyncio.current_task()
        self._watcher: asyncio.Task[None] | None = None
        self.fired = False
        self._timer = asyncio.get_running_loop().call_later(WATCH_AFTER_S, self._start)

    def _start(self) -> None:
        self._watcher = asyncio.ensure_future(self._watch())

    async def _watch(self) -> None:
        while (await self._receive())["type"] != "http.disconnect":
            pass
        self.fired = True
        if self._task is not None:
            self._task.cancel()

    def close(self) -> None:
        self._timer.cancel()
        if self._watcher is not None:
            self._watcher.cancel()


async def _stream(send: Send, chunks: AsyncIterator[bytes], receive: Receive | None) -> bool:
    """Write ``chunks`` as they come; stop (and close ``chunks``, which cancels the
    request in the core) if the client goes away. True if all were written."""

    async def disconnected() -> None:
        assert receive is not None
        while (await receive())["type"] != "http.disconnect":
            pass

    watcher = asyncio.ensure_future(disconnected()) if receive is not None else None
    iterator = chunks.__aiter__()
    try:
        while True:
            step = asyncio.ensure_future(anext(iterator))
            waiting: set[asyncio.Future[Any]] = {step} if watcher is None else {step, watcher}
            await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            if watcher is not None and watcher.done():
                step.cancel()
                with contextlib.suppress(BaseException):
                    await step  # let the generator take the cancel before it is closed
                return False
            try:
                chunk = step.result()
            except StopAsyncIteration:
                return True
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
    finally:
        if watcher is not None:
            watcher.cancel()
        aclose = getattr(iterator, "aclose", None)
        if aclose is not None:
            await aclose()
