"""The HTTP/REST endpoint on tritonlite's own HTTP/1.1 connection protocol, on the loop.

``--http-server native`` (what ``auto`` picks). The parsing is httptools' (llhttp, the
parser uvicorn uses); this module is the connection around it, and it hands each whole
request to the app directly, with no ASGI messages in between. Measured pinned to one
core (``bench/``), uvicorn's protocol and the ASGI hand-off cost more per small inference
request than the app's decode, core call and encode together.

The hot path has no task: an inference request that needs no awaiting (no compressed
body or reply) goes through :meth:`HttpApp.handle_now` straight to ``ServerApi.submit``,
and its reply is written from the core's response callback (A/B in three runs: 0.96x to
1.14x small requests one at a time, 0.97x to 1.05x at eight; ``bench/README.md``).
Every other request is answered by a task running :meth:`HttpApp.handle`.

What a connection does (RFC 9112):

* Keep-alive: HTTP/1.1 unless ``Connection: close``; HTTP/1.0 only on request. A
  connection idle for :data:`KEEP_ALIVE_S` (since its last reply or its last input) is
  closed, as uvicorn did.
* Pipelining: requests are answered in order, one at a time; while one runs and another
  is already parsed, the connection stops reading, so a client cannot queue without limit.
* Bodies: ``Content-Length`` or chunked, bounded by ``--http-max-input-size``. A declared
  size over the limit is refused before a byte of the body is kept; a chunked body as
  soon as it passes the limit. After a refusal (and after a request that cannot be
  parsed) the connection ends with a lingering close, so the client reads the reply.
  ``Expect: 100-continue`` is answered as soon as the request is next in line (curl
  waits a second for it otherwise; HTTP/1.0 clients get none).
* The header block is bounded (:data:`MAX_HEADER_BYTES`: 431, then close), a header
  line that never ends included. A request
  httptools cannot parse gets 400 ``Invalid HTTP request received.`` and the connection
  closes. ``Upgrade`` is ignored (RFC 9110 7.8): the request is served as HTTP/1.1.
* Replies go out as their parts come (JSON header, then tensor bytes as they are);
  ``generate_stream`` replies are chunked (to an HTTP/1.0 client: unframed, ended by the
  close), and a stream that fails half-way closes the connection, since its reply can
  no longer be ended properly. When the client does not read (the
  transport's buffer passes its high-water mark), no further request is started and a
  stream waits before its next event.
* A client that disconnects cancels its running request (the model sees
  ``request.is_cancelled()``), as Triton does. Like Triton (and uvicorn), the end of a
  client's input counts as a disconnect: a half-close cannot be told from a close.
* ``stop(grace)`` closes the listener and idle connections at once, lets requests in
  flight (and requests half received) finish for ``grace`` seconds (their connections
  close after the reply), then aborts the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import urllib.parse
from collections import deque
from collections.abc import Callable
from http import HTTPStatus
from typing import NamedTuple

import httptools

from tritonlite.frontends.common.sockets import KEEP_ALIVE_S, serve_on
from tritonlite.frontends.http.app import HttpApp, read_headers
from tritonlite.frontends.http.handlers import TEXT, HttpRequest, Reply

__all__ = ["KEEP_ALIVE_S", "MAX_HEADER_BYTES", "HttpConnection", "NativeHttpServer"]

logger = logging.getLogger(__name__)

#: Largest request line plus header block; a larger one is refused with 431.
MAX_HEADER_BYTES = 64 * 1024
#: Replies up to this size are joined and written in one call.
JOIN_LIMIT = 64 * 1024
#: How often idle connections are looked for.
SWEEP_S = 10.0
#: After a refusal, how long input is still read (and dropped) before the close.
LINGER_S = 5.0

_REASONS = {int(s): s.phrase.encode("latin-1") for s in HTTPStatus}
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_TOO_LARGE = Reply(431, [b"Request Header Fields Too Large"], TEXT)
_INVALID = "Invalid HTTP request received."

def _path(url: bytes) -> str:
    """The request target's path, percent-decoded as uvicorn does (query dropped)."""
    if not url.startswith(b"/"):  # absolute-form (a proxy's request) or "*"
        try:
            url = httptools.parse_url(url).path or b"/"
        except httptools.HttpParserInvalidURLError:
            return ""
    path = url.partition(b"?")[0]
    text = path.decode("ascii") if path.isascii() else path.decode("utf-8", "replace")
    return urllib.parse.unquote(text) if "%" in text else text


_FIRST_LINES: dict[tuple[int, str], bytes] = {}  # status line + content-type, by both


def _head(status: int, reply: Reply, length: int | None, keep_alive: bool | None) -> bytes:
    """Status line and headers. ``length`` None: a chunked body. ``keep_alive`` None:
    HTTP/1.1's default; True: an HTTP/1.0 client asked for it; False: closing."""
    first = _FIRST_LINES.get((status, reply.content_type))
    if first is None:
        first = b"HTTP/1.1 %d %s\r\ncontent-type: %s\r\n" % (
            status, _REASONS.get(status, b""), reply.content_type.encode("latin-1"))
        if len(_FIRST_LINES) < 256:  # a handful of statuses and types in practice
            _FIRST_LINES[(status, reply.content_type)] = first
    lines = [first]
    close_said = False
    for name, value in reply.headers:
        lowered = name.lower()
        if lowered == "connection":
            close_said = True
        lines.append(b"%s: %s\r\n" % (lowered.encode("latin-1"), value.encode("latin-1")))
    if length is None:
        lines.append(b"transfer-encoding: chunked\r\n")
    elif length >= 0:  # -1: a body ended by the close (a stream to an HTTP/1.0 client)
        lines.append(b"content-length: %d\r\n" % length)
    if keep_alive is False and not close_said:
        lines.append(b"connection: close\r\n")
    elif keep_alive:
        lines.append(b"connection: keep-alive\r\n")
    lines.append(b"\r\n")
    return b"".join(lines)


class _Request(NamedTuple):
    """A whole request waiting for its turn on the connection."""

    path: str
    request: HttpRequest
    keep_alive: bool
    http10: bool  # HTTP/1.0: no chunked framing, keep-alive only when asked for


class HttpConnection(asyncio.Protocol):
    """One client connection: parse, queue, answer in order (see the module doc)."""

    def __init__(self, server: NativeHttpServer) -> None:
        self.server = server
        self.app = server.app
        self.loop = asyncio.get_running_loop()
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        # Parsed requests (and at most one final reply, a refusal) not answered yet.
        self.queue: deque[_Request | Reply] = deque()
        self.task: asyncio.Task[None] | None = None  # answering requests that need one
        self.inflight: _Request | None = None  # answered from a callback (no task)
        self._cancel: Callable[[], None] | None = None  # ... and how to cancel it
        self._advancing = False  # _advance is on the stack
        self.last_active = 0.0
        self.stopping = False  # the server is stopping: close after the current reply
        self._reading = True
        self._write_paused = False
        self._drained: asyncio.Future[None] | None = None
        self._done = False  # a final reply is queued, or the parser failed: ignore input
        self._linger_timer: asyncio.TimerHandle | None = None
        self._in_message = False  # between the first byte of a request and its end
        self._in_head = False  # ... and before the end of its header block
        self._begun = 0  # requests begun on this connection
        self._continue = False  # an Expect: 100-continue waits for its turn
        self._raw_body = -1  # after an ignored Upgrade: body bytes still to take raw
        self._raw: _Request | None = None  # ... for this request
        self._upgrade: _Request | None = None  # an Upgrade request parsed but its body
        self._reset()

    def _reset(self) -> None:
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._header_bytes = 0
        self._body: list[bytes] = []
        self._size = 0
        self._refused = False

    # ---- asyncio.Protocol -----------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.last_active = self.loop.time()
        self.server.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.server.connections.discard(self)
        self.queue.clear()
        self.parser = _CLOSED  # the parser refers back to this connection: break the cycle
        if self.task is not None and not self.task.done():
            self.task.cancel()  # the core cancels the request; a stream stops
        cancel, self._cancel, self.inflight = self._cancel, None, None
        if cancel is not None:
            cancel()
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)
        if self._linger_timer is not None:
            self._linger_timer.cancel()

    def data_received(self, data: bytes) -> None:
        self.last_active = self.loop.time()
        while data and not self._done:
            if self._raw_body >= 0:
                data = self._take_raw(data)
                continue
            head_before, begun = self._in_head, self._begun
            try:
                self.parser.feed_data(data)
            except httptools.HttpParserUpgrade as upgrade:
                data = self._ignore_upgrade(data, upgrade.args[0])
                continue
            except httptools.HttpParserError:
                self._fail(Reply(400, [_INVALID.encode()], TEXT))
                return
            if head_before and self._in_head and begun == self._begun:
                # All of ``data`` went into a header block that is still open: httptools
                # holds a header line until its end, so bound the block here too.
                self._header_bytes += len(data)
                if self._header_bytes > MAX_HEADER_BYTES:
                    self._fail(_TOO_LARGE)
            return

    def pause_writing(self) -> None:
        self._write_paused = True
        self._flow()

    def resume_writing(self) -> None:
        self._write_paused = False
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)
        self._flow()

    # ---- httptools callbacks ----------------------------------------------------------------
    def on_message_begin(self) -> None:
        if self._done:  # pipelined after a refusal: never answered, so not parsed
            raise httptools.HttpParserError("input after the connection's last reply")
        self._in_message = self._in_head = True
        self._begun += 1
        self._reset()

    def on_url(self, url: bytes) -> None:
        self._url += url
        self._header_bytes += len(url)
        if self._header_bytes > MAX_HEADER_BYTES:
            self._head_too_large()

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name.lower(), value))
        self._header_bytes += len(name) + len(value) + 4
        if self._header_bytes > MAX_HEADER_BYTES:
            self._head_too_large()

    def _head_too_large(self) -> None:
        self._fail(_TOO_LARGE)
        raise httptools.HttpParserError("header block too large")  # stop parsing

    def on_headers_complete(self) -> None:
        self._in_head = False
        expect = False
        for name, value in self._headers:
            if name == b"content-length":
                declared = self.app.declared_over_limit(value)
                if declared is not None:
                    self._refuse(declared)
                    return
            elif name == b"expect":
                expect = value.lower() == b"100-continue"
        if expect and self.parser.get_http_version() != "1.0":  # 1.0 knows no 100
            self._continue = True
            self._send_continue()

    def _send_continue(self) -> None:
        """The 100 goes out once every earlier request has its reply (RFC 9110 10.1.1:
        a 1xx belongs to the request being answered next)."""
        if (self._continue and self.idle and not self.queue
                and self.transport is not None):
            self._continue = False
            self.transport.write(_CONTINUE)

    def on_body(self, body: bytes) -> None:
        if self._refused:
            return
        self._size += len(body)
        if self._size > self.app.max_input_size:
            self._refuse(self._size)
            return
        self._body.append(body)

    def on_message_complete(self) -> None:
        self._in_message = self._in_head = self._continue = False
        if self._refused:
            return
        parser = self.parser
        item = _Request(_path(self._url), self._request(parser.get_method().decode("latin-1")),
                        parser.should_keep_alive(), parser.get_http_version() == "1.0")
        if parser.should_upgrade():  # llhttp stops here without the body: _ignore_upgrade
            self._upgrade = item
        else:
            self._queue(item)

    def _request(self, method: str) -> HttpRequest:
        headers, raw_headers = read_headers(
            self._headers, keep_all=self.app.handlers.header_forward_pattern is not None)
        body = self._body[0] if len(self._body) == 1 else b"".join(self._body)
        self._body = []
        return HttpRequest(method, headers, body, raw_headers)

    # ---- queue and replies ------------------------------------------------------------------
    @property
    def idle(self) -> bool:
        """No request of this connection is being answered."""
        return self.task is None and self.inflight is None

    def _queue(self, item: _Request | Reply) -> None:
        self.queue.append(item)
        if self.idle:
            self._advance()
        self._flow()

    def _advance(self) -> None:
        """Answer the queue's head, the connection being idle: an inference request
        that needs no awaiting is started at once and answered from its callback (no
        task, no future: the hot path); anything else is answered by a task."""
        if self._advancing:  # a reply given at once, inside the loop below
            return
        self._advancing = True
        try:
            while self.queue and self.idle and self.transport is not None:
                item = self.queue[0]
                if isinstance(item, Reply) or self._write_paused:
                    break
                # Off the queue first: the reply may come at once, and close the
                # connection (which empties the queue) before handle_now returns.
                self.queue.popleft()
                self.inflight = item
                started = self.app.handle_now(item.path, item.request, self._answered)
                if started is False:  # not for this path: back to the head, for a task
                    self.inflight = None
                    self.queue.appendleft(item)
                    break
                if self.inflight is item:  # still running
                    self._cancel = started if callable(started) else None
            if self.queue and self.idle and self.transport is not None:
                self.task = self.loop.create_task(self._serve())
        finally:
            self._advancing = False

    def _answered(self, reply: Reply) -> None:
        """The reply to the request answered from a callback."""
        item, self.inflight, self._cancel = self.inflight, None, None
        if item is None or self.transport is None:
            return
        if self._replied(item, reply) and not self._advancing:
            self._next()

    def _replied(self, item: _Request, reply: Reply) -> bool:
        """Write ``reply`` to ``item`` (a stream is the task's); True if the connection
        stays open for the next request."""
        keep_alive = item.keep_alive and not self.stopping
        self._write(reply, item.request.method, keep_alive, item.http10)
        return self._after_reply(keep_alive)

    def _after_reply(self, keep_alive: bool) -> bool:
        self.last_active = self.loop.time()
        if not keep_alive:
            self.close()
        return keep_alive

    def _next(self) -> None:
        """A reply is out: answer the next request, read again, let a waiting
        ``Expect: 100-continue`` go."""
        if self.queue:
            self._advance()
        self._flow()
        if self._continue:
            self._send_continue()

    def _flow(self) -> None:
        """Read while nothing waits behind the running request and the client takes
        what is written. (Reading on while a request runs is what notices a client
        that goes away.)"""
        want = not (self.queue or self._write_paused) or self._done
        if want != self._reading and self.transport is not None:
            self._reading = want
            if want:
                self.transport.resume_reading()
            else:
                self.transport.pause_reading()

    def _refuse(self, size: int) -> None:
        self._refused = True
        self._fail(self.app.too_large(size))

    def _fail(self, reply: Reply) -> None:
        """Queue ``reply`` as the connection's last and stop taking input."""
        if self._done:
            return
        self._done = True
        self._queue(reply)

    async def _serve(self) -> None:
        """Answer the queue's head, which :meth:`_advance` could not answer at once (a
        request that needs awaiting, a refusal, or a client not reading); the next one
        is :meth:`_advance`'s again."""
        try:
            while self._write_paused and self.transport is not None:
                await self._drain()  # the client is not reading: answer nothing more
            if not self.queue or self.transport is None:
                return
            item = self.queue.popleft()
            self._flow()
            if isinstance(item, Reply):
                self._write(item, "", False, False)
                self._linger()
                return
            reply = await self.app.handle(item.path, item.request)
            if reply.stream is None:
                self._replied(item, reply)
            else:
                keep_alive = item.keep_alive and not self.stopping
                self._after_reply(await self._write_stream(reply, item, keep_alive))
        except Exception:  # e.g. a stream that failed half-way: its reply cannot be ended
            logger.exception("HTTP connection failed; closing it")
            if self.transport is not None:
                self.transport.abort()
        finally:
            self.task = None
            if self.stopping and not self._in_message and not self.queue:
                self.close()
            elif self.transport is not None:
                self._next()

    def _write(self, reply: Reply, method: str, keep_alive: bool, http10: bool) -> None:
        transport = self.transport
        if transport is None:
            return
        parts = [p if type(p) is bytes else memoryview(p).cast("B") for p in reply.body]
        size = sum(map(len, parts))
        head = _head(reply.status, reply, size, _connection(keep_alive, http10))
        if method == "HEAD":
            transport.write(head)
        elif size <= JOIN_LIMIT:
            transport.write(head + b"".join(parts))
        else:
            transport.writelines([head, *parts])

    async def _write_stream(self, reply: Reply, item: _Request, keep_alive: bool) -> bool:
        """A chunked reply, event by event (to an HTTP/1.0 client: unframed, ended by the
        close). A client gone cancels this task, which closes the stream (and so cancels
        the request in the core). Returns whether the connection stays open."""
        assert reply.stream is not None
        stream = reply.stream
        chunked = not item.http10
        keep_alive = keep_alive and chunked
        try:
            transport = self.transport
            if transport is None:
                return False
            transport.write(_head(reply.status, reply, None if chunked else -1,
                                  _connection(keep_alive, item.http10)))
            if item.request.method == "HEAD":
                return keep_alive
            async for chunk in stream:
                if self.transport is None:
                    return False
                if chunk:
                    self.transport.write(b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked
                                         else chunk)
                if self._write_paused:
                    await self._drain()
            if self.transport is not None and chunked:
                self.transport.write(b"0\r\n\r\n")
            return keep_alive
        finally:
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                await aclose()

    async def _drain(self) -> None:
        if self.transport is None or not self._write_paused:
            return
        self._drained = self.loop.create_future()
        try:
            await self._drained
        finally:
            self._drained = None

    def close(self) -> None:
        """Close after what was written; requests read but not answered are dropped (a
        client that pipelines behind ``Connection: close`` asked for no more)."""
        self.queue.clear()
        self._done = True
        if self.transport is not None:
            self.transport.close()

    def _linger(self) -> None:
        """Close after a refusal without losing the reply: closing a socket with unread
        input resets the connection, and the client may never see the 400 it was
        sent. So the reply is followed by a FIN, and input is read and dropped until the
        client closes, or for :data:`LINGER_S` (nginx's lingering close)."""
        transport = self.transport
        if transport is None:
            return
        if transport.can_write_eof():
            transport.write_eof()
        self._flow()  # _done: read (and drop) whatever comes
        self._linger_timer = self.loop.call_later(LINGER_S, self.close)

    # ---- Upgrade ----------------------------------------------------------------------------
    def _ignore_upgrade(self, data: bytes, offset: int) -> bytes:
        """llhttp stops at an ``Upgrade`` request's header block (its body and whatever
        follows would be the new protocol). tritonlite upgrades to nothing, so the
        request is plain HTTP/1.1: its body is taken raw, and parsing resumes after it
        with a fresh parser. Returns the input still to handle."""
        self.parser = httptools.HttpRequestParser(self)
        if self._refused:
            return data[offset:]
        # llhttp completed the message without its body (on_message_complete kept it)
        item, self._upgrade = self._upgrade, None
        assert item is not None
        if any(n == b"transfer-encoding" for n, _ in self._headers):
            self._fail(Reply(400, [_INVALID.encode()], TEXT))  # chunked + Upgrade: rare
            return b""
        length = [v for n, v in self._headers if n == b"content-length"]
        declared = int(length[-1]) if length and length[-1].strip().isdigit() else 0
        if declared == 0:
            self._queue(item)
        else:
            self._raw, self._raw_body = item, declared
            self._in_message = True
            self._flow()
        return data[offset:]

    def _take_raw(self, data: bytes) -> bytes:
        need = self._raw_body
        chunk, rest = data[:need], data[need:]
        if chunk:
            self.on_body(chunk)
        self._raw_body -= len(chunk)
        if self._raw_body == 0:
            self._raw_body = -1
            self._in_message = False
            item, self._raw = self._raw, None
            if item is not None and not self._refused:
                self._queue(item._replace(request=self._request(item.request.method)))
        return rest


_CLOSED = httptools.HttpRequestParser(object())  # what a closed connection parses with


def _connection(keep_alive: bool, http10: bool) -> bool | None:
    """The ``connection`` header a reply needs: None (HTTP/1.1's default, keep-alive),
    True (``keep-alive``, to an HTTP/1.0 client that asked) or False (``close``)."""
    if not keep_alive:
        return False
    return True if http10 else None


class NativeHttpServer:
    """The listening socket and its :class:`HttpConnection` s, on the running loop."""

    def __init__(self, app: HttpApp) -> None:
        self.app = app
        self.connections: set[HttpConnection] = set()
        self._server: asyncio.AbstractServer | None = None
        self._sweeper: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def running(self) -> bool:
        return self._server is not None

    async def start(self, address: str, port: int) -> int:
        """Bind and start serving; returns the bound port."""
        if self._server is not None:
            raise RuntimeError("already started")
        loop = self._loop = asyncio.get_running_loop()

        async def listen(sock: socket.socket) -> None:
            self._server = await loop.create_server(lambda: HttpConnection(self), sock=sock)

        sock = await serve_on(address, port, listen)
        self._sweeper = loop.call_later(SWEEP_S, self._sweep)
        bound: int = sock.getsockname()[1]
        return bound

    def _sweep(self) -> None:
        """Close connections that have received nothing for KEEP_ALIVE_S and run nothing."""
        assert self._loop is not None
        now = self._loop.time()
        for conn in list(self.connections):
            if conn.idle and now - conn.last_active > KEEP_ALIVE_S:
                conn.close()  # idle, or stalled half-way through a request
        self._sweeper = self._loop.call_later(SWEEP_S, self._sweep)

    async def stop(self, grace: float | None = None) -> None:
        """Close the listener and idle connections at once; requests in flight get
        ``grace`` seconds (None: as long as they take), then their connections abort."""
        server, self._server = self._server, None
        if server is None:
            return
        if self._sweeper is not None:
            self._sweeper.cancel()
        server.close()
        loop = asyncio.get_running_loop()
        for conn in list(self.connections):
            conn.stopping = True
            if conn.idle and not conn._in_message:  # nothing to finish
                conn.close()
        deadline = None if grace is None else loop.time() + grace
        while self.connections and (deadline is None or loop.time() < deadline):
            await asyncio.sleep(0.01)
        for conn in list(self.connections):
            if conn.transport is not None:
                conn.transport.abort()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server.wait_closed(), 1)
        await asyncio.sleep(0)  # let connection_lost callbacks run

