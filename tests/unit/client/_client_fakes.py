"""Fakes for the client tests: a fake ``tritonclient.grpc.InferenceServerClient``.

The fake serves one echo sequence model: START and END get an empty response, every other
request gets its ``image`` input back as ``output_image``. Its stream may hold responses
back and release them in reverse order, to exercise in-order delivery.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import numpy as np
from tritonclient.utils import InferenceServerException, deserialize_bytes_tensor


class FakeResult:
    """Stands in for ``tritonclient.grpc.InferResult``."""

    def __init__(self, request_id: str, outputs: dict[str, np.ndarray]) -> None:
        self._outputs = outputs
        self._response = SimpleNamespace(
            id=request_id, outputs=[SimpleNamespace(name=name) for name in outputs]
        )

    def get_response(self) -> Any:
        return self._response

    def as_numpy(self, name: str) -> np.ndarray | None:
        return self._outputs.get(name)


@dataclass
class SentRequest:
    request_id: str
    sequence_id: int | str
    start: bool
    end: bool
    inputs: dict[str, tuple[str, list[int], np.ndarray]]


@dataclass
class FakeTritonClient:
    """A fake InferenceServerClient for an echo sequence model ``jpg_model``."""

    live: bool = True
    models: dict[str, bool] = field(default_factory=lambda: {"jpg_model": True})
    max_batch_size: int = 0
    hold: int = 1  # stream: release responses (reversed) once this many are held
    fail_items: set[int] = field(default_factory=set)  # item indexes answered with an error
    corrupt_items: set[int] = field(default_factory=set)  # answered with a non-image
    sent: list[SentRequest] = field(default_factory=list)
    closed: bool = False
    stream_stops: list[bool] = field(default_factory=list)
    _callback: Callable[..., None] | None = None
    _held: list[tuple[FakeResult | None, InferenceServerException | None]] = field(
        default_factory=list
    )

    # -- health and metadata -----------------------------------------------------------
    def is_server_live(self, client_timeout: float | None = None) -> bool:
        return self.live

    def is_model_ready(self, model_name: str, model_version: str = "") -> bool:
        return self.models.get(model_name, False)

    def _check_model(self, model_name: str) -> None:
        if model_name not in self.models:
            raise InferenceServerException(
                f"Request for unknown model: '{model_name}' is not found",
                status="StatusCode.NOT_FOUND",
            )

    def get_model_metadata(self, model_name: str, model_version: str = "") -> Any:
        self._check_model(model_name)
        shape = [-1, 1] if self.max_batch_size else [1]
        return SimpleNamespace(
            inputs=[SimpleNamespace(name="image", datatype="BYTES", shape=shape)],
            outputs=[SimpleNamespace(name="output_image", datatype="BYTES", shape=shape)],
        )

    def get_model_config(self, model_name: str, model_version: str = "") -> Any:
        self._check_model(model_name)
        return SimpleNamespace(config=SimpleNamespace(max_batch_size=self.max_batch_size))

    def close(self) -> None:
        self.closed = True

    # -- the fake model ----------------------------------------------------------------
    def _serve(self, model_name: str, inputs: list[Any], **kw: Any) -> FakeResult:
        self._check_model(model_name)
        decoded = {}
        for infer_input in inputs:
            raw = infer_input._get_content()
            array = deserialize_bytes_tensor(raw).reshape(infer_input.shape())
            decoded[infer_input.name()] = (infer_input.datatype(), infer_input.shape(), array)
        request = SentRequest(
            kw["request_id"], kw["sequence_id"], kw["sequence_start"], kw["sequence_end"], decoded
        )
        self.sent.append(request)
        if request.start or request.end:
            return FakeResult(request.request_id, {})
        if request.request_id.isdigit() and int(request.request_id) in self.fail_items:
            raise InferenceServerException(f"bad frame {request.request_id}")
        if request.request_id.isdigit() and int(request.request_id) in self.corrupt_items:
            return FakeResult(request.request_id, {"output_image": np.array([b"bm90IGpwZWc="])})
        return FakeResult(request.request_id, {"output_image": decoded["image"][2]})

    def infer(self, model_name: str, inputs: list[Any], **kw: Any) -> FakeResult:
        try:
            return self._serve(model_name, inputs, **kw)
        except InferenceServerException as exc:
            if exc.status() is None:  # unary errors always carry a gRPC status
                raise InferenceServerException(
                    exc.message(), status="StatusCode.INVALID_ARGUMENT"
                ) from None
            raise

    def start_stream(self, callback: Callable[..., None], **kw: Any) -> None:
        self._callback = callback

    def async_stream_infer(self, model_name: str, inputs: list[Any], **kw: Any) -> None:
        assert self._callback is not None, "async_stream_infer before start_stream"
        try:
            self._held.append((self._serve(model_name, inputs, **kw), None))
        except InferenceServerException as exc:  # in-band: no status, no request id
            self._held.append((None, InferenceServerException(exc.message())))
        control = kw["sequence_start"] or kw["sequence_end"]
        if control or len(self._held) >= self.hold:
            held, self._held = self._held, []
            for result, error in reversed(held):
                self._callback(result=result, error=error)

    def stop_stream(self, cancel_requests: bool = False) -> None:
        self.stream_stops.append(cancel_requests)
        self._callback = None
