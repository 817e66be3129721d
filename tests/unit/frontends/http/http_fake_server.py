"""A fake :class:`~tritonlite.core.interfaces.ServerApi` for the HTTP and metrics tests.

Models (all version "1"):

* ``echo``: max_batch_size 8, input INPUT0 FP32 [4] (plus anything else sent), outputs
  OUTPUT<i> = input i (or the requested names in order); response parameters echo the
  request's sequence fields and custom parameters.
* ``plain``: max_batch_size 0, INPUT FP32 [2, 3] -> OUTPUT = 2 * INPUT.
* ``decoupled``: INPUT N INT32 [1]; yields N responses OUT = i, then a flag-only final
  one; N < 0 yields an error response.
* ``fails``: one response carrying an INTERNAL model error.
* ``slow``: echo that waits until ``release_slow`` is set (records cancellation).
* ``raise_<KIND>``: every call raises ``InferenceServerError(KIND, "<KIND> raised")``.

Anything else is unknown: ``Request for unknown model: '<name>' is not found``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import numpy as np
from fake_core import SubmitThroughInfer, echo_response
from tritonclient.grpc import model_config_pb2

from tritonlite.core.custom_metrics import CustomMetrics
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
from tritonlite.core.tensor import DataType, Tensor
from tritonlite.core.types import (
    InferenceRequest,
    InferenceResponse,
    ModelIndexEntry,
    ModelMetadata,
    ServerMetadata,
    TensorMetadata,
)

MODELS = ("echo", "plain", "decoupled", "fails", "slow")
_TYPES = {"INPUT0": model_config_pb2.TYPE_FP32, "INPUT": model_config_pb2.TYPE_FP32,
          "N": model_config_pb2.TYPE_INT32}


class FakeServer(SubmitThroughInfer):
    def __init__(self) -> None:
        self.shared_memory = SystemSharedMemoryRegistry()
        self.live = True
        self.ready = True
        self.requests: list[InferenceRequest] = []
        self.loads: list[tuple[str, dict[str, object] | None]] = []
        self.unloads: list[tuple[str, bool]] = []
        self.explicit_mode = False
        self.release_slow = asyncio.Event()
        self.cancelled = 0
        self.custom_metrics = CustomMetrics()
        self.stats = {m: ModelStats(m, "1") for m in MODELS}

    # -- health / metadata
    def is_live(self) -> bool:
        return self.live

    def is_ready(self) -> bool:
        return self.ready

    def server_metadata(self) -> ServerMetadata:
        return ServerMetadata("triton", "2.51.0", ("classification", "sequence"))

    def _check(self, model: str, version: str = "") -> None:
        if model.startswith("raise_"):
            kind = ErrorKind[model[len("raise_"):]]
            raise InferenceServerError(kind, f"{kind.name} raised")
        if model not in MODELS:
            raise not_found(f"Request for unknown model: '{model}' is not found")
        if version not in ("", "1"):
            raise not_found(f"Request for unknown model: '{model}' version {version} is not found")

    def model_ready(self, model: str, version: str = "") -> bool:
        return model in MODELS and version in ("", "1")

    def model_metadata(self, model: str, version: str = "") -> ModelMetadata:
        self._check(model, version)
        config = self.model_config(model, version)
        batch = (-1,) if config.max_batch_size else ()
        return ModelMetadata(
            model, ("1",), "python",
            tuple(TensorMetadata(i.name, "FP32" if i.name != "N" else "INT32",
                                 batch + tuple(i.dims)) for i in config.input),
            tuple(TensorMetadata(o.name, "FP32", batch + tuple(o.dims)) for o in config.output),
        )

    def model_config(self, model: str, version: str = "") -> model_config_pb2.ModelConfig:
        self._check(model, version)
        config = model_config_pb2.ModelConfig(name=model, backend="python")
        if model == "plain":
            config.input.add(name="INPUT", data_type=model_config_pb2.TYPE_FP32, dims=[2, 3])
            config.output.add(name="OUTPUT", data_type=model_config_pb2.TYPE_FP32, dims=[2, 3])
        elif model == "decoupled":
            config.input.add(name="N", data_type=model_config_pb2.TYPE_INT32, dims=[1])
            config.output.add(name="OUT", data_type=model_config_pb2.TYPE_INT32, dims=[1])
            config.model_transaction_policy.decoupled = True
        else:
            config.max_batch_size = 8
            config.input.add(name="INPUT0", data_type=model_config_pb2.TYPE_FP32, dims=[4])
            config.output.add(name="OUTPUT0", data_type=model_config_pb2.TYPE_FP32, dims=[4])
        return config

    def model_statistics(self, model: str = "", version: str = "") -> list[ModelStats]:
        if model and model not in MODELS:
            raise invalid_arg(f"requested model '{model}' is not available")
        if model:
            return [self.stats[model]]
        return [self.stats[m] for m in sorted(MODELS)]

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
            if response.error is not None:
                raise response.error
            return response
        raise AssertionError("no response")

    async def infer_stream(self, request: InferenceRequest) -> AsyncIterator[InferenceResponse]:
        self._check(request.model_name, request.model_version)
        self.requests.append(request)
        model = request.model_name
        if model == "plain":
            (tensor,) = request.inputs
            if tensor.datatype is not DataType.FP32 or tensor.shape != (2, 3):
                raise invalid_arg("[request id: <id_unknown>] unexpected shape for input "
                                  f"'INPUT' for model 'plain'. Expected [2,3], got "
                                  f"[{','.join(map(str, tensor.shape))}]. ")
            out = Tensor.from_numpy("OUTPUT", tensor.as_numpy() * 2)
            yield InferenceResponse(model, "1", id=request.id, outputs=[out])
        elif model == "decoupled":
            n = int(request.inputs[0].as_numpy().reshape(-1)[0])
            if n < 0:
                yield InferenceResponse(model, "1", id=request.id, error=invalid_arg("negative"))
                return
            for i in range(n):
                out = Tensor.from_numpy("OUT", np.array([i], dtype=np.int32))
                yield InferenceResponse(model, "1", id=request.id, outputs=[out], final=False)
                await asyncio.sleep(0)
            yield InferenceResponse(model, "1", id=request.id)
        elif model == "fails":
            yield InferenceResponse(model, "1", id=request.id,
                                    error=InferenceServerError(ErrorKind.INTERNAL, "model failed"))
        elif model == "slow":
            try:
                await self.release_slow.wait()
            except asyncio.CancelledError:
                self.cancelled += 1
                raise
            yield echo_response(request)
        else:
            yield echo_response(request)


def sample_stats() -> ModelStats:
    """Known statistics: 3 successes (300 ns), 2 failures, batch stats for sizes 1, 2."""
    stats = ModelStats("echo", "1", last_inference_ms=1234, inference_count=6)
    stats.execution_count = 3
    stats.inference_stats.success.add(300_000, 3)
    stats.inference_stats.fail.add(20_000, 2)
    stats.failures.BACKEND = 2
    stats.inference_stats.queue.add(30_000, 3)
    stats.inference_stats.compute_input.add(4_000, 3)
    stats.inference_stats.compute_infer.add(50_000, 3)
    stats.inference_stats.compute_output.add(6_000, 3)
    batch = BatchStat(2)
    batch.compute_infer.add(50, 1)
    stats.batch_stats[2] = batch
    stats.batch_stats[1] = BatchStat(1)
    stats.pending = 1
    return stats
