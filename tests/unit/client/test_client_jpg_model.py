"""The example's jpg_model, run outside a server with a minimal stand-in for pb_utils."""

from __future__ import annotations

import base64
import importlib.util
import sys
import types
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

MODEL_DIR = Path(__file__).resolve().parents[3] / "examples/jpeg_stream/models/jpg_model/1"


class _Tensor:
    def __init__(self, name: str, array: np.ndarray) -> None:
        self._name, self._array = name, array

    def name(self) -> str:
        return self._name

    def as_numpy(self) -> np.ndarray:
        return self._array


class _Response:
    def __init__(self, output_tensors: list[_Tensor] | None = None, error: Any = None) -> None:
        self.outputs, self.error = output_tensors or [], error


class _TritonError:
    INTERNAL, INVALID_ARG = 1, 3

    def __init__(self, message: str, code: int = 1) -> None:
        self.message, self.code = message, code


class _Request:
    def __init__(self, correlation_id: int | str, **inputs: np.ndarray) -> None:
        self._cid = correlation_id
        self._inputs = [_Tensor(name, array) for name, array in inputs.items()]

    def inputs(self) -> list[_Tensor]:
        return self._inputs

    def correlation_id(self) -> int | str:
        return self._cid


@pytest.fixture
def model(monkeypatch: pytest.MonkeyPatch) -> tuple[Any, list[str]]:
    logged: list[str] = []
    pb_utils = types.ModuleType("triton_python_backend_utils")
    pb_utils.Tensor = _Tensor  # type: ignore[attr-defined]
    pb_utils.InferenceResponse = _Response  # type: ignore[attr-defined]
    pb_utils.TritonError = _TritonError  # type: ignore[attr-defined]
    pb_utils.Logger = types.SimpleNamespace(log_info=logged.append)  # type: ignore[attr-defined]
    pb_utils.get_input_tensor_by_name = lambda request, name: next(  # type: ignore[attr-defined]
        (t for t in request.inputs() if t.name() == name), None
    )
    monkeypatch.setitem(sys.modules, "triton_python_backend_utils", pb_utils)
    monkeypatch.delitem(sys.modules, "utils", raising=False)
    monkeypatch.syspath_prepend(str(MODEL_DIR))
    spec = importlib.util.spec_from_file_location("jpg_model_under_test", MODEL_DIR / "model.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    instance = module.TritonPythonModel()
    instance.initialize({"model_name": "jpg_model"})
    yield instance, logged
    sys.modules.pop("utils", None)


def _frame_b64() -> bytes:
    image = np.zeros((48, 64, 3), np.uint8)
    cv2.circle(image, (32, 24), 10, (0, 0, 255), -1)
    return base64.b64encode(cv2.imencode(".jpg", image)[1].tobytes())


def _request(cid: int | str, data: bytes, start: int = 0, end: int = 0, ready: int = 1) -> Any:
    def control(value: int) -> np.ndarray:
        return np.array([value], dtype=np.int32)

    return _Request(
        cid,
        image=np.array([data], dtype=np.object_),
        START=control(start),
        END=control(end),
        READY=control(ready),
        CORRID=np.array([cid if isinstance(cid, int) else 0], dtype=np.uint64),
    )


def test_start_and_end_log_and_answer_empty(model: tuple[Any, list[str]]) -> None:
    instance, logged = model
    responses = instance.execute([_request(7, b"", start=1), _request("cam", b"", end=1)])
    assert [(r.outputs, r.error) for r in responses] == [([], None), ([], None)]
    assert logged == ["Stream 7 started", "Stream cam stopped"]


def test_frames_are_reencoded_and_bad_frames_fail_alone(model: tuple[Any, list[str]]) -> None:
    instance, _ = model
    good = _request(7, _frame_b64())
    responses = instance.execute([good, _request(7, b"%%%"), _request(7, b"aGVsbG8="), good])
    assert len(responses) == 4
    for response in (responses[0], responses[3]):
        assert response.error is None
        (tensor,) = response.outputs
        assert tensor.name() == "output_image"
        out = tensor.as_numpy()
        assert out.shape == (1,) and out.dtype == np.object_
        decoded = cv2.imdecode(np.frombuffer(base64.b64decode(out[0]), np.uint8), 1)
        assert decoded.shape == (48, 64, 3)
    assert "not valid base64" in responses[1].error.message
    assert "not a decodable image" in responses[2].error.message
    assert responses[1].error.code == _TritonError.INVALID_ARG


def test_padding_requests_get_an_empty_response(model: tuple[Any, list[str]]) -> None:
    instance, logged = model
    (response,) = instance.execute([_request(0, b"\x00garbage", start=0, ready=0)])
    assert (response.outputs, response.error) == ([], None)
    assert logged == []


def test_batched_input_keeps_its_shape(model: tuple[Any, list[str]]) -> None:
    instance, _ = model
    request = _request(7, b"")
    request._inputs[0] = _Tensor("image", np.array([[_frame_b64()]], dtype=np.object_))
    (response,) = instance.execute([request])
    assert response.outputs[0].as_numpy().shape == (1, 1)
