"""The HTTP ceiling: a bare asyncio HTTP/1.1 server (uvloop when installed) that answers
KServe v2 binary-tensor inference requests by echoing every input as an output
(``INPUTn`` -> ``OUTPUTn``), plus ``GET /v2/health/*``. Keep-alive, Content-Length bodies
only: just enough protocol for the benchmark client.
"""

from __future__ import annotations

import asyncio

import orjson

_HEADER_END = b"\r\n\r\n"


def _reply(status: str, body: bytes, extra: bytes = b"") -> bytes:
    return (b"HTTP/1.1 " + status.encode() + b"\r\nContent-Length: " + str(len(body)).encode()
            + b"\r\n" + extra + b"\r\n" + body)


def echo_infer(body: bytes, header_length: int | None) -> tuple[bytes, bytes]:
    """The response body and its Inference-Header-Content-Length header line."""
    json_part = body[:header_length] if header_length is not None else body
    request = orjson.loads(json_part)
    offset = header_length or 0
    outputs, chunks = [], []
    for tensor in request.get("inputs", []):
        size = int(tensor.get("parameters", {}).get("binary_data_size", 0))
        chunks.append(body[offset:offset + size])
        offset += size
        outputs.append({
            "name": tensor["name"].replace("INPUT", "OUTPUT", 1),
            "datatype": tensor["datatype"], "shape": tensor["shape"],
            "parameters": {"binary_data_size": size},
        })
    header = orjson.dumps({"model_name": "echo", "model_version": "1", "outputs": outputs})
    extra = b"Inference-Header-Content-Length: " + str(len(header)).encode() + b"\r\n"
    return header + b"".join(chunks), extra


class EchoProtocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(_HEADER_END)
            if end < 0:
                return
            head = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
            fields = {}
            for line in head[1:]:
                name, _, value = line.partition(":")
                fields[name.strip().lower()] = value.strip()
            length = int(fields.get("content-length", "0"))
            if len(self.buffer) < end + 4 + length:
                return
            body = bytes(self.buffer[end + 4:end + 4 + length])
            del self.buffer[:end + 4 + length]
            method, path = head[0].split(" ")[:2]
            assert self.transport is not None
            if method == "GET" and path.startswith("/v2/health"):
                self.transport.write(_reply("200 OK", b""))
            elif method == "POST" and path.endswith("/infer"):
                hl = fields.get("inference-header-content-length")
                payload, extra = echo_infer(body, int(hl) if hl else None)
                self.transport.write(_reply("200 OK", payload, extra))
            else:
                self.transport.write(_reply("404 Not Found", b""))


async def serve(port: int) -> asyncio.AbstractServer:
    loop = asyncio.get_running_loop()
    return await loop.create_server(EchoProtocol, "0.0.0.0", port, reuse_address=True)
