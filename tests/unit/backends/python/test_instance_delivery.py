"""PythonInstance's delivery of a finished batch (no worker process): a frontend whose
sink fails loses its own answer only; the batch's other answers go out and the instance
goes idle again."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from tritonlite.backends.python import ipc
from tritonlite.backends.python.instances import InstanceSpec, PythonInstance
from tritonlite.core.stats import ModelStats
from tritonlite.core.tensor import Tensor
from tritonlite.core.types import InferenceRequest, InferenceResponse, ScheduledRequest


def _instance() -> PythonInstance:
    spec = InstanceSpec(name="m_0_0", model_name="m", version=1, model_file="model.py",
                        model_dir="m", version_dir="m/1", config_json="{}", decoupled=False)
    return PythonInstance(spec, ModelStats("m", "1"))


def _job(rid: str, sink) -> ScheduledRequest:
    req = InferenceRequest("m", [Tensor.from_numpy("IN", np.zeros(1, np.float32))], id=rid)
    return ScheduledRequest(req, sink, list(req.inputs), ("OUT",), 0)


def test_a_failing_sink_does_not_stop_the_rest_of_the_batch(
        caplog: pytest.LogCaptureFixture) -> None:
    inst = _instance()
    idle: list[object] = []
    inst.on_idle = idle.append
    got: list[InferenceResponse] = []

    def broken(resp: InferenceResponse) -> None:
        raise RuntimeError("frontend bug")

    jobs = [_job("a", got.append), _job("b", broken), _job("c", got.append)]
    for key, job in enumerate(jobs, 1):
        inst._pending[key] = job
    inst._batches[7] = jobs
    out = ipc.inline_ref("OUT", "FP32", (1,), np.ones(1, np.float32).tobytes())
    done = ipc.BatchDoneMsg(7, tuple(ipc.ResponseMsg(k, (out,)) for k in (1, 2, 3)), 0, 0, 0)
    with caplog.at_level(logging.ERROR):
        inst._on_batch_done(done)
    assert [r.id for r in got] == ["a", "c"]
    assert got[1].outputs[0].as_numpy().tolist() == [1.0]
    assert idle == [inst]
    assert not inst._pending and not inst._batches
    assert "delivering the response to request 'b' failed" in caplog.text
