"""--http-header-forward-pattern and --grpc-header-forward-pattern: one rule (shared in
``frontends.common.parameters``), both protocols."""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from http_fake_server import FakeServer

from tritonlite.frontends.grpc.server import GrpcFrontend


@pytest.mark.parametrize("shape", ["native", "aio", "threaded"])
def test_grpc_metadata_is_forwarded(shape: str) -> None:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    fake = FakeServer()
    # Each shape wires ModelInfer its own way; the streams share the servicer's code.
    frontend = GrpcFrontend(fake, address="127.0.0.1", port=0, header_forward_pattern="^x-fw",
                            shape=shape)
    port = asyncio.run_coroutine_threadsafe(frontend.start(), loop).result(timeout=10)
    client = grpcclient.InferenceServerClient(f"127.0.0.1:{port}")
    try:
        x = grpcclient.InferInput("INPUT0", [1, 4], "FP32")
        x.set_data_from_numpy(np.zeros((1, 4), np.float32))
        client.infer("echo", [x], headers={"x-fw-a": "1", "other": "2"},
                     parameters={"p": "q"})
        assert fake.requests[-1].parameters == {"p": "q", "x-fw-a": "1"}

        responses: list[object] = []
        client.start_stream(callback=lambda result, error: responses.append(result or error),
                            headers={"x-fw-b": "2"})
        client.async_stream_infer("echo", [x])
        client.stop_stream()
        assert fake.requests[-1].parameters == {"x-fw-b": "2"}
    finally:
        client.close()
        asyncio.run_coroutine_threadsafe(frontend.stop(0.5), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
