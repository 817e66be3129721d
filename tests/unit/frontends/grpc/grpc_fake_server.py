"""A fake :class:`~tritonlite.core.interfaces.ServerApi` for the gRPC frontend tests.

Models:
* ``echo``: one response whose outputs are the inputs (``OUTPUT<i>`` for input i unless
  the request asks for named outputs, which are then taken from the inputs in order);
  response parameters echo the request's sequence fields and custom parameters.
* ``decoupled``: yields ``N`` (the INT32 input "N") responses with output ``OUT`` = i,
  then a flag-only final response. N < 0 yields an error response instead.
* ``empty``: a non-decoupled model whose single response has no outputs.
* ``fails``: one response carrying a model error.
* ``slow``: like echo, but waits until ``release_slow`` is set.
* ``raise_<KIND>``: raises ``InferenceServerError(KIND, "<KIND> raised")`` at the call.
Anything else is unknown: ``Request for unknown model: '<name>' is not found``.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import numpy as np
from fake_core import SubmitThroughInfer, echo_response
from tritonclient.grpc import model_config_pb2

from tritonlite.core.errors import (
    DecoupledNotSupported,
    ErrorKind,
    InferenceServerError,
    invalid_arg,
    not_found,
    unavailable,
)
from tritonlite.core.shared_memory import SystemSharedMemoryRegistry
from tritonlite.core.stats import BatchStat, ModelStats
from tritonlite.core.tensor import Tensor
from tritonlite.core.types import (
    InferenceRequest,
    InferenceResponse,
    ModelIndexEntry,
    ModelMetadata,
    ServerMetadata,
    TensorMetadata,
)
from tritonlite.frontends.grpc.server import GrpcFrontend

MODELS = ("echo", "decoupled", "empty", "fails", "slow")


class FakeServer(SubmitThroughInfer):
    def __init__(self) -> None:
        self.shared_memory = SystemSharedMemoryRegistry()
        self.live = True
        self.ready = True
        self.requests: list[InferenceRequest] = []
        self.loads: list[tuple[str, dict[str, object] | None]] = []
        self.unloads: list[tuple[str, bool]] = []
        self.explicit_mode = False
        self.release_slow = threading.Event()
        self.stream_closed = 0  # infer_stream generators that ran their cleanup
        self.stream_cancelled: list[str] = []  # models whose generator was closed early

    # -- health / metadata
    def is_live(self) -> bool:
        return self.live

    def is_ready(self) -> bool:
        return self.ready

    def server_metadata(self) -> ServerMetadata:
        return ServerMetadata("triton", "2.51.0", ("classification", "sequence"))

    def _check(self, model: str, version: str = "") -> None:
        if model.startswith("raise_"):
            kind = ErrorKind[model[len("raise_") :]]
            raise InferenceServerError(kind, f"{kind.name} raised")
        if model not in MODELS:
            raise not_found(f"Request for unknown model: '{model}' is not found")
        if version not in ("", "1"):
            raise not_found(f"Request for unknown model: '{model}' version {version} is not found")

    def model_ready(self, model: str, version: str = "") -> bool:
        return model in MODELS and version in ("", "1")

    def model_metadata(self, model: str, version: str = "") -> ModelMetadata:
        self._check(model, version)
        return ModelMetadata(
            model,
            ("1",),
            "python",
            (TensorMetadata("INPUT0", "FP32", (-1, 4)),),
            (TensorMetadata("OUTPUT0", "FP32", (-1, 4)),),
        )

    def model_config(self, model: str, version: str = "") -> model_config_pb2.ModelConfig:
        self._check(model, version)
        config = model_config_pb2.ModelConfig(name=model, backend="python", max_batch_size=8)
        config.input.add(name="INPUT0", data_type=model_config_pb2.TYPE_FP32, dims=[4])
        config.output.add(name="OUTPUT0", data_type=model_config_pb2.TYPE_FP32, dims=[4])
        config.model_transaction_policy.decoupled = model == "decoupled"
        return config

    def model_statistics(self, model: str = "", version: str = "") -> list[ModelStats]:
        if model and model not in MODELS:
            raise invalid_arg(f"requested model '{model}' is not available")
        stats = ModelStats("echo", "1", last_inference_ms=1234, inference_count=6)
        stats.execution_count = 3
        stats.inference_stats.success.add(300, 3)
        stats.inference_stats.queue.add(30, 3)
        batch = BatchStat(2)
        batch.compute_infer.add(50, 1)
        stats.batch_stats[2] = batch
        stats.batch_stats[1] = BatchStat(1)
        stats.batch_stats[1].compute_input.add(7, 2)
        return [stats] if model else [stats, ModelStats("decoupled", "1")]

    def repository_index(self, ready_only: bool = False) -> list[ModelIndexEntry]:
        entries = [ModelIndexEntry(m, "1", "READY") for m in MODELS]
        if not ready_only:
            entries.append(ModelIndexEntry("broken", "1", "UNAVAILABLE", "load failed"))
        return entries

    async def load_model(self, model: str, parameters: dict[str, object] | None = None) -> None:
        if not self.explicit_mode:
            raise unavailable("explicit model load / unload is not allowed if polling is enabled")
        self.loads.append((model, parameters))

    async def unload_model(self, model: str, unload_dependents: bool = False) -> None:
        if not self.explicit_mode:
            raise unavailable("explicit model load / unload is not allowed if polling is enabled")
        self.unloads.append((model, unload_dependents))

    # -- inference
    async def infer(self, request: InferenceRequest) -> InferenceResponse:
        self._check(request.model_name, request.model_version)
        if request.model_name == "decoupled":
            raise DecoupledNotSupported()
        async for response in self.infer_stream(request):
            return response
        raise AssertionError("no response")

    async def infer_stream(self, request: InferenceRequest) -> AsyncIterator[InferenceResponse]:
        self._check(request.model_name, request.model_version)
        self.requests.append(request)
        model = request.model_name
        try:
            if model == "decoupled":
                n = int(request.inputs[0].as_numpy().reshape(-1)[0])
                if n < 0:
                    yield InferenceResponse(
                        model, "1", id=request.id, error=invalid_arg("negative count")
                    )
                    return
                for i in range(n):
                    out = Tensor.from_numpy("OUT", np.array([i], dtype=np.int32))
                    yield InferenceResponse(model, "1", id=request.id, outputs=[out], final=False)
                    await asyncio.sleep(0)
                yield InferenceResponse(model, "1", id=request.id)
            elif model == "empty":
                yield InferenceResponse(model, "1", id=request.id)
            elif model == "fails":
                yield InferenceResponse(
                    model,
                    "1",
                    id=request.id,
                    error=InferenceServerError(ErrorKind.INTERNAL, "model failed"),
                )
            elif model == "slow":
                while not self.release_slow.is_set():
                    await asyncio.sleep(0.005)
                yield echo_response(request)
            else:
                yield echo_response(request)
        except (GeneratorExit, asyncio.CancelledError):
            self.stream_cancelled.append(model)
            raise
        finally:
            self.stream_closed += 1


@dataclass
class RunningFrontend:
    """What the frontend fixtures yield (see :func:`serving`)."""

    url: str
    fake: FakeServer
    frontend: GrpcFrontend
    loop: asyncio.AbstractEventLoop

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])


@contextlib.contextmanager
def serving(fake: FakeServer, frontend: GrpcFrontend,
            grace: float = 0.5) -> Iterator[RunningFrontend]:
    """``frontend`` (over ``fake``) started on its own event loop in a thread, so blocking
    clients and clients on the test's loop can both drive it; stopped with ``grace``."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="grpc-frontend", daemon=True)
    thread.start()
    port = asyncio.run_coroutine_threadsafe(frontend.start(), loop).result(timeout=10)
    try:
        yield RunningFrontend(f"127.0.0.1:{port}", fake, frontend, loop)
    finally:
        fake.release_slow.set()
        asyncio.run_coroutine_threadsafe(frontend.stop(grace), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
