"""The benchmark's clients: lean, identical for every server under test.

* gRPC: ``grpc.aio`` channels and the generated ``inference.GRPCInferenceService`` messages
  of tritonclient (``tritonclient.grpc.service_pb2``). Requests are built (and, where they
  don't change, serialized) once, outside the timed loop, so the client spends its core on
  the RPCs, not on tritonclient's per-call ``InferInput`` wrapping.
* HTTP: a raw asyncio HTTP/1.1 client for KServe v2 binary tensors, one keep-alive
  connection per concurrent caller. It sends no ``Accept-Encoding``, so no server
  gzip-compresses a 4 MiB reply (``tritonclient.http.aio`` asks for gzip, and Triton
  obliges at about 130 ms of CPU per 4 MiB reply).
"""

from __future__ import annotations

import asyncio
import struct
from dataclasses import dataclass

import grpc
import numpy as np
import orjson
from tritonclient.grpc import service_pb2

MAX_MESSAGE = 2**31 - 1
GRPC_OPTIONS = [("grpc.max_send_message_length", MAX_MESSAGE),
                ("grpc.max_receive_message_length", MAX_MESSAGE)]
SERVICE = "/inference.GRPCInferenceService/"


# --------------------------------------------------------------------------- gRPC
def grpc_channel(url: str) -> grpc.aio.Channel:
    return grpc.aio.insecure_channel(url, options=GRPC_OPTIONS)


def model_infer(channel: grpc.aio.Channel) -> grpc.aio.UnaryUnaryMultiCallable:
    """ModelInfer taking already-serialized request bytes."""
    return channel.unary_unary(SERVICE + "ModelInfer", request_serializer=None,
                               response_deserializer=service_pb2.ModelInferResponse.FromString)


def model_stream_infer(channel: grpc.aio.Channel) -> grpc.aio.StreamStreamMultiCallable:
    return channel.stream_stream(
        SERVICE + "ModelStreamInfer", request_serializer=None,
        response_deserializer=service_pb2.ModelStreamInferResponse.FromString)


def bytes_element(value: bytes) -> bytes:
    """One BYTES element in Triton's raw wire form: 4-byte little-endian length, data."""
    return struct.pack("<I", len(value)) + value


def infer_request(model: str, inputs: list[tuple[str, str, list[int], bytes]], *,
                  request_id: str = "", sequence_id: int = 0, start: bool = False,
                  end: bool = False, empty_final: bool = False) -> service_pb2.ModelInferRequest:
    """A ModelInferRequest with raw input contents; ``inputs`` = (name, datatype, shape, raw)."""
    request = service_pb2.ModelInferRequest(model_name=model, id=request_id)
    for name, datatype, shape, raw in inputs:
        tensor = request.inputs.add()
        tensor.name = name
        tensor.datatype = datatype
        tensor.shape.extend(shape)
        request.raw_input_contents.append(raw)
    if sequence_id:
        request.parameters["sequence_id"].int64_param = sequence_id
        request.parameters["sequence_start"].bool_param = start
        request.parameters["sequence_end"].bool_param = end
    if empty_final:
        request.parameters["triton_enable_empty_final_response"].bool_param = True
    return request


def fp32_request(model: str, data: np.ndarray, request_id: str = "",
                 shape: list[int] | None = None) -> bytes:
    """INPUT0 = ``data``, of shape ``shape`` (default: flat, ``[data.size]``)."""
    raw = np.ascontiguousarray(data, dtype=np.float32).tobytes()
    inputs = [("INPUT0", "FP32", shape or [int(data.size)], raw)]
    return infer_request(model, inputs, request_id=request_id).SerializeToString()


def check_fp32_identity(reply: service_pb2.ModelInferResponse, expected: bytes,
                        size: int, shape: list[int] | None = None) -> str | None:
    """None if ``reply`` is OUTPUT0 = the input (shape ``shape``, default ``[size]``), else
    what is wrong."""
    if len(reply.outputs) != 1 or len(reply.raw_output_contents) != 1:
        return f"expected 1 output, got {len(reply.outputs)}/{len(reply.raw_output_contents)}"
    out = reply.outputs[0]
    if out.name != "OUTPUT0" or out.datatype != "FP32" or list(out.shape) != (shape or [size]):
        return f"bad output {out.name} {out.datatype} {list(out.shape)}"
    if reply.raw_output_contents[0] != expected:
        return "output differs from input"
    return None


def is_final(reply: service_pb2.ModelInferResponse) -> bool:
    param = reply.parameters.get("triton_final_response")
    return bool(param is not None and param.bool_param)


# --------------------------------------------------------------------------- HTTP
class HttpError(Exception):
    pass


@dataclass(slots=True)
class HttpReply:
    status: int
    headers: dict[str, str]
    body: bytes


class HttpConnection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection; one request at a time (no pipelining)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[HttpReply] | None = None
        self.closed: BaseException | None = None
        self._head: tuple[int, dict[str, str], int] | None = None  # status, headers, body at

    @classmethod
    async def open(cls, host: str, port: int) -> HttpConnection:
        loop = asyncio.get_running_loop()
        _, proto = await loop.create_connection(cls, host, port)
        return proto

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = exc or HttpError("connection closed by the server")
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(self.closed)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.waiter is None or self.waiter.done():
            return
        try:
            reply = self._parse()
        except Exception as exc:  # a malformed reply fails this request
            self.waiter.set_exception(exc)
            return
        if reply is not None:
            self.waiter.set_result(reply)

    def _parse(self) -> HttpReply | None:
        if self._head is None:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return None
            lines = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
            status = int(lines[0].split(" ", 2)[1])
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            self._head = (status, headers, end + 4)
        status, headers, start = self._head
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body, used = _dechunk(self.buffer, start)
            if body is None:
                return None
        else:
            length = int(headers.get("content-length", "0"))
            if len(self.buffer) < start + length:
                return None
            used = start + length
            with memoryview(self.buffer) as view:  # one copy of the body, not two
                body = bytes(view[start:used])
        del self.buffer[:used]
        self._head = None
        return HttpReply(status, headers, body)

    async def request(self, parts: list[bytes]) -> HttpReply:
        if self.closed is not None:
            raise HttpError(f"connection closed: {self.closed}")
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.writelines(parts)
        reply = self._parse() if self.buffer else None
        if reply is not None:
            self.waiter.set_result(reply)
        return await self.waiter

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


def _dechunk(buffer: bytearray, start: int) -> tuple[bytes | None, int]:
    out: list[bytes] = []
    pos = start
    while True:
        eol = buffer.find(b"\r\n", pos)
        if eol < 0:
            return None, 0
        size = int(bytes(buffer[pos:eol]).split(b";")[0], 16)
        if size == 0:
            trailer = buffer.find(b"\r\n\r\n", eol)
            if trailer < 0:
                return None, 0
            return b"".join(out), trailer + 4
        if len(buffer) < eol + 2 + size + 2:
            return None, 0
        out.append(bytes(buffer[eol + 2:eol + 2 + size]))
        pos = eol + 2 + size + 2


def http_fp32_request(model: str, data: np.ndarray, host: str = "127.0.0.1") -> list[bytes]:
    """Header + body parts of a binary-tensor infer request for FP32 INPUT0."""
    raw = np.ascontiguousarray(data, dtype=np.float32).tobytes()
    header = orjson.dumps({
        "inputs": [{"name": "INPUT0", "shape": [int(data.size)], "datatype": "FP32",
                    "parameters": {"binary_data_size": len(raw)}}],
        "outputs": [{"name": "OUTPUT0", "parameters": {"binary_data": True}}],
    })
    head = (f"POST /v2/models/{model}/infer HTTP/1.1\r\nHost: {host}\r\n"
            "Content-Type: application/octet-stream\r\n"
            f"Inference-Header-Content-Length: {len(header)}\r\n"
            f"Content-Length: {len(header) + len(raw)}\r\n\r\n").encode()
    return [head + header, raw]


def check_http_fp32_identity(reply: HttpReply, expected: bytes, size: int) -> str | None:
    if reply.status != 200:
        return f"HTTP {reply.status}: {reply.body[:200]!r}"
    if reply.headers.get("content-encoding"):
        return f"unexpected Content-Encoding {reply.headers['content-encoding']}"
    hl = reply.headers.get("inference-header-content-length")
    if hl is None:
        return "no Inference-Header-Content-Length (outputs not binary)"
    header = orjson.loads(reply.body[:int(hl)])
    outputs = header.get("outputs", [])
    if len(outputs) != 1:
        return f"expected 1 output, got {len(outputs)}"
    out = outputs[0]
    if out.get("name") != "OUTPUT0" or out.get("datatype") != "FP32" or out.get(
            "shape") != [size]:
        return f"bad output {out}"
    # bytes.endswith is one memcmp; comparing a memoryview goes item by item (3 ms per 4 MiB,
    # which made the client, not the server, the limit of the 4 MiB workloads)
    if len(reply.body) - int(hl) != len(expected) or not reply.body.endswith(expected):
        return "output differs from input"
    return None
