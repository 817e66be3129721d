"""The native gRPC transport (``http2.py``) at the frame level, where grpcio's client never
goes: flow control both ways, split and padded frames, CONTINUATION, pings, resets,
deadlines, compression, malformed input. A raw HTTP/2 client speaks to a native
``GrpcFrontend`` over the fake core; the server must answer exactly and keep serving."""

from __future__ import annotations

import asyncio
import gc
import gzip
import socket
import struct
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field

import hpack
import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from grpc_fake_server import FakeServer, RunningFrontend, serving
from tritonclient.grpc import service_pb2

from tritonlite.frontends.grpc import http2
from tritonlite.frontends.grpc.server import GrpcFrontend

SERVICE = "/inference.GRPCInferenceService/"
DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = (
    0, 1, 3, 4, 6, 7, 8, 9)


@pytest.fixture
def native() -> Iterator[RunningFrontend]:
    fake = FakeServer()
    frontend = GrpcFrontend(fake, address="127.0.0.1", port=0, shape="native",
                            max_message_bytes=1 << 20)
    with serving(fake, frontend, grace=0.2) as running:
        yield running


def frame(ftype: int, flags: int, stream_id: int, payload: bytes = b"") -> bytes:
    return struct.pack(">I", len(payload))[1:] + bytes((ftype, flags)) + struct.pack(
        ">I", stream_id) + payload


@dataclass
class Frame:
    type: int
    flags: int
    stream: int
    payload: bytes


@dataclass
class Client:
    """A raw HTTP/2 client: sends what a test says, reads frames back."""

    sock: socket.socket
    encoder: hpack.Encoder = field(default_factory=hpack.Encoder)
    decoder: hpack.Decoder = field(default_factory=hpack.Decoder)
    buf: bytes = b""

    @classmethod
    def connect(cls, port: int, *, window: int | None = None) -> Client:
        """``window``: the client's stream window, and the connection window stays at
        the default 65535; without it both are ~1 GiB (the client never stalls)."""
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        big = 1 << 30
        settings = struct.pack(">HI", 4, big if window is None else window)
        opening = http2.PREFACE + frame(SETTINGS, 0, 0, settings)
        if window is None:
            opening += frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", big))
        sock.sendall(opening)
        return cls(sock)

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def headers_block(self, method: str, *, timeout: str | None = None,
                      content_type: str = "application/grpc", verb: str = "POST",
                      extra: tuple[tuple[str, str], ...] = ()) -> bytes:
        headers = [(":method", verb), (":scheme", "http"), (":path", SERVICE + method),
                   (":authority", "localhost"), ("content-type", content_type),
                   ("te", "trailers"), *extra]
        if timeout is not None:
            headers.append(("grpc-timeout", timeout))
        return self.encoder.encode(headers)

    def call(self, stream_id: int, method: str, message: bytes, **kw: object) -> None:
        self.send(frame(HEADERS, 0x4, stream_id, self.headers_block(method, **kw))
                  + frame(DATA, 0x1, stream_id, grpc_message(message)))

    def read_frame(self, timeout: float = 5) -> Frame:
        self.sock.settimeout(timeout)
        while len(self.buf) < 9 or len(self.buf) < 9 + int.from_bytes(self.buf[:3], "big"):
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk
        n = int.from_bytes(self.buf[:3], "big")
        f = Frame(self.buf[3], self.buf[4], int.from_bytes(self.buf[5:9], "big") & 0x7FFFFFFF,
                  self.buf[9:9 + n])
        self.buf = self.buf[9 + n:]
        return f

    def frames_until(self, stop: object, timeout: float = 5) -> list[Frame]:
        """Frames (answering nothing) until ``stop(frame)`` is true."""
        out = []
        deadline = time.monotonic() + timeout
        while True:
            f = self.read_frame(max(0.01, deadline - time.monotonic()))
            out.append(f)
            if stop(f):  # type: ignore[operator]
                return out

    def response(self, stream_id: int) -> tuple[dict[str, str], bytes, dict[str, str]]:
        """(headers, body of DATA frames, trailers) of one call (trailers-only: {})."""
        heads: list[dict[str, str]] = []
        body = b""
        for f in self.frames_until(lambda f: f.stream == stream_id and f.type == HEADERS
                                   and f.flags & 0x1):
            if f.stream != stream_id:
                continue
            if f.type == HEADERS:
                heads.append({k.decode(): v.decode()
                              for k, v in self.decoder.decode(f.payload, raw=True)})
            elif f.type == DATA:
                body += f.payload
        if len(heads) == 1:
            return heads[0], body, heads[0]
        return heads[0], body, heads[1]


def grpc_message(data: bytes, compressed: bool = False) -> bytes:
    return bytes((int(compressed),)) + len(data).to_bytes(4, "big") + data


def infer_request(model: str = "echo", n: int = 4) -> bytes:
    request = service_pb2.ModelInferRequest(model_name=model, id="r")
    tensor = request.inputs.add(name="INPUT0", datatype="FP32", shape=[1, n])
    del tensor
    request.raw_input_contents.append(np.arange(n, dtype=np.float32).tobytes())
    return request.SerializeToString()


def decode_infer(body: bytes) -> service_pb2.ModelInferResponse:
    assert body[0] == 0
    assert int.from_bytes(body[1:5], "big") == len(body) - 5
    return service_pb2.ModelInferResponse.FromString(body[5:])


# ----------------------------------------------------------------------------- basics


def test_settings_ping_and_a_unary_call(native: RunningFrontend) -> None:
    client = Client.connect(native.port)
    first = client.read_frame()
    assert first.type == SETTINGS and not first.flags & 1
    client.send(frame(SETTINGS, 1, 0) + frame(PING, 0, 0, b"12345678"))
    pong = client.frames_until(lambda f: f.type == PING)[-1]
    assert (pong.flags, pong.payload) == (1, b"12345678")
    client.call(1, "ModelInfer", infer_request())
    headers, body, trailers = client.response(1)
    assert headers[":status"] == "200" and headers["content-type"] == "application/grpc"
    assert trailers["grpc-status"] == "0"
    reply = decode_infer(body)
    assert reply.model_name == "echo" and reply.id == "r"
    assert np.frombuffer(reply.raw_output_contents[0], np.float32).tolist() == [0, 1, 2, 3]


def test_a_message_split_over_padded_frames_and_reads(native: RunningFrontend) -> None:
    client = Client.connect(native.port)
    message = grpc_message(infer_request(n=50_000))  # 200 KB: several frames
    head = frame(HEADERS, 0x4 | 0x8, 1, b"\x03" + client.headers_block("ModelInfer") + b"pad")
    frames = [head]
    for i in range(0, len(message), 7_000):
        chunk = message[i:i + 7_000]
        last = i + 7_000 >= len(message)
        frames.append(frame(DATA, 0x8 | (0x1 if last else 0), 1, b"\x02" + chunk + b"\0\0"))
    wire = b"".join(frames)
    for i in range(0, len(wire), 1_000):  # in small pieces, frame boundaries anywhere
        client.send(wire[i:i + 1_000])
    _, body, trailers = client.response(1)
    assert trailers["grpc-status"] == "0"
    out = np.frombuffer(decode_infer(body).raw_output_contents[0], np.float32)
    assert out.tolist() == list(range(50_000))


def test_headers_in_continuation_frames_and_metadata(native: RunningFrontend) -> None:
    client = Client.connect(native.port)
    block = client.headers_block("ModelInfer", extra=(("x-note", "a" * 300),))
    client.send(frame(HEADERS, 0, 1, block[:10]) + frame(CONTINUATION, 0, 1, block[10:20])
                + frame(CONTINUATION, 0x4, 1, block[20:])
                + frame(DATA, 0x1, 1, grpc_message(infer_request())))
    _, _, trailers = client.response(1)
    assert trailers["grpc-status"] == "0"


def test_many_calls_on_one_connection_interleave(native: RunningFrontend) -> None:
    client = Client.connect(native.port)
    ids = list(range(1, 41, 2))
    client.send(b"".join(frame(HEADERS, 0x4, i, client.headers_block("ModelInfer"))
                         for i in ids))
    client.send(b"".join(frame(DATA, 0x1, i, grpc_message(infer_request())) for i in ids))
    done = set()
    for f in client.frames_until(lambda f: f.type == HEADERS and f.flags & 1
                                 and done.add(f.stream) is None and len(done) == len(ids)):
        assert f.type in (SETTINGS, HEADERS, DATA, WINDOW_UPDATE)
    assert done == set(ids)


# ----------------------------------------------------------------------- flow control


def test_responses_wait_for_the_clients_window(native: RunningFrontend) -> None:
    client = Client.connect(native.port, window=1000)  # the client's stream window
    n = 100_000  # 400 KB out: more than the connection's default 65535 too
    client.call(1, "ModelInfer", infer_request(n=n))
    frames = client.frames_until(lambda f: f.type == DATA and f.stream == 1)
    body = b"".join(f.payload for f in frames if f.type == DATA)
    with pytest.raises(TimeoutError):
        client.read_frame(timeout=0.3)  # nothing more until the window opens
    assert len(body) == 1000
    client.send(frame(WINDOW_UPDATE, 0, 1, struct.pack(">I", 10_000_000)))
    with pytest.raises(TimeoutError):  # then the connection window (65535) is spent
        while True:
            f = client.read_frame(timeout=0.3)
            body += f.payload if f.type == DATA else b""
    assert len(body) == 65535
    client.send(frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", 10_000_000)))
    _, rest, trailers = client.response(1)
    assert trailers["grpc-status"] == "0"
    out = np.frombuffer(decode_infer(body + rest).raw_output_contents[0], np.float32)
    assert out.tolist() == list(range(n))


def test_a_client_without_window_updates_is_never_sent_more(native: RunningFrontend) -> None:
    client = Client.connect(native.port, window=0)
    client.call(1, "ModelInfer", infer_request())
    frames = client.frames_until(lambda f: f.type == HEADERS and f.stream == 1)
    assert not any(f.type == DATA for f in frames)
    with pytest.raises(TimeoutError):
        client.read_frame(timeout=0.3)
    client.send(frame(SETTINGS, 0, 0, struct.pack(">HI", 4, 65535)))  # window opens
    _, body, trailers = client.response(1)
    assert trailers["grpc-status"] == "0" and decode_infer(body).model_name == "echo"


def test_the_server_acknowledges_received_data(native: RunningFrontend) -> None:
    client = Client.connect(native.port)
    request = grpc_message(infer_request(n=(1 << 20) // 4 - 64))  # just under 1 MiB
    for i in range(40):  # 40 MB through one connection: more than its window
        sid = 2 * i + 1
        client.send(frame(HEADERS, 0x4, sid, client.headers_block("ModelInfer"))
                    + frame(DATA, 0x1, sid, request))
        _, _, trailers = client.response(sid)
        assert trailers["grpc-status"] == "0"


# ------------------------------------------------------------------ errors and ends


def test_unknown_method_wrong_verb_and_content_type(native: RunningFrontend) -> None:
    client = Client.connect(native.port)
    client.call(1, "NoSuchRpc", b"")
    headers, _, _ = client.response(1)
    assert (headers["grpc-status"], headers["grpc-message"]) == ("12", "Method not found!")
    client.send(frame(HEADERS, 0x5, 3, client.headers_block("ModelInfer", verb="GET")))
    assert client.response(3)[0][":status"] == "405"
    client.send(frame(HEADERS, 0x5, 5, client.headers_block("ModelInfer",
                                                           content_type="text/plain")))
    assert client.response(5)[0][":status"] == "415"
    client.call(7, "ModelInfer", b"\xff\xff\xff")  # not a protobuf message
    headers, _, _ = client.response(7)
    assert headers["grpc-status"] == "13"
    client.call(9, "ModelInfer", infer_request())  # the connection still serves
    assert client.response(9)[2]["grpc-status"] == "0"


def test_error_details_are_percent_encoded(native: RunningFrontend) -> None:
    client = Client.connect(native.port)
    client.call(1, "ModelInfer", infer_request(model="nöpe%"))
    headers, _, _ = client.response(1)
    assert headers["grpc-status"] == "5"
    assert headers["grpc-message"] == ("Request for unknown model: 'n%C3%B6pe%25' is not found")


def test_a_message_over_the_limit_is_refused(native: RunningFrontend) -> None:
    client = Client.connect(native.port)
    big = grpc_message(b"\0" * ((1 << 20) + 1))
    client.send(frame(HEADERS, 0x4, 1, client.headers_block("ModelInfer"))
                + frame(DATA, 0x1, 1, big))
    _headers, _, trailers = client.response(1)
    assert trailers["grpc-status"] == "8"
    assert trailers["grpc-message"] == "Received message larger than max (1048577 vs. 1048576)"
    client.call(3, "ModelInfer", infer_request())
    assert client.response(3)[2]["grpc-status"] == "0"


def test_client_reset_cancels_the_call_in_the_core(native: RunningFrontend) -> None:
    client = Client.connect(native.port)
    client.call(1, "ModelInfer", infer_request(model="slow"))
    deadline = time.monotonic() + 5
    while not native.fake.requests and time.monotonic() < deadline:
        time.sleep(0.01)
    client.send(frame(RST_STREAM, 0, 1, struct.pack(">I", 8)))
    while "slow" not in native.fake.stream_cancelled and time.monotonic() < deadline:
        time.sleep(0.01)
    assert native.fake.stream_cancelled == ["slow"]
    client.call(3, "ModelInfer", infer_request())
    assert client.response(3)[2]["grpc-status"] == "0"


def test_grpc_timeout_ends_the_call_and_cancels_it(native: RunningFrontend) -> None:
    client = Client.connect(native.port)
    start = time.monotonic()
    client.call(1, "ModelInfer", infer_request(model="slow"), timeout="200m")
    _, _, trailers = client.response(1)
    assert (trailers["grpc-status"], trailers["grpc-message"]) == ("4", "Deadline Exceeded")
    assert 0.15 < time.monotonic() - start < 3
    deadline = time.monotonic() + 5
    while "slow" not in native.fake.stream_cancelled and time.monotonic() < deadline:
        time.sleep(0.01)
    assert native.fake.stream_cancelled == ["slow"]


@pytest.mark.parametrize(("garbage", "error"), [
    (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 1),  # not HTTP/2: PROTOCOL_ERROR
    (frame(HEADERS, 0x5, 1, b"\xff\xff\xff\xff"), 9),  # COMPRESSION_ERROR
    (frame(HEADERS, 0x5, 2, b"\x82"), 1),  # an even stream id: PROTOCOL_ERROR
    (frame(PING, 0, 0, b"short"), 6),  # FRAME_SIZE_ERROR
    (frame(SETTINGS, 0, 0, b"\0\x05\0\0\0\x01"), 1),  # max frame size 1
    (frame(DATA, 0, 1, b"x"), 1),  # DATA on an idle stream
    (frame(WINDOW_UPDATE, 0, 0, b"\0\0\0\0"), 1),  # a zero increment
], ids=["http1", "hpack", "even-id", "ping-size", "max-frame", "idle-data", "zero-window"])
def test_a_broken_connection_is_closed_and_others_are_served(
        native: RunningFrontend, garbage: bytes, error: int) -> None:
    sock = socket.create_connection(("127.0.0.1", native.port), timeout=5)
    http1 = garbage.startswith(b"GET")
    sock.sendall(garbage if http1 else http2.PREFACE + frame(SETTINGS, 0, 0) + garbage)
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    sock.close()
    frames = []
    while len(received) >= 9:
        n = int.from_bytes(received[:3], "big")
        frames.append((received[3], received[9:9 + n]))
        received = received[9 + n:]
    goaways = [payload for ftype, payload in frames if ftype == GOAWAY]
    assert len(goaways) == 1 and int.from_bytes(goaways[0][4:8], "big") == error
    client = grpcclient.InferenceServerClient(f"127.0.0.1:{native.port}")
    try:
        assert client.is_server_live()
    finally:
        client.close()


# ---------------------------------------------------------------------- compression


@pytest.mark.parametrize("algorithm", ["gzip", "deflate"])
def test_compressed_requests_through_tritonclient(native: RunningFrontend, algorithm: str) -> None:
    client = grpcclient.InferenceServerClient(f"127.0.0.1:{native.port}")
    try:
        x = grpcclient.InferInput("INPUT0", [1, 1000], "FP32")
        data = np.arange(1000, dtype=np.float32).reshape(1, 1000)
        x.set_data_from_numpy(data)
        result = client.infer("echo", [x], compression_algorithm=algorithm)
        assert (result.as_numpy("OUTPUT0") == data).all()
    finally:
        client.close()


def test_compressed_messages_and_unknown_encodings(native: RunningFrontend) -> None:
    client = Client.connect(native.port)
    body = infer_request()
    for sid, (encoding, packed) in enumerate(
            [("gzip", gzip.compress(body)), ("deflate", zlib.compress(body))], start=0):
        stream = 2 * sid + 1
        client.send(frame(HEADERS, 0x4, stream, client.headers_block(
            "ModelInfer", extra=(("grpc-encoding", encoding),)))
            + frame(DATA, 0x1, stream, grpc_message(packed, compressed=True)))
        assert client.response(stream)[2]["grpc-status"] == "0"
    client.send(frame(HEADERS, 0x4, 5, client.headers_block(
        "ModelInfer", extra=(("grpc-encoding", "snappy"),)))
        + frame(DATA, 0x1, 5, grpc_message(b"x", compressed=True)))
    _headers, _, trailers = client.response(5)
    assert trailers["grpc-status"] == "12"
    assert trailers["grpc-message"] == "Compression algorithm 'snappy' not supported"


# ----------------------------------------------------------------------- shutdown


def test_stop_sends_goaway_and_refuses_new_streams(native: RunningFrontend) -> None:
    fake = FakeServer()
    frontend = GrpcFrontend(fake, address="127.0.0.1", port=0, shape="native")
    port = asyncio.run_coroutine_threadsafe(frontend.start(), native.loop).result(timeout=10)
    client = Client.connect(port)
    client.call(1, "ModelInfer", infer_request(model="slow"))
    while not fake.requests:
        time.sleep(0.01)
    stopping = asyncio.run_coroutine_threadsafe(frontend.stop(5), native.loop)
    goaway = client.frames_until(lambda f: f.type == GOAWAY)[-1]
    assert goaway.payload[:8] == struct.pack(">II", 1, 0)  # last stream 1, NO_ERROR
    client.call(3, "ModelInfer", infer_request())
    reset = client.frames_until(lambda f: f.type == RST_STREAM)[-1]
    assert (reset.stream, reset.payload) == (3, struct.pack(">I", 7))  # REFUSED_STREAM
    fake.release_slow.set()
    _, _, trailers = client.response(1)  # the running call finishes within the grace
    assert trailers["grpc-status"] == "0"
    stopping.result(timeout=10)


def test_parse_timeout() -> None:
    assert http2.parse_timeout(b"200m") == pytest.approx(0.2)
    assert http2.parse_timeout(b"3S") == 3
    assert http2.parse_timeout(b"1H") == 3600
    assert http2.parse_timeout(b"5u") == pytest.approx(5e-6)
    assert http2.parse_timeout(b"123456789S") is None  # more than 8 digits
    assert http2.parse_timeout(b"10x") is None
    assert http2.parse_timeout(b"S") is None


# ------------------------------------------------------------------------ garbage


def test_finished_calls_leave_no_cyclic_garbage(native: RunningFrontend) -> None:
    """A call's objects must go when it ends, by reference counting: left to the cyclic
    collector, each call's cycle adds to collections that pause the loop for
    milliseconds, and those pauses are the latency tail."""
    client = Client.connect(native.port)
    for i in range(3):  # warm up
        client.call(2 * i + 1, "ModelInfer", infer_request())
        client.response(2 * i + 1)
    gc.collect()
    gc.disable()
    try:
        for i in range(3, 40):
            client.call(2 * i + 1, "ModelInfer", infer_request())
            assert client.response(2 * i + 1)[2]["grpc-status"] == "0"
        client.call(81, "ModelInfer", infer_request(model="nope"))  # an error, too
        assert client.response(81)[0]["grpc-status"] == "5"
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        leaked = [o for o in gc.garbage
                  if type(o).__module__.startswith("tritonlite.frontends.grpc")]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    assert leaked == []


def test_repeated_header_blocks_follow_the_dynamic_table(native: RunningFrontend) -> None:
    """Blocks of indexes only are decoded once and remembered; a block that changes the
    table must end that, or the same bytes would keep their old meaning."""
    client = Client.connect(native.port)
    client.call(1, "ModelInfer", infer_request())  # adds :path ModelInfer to the table
    assert client.response(1)[2]["grpc-status"] == "0"
    repeat = client.headers_block("ModelInfer")
    assert all(b & 0x80 for b in repeat)  # all indexes
    for sid in (3, 5):
        client.send(frame(HEADERS, 0x4, sid, repeat)
                    + frame(DATA, 0x1, sid, grpc_message(infer_request())))
        assert client.response(sid)[2]["grpc-status"] == "0"
    # A new path enters the table first, so the same index now means ServerLive.
    client.call(7, "ServerLive", b"")
    assert client.response(7)[2]["grpc-status"] == "0"
    client.send(frame(HEADERS, 0x4, 9, repeat) + frame(DATA, 0x1, 9, grpc_message(b"")))
    _, body, trailers = client.response(9)
    assert trailers["grpc-status"] == "0"
    assert service_pb2.ServerLiveResponse.FromString(body[5:]).live


# ------------------------------------------------------------ review regressions


def test_output_waiting_for_the_window_survives_the_clients_half_close(
        native: RunningFrontend) -> None:
    client = Client.connect(native.port, window=1000)
    n = 10_000
    client.send(frame(HEADERS, 0x4, 1, client.headers_block("ModelInfer"))
                + frame(DATA, 0, 1, grpc_message(infer_request(n=n))))  # no END_STREAM yet
    frames = client.frames_until(lambda f: f.type == DATA and f.stream == 1)
    body = b"".join(f.payload for f in frames if f.type == DATA)
    assert len(body) == 1000  # the answer is done; the rest waits for the window
    client.send(frame(DATA, 0x1, 1, b""))  # now the client half-closes
    client.send(frame(WINDOW_UPDATE, 0, 1, struct.pack(">I", 1 << 20)))
    _, rest, trailers = client.response(1)
    assert trailers["grpc-status"] == "0"
    out = np.frombuffer(decode_infer(body + rest).raw_output_contents[0], np.float32)
    assert out.tolist() == list(range(n))


def test_a_compressed_message_is_limited_by_its_inflated_size(native: RunningFrontend) -> None:
    client = Client.connect(native.port)
    bomb = gzip.compress(b"\0" * (2 << 20))  # ~2 KB that inflate to 2 MiB (limit: 1 MiB)
    client.send(frame(HEADERS, 0x4, 1, client.headers_block(
        "ModelInfer", extra=(("grpc-encoding", "gzip"),)))
        + frame(DATA, 0x1, 1, grpc_message(bomb, compressed=True)))
    _headers, _, trailers = client.response(1)
    assert trailers["grpc-status"] == "8"  # RESOURCE_EXHAUSTED
    client.call(3, "ModelInfer", infer_request())
    assert client.response(3)[2]["grpc-status"] == "0"


def test_an_unexpected_error_ends_only_its_call(native: RunningFrontend,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(wire: object, *, unary: bool) -> None:
        raise ValueError("broken decoder")

    monkeypatch.setattr(native.frontend.servicer, "_decode", broken)
    client = Client.connect(native.port)
    client.call(1, "ModelInfer", infer_request())
    headers, _, _ = client.response(1)
    assert (headers["grpc-status"], headers["grpc-message"]) == (
        "13", "ValueError: broken decoder")
    monkeypatch.undo()
    client.call(3, "ModelInfer", infer_request())  # same connection, still serving
    assert client.response(3)[2]["grpc-status"] == "0"


def test_a_stream_reset_by_the_server_cancels_its_work(native: RunningFrontend) -> None:
    client = Client.connect(native.port)
    client.send(frame(HEADERS, 0x4, 1, client.headers_block("ModelStreamInfer"))
                + frame(DATA, 0, 1, grpc_message(infer_request(model="slow"))))
    deadline = time.monotonic() + 5
    while not native.fake.requests and time.monotonic() < deadline:
        time.sleep(0.01)
    client.send(frame(WINDOW_UPDATE, 0, 1, b"\0\0\0\0"))  # a stream error: RST_STREAM
    reset = client.frames_until(lambda f: f.type == RST_STREAM)[-1]
    assert (reset.stream, reset.payload) == (1, struct.pack(">I", 1))  # PROTOCOL_ERROR
    while "slow" not in native.fake.stream_cancelled and time.monotonic() < deadline:
        time.sleep(0.01)
    assert native.fake.stream_cancelled == ["slow"]


class _Transport:
    """A transport that keeps what the connection writes, and counts its writes."""

    def __init__(self) -> None:
        self.data = b""
        self.writes = 0

    def write(self, data: bytes) -> None:
        self.data += bytes(data)
        self.writes += 1

    def writelines(self, lines: list[bytes]) -> None:
        self.data += b"".join(bytes(line) for line in lines)
        self.writes += 1


def test_message_parts_are_counted_in_bytes() -> None:
    """A part may be a view of a typed array (4-byte items): the length prefix and the
    DATA frame count its bytes."""

    async def run() -> bytes:
        conn = http2.Connection(lambda stream: None)
        sink = _Transport()
        conn.connection_made(sink)  # type: ignore[arg-type]
        conn.send_window = 1 << 20
        stream = http2.Stream(conn, 1, "/x", (), None, b"", 1 << 20)
        conn._streams[1] = stream
        values = np.arange(8, dtype=np.float32)
        stream.send_message([b"head", memoryview(values)])
        stream.finish()
        conn._flush()
        return sink.data

    data = asyncio.run(run())
    body = np.arange(8, dtype=np.float32).tobytes()
    assert grpc_message(b"head" + body) in data


def test_the_last_open_call_is_written_when_it_ends_the_others_at_the_turns_end() -> None:
    """A call that ends with no other call open on its connection is written at once (its
    client waits for it, and no other answer can join the write); while others are open,
    answers are gathered into one write at the end of the loop's turn."""

    async def run() -> list[int]:
        conn = http2.Connection(lambda stream: None)
        sink = _Transport()
        conn.connection_made(sink)  # type: ignore[arg-type]
        conn.send_window = 1 << 20
        streams = [http2.Stream(conn, i, "/x", (), None, b"", 1 << 20) for i in (1, 3)]
        for s in streams:
            conn._streams[s.id] = s
        seen = [sink.writes]  # the connection's SETTINGS
        for s in streams:
            s.send_message(b"answer")
            s.finish()
            seen.append(sink.writes)
        await asyncio.sleep(0)  # the turn ends
        seen.append(sink.writes)
        return seen

    # Call 1 ends with call 3 open: held. Call 3 is the last: both go in one write now.
    assert asyncio.run(run()) == [1, 1, 2, 2]


def test_calls_answered_while_their_read_is_parsed_go_in_one_write() -> None:
    """Calls answered at once, while the read that carries them is parsed (a refusal, a
    cache hit), are written together at the end of that read: the calls behind one in
    the same read are not open yet, so "no other call open" does not hold there."""
    from grpc import StatusCode

    def refuse(stream: http2.Stream) -> None:
        stream.finish(StatusCode.UNIMPLEMENTED, "no")

    async def run() -> int:
        conn = http2.Connection(refuse)
        sink = _Transport()
        conn.connection_made(sink)  # type: ignore[arg-type]
        settings = sink.writes
        enc = hpack.Encoder()
        read = http2.PREFACE + frame(SETTINGS, 0, 0)
        for stream_id in (1, 3, 5):
            block = enc.encode([(":method", "POST"), (":scheme", "http"),
                                (":path", SERVICE + "ModelInfer"), (":authority", "x"),
                                ("content-type", "application/grpc"), ("te", "trailers")])
            read += frame(HEADERS, 0x4 | 0x1, stream_id, block)
        conn.data_received(read)
        await asyncio.sleep(0)
        return sink.writes - settings

    assert asyncio.run(run()) == 1  # three answers and the SETTINGS ack
