"""HttpFrontend on a real socket (port 0) driven by tritonclient.http, sync and aio."""

from __future__ import annotations

import asyncio
import http.client
import json
import socket

import numpy as np
import pytest
import tritonclient.http as httpclient
import tritonclient.http.aio as aioclient
from http_fake_server import FakeServer
from http_support import RunningFrontend
from tritonclient.utils import InferenceServerException

from tritonlite.core.settings import ServerSettings
from tritonlite.frontends.common.sockets import bind_socket
from tritonlite.frontends.grpc.service import InferenceServicer
from tritonlite.frontends.http.server import HttpFrontend


def fp32_input(module, rows: int = 1, binary: bool = True):  # type: ignore[no-untyped-def]
    tensor = module.InferInput("INPUT0", [rows, 4], "FP32")
    tensor.set_data_from_numpy(np.arange(rows * 4, dtype=np.float32).reshape(rows, 4),
                               binary_data=binary)
    return tensor


def test_tritonclient_sync(running: RunningFrontend) -> None:
    client = httpclient.InferenceServerClient(running.url)
    try:
        assert client.is_server_live() and client.is_server_ready()
        assert client.is_model_ready("echo") and not client.is_model_ready("nope")
        assert client.get_model_metadata("echo")["inputs"][0]["shape"] == [-1, 4]
        assert client.get_model_config("echo")["name"] == "echo"
        for binary in (True, False):
            result = client.infer("echo", [fp32_input(httpclient, 2, binary)], request_id="r",
                                  sequence_id=9, sequence_start=True, priority=1,
                                  timeout=100, parameters={"custom": "x"})
            np.testing.assert_array_equal(result.as_numpy("OUTPUT0"),
                                          np.arange(8, dtype=np.float32).reshape(2, 4))
            assert result.get_response()["id"] == "r"
        request = running.fake.requests[-1]
        assert (request.correlation_id, request.flags, request.parameters) == (
            9, 1, {"custom": "x"})
        strings = httpclient.InferInput("S", [2], "BYTES")
        strings.set_data_from_numpy(np.array([b"a", b"\xff\x00"], dtype=object))
        assert client.infer("echo", [strings]).as_numpy("OUTPUT0").tolist() == [b"a", b"\xff\x00"]
        for algorithm in ("gzip", "deflate"):
            result = client.infer("echo", [fp32_input(httpclient)],
                                  request_compression_algorithm=algorithm,
                                  response_compression_algorithm=algorithm)
            assert result.as_numpy("OUTPUT0").shape == (1, 4)
        with pytest.raises(InferenceServerException, match="is not found"):
            client.infer("nope", [fp32_input(httpclient)])
        assert client.get_inference_statistics("echo")["model_stats"][0]["name"] == "echo"
        assert client.get_model_repository_index()[0]["name"] == "echo"
        settings = client.update_log_settings({"log_verbose_level": 2})
        assert settings["log_verbose_level"] == 2
        assert client.get_trace_settings()["trace_level"] == ["OFF"]
    finally:
        client.close()


async def test_tritonclient_aio(running: RunningFrontend) -> None:
    client = aioclient.InferenceServerClient(running.url)
    try:
        assert await client.is_server_ready()
        result = await client.infer("echo", [fp32_input(aioclient)])
        np.testing.assert_array_equal(result.as_numpy("OUTPUT0"),
                                      np.arange(4, dtype=np.float32).reshape(1, 4))
        zipped = await client.infer("echo", [fp32_input(aioclient)],
                                    request_compression_algorithm="gzip",
                                    response_compression_algorithm="gzip")
        assert zipped.as_numpy("OUTPUT0").shape == (1, 4)
        with pytest.raises(InferenceServerException, match="decoupled transaction policy"):
            n = aioclient.InferInput("N", [1], "INT32")
            n.set_data_from_numpy(np.array([1], np.int32))
            await client.infer("decoupled", [n])
    finally:
        await client.close()


def test_generate_stream_over_a_socket(running: RunningFrontend) -> None:
    host, port = running.url.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.request("POST", "/v2/models/decoupled/generate_stream", body=json.dumps({"N": 2}))
    response = conn.getresponse()
    assert response.getheader("Transfer-Encoding") == "chunked"
    assert response.read() == (
        b'data: {"OUT":0,"model_name":"decoupled","model_version":"1"}\n\n'
        b'data: {"OUT":1,"model_name":"decoupled","model_version":"1"}\n\n')
    conn.close()


def test_port_zero_and_a_busy_port() -> None:
    sock = bind_socket("127.0.0.1", 0)
    try:
        port = sock.getsockname()[1]
        assert port > 0
        with pytest.raises(OSError, match=f"Socket '127.0.0.1:{port}' already in use"):
            bind_socket("127.0.0.1", port)
    finally:
        sock.close()


async def test_start_stop_closes_the_listener() -> None:
    frontend = HttpFrontend(FakeServer(), address="127.0.0.1", port=0)
    port = await frontend.start()
    with pytest.raises(RuntimeError):
        await frontend.start()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (await reader.readline()).startswith(b"HTTP/1.1 200")
    writer.close()
    await frontend.stop(0.1)
    await frontend.stop(0.1)  # idempotent
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


def test_log_and_trace_settings_are_shared_with_grpc() -> None:
    settings = ServerSettings()
    fake = FakeServer()
    http_frontend = HttpFrontend(fake, port=0, settings=settings)
    servicer = InferenceServicer(fake, settings)
    assert http_frontend.handlers.settings is servicer.settings
    settings.log.set("log_verbose_level", 3)
    assert servicer.settings.log.values["log_verbose_level"] == 3
