"""InferenceServer.submit against a fake instance: the answer reaches the frontend before
the server's bookkeeping (statistics, in-flight count, busy polling), and that
bookkeeping happens even when the frontend's sink fails."""

from __future__ import annotations

import numpy as np
import pytest
from fakes import FakeClock, FakeInstance
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

from tritonlite.core.lifecycle import ModelState
from tritonlite.core.model import ModelVersion, signature_of
from tritonlite.core.registry import Registry
from tritonlite.core.server import InferenceServer
from tritonlite.core.stats import ModelStats
from tritonlite.core.tensor import Tensor
from tritonlite.core.types import InferenceRequest, InferenceResponse
from tritonlite.scheduling.default import DefaultScheduler

CONFIG = """
name: "m" backend: "python"
input [ { name: "INPUT0" data_type: TYPE_FP32 dims: [ 2 ] } ]
output [ { name: "OUTPUT0" data_type: TYPE_FP32 dims: [ 2 ] } ]
"""


def _server() -> tuple[InferenceServer, FakeInstance, ModelStats]:
    config = text_format.Parse(CONFIG, model_config_pb2.ModelConfig())
    inst = FakeInstance("m_0")
    stats = ModelStats("m", "1")
    mv = ModelVersion("m", 1, config, signature_of(config),
                      DefaultScheduler([inst], clock=FakeClock()), [inst], stats)
    registry = Registry()
    registry.set_state("m", 1, ModelState.LOADING)
    registry.set_state("m", 1, ModelState.READY, model=mv)
    return InferenceServer(registry), inst, stats


def _request() -> InferenceRequest:
    return InferenceRequest("m", [Tensor.from_numpy("INPUT0", np.zeros(2, np.float32))])


def test_the_answer_goes_out_before_the_bookkeeping() -> None:
    server, inst, stats = _server()
    seen: list[tuple[int, int, bool]] = []

    def sink(resp: InferenceResponse) -> None:
        seen.append((stats.inference_stats.success.count, stats.pending,
                     server._idle.is_set()))

    server.submit(_request(), sink)
    assert stats.pending == 1 and not server._idle.is_set()
    inst.finish()
    assert seen == [(0, 1, False)]  # the frontend had the answer first
    assert stats.inference_stats.success.count == 1
    assert stats.pending == 0 and server._idle.is_set()


def test_a_failing_sink_still_ends_the_request() -> None:
    server, inst, stats = _server()

    def sink(resp: InferenceResponse) -> None:
        raise RuntimeError("the frontend broke")

    server.submit(_request(), sink)
    with pytest.raises(RuntimeError, match="the frontend broke"):
        inst.finish()
    assert stats.pending == 0 and server._idle.is_set()
    assert stats.inference_stats.success.count == 1
