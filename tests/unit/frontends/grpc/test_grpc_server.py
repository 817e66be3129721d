"""GrpcFrontend lifecycle: binding, options, stopping with RPCs in flight."""

from __future__ import annotations

import asyncio
import socket

import grpc
import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.grpc.aio as aioclient
from grpc_fake_server import FakeServer, serving
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tritonlite.frontends.grpc.server import GrpcFrontend, KeepAliveOptions

# Every server shape (``--grpc-server``).
SHAPES = pytest.mark.parametrize("shape", ["native", "aio", "threaded"])


@SHAPES
async def test_start_returns_the_bound_port_and_stop_is_idempotent(shape: str) -> None:
    frontend = GrpcFrontend(FakeServer(), address="127.0.0.1", port=0, shape=shape)
    port = await frontend.start()
    assert port > 0 and frontend.port == port
    with pytest.raises(RuntimeError, match="already started"):
        await frontend.start()
    async with aioclient.InferenceServerClient(f"127.0.0.1:{port}") as client:
        assert await client.is_server_live()
    await frontend.stop(0)
    await frontend.stop(0)


@SHAPES
async def test_port_in_use_is_an_os_error(shape: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        frontend = GrpcFrontend(FakeServer(), address="127.0.0.1", port=port,
                                shape=shape)
        with pytest.raises(OSError, match=f"127.0.0.1:{port}"):
            await frontend.start()


def test_channel_options_follow_triton() -> None:
    frontend = GrpcFrontend(FakeServer())
    options = dict(frontend.channel_options())
    assert options["grpc.max_send_message_length"] == 2**31 - 1
    assert options["grpc.max_receive_message_length"] == 2**31 - 1
    assert options["grpc.so_reuseport"] == 0
    assert options["grpc.keepalive_time_ms"] == 7_200_000
    assert options["grpc.http2.max_pings_without_data"] == 2
    assert "grpc.max_connection_age_ms" not in options
    aged = KeepAliveOptions(max_connection_age_ms=1000).channel_options()
    assert ("grpc.max_connection_age_ms", 1000) in aged


@SHAPES
async def test_stop_cancels_watches_and_streams_after_the_grace_period(shape: str) -> None:
    fake = FakeServer()
    frontend = GrpcFrontend(fake, address="127.0.0.1", port=0, shape=shape)
    port = await frontend.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    watch = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest())
    assert (await watch.read()).status == health_pb2.HealthCheckResponse.SERVING

    async def requests():  # type: ignore[no-untyped-def]
        tensor = aioclient.InferInput("INPUT0", [1, 4], "FP32")
        tensor.set_data_from_numpy(np.zeros((1, 4), dtype=np.float32))
        yield {"model_name": "slow", "inputs": [tensor]}
        await asyncio.Event().wait()

    async with aioclient.InferenceServerClient(f"127.0.0.1:{port}") as client:
        stream = client.stream_infer(requests())
        pending = asyncio.ensure_future(stream.__anext__())
        while not fake.requests:
            await asyncio.sleep(0.01)
        await asyncio.wait_for(frontend.stop(0.1), timeout=5)
        with pytest.raises(grpc.aio.AioRpcError):
            await asyncio.wait_for(pending, timeout=5)
    assert fake.stream_closed == 1
    with pytest.raises(grpc.aio.AioRpcError):
        await asyncio.wait_for(watch.read(), timeout=5)
    await channel.close()


@SHAPES
def test_grpc_metadata_is_forwarded(shape: str) -> None:
    fake = FakeServer()
    # Each shape wires ModelInfer its own way; the streams share the servicer's code.
    frontend = GrpcFrontend(fake, address="127.0.0.1", port=0, header_forward_pattern="^x-fw",
                            shape=shape)
    with serving(fake, frontend) as running:
        client = grpcclient.InferenceServerClient(running.url)
        try:
            x = grpcclient.InferInput("INPUT0", [1, 4], "FP32")
            x.set_data_from_numpy(np.zeros((1, 4), np.float32))
            client.infer("echo", [x], headers={"x-fw-a": "1", "other": "2"},
                         parameters={"p": "q"})
            assert fake.requests[-1].parameters == {"p": "q", "x-fw-a": "1"}
            # The same request again (its header is kept by the native shape): each
            # request has its own metadata.
            client.infer("echo", [x], headers={"x-fw-c": "3"}, parameters={"p": "q"})
            assert fake.requests[-1].parameters == {"p": "q", "x-fw-c": "3"}
            client.infer("echo", [x], parameters={"p": "q"})
            assert fake.requests[-1].parameters == {"p": "q"}

            responses: list[object] = []
            client.start_stream(
                callback=lambda result, error: responses.append(result or error),
                headers={"x-fw-b": "2"})
            client.async_stream_infer("echo", [x])
            client.stop_stream()
            assert fake.requests[-1].parameters == {"x-fw-b": "2"}
        finally:
            client.close()
