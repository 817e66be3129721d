"""The native HTTP/1.1 transport (``frontends/http/native.py``) on raw sockets: connection
semantics the app tests (which run through it too) do not reach -- keep-alive,
pipelining, ``Expect``, limits, bad input, ``Upgrade``, disconnects, backpressure, idle
connections and stopping."""

from __future__ import annotations

import asyncio
import gzip
import json
import socket
from collections.abc import AsyncIterator

import numpy as np
import pytest
from http_fake_server import FakeServer
from http_support import Response, read_response

from tritonlite.core.errors import ErrorKind, InferenceServerError
from tritonlite.core.tensor import Tensor
from tritonlite.core.types import InferenceResponse
from tritonlite.frontends.http import native
from tritonlite.frontends.http.server import HttpFrontend

INFER = json.dumps({"inputs": [{"name": "INPUT0", "shape": [1, 4], "datatype": "FP32",
                                "data": [1, 2, 3, 4]}]}).encode()


def post(path: str, body: bytes = INFER, extra: str = "", version: str = "1.1") -> bytes:
    return (f"POST {path} HTTP/{version}\r\nHost: t\r\nContent-Length: {len(body)}\r\n"
            f"{extra}\r\n").encode() + body


def get(path: str, extra: str = "", version: str = "1.1") -> bytes:
    return f"GET {path} HTTP/{version}\r\nHost: t\r\n{extra}\r\n".encode()


Served = tuple[HttpFrontend, int]  # the started frontend and its port


@pytest.fixture
async def server(fake: FakeServer) -> AsyncIterator[Served]:
    frontend = HttpFrontend(fake, address="127.0.0.1", port=0, max_input_size=1 << 20)
    port = await frontend.start()
    try:
        yield frontend, port
    finally:
        fake.release_slow.set()
        await frontend.stop(1)


async def connect(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port)


async def behind_slow(port: int, settle: float = 0.05
                      ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A connection whose first request (to the ``slow`` model, which answers once the
    fake's ``release_slow`` is set) has been running for ``settle`` seconds."""
    reader, writer = await connect(port)
    writer.write(post("/v2/models/slow/infer"))
    await asyncio.sleep(settle)
    return reader, writer


async def closed(reader: asyncio.StreamReader) -> bool:
    """True once the server has closed its side (EOF within 2 s)."""
    return await asyncio.wait_for(reader.read(), 2) == b""


async def test_native_is_the_default_shape(fake: FakeServer) -> None:
    assert HttpFrontend(fake).shape == "native"
    with pytest.raises(ValueError, match="unknown HTTP server shape"):
        HttpFrontend(fake, shape="h3")


async def test_keep_alive_serves_many_requests_on_one_connection(server: Served) -> None:
    reader, writer = await connect(server[1])
    for _ in range(3):
        writer.write(post("/v2/models/echo/infer"))
        response = await read_response(reader)
        assert response.status == 200 and "connection" not in response.headers
        assert response.json()["outputs"][0]["data"] == [1, 2, 3, 4]
    writer.write(get("/v2/health/live", "Connection: close\r\n"))
    response = await read_response(reader)
    assert (response.status, response.headers["connection"]) == (200, "close")
    assert await closed(reader)
    writer.close()


async def test_http_1_0_closes_unless_asked_to_keep_alive(server: Served) -> None:
    reader, writer = await connect(server[1])
    writer.write(get("/v2/health/live", "Connection: keep-alive\r\n", version="1.0"))
    response = await read_response(reader)
    assert response.headers["connection"] == "keep-alive"
    writer.write(get("/v2/health/live", version="1.0"))
    response = await read_response(reader)
    assert (response.status, response.headers["connection"]) == (200, "close")
    assert await closed(reader)
    writer.close()


async def test_pipelined_requests_are_answered_in_order(server: Served,
        fake: FakeServer) -> None:
    reader, writer = await connect(server[1])
    # the slow request runs first; the two behind it wait, and are not read meanwhile
    writer.write(post("/v2/models/slow/infer") + get("/v2/models/echo/ready")
                 + post("/v2/models/echo/infer"))
    await asyncio.sleep(0.1)
    assert len(fake.requests) == 1
    for _ in range(20):  # more, one write at a time: the connection is not reading them
        writer.write(get("/v2/health/live"))
        await asyncio.sleep(0.005)
    (conn,) = server[0]._listener.connections  # type: ignore[union-attr]
    assert len(conn.queue) == 2
    fake.release_slow.set()
    first, second, third = [await read_response(reader) for _ in range(3)]
    assert first.json()["model_name"] == "slow"
    assert (second.status, second.body) == (200, b"")
    assert third.json()["model_name"] == "echo"
    for _ in range(20):
        assert (await read_response(reader)).status == 200
    writer.close()


async def test_expect_100_continue_is_answered_before_the_body(server: Served) -> None:
    reader, writer = await connect(server[1])
    writer.write(f"POST /v2/models/echo/infer HTTP/1.1\r\nHost: t\r\n"
                 f"Content-Length: {len(INFER)}\r\nExpect: 100-continue\r\n\r\n".encode())
    interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 2)
    assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
    writer.write(INFER)
    assert (await read_response(reader)).status == 200
    writer.close()


async def test_declared_body_over_the_limit_is_refused_and_the_reply_arrives(
        server: Served) -> None:
    reader, writer = await connect(server[1])
    body = b"x" * ((1 << 20) + 1)
    writer.write(post("/v2/models/echo/infer", body))
    await writer.drain()  # the server keeps reading (and dropping): no reset
    response = await read_response(reader)
    assert response.status == 400
    assert response.json()["error"].startswith("request size of 1048577 bytes exceeds")
    assert response.headers["connection"] == "close"
    writer.close()


async def test_chunked_body_over_the_limit_is_refused(server: Served,
        fake: FakeServer) -> None:
    reader, writer = await connect(server[1])
    writer.write(b"POST /v2/models/echo/infer HTTP/1.1\r\nHost: t\r\n"
                 b"Transfer-Encoding: chunked\r\n\r\n")
    for _ in range(3):
        writer.write(b"%x\r\n%s\r\n" % (600 << 10, b"x" * (600 << 10)))
    writer.write(b"0\r\n\r\n" + get("/v2/health/live"))  # never answered: after a refusal
    await writer.drain()
    response = await read_response(reader)
    assert response.status == 400 and "exceeds" in response.json()["error"]
    assert await closed(reader)
    assert fake.requests == []
    writer.close()


@pytest.mark.parametrize("garbage", [
    b"GARBAGE\r\n\r\n",
    b"GET / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
    b"POST /v2 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
])
async def test_unparseable_requests_get_400_and_a_close(server: Served,
                                                        garbage: bytes) -> None:
    reader, writer = await connect(server[1])
    writer.write(garbage)
    response = await read_response(reader)
    assert (response.status, response.body) == (400, b"Invalid HTTP request received.")
    assert response.headers["connection"] == "close"
    assert await closed(reader)
    writer.close()


async def test_an_oversized_header_block_gets_431(server: Served) -> None:
    reader, writer = await connect(server[1])
    writer.write(get("/v2/health/live", f"X-Big: {'a' * native.MAX_HEADER_BYTES}\r\n"))
    response = await read_response(reader)
    assert response.status == 431
    assert await closed(reader)
    writer.close()


async def test_a_request_after_a_good_one_can_still_be_refused_in_order(server: Served) -> None:
    reader, writer = await connect(server[1])
    writer.write(get("/v2/health/live") + b"GARBAGE\r\n\r\n")
    assert (await read_response(reader)).status == 200
    assert (await read_response(reader)).status == 400
    writer.close()


async def test_upgrade_is_ignored_and_the_connection_stays_http(server: Served,
        fake: FakeServer) -> None:
    reader, writer = await connect(server[1])
    upgrade = ("Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
               "HTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n")
    # split so the body arrives in pieces after the upgrade stop
    message = post("/v2/models/echo/infer", extra=upgrade)
    writer.write(message[:-10])
    await asyncio.sleep(0.05)
    writer.write(message[-10:] + get("/v2/health/live", upgrade))
    first = await read_response(reader)
    assert first.status == 200 and first.json()["outputs"][0]["data"] == [1, 2, 3, 4]
    assert (await read_response(reader)).status == 200
    writer.write(post("/v2/models/echo/infer"))
    assert (await read_response(reader)).status == 200
    writer.close()


async def test_path_is_percent_decoded_and_the_query_ignored(server: Served) -> None:
    reader, writer = await connect(server[1])
    writer.write(get("/v2/models/%65cho/ready?x=1"))
    assert (await read_response(reader)).status == 200
    writer.write(get("http://t/v2/models/echo/ready"))  # absolute form
    assert (await read_response(reader)).status == 200
    writer.close()


async def test_head_gets_the_headers_only(server: Served) -> None:
    reader, writer = await connect(server[1])
    writer.write(b"HEAD /v2 HTTP/1.1\r\nHost: t\r\n\r\n")
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 2)
    assert head.startswith(b"HTTP/1.1 405 Method Not Allowed\r\n")
    assert b"content-length: " in head
    writer.write(get("/v2/health/live"))  # no HEAD body is in the way of the next reply
    assert (await asyncio.wait_for(reader.readline(), 2)) == b"HTTP/1.1 200 OK\r\n"
    writer.close()


async def test_a_client_that_goes_away_cancels_its_request(server: Served,
        fake: FakeServer) -> None:
    _, writer = await behind_slow(server[1], 0.1)
    writer.close()
    for _ in range(100):
        if fake.cancelled:
            break
        await asyncio.sleep(0.02)
    assert fake.cancelled == 1


async def test_a_stream_is_chunked_and_ends_when_the_client_goes(server: Served) -> None:
    reader, writer = await connect(server[1])
    writer.write(post("/v2/models/decoupled/generate_stream", b'{"N": 2}'))
    response = await read_response(reader)
    assert response.headers["transfer-encoding"] == "chunked"
    assert response.chunks == [
        b'data: {"OUT":%d,"model_name":"decoupled","model_version":"1"}\n\n' % i
        for i in range(2)]
    writer.write(post("/v2/models/decoupled/generate_stream", b'{"N": 100000}'))
    await reader.readuntil(b"data:")
    writer.close()
    frontend = server[0]
    listener = frontend._listener
    assert isinstance(listener, native.NativeHttpServer)
    for _ in range(100):  # the connection (and its stream task) is gone
        if len(listener.connections) == 0:
            break
        await asyncio.sleep(0.02)
    assert len(listener.connections) == 0


async def test_a_client_that_does_not_read_stops_the_next_requests(server: Served,
        fake: FakeServer) -> None:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 << 10)
    sock.connect(("127.0.0.1", server[1]))
    reader, writer = await asyncio.open_connection(sock=sock)
    await asyncio.sleep(0.05)
    (conn,) = server[0]._listener.connections  # type: ignore[union-attr]
    conn.transport.get_extra_info("socket").setsockopt(
        socket.SOL_SOCKET, socket.SO_SNDBUF, 16 << 10)
    # 20 pipelined requests, each answered with ~512 KiB of JSON: far more than the
    # socket buffers hold, so the server must stop taking requests until the client reads
    blob = json.dumps({"inputs": [{"name": "S", "shape": [1], "datatype": "BYTES",
                                   "data": ["b" * (512 << 10)]}]}).encode()
    for _ in range(20):
        writer.write(post("/v2/models/echo/infer", blob))
    await asyncio.sleep(0.3)
    served_while_blocked = len(fake.requests)
    assert served_while_blocked < 20
    responses: list[Response] = [await read_response(reader) for _ in range(20)]
    assert all(r.status == 200 for r in responses) and len(fake.requests) == 20
    writer.close()


async def test_idle_connections_are_closed(server: Served,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    frontend, port = server
    listener = frontend._listener
    assert isinstance(listener, native.NativeHttpServer)
    monkeypatch.setattr(native, "KEEP_ALIVE_S", 0.05)
    reader, writer = await connect(port)
    writer.write(get("/v2/health/live"))
    await read_response(reader)
    await asyncio.sleep(0.1)
    listener._sweep()
    assert await closed(reader)
    writer.close()


async def test_stop_closes_idle_connections_and_lets_running_requests_finish(
        fake: FakeServer) -> None:
    frontend = HttpFrontend(fake, address="127.0.0.1", port=0)
    port = await frontend.start()
    idle_reader, idle_writer = await connect(port)
    idle_writer.write(get("/v2/health/live"))
    await read_response(idle_reader)
    busy_reader, busy_writer = await behind_slow(port, 0.1)
    stopping = asyncio.ensure_future(frontend.stop(5))
    assert await closed(idle_reader)
    fake.release_slow.set()
    response = await read_response(busy_reader)
    assert response.status == 200 and response.headers["connection"] == "close"
    await asyncio.wait_for(stopping, 5)
    for w in (idle_writer, busy_writer):
        w.close()


async def test_stop_aborts_requests_that_outlast_the_grace(fake: FakeServer) -> None:
    frontend = HttpFrontend(fake, address="127.0.0.1", port=0)
    port = await frontend.start()
    reader, writer = await behind_slow(port, 0.1)
    await asyncio.wait_for(frontend.stop(0.1), 5)
    assert fake.cancelled == 1
    with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
        await reader.readexactly(1)
    writer.close()


# ---------------------------------------------------------------- review regressions


async def test_an_upgrade_with_a_body_behind_a_running_request_is_answered(
        server: Served, fake: FakeServer) -> None:
    reader, writer = await behind_slow(server[1])
    message = post("/v2/models/echo/infer", extra="Connection: Upgrade\r\nUpgrade: h2c\r\n")
    head_end = message.index(b"\r\n\r\n") + 4
    writer.write(message[:head_end])  # its body comes only after the first reply
    await asyncio.sleep(0.05)
    fake.release_slow.set()
    assert (await read_response(reader)).json()["model_name"] == "slow"
    writer.write(message[head_end:])
    second = await asyncio.wait_for(read_response(reader), 2)
    assert second.json()["outputs"][0]["data"] == [1, 2, 3, 4]
    writer.close()


async def test_many_pipelined_upgrades_are_all_answered(server: Served) -> None:
    reader, writer = await connect(server[1])
    upgrade = "Connection: Upgrade\r\nUpgrade: h2c\r\n"
    writer.write(get("/v2/health/live", upgrade) * 600)  # once recursed per request
    for _ in range(600):
        assert (await asyncio.wait_for(read_response(reader), 5)).status == 200
    writer.close()


async def test_an_upgrade_with_a_chunked_body_gets_one_400(server: Served,
                                                           fake: FakeServer) -> None:
    reader, writer = await connect(server[1])
    writer.write(b"POST /v2/models/echo/infer HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\n"
                 b"Upgrade: h2c\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
    response = await read_response(reader)
    assert response.status == 400
    assert await closed(reader)
    assert fake.requests == []
    writer.close()


async def test_a_stream_that_fails_half_way_closes_the_connection(fake: FakeServer) -> None:
    class FailingStream(FakeServer):
        async def infer_stream(self, request):  # type: ignore[no-untyped-def,override]
            if request.model_name != "decoupled":
                async for response in super().infer_stream(request):
                    yield response
                return
            yield InferenceResponse("decoupled", "1", outputs=[
                Tensor.from_numpy("OUT", np.array([0], dtype=np.int32))], final=False)
            raise InferenceServerError(ErrorKind.UNAVAILABLE, "model unloaded mid-stream")

    frontend = HttpFrontend(FailingStream(), address="127.0.0.1", port=0)
    port = await frontend.start()
    errors: list[object] = []
    asyncio.get_running_loop().set_exception_handler(lambda loop, ctx: errors.append(ctx))
    try:
        reader, writer = await connect(port)
        writer.write(post("/v2/models/decoupled/generate_stream", b'{"N": 3}')
                     + get("/v2/health/live"))
        received = await asyncio.wait_for(reader.read(), 2)  # ends: the connection closed
        assert received.startswith(b"HTTP/1.1 200 OK") and b"0\r\n\r\n" not in received
        assert errors == []
        writer.close()
    finally:
        await frontend.stop(1)


async def test_a_header_line_that_never_ends_is_refused(server: Served) -> None:
    reader, writer = await connect(server[1])
    writer.write(b"GET /v2 HTTP/1.1\r\nX-Big: ")
    for _ in range(64):  # 4 MiB, no CRLF: httptools would hold all of it
        writer.write(b"a" * (64 << 10))
        await writer.drain()
        if reader.at_eof() or len(reader._buffer):  # type: ignore[attr-defined]
            break
    response = await asyncio.wait_for(read_response(reader), 2)
    assert response.status == 431
    writer.close()


async def test_idle_time_counts_from_the_last_reply(server: Served, fake: FakeServer,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    frontend, port = server
    monkeypatch.setattr(native, "KEEP_ALIVE_S", 0.2)
    reader, writer = await behind_slow(port, 0.3)  # the request runs longer than the idle limit
    fake.release_slow.set()
    assert (await read_response(reader)).status == 200
    frontend._listener._sweep()  # type: ignore[union-attr]
    writer.write(get("/v2/health/live"))  # the pooled connection is reused at once
    assert (await asyncio.wait_for(read_response(reader), 2)).status == 200
    writer.close()


async def test_100_continue_waits_for_the_earlier_reply_and_not_for_http_1_0(
        server: Served, fake: FakeServer) -> None:
    reader, writer = await behind_slow(server[1])
    head = (f"POST /v2/models/echo/infer HTTP/1.1\r\nHost: t\r\nContent-Length: {len(INFER)}"
            f"\r\nExpect: 100-continue\r\n\r\n").encode()
    writer.write(head)
    await asyncio.sleep(0.05)
    assert reader._buffer == b""  # type: ignore[attr-defined]  # no 100 ahead of slow's reply
    fake.release_slow.set()
    assert (await read_response(reader)).json()["model_name"] == "slow"
    assert (await asyncio.wait_for(read_response(reader), 2)).status == 100
    writer.write(INFER)
    assert (await read_response(reader)).status == 200
    writer.close()
    reader, writer = await connect(server[1])
    writer.write(post("/v2/models/echo/infer", INFER, "Expect: 100-continue\r\n", "1.0"))
    old = await read_response(reader)  # HTTP/1.0 knows no 1xx: just the answer
    assert old.status == 200
    writer.close()


async def test_http_1_0_gets_an_unframed_stream_and_its_own_keep_alive(
        server: Served) -> None:
    reader, writer = await connect(server[1])
    writer.write(get("/v2/health/live") + get("/v2/health/live", "Connection: keep-alive\r\n",
                                              version="1.0"))
    assert "connection" not in (await read_response(reader)).headers
    assert (await read_response(reader)).headers["connection"] == "keep-alive"
    writer.write(post("/v2/models/decoupled/generate_stream", b'{"N": 2}', version="1.0"))
    raw = await asyncio.wait_for(reader.read(), 2)  # the close ends the body
    head, _, body = raw.partition(b"\r\n\r\n")
    assert b"transfer-encoding" not in head and b"connection: close" in head
    assert body == b"".join(
        b'data: {"OUT":%d,"model_name":"decoupled","model_version":"1"}\n\n' % i
        for i in range(2))
    writer.close()


async def test_a_refused_connection_is_released_when_the_client_closes(
        server: Served) -> None:
    reader, writer = await connect(server[1])
    writer.write(b"GARBAGE\r\n\r\n")
    assert (await read_response(reader)).status == 400
    (conn,) = server[0]._listener.connections  # type: ignore[union-attr]
    timer = conn._linger_timer
    assert timer is not None and not timer.cancelled()
    writer.close()
    for _ in range(100):
        if timer.cancelled():
            break
        await asyncio.sleep(0.01)
    assert timer.cancelled() and not server[0]._listener.connections  # type: ignore[union-attr]


async def test_stop_lets_a_half_received_request_finish(fake: FakeServer) -> None:
    frontend = HttpFrontend(fake, address="127.0.0.1", port=0)
    port = await frontend.start()
    reader, writer = await connect(port)
    message = post("/v2/models/echo/infer")
    writer.write(message[:-5])
    await asyncio.sleep(0.05)
    stopping = asyncio.ensure_future(frontend.stop(5))
    await asyncio.sleep(0.05)
    writer.write(message[-5:])
    response = await asyncio.wait_for(read_response(reader), 2)
    assert response.status == 200 and response.headers["connection"] == "close"
    await asyncio.wait_for(stopping, 5)
    writer.close()


# ------------------------------------------------------------ the callback (hot) path


async def test_inference_is_answered_from_the_core_callback(server: Served,
                                                            fake: FakeServer) -> None:
    reader, writer = await connect(server[1])
    writer.write(post("/v2/models/echo/infer") * 3)  # pipelined: each in turn, in order
    for _ in range(3):
        assert (await read_response(reader)).json()["outputs"][0]["data"] == [1, 2, 3, 4]
    assert fake.submitted == 3
    (conn,) = server[0]._listener.connections  # type: ignore[union-attr]
    assert conn.task is None and conn.inflight is None
    # a reply to compress needs awaiting: the task path, same answer
    writer.write(post("/v2/models/echo/infer", extra="Accept-Encoding: gzip\r\n"))
    zipped = await read_response(reader)
    assert zipped.headers["content-encoding"] == "gzip" and fake.submitted == 3
    assert json.loads(gzip.decompress(zipped.body))["model_name"] == "echo"
    writer.write(post("/v2/models/nope/infer") + post("/v2/models/decoupled/infer"))
    assert (await read_response(reader)).status == 404  # fails before the core: at once
    assert (await read_response(reader)).status == 501  # decoupled: refused by submit
    writer.close()


async def test_an_unexpected_error_in_the_callback_path_is_a_500(
        server: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    from tritonlite.frontends.http import handlers

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("encoder bug")

    monkeypatch.setattr(handlers, "encode_infer_response", broken)
    reader, writer = await connect(server[1])
    writer.write(post("/v2/models/echo/infer"))
    response = await read_response(reader)
    assert (response.status, response.json()["error"]) == (500, handlers.INTERNAL_TEXT)
    monkeypatch.undo()
    writer.write(post("/v2/models/echo/infer"))  # the connection carries on
    assert (await read_response(reader)).status == 200
    writer.close()


async def test_nothing_is_answered_after_connection_close(server: Served,
                                                          fake: FakeServer) -> None:
    for first_model, status in (("echo", 200), ("nope", 404)):  # 404: answered at once
        reader, writer = await connect(server[1])
        writer.write(post(f"/v2/models/{first_model}/infer", extra="Connection: close\r\n")
                     + post("/v2/models/echo/infer") + get("/v2/health/live"))
        first = await read_response(reader)
        assert first.status == status and first.headers["connection"] == "close"
        assert await closed(reader)
        writer.close()
    assert fake.submitted == 1  # the echo before its close; nothing behind either


async def test_connections_have_nagle_off(server: Served) -> None:
    """asyncio's own loop (this test's) sets TCP_NODELAY only on sockets that say they
    are TCP; the listening socket does, so every accepted one does too."""
    _, writer = await connect(server[1])
    await asyncio.sleep(0.05)
    (conn,) = server[0]._listener.connections  # type: ignore[union-attr]
    sock = conn.transport.get_extra_info("socket")  # type: ignore[union-attr]
    assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
    writer.close()


# ------------------------------------------- second review: replies given at once + close


UNKNOWN = "/v2/models/nope/infer"  # refused before the core: its reply comes at once


def escaping_sinks(fake: FakeServer) -> list[BaseException]:
    """Exceptions that escape from a response callback into the (fake) core."""
    escaped: list[BaseException] = []
    submit = fake.submit

    def tracked(request, sink):  # type: ignore[no-untyped-def]
        def wrapped(response):  # type: ignore[no-untyped-def]
            try:
                sink(response)
            except BaseException as exc:
                escaped.append(exc)
                raise
        return submit(request, wrapped)

    fake.submit = tracked  # type: ignore[method-assign]
    return escaped


def loop_errors() -> list[dict[str, object]]:
    errors: list[dict[str, object]] = []
    asyncio.get_running_loop().set_exception_handler(lambda loop, ctx: errors.append(ctx))
    return errors


async def test_a_closing_reply_given_at_once_behind_a_callback_request(
        server: Served, fake: FakeServer) -> None:
    escaped, errors = escaping_sinks(fake), loop_errors()
    reader, writer = await connect(server[1])
    writer.write(post("/v2/models/slow/infer") + post(UNKNOWN, version="1.0"))
    await asyncio.sleep(0.1)
    fake.release_slow.set()
    assert (await read_response(reader)).status == 200
    assert (await asyncio.wait_for(read_response(reader), 2)).status == 404
    assert await closed(reader)
    await asyncio.sleep(0.05)
    assert escaped == [] and errors == []
    writer.close()


async def test_a_closing_reply_given_at_once_behind_a_task_request(server: Served) -> None:
    errors = loop_errors()
    reader, writer = await connect(server[1])
    writer.write(get("/v2/models/echo/config") + post(UNKNOWN, extra="Connection: close\r\n"))
    assert (await read_response(reader)).status == 200
    assert (await asyncio.wait_for(read_response(reader), 2)).status == 404
    assert await closed(reader)
    await asyncio.sleep(0.05)
    assert errors == []
    writer.close()


async def test_a_closing_upgrade_answered_at_once(server: Served) -> None:
    errors = loop_errors()
    reader, writer = await connect(server[1])
    writer.write(b"POST /v2/models/nope/infer HTTP/1.1\r\nHost: t\r\n"
                 b"Connection: Upgrade, close\r\nUpgrade: h2c\r\nContent-Length: 0\r\n\r\n")
    data = await asyncio.wait_for(reader.read(), 2)
    assert data.startswith(b"HTTP/1.1 404 ")
    assert errors == []
    writer.close()


async def test_a_lost_connection_forgets_its_request(server: Served, fake: FakeServer) -> None:
    _, writer = await behind_slow(server[1])
    (conn,) = server[0]._listener.connections  # type: ignore[union-attr]
    assert conn.inflight is not None
    writer.close()
    for _ in range(100):
        if fake.cancelled:
            break
        await asyncio.sleep(0.01)
    assert fake.cancelled == 1 and conn.inflight is None
