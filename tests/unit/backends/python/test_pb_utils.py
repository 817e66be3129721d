"""Unit tests of tritonlite's ``triton_python_backend_utils`` (no server, no processes)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import importlib.util
import json
import re
import sys
import textwrap
import threading
from collections.abc import Awaitable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import triton_python_backend_utils as pb_utils
from tritonlite.backends.python import pb_utils as impl
from tritonlite.core.tensor import DataType
from tritonlite.core.tensor import Tensor as CoreTensor

TME = pb_utils.TritonModelException


@pytest.fixture(autouse=True)
def _reset_hooks() -> Iterator[None]:
    """Every test starts and ends without server/metrics handlers and default logging."""
    impl._set_server_handler(None)
    impl._set_metrics_handler(None)
    impl._configure_logging(0)
    impl._set_model_dir(None)
    yield
    impl._set_server_handler(None)
    impl._set_metrics_handler(None)
    impl._configure_logging(0)
    impl._set_model_dir(None)


# ---- Tensor ---------------------------------------------------------------------------


def test_tensor_basics_keep_the_array() -> None:
    arr = np.arange(6, dtype=np.float32).reshape(2, 3)
    t = pb_utils.Tensor("OUT", arr)
    assert t.name() == "OUT"
    assert t.as_numpy() is arr
    assert t.shape() == [2, 3]
    assert all(type(d) is int for d in t.shape())
    assert t.triton_dtype() == 11
    assert t.is_cpu() is True


def test_tensor_rejects_lists_with_a_clear_type_error() -> None:
    with pytest.raises(TypeError, match=r"incompatible constructor arguments.*numpy\.array"):
        pb_utils.Tensor("x", [1, 2, 3])  # type: ignore[arg-type]


def test_tensor_name_rules() -> None:
    with pytest.raises(TME, match=r"^Tensor name cannot be an empty string\.$"):
        pb_utils.Tensor("", np.zeros(1))
    with pytest.raises(TypeError):
        pb_utils.Tensor(1, np.zeros(1))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("dtype", "code"),
    [
        (np.bool_, 1),
        (np.uint8, 2),
        (np.uint16, 3),
        (np.uint32, 4),
        (np.uint64, 5),
        (np.int8, 6),
        (np.int16, 7),
        (np.int32, 8),
        (np.int64, 9),
        (np.float16, 10),
        (np.float32, 11),
        (np.float64, 12),
        (np.object_, 13),
        ("S3", 13),
    ],
)
def test_tensor_triton_dtype_codes(dtype: Any, code: int) -> None:
    assert pb_utils.Tensor("x", np.zeros(2, dtype=dtype)).triton_dtype() == code


@pytest.mark.parametrize("dtype", ["U3", np.complex64, ">f4", "datetime64[s]"])
def test_tensor_rejects_unsupported_dtypes(dtype: Any) -> None:
    with pytest.raises(TME, match=r"^NumPy dtype is not supported\.$"):
        pb_utils.Tensor("x", np.zeros(2, dtype=dtype))


def test_tensor_makes_non_contiguous_arrays_contiguous() -> None:
    base = np.arange(12, dtype=np.int32).reshape(3, 4)
    t = pb_utils.Tensor("x", base.T)
    assert t.as_numpy().flags.c_contiguous
    np.testing.assert_array_equal(t.as_numpy(), base.T)
    assert t.shape() == [4, 3]


def test_bytes_tensor_holds_bytes_and_str() -> None:
    arr = np.array([[b"ab", "é"]], dtype=np.object_)
    t = pb_utils.Tensor("s", arr)
    assert t.triton_dtype() == 13
    assert t.as_numpy() is arr
    assert t.shape() == [1, 2]


def test_dlpack_roundtrip_is_zero_copy() -> None:
    arr = np.arange(6, dtype=np.float32).reshape(2, 3)
    t = pb_utils.Tensor("x", arr)
    capsule = t.to_dlpack()
    back = pb_utils.Tensor.from_dlpack("y", capsule)
    assert back.name() == "y"
    assert back.triton_dtype() == 11
    assert np.shares_memory(back.as_numpy(), arr)
    assert t.__dlpack_device__() == (1, 0)
    # numpy consumes a pb Tensor through the DLPack protocol.
    assert np.shares_memory(np.from_dlpack(t), arr)
    # ... and a pb Tensor consumes anything with __dlpack__ (here: a numpy array).
    other = pb_utils.Tensor.from_dlpack("z", np.arange(4, dtype=np.int64))
    assert other.triton_dtype() == 9
    np.testing.assert_array_equal(other.as_numpy(), np.arange(4))


def test_dlpack_capsule_is_consumed_once() -> None:
    capsule = pb_utils.Tensor("x", np.zeros(2, dtype=np.float32)).to_dlpack()
    pb_utils.Tensor.from_dlpack("a", capsule)
    with pytest.raises(TME, match="consumed only once"):
        pb_utils.Tensor.from_dlpack("b", capsule)


def test_dlpack_bf16_roundtrip_keeps_bits() -> None:
    bits = np.array([0x3F80, 0x4000, 0xC040], dtype=np.uint16)  # 1.0, 2.0, -3.0
    t = pb_utils.Tensor._from_array("bf", bits, 14)
    assert t.triton_dtype() == 14
    with pytest.raises(TME, match=r"^Tensor dtype is BF16 and cannot be converted to NumPy\."):
        t.as_numpy()
    back = pb_utils.Tensor.from_dlpack("bf2", t.to_dlpack())
    assert back.triton_dtype() == 14
    assert back.shape() == [3]
    assert back._data().tolist() == bits.tolist()
    assert back._to_core().datatype is DataType.BF16
    assert bytes(back._to_core().raw()) == bits.tobytes()


def test_dlpack_refuses_bytes_and_bad_inputs() -> None:
    with pytest.raises(TME, match=r"^DLPack does not have support for string tensors\.$"):
        pb_utils.Tensor("s", np.array([b"a"], dtype=np.object_)).to_dlpack()
    with pytest.raises(TME, match="Tensor must be a DLPack capsule"):
        pb_utils.Tensor.from_dlpack("x", [1, 2])
    with pytest.raises(TME, match=r"^Tensor name cannot be an empty string\.$"):
        pb_utils.Tensor.from_dlpack("", np.zeros(1))


def test_dlpack_refuses_gpu_and_non_contiguous() -> None:
    class OnGpu:
        def __dlpack__(self, stream: Any = None) -> Any:
            raise AssertionError("must not be called")

        def __dlpack_device__(self) -> tuple[int, int]:
            return (2, 0)

    with pytest.raises(TME, match="GPU"):
        pb_utils.Tensor.from_dlpack("x", OnGpu())
    strided = np.arange(12, dtype=np.float32).reshape(3, 4)[:, ::2]
    with pytest.raises(TME, match="DLPack tensor is not contiguous"):
        pb_utils.Tensor.from_dlpack("x", strided)


def test_to_dlpack_copies_read_only_arrays() -> None:
    ro = np.frombuffer(b"\x00\x00\x80?", dtype=np.float32)
    assert not ro.flags.writeable
    back = pb_utils.Tensor.from_dlpack("y", pb_utils.Tensor("x", ro).to_dlpack())
    np.testing.assert_array_equal(back.as_numpy(), [1.0])


def test_core_tensor_conversion() -> None:
    core = CoreTensor("IN", DataType.FP32, (2,), raw=b"\x00\x00\x80?\x00\x00\x00@")
    t = pb_utils.Tensor._from_core(core)
    assert t.triton_dtype() == 11
    np.testing.assert_array_equal(t.as_numpy(), [1.0, 2.0])
    assert t.as_numpy().flags.writeable  # models may write into inputs, as in Triton
    assert t._to_core().datatype is DataType.FP32
    s = pb_utils.Tensor._from_core(CoreTensor("S", DataType.BYTES, (1,), raw=b"\x01\x00\x00\x00z"))
    assert s.as_numpy().tolist() == [b"z"]


# ---- dtype helpers and the BYTES codec -------------------------------------------------


def test_type_maps_match_triton() -> None:
    assert pb_utils.TRITON_STRING_TO_NUMPY["TYPE_BOOL"] is bool
    assert pb_utils.TRITON_STRING_TO_NUMPY["TYPE_STRING"] is np.object_
    assert len(pb_utils.TRITON_STRING_TO_NUMPY) == 13
    assert pb_utils.triton_string_to_numpy("TYPE_FP32") is np.float32
    with pytest.raises(KeyError):
        pb_utils.triton_string_to_numpy("TYPE_BF16")
    assert pb_utils.triton_to_numpy_type(1) is np.bool_
    assert pb_utils.triton_to_numpy_type(13) is np.object_
    assert pb_utils.triton_to_numpy_type(14) is None
    assert pb_utils.triton_to_numpy_type(0) is None
    for code in range(1, 14):
        assert pb_utils.numpy_to_triton_type(pb_utils.triton_to_numpy_type(code)) == code
    assert pb_utils.numpy_to_triton_type(np.dtype("float32")) == 11
    assert pb_utils.numpy_to_triton_type(np.bytes_) == 13
    assert pb_utils.numpy_to_triton_type(np.str_) is None
    assert pb_utils.numpy_to_triton_type(np.complex128) is None


def test_serialize_byte_tensor_matches_triton() -> None:
    arr = np.array([[b"ab"], ["é"]], dtype=np.object_)
    out = pb_utils.serialize_byte_tensor(arr)
    assert out == b"\x02\x00\x00\x00ab\x02\x00\x00\x00\xc3\xa9"
    assert isinstance(out, bytes)
    assert pb_utils.serialize_byte_tensor(np.array([], dtype=np.object_)) == ()
    assert pb_utils.serialize_byte_tensor(np.zeros(2, dtype=np.int32)) is None
    assert pb_utils.serialize_byte_tensor(np.array([b"xy"], dtype="S2")) == b"\x02\x00\x00\x00xy"
    assert pb_utils.serialize_byte_tensor(np.array([7], dtype=np.object_)) == b"\x01\x00\x00\x007"


def test_deserialize_bytes_tensor() -> None:
    out = pb_utils.deserialize_bytes_tensor(b"\x02\x00\x00\x00ab\x00\x00\x00\x00")
    assert out.dtype == np.object_
    assert out.tolist() == [b"ab", b""]
    assert pb_utils.deserialize_bytes_tensor(b"").shape == (0,)
    assert pb_utils.deserialize_bytes_tensor(bytearray(b"\x01\x00\x00\x00q")).tolist() == [b"q"]
    with pytest.raises(ValueError):
        pb_utils.deserialize_bytes_tensor(b"\x05\x00\x00\x00ab")


# ---- TritonError / TritonModelException ----------------------------------------------


def test_triton_error_codes_and_defaults() -> None:
    expected = {
        "UNKNOWN": 0,
        "INTERNAL": 1,
        "NOT_FOUND": 2,
        "INVALID_ARG": 3,
        "UNAVAILABLE": 4,
        "UNSUPPORTED": 5,
        "ALREADY_EXISTS": 6,
        "CANCELLED": 7,
    }
    for name, value in expected.items():
        assert getattr(pb_utils.TritonError, name) == value
    err = pb_utils.TritonError("boom")
    assert err.message() == "boom"
    assert err.code() == pb_utils.TritonError.INTERNAL == 1
    nf = pb_utils.TritonError("gone", pb_utils.TritonError.NOT_FOUND)
    assert nf.code() == 2
    assert pb_utils.TritonError("x", 7).code() == pb_utils.TritonError.CANCELLED
    with pytest.raises(TypeError):
        pb_utils.TritonError(None)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        pb_utils.TritonError("x", 42)
    assert issubclass(TME, Exception)


# ---- InferenceRequest ----------------------------------------------------------------


def _tensor(name: str = "IN", value: float = 1.0) -> pb_utils.Tensor:
    return pb_utils.Tensor(name, np.array([value], dtype=np.float32))


def test_bls_request_defaults() -> None:
    req = pb_utils.InferenceRequest(model_name="m", inputs=[], requested_output_names=[])
    assert req.request_id() == ""
    assert req.correlation_id() == 0
    assert req.inputs() == []
    assert req.flags() == 0
    assert req.timeout() == 0
    assert req.parameters() == "{}"
    assert req.requested_output_names() == set()
    assert req.is_cancelled() is False
    assert req.trace().get_context() is None


def test_bls_request_fields() -> None:
    inp = _tensor()
    req = pb_utils.InferenceRequest(
        request_id="r1",
        correlation_id="seq-a",
        inputs=[inp],
        requested_output_names=["B", "A", "A"],
        model_name="m",
        model_version=3,
        flags=pb_utils.TRITONSERVER_REQUEST_FLAG_SEQUENCE_START
        | pb_utils.TRITONSERVER_REQUEST_FLAG_SEQUENCE_END,
        timeout=1500,
        preferred_memory=pb_utils.PreferredMemory(pb_utils.TRITONSERVER_MEMORY_CPU, 0),
        parameters={"k": "v", "n": 3, "b": True},
    )
    assert req.request_id() == "r1"
    assert req.correlation_id() == "seq-a"
    assert req.inputs()[0] is inp
    assert req.requested_output_names() == {"A", "B"}
    assert req.flags() == 3
    assert req.timeout() == 1500
    assert json.loads(req.parameters()) == {"k": "v", "n": 3, "b": True}
    assert req._model_name == "m" and req._model_version == 3
    req.set_flags(pb_utils.TRITONSERVER_REQUEST_FLAG_SEQUENCE_END)
    assert req.flags() == 2
    req.set_flags(np.uint32(1))  # type: ignore[arg-type]
    assert req.flags() == 1


def test_bls_request_validation_texts() -> None:
    with pytest.raises(TME, match=r"^Correlation ID must be integer or string$"):
        pb_utils.InferenceRequest(correlation_id=1.5, model_name="m")  # type: ignore[arg-type]
    with pytest.raises(TME, match="unsigned 64-bit"):
        pb_utils.InferenceRequest(correlation_id=-1, model_name="m")
    with pytest.raises(
        TME,
        match=r"^Requested output name for request with id 'r' and model name 'm' should not "
        r"be empty\.$",
    ):
        pb_utils.InferenceRequest(request_id="r", model_name="m", requested_output_names=[""])
    with pytest.raises(
        TME, match=r"^Input tensor for request with id '' and model name 'm' should not be empty"
    ):
        pb_utils.InferenceRequest(model_name="m", inputs=[None])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        pb_utils.InferenceRequest(model_name="m", inputs=[np.zeros(1)])  # type: ignore[list-item]
    with pytest.raises(
        TME, match=r"^Expect parameters values to have type bool/int/str, found type <class"
    ):
        pb_utils.InferenceRequest(model_name="m", parameters={"f": 1.5})  # type: ignore[dict-item]
    with pytest.raises(TME, match=r"^Expect parameters keys to have type str, found type <class"):
        pb_utils.InferenceRequest(model_name="m", parameters={1: "x"})  # type: ignore[dict-item]


def test_request_release_flags_and_detached_sender() -> None:
    req = pb_utils.InferenceRequest(model_name="m")
    assert req._release_flags == pb_utils.TRITONSERVER_REQUEST_RELEASE_ALL
    req.set_release_flags(pb_utils.TRITONSERVER_REQUEST_RELEASE_RESCHEDULE)
    assert req._release_flags == 2
    sender = req.get_response_sender()
    assert sender is req.get_response_sender()
    assert sender.is_cancelled() is False
    with pytest.raises(TME, match="no reference to the decoupled state of the model"):
        sender.send(pb_utils.InferenceResponse())


def test_request_from_server() -> None:
    sent: list[tuple[Any, int]] = []
    cancelled = [False]
    sender = pb_utils.InferenceResponseSender(lambda r, f: sent.append((r, f)), lambda: False)
    req = pb_utils.InferenceRequest._from_server(
        inputs=[_tensor("START", 1), _tensor("IN")],
        request_id="abc",
        correlation_id=42,
        flags=1,
        parameters_json='{"x": 1}',
        requested_output_names=["OUT"],
        timeout=0,
        model_name="seq",
        model_version=1,
        sender_factory=lambda: sender,
        is_cancelled=lambda: cancelled[0],
        trace_context='{"traceparent": "00-1"}',
    )
    assert req.correlation_id() == 42
    assert req.flags() == pb_utils.TRITONSERVER_REQUEST_FLAG_SEQUENCE_START
    assert pb_utils.get_input_tensor_by_name(req, "START") is req.inputs()[0]
    assert pb_utils.get_input_tensor_by_name(req, "NOPE") is None
    assert req.parameters() == '{"x": 1}'
    assert req.requested_output_names() == {"OUT"}
    assert req.get_response_sender() is sender
    assert req.is_cancelled() is False
    cancelled[0] = True
    assert req.is_cancelled() is True
    assert req.trace().get_context() == '{"traceparent": "00-1"}'


def test_preferred_memory_and_constants() -> None:
    assert pb_utils.TRITONSERVER_MEMORY_GPU == 0
    assert pb_utils.TRITONSERVER_MEMORY_CPU == 1
    pm = pb_utils.PreferredMemory(pb_utils.TRITONSERVER_MEMORY_GPU, 1)
    assert pm.preferred_memory_type is pb_utils.TRITONSERVER_MEMORY_GPU
    assert pm.preferred_device_id == 1
    with pytest.raises(TypeError):
        pb_utils.PreferredMemory(7)
    assert pb_utils.TRITONSERVER_REQUEST_FLAG_SEQUENCE_START == 1
    assert pb_utils.TRITONSERVER_REQUEST_FLAG_SEQUENCE_END == 2
    assert pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL == 1
    assert pb_utils.TRITONSERVER_REQUEST_RELEASE_ALL == 1
    assert pb_utils.TRITONSERVER_REQUEST_RELEASE_RESCHEDULE == 2
    assert not hasattr(pb_utils, "TRITONSERVER_RESPONSE_COMPLETE_FINAL_FLAG")


# ---- InferenceResponse -----------------------------------------------------------------


def test_response_fields() -> None:
    out = _tensor("OUT")
    resp = pb_utils.InferenceResponse(output_tensors=[out], parameters={"p": 1})
    assert resp.output_tensors() == [out]
    resp.output_tensors().clear()  # a copy: the response keeps its outputs
    assert resp.output_tensors() == [out]
    assert resp.has_error() is False and resp.error() is None
    assert json.loads(resp.parameters()) == {"p": 1}
    assert pb_utils.get_output_tensor_by_name(resp, "OUT") is out
    assert pb_utils.get_output_tensor_by_name(resp, "X") is None
    err = pb_utils.InferenceResponse(error=pb_utils.TritonError("bad"))
    error = err.error()
    assert err.has_error() and error is not None and error.message() == "bad"
    assert err.parameters() == "{}"
    assert pb_utils.InferenceResponse([out]).output_tensors() == [out]


def test_response_validation() -> None:
    with pytest.raises(TypeError):
        pb_utils.InferenceResponse(output_tensors=[np.zeros(1)])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        pb_utils.InferenceResponse(error="oops")  # type: ignore[arg-type]
    with pytest.raises(TME, match="bool/int/str"):
        pb_utils.InferenceResponse(parameters={"x": None})  # type: ignore[dict-item]


# ---- InferenceResponseSender ---------------------------------------------------------


class _Recorder:
    def __init__(self) -> None:
        self.sent: list[tuple[pb_utils.InferenceResponse | None, int]] = []

    def __call__(self, response: pb_utils.InferenceResponse | None, flags: int) -> None:
        self.sent.append((response, flags))


def test_sender_decoupled_flow() -> None:
    rec = _Recorder()
    sender = pb_utils.InferenceResponseSender(rec, lambda: True)
    assert sender.is_cancelled() is True
    r1 = pb_utils.InferenceResponse([_tensor("OUT")])
    sender.send(r1)
    sender.send(pb_utils.InferenceResponse([_tensor("OUT")]))
    sender.send(flags=pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL)
    assert [f for _, f in rec.sent] == [0, 0, 1]
    assert rec.sent[0][0] is r1 and rec.sent[2][0] is None
    assert sender._is_closed()
    with pytest.raises(TME, match=r"^Unable to send response\. Response sender has been closed\.$"):
        sender.send(pb_utils.InferenceResponse())
    with pytest.raises(TME, match="has been closed"):
        sender.send(flags=pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL)
    assert len(rec.sent) == 3


def test_sender_argument_rules() -> None:
    sender = pb_utils.InferenceResponseSender(_Recorder(), lambda: False)
    with pytest.raises(TME, match=r"^Unable to send response\. Unsupported flag provided\.$"):
        sender.send(pb_utils.InferenceResponse(), flags=2)
    with pytest.raises(
        TME,
        match=r"^Inference Response object must be provided when the response flags is set to "
        r"zero\.$",
    ):
        sender.send()
    with pytest.raises(TypeError):
        sender.send("not a response")  # type: ignore[arg-type]


def test_sender_non_decoupled_rules() -> None:
    rec = _Recorder()
    sender = pb_utils.InferenceResponseSender(rec, lambda: False, decoupled=False)
    with pytest.raises(
        TME,
        match=r"^Unable to send response\. Non-decoupled model cannot send complete final "
        r"before sending a response\.$",
    ):
        sender.send(flags=pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL)
    sender.send(pb_utils.InferenceResponse())
    with pytest.raises(TME, match="cannot send more than one response"):
        sender.send(pb_utils.InferenceResponse())
    sender.send(flags=pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL)
    assert [f for _, f in rec.sent] == [0, 1]


def test_sender_returned_response_accounting_and_close() -> None:
    sender = pb_utils.InferenceResponseSender(_Recorder(), lambda: False, decoupled=False)
    sender._record_returned_response(pb_utils.InferenceResponse())
    with pytest.raises(TME):
        sender.send(pb_utils.InferenceResponse())
    other = pb_utils.InferenceResponseSender(_Recorder(), lambda: False)
    other._close()
    with pytest.raises(TME, match="has been closed"):
        other.send(pb_utils.InferenceResponse())


def test_sender_prunes_unrequested_outputs() -> None:
    rec = _Recorder()
    sender = pb_utils.InferenceResponseSender(rec, lambda: False, requested_output_names={"A"})
    sender.send(pb_utils.InferenceResponse([_tensor("A"), _tensor("B")]))
    response = rec.sent[0][0]
    assert response is not None
    assert [t.name() for t in response.output_tensors()] == ["A"]


def test_sender_can_be_closed_while_a_send_is_in_flight() -> None:
    entered, release = threading.Event(), threading.Event()

    def slow_send(response: pb_utils.InferenceResponse | None, flags: int) -> None:
        entered.set()
        release.wait(5)

    sender = pb_utils.InferenceResponseSender(slow_send, lambda: False)
    worker = threading.Thread(target=sender.send, args=(pb_utils.InferenceResponse(),))
    worker.start()
    assert entered.wait(5)
    sender._close()  # does not wait for the in-flight send (no lock-order deadlock)
    assert sender._is_closed()
    release.set()
    worker.join(5)
    assert not worker.is_alive()


def test_sender_is_thread_safe_and_ordered() -> None:
    rec = _Recorder()
    sender = pb_utils.InferenceResponseSender(rec, lambda: False)

    def work() -> None:
        for _ in range(50):
            sender.send(pb_utils.InferenceResponse())

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sender.send(flags=pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL)
    assert len(rec.sent) == 201 and rec.sent[-1][1] == 1


# ---- ResponseIterator ----------------------------------------------------------------


def test_response_iterator_prefilled_and_replay() -> None:
    r1, r2 = pb_utils.InferenceResponse([_tensor("O")]), pb_utils.InferenceResponse()
    it = pb_utils.ResponseIterator([r1, r2])
    assert list(it) == [r1, r2]
    assert list(it) == [r1, r2]  # a finished iterator replays, as Triton's does
    assert list(pb_utils.ResponseIterator([])) == []


def test_response_iterator_fed_from_another_thread_and_cancel() -> None:
    cancels: list[int] = []
    it = pb_utils.ResponseIterator(cancel_fn=lambda: cancels.append(1))
    it.cancel()
    assert cancels == [1]

    def produce() -> None:
        it._put(pb_utils.InferenceResponse([_tensor("O", 1)]), final=False)
        it._put(None, final=True)

    threading.Thread(target=produce).start()
    got = list(it)
    assert len(got) == 2
    assert got[0].output_tensors()[0].name() == "O"
    assert got[1].output_tensors() == []  # the final flag-only response is empty
    it.cancel()  # finished: nothing to cancel
    assert cancels == [1]


# ---- BLS and model control through the server handler --------------------------------


class _FakeServer:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def exec(
        self, request: pb_utils.InferenceRequest, decoupled: bool
    ) -> pb_utils.InferenceResponse | pb_utils.ResponseIterator:
        self.calls.append(("exec", (request._model_name, decoupled)))
        doubled = request.inputs()[0].as_numpy() * 2
        response = pb_utils.InferenceResponse([pb_utils.Tensor("OUT", doubled)])
        return pb_utils.ResponseIterator([response]) if decoupled else response

    def async_exec(
        self, request: pb_utils.InferenceRequest, decoupled: bool
    ) -> Awaitable[pb_utils.InferenceResponse | pb_utils.ResponseIterator]:
        async def run() -> pb_utils.InferenceResponse | pb_utils.ResponseIterator:
            return self.exec(request, decoupled)

        return run()

    def load_model(self, name: str, config: str, files: dict[str, bytes]) -> None:
        self.calls.append(("load", (name, config, files)))

    def unload_model(self, name: str, unload_dependents: bool) -> None:
        self.calls.append(("unload", (name, unload_dependents)))

    def is_model_ready(self, name: str, version: int) -> bool:
        self.calls.append(("ready", (name, version)))
        return name == "up"


def test_bls_without_server_raises_clearly() -> None:
    req = pb_utils.InferenceRequest(model_name="m", inputs=[_tensor()])
    with pytest.raises(TME, match="needs a running tritonlite server"):
        req.exec()
    with pytest.raises(TME, match="needs a running tritonlite server"):
        req.async_exec()
    with pytest.raises(TME, match="needs a running tritonlite server"):
        pb_utils.load_model("m")
    with pytest.raises(TME, match="needs a running tritonlite server"):
        pb_utils.unload_model("m")
    with pytest.raises(TME, match="needs a running tritonlite server"):
        pb_utils.is_model_ready("m")


def test_bls_through_a_handler() -> None:
    fake = _FakeServer()
    assert impl._set_server_handler(fake) is None
    req = pb_utils.InferenceRequest(model_name="m", inputs=[_tensor(value=3)])
    resp = req.exec()
    assert isinstance(resp, pb_utils.InferenceResponse)
    out = pb_utils.get_output_tensor_by_name(resp, "OUT")
    assert out is not None and out.as_numpy().tolist() == [6.0]
    it = req.exec(decoupled=True)
    assert isinstance(it, pb_utils.ResponseIterator)
    assert len(list(it)) == 1
    result = asyncio.run(_await(req.async_exec()))
    assert isinstance(result, pb_utils.InferenceResponse)
    assert fake.calls[0] == ("exec", ("m", False)) and fake.calls[1] == ("exec", ("m", True))
    assert impl._set_server_handler(None) is fake


async def _await(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


def test_model_control_through_a_handler() -> None:
    fake = _FakeServer()
    impl._set_server_handler(fake)
    pb_utils.load_model("m", config='{"backend": "python"}', files={"file:1/model.py": b"x"})
    pb_utils.load_model(model_name="n")
    pb_utils.unload_model("m", unload_dependents=True)
    assert pb_utils.is_model_ready("up") is True
    assert pb_utils.is_model_ready("down", "2") is False
    assert fake.calls == [
        ("load", ("m", '{"backend": "python"}', {"file:1/model.py": b"x"})),
        ("load", ("n", "", {})),
        ("unload", ("m", True)),
        ("ready", ("up", -1)),
        ("ready", ("down", 2)),
    ]
    with pytest.raises(TME, match=r"^failed to load model 'm', files should be a dictionary"):
        pb_utils.load_model("m", files=[b"x"])  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        pb_utils.load_model("m", files={"file:a": "text"})  # type: ignore[dict-item]
    with pytest.raises(
        TME,
        match=r"^failed to get model version from specified version string 'abc' \(details: "
        r"stol\), version should be an integral value > 0$",
    ):
        pb_utils.is_model_ready("m", "abc")
    with pytest.raises(TME, match=r"version should be an integral value > 0$"):
        pb_utils.is_model_ready("m", "-3")


def test_get_model_dir(tmp_path: Path) -> None:
    with pytest.raises(TME, match="model directory has not been set"):
        pb_utils.get_model_dir()
    impl._set_model_dir(tmp_path / "1")
    assert pb_utils.get_model_dir() == str(tmp_path / "1")


# ---- Logger --------------------------------------------------------------------------

_LINE = re.compile(r"^([IWE])(\d{4}) (\d\d:\d\d:\d\d\.\d{6}) (\d+) ([^ ]+):(\d+)\] (.*)$")


def test_logger_format_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    pb_utils.Logger.log_info('hello "x"')
    lineno = sys._getframe().f_lineno - 1
    pb_utils.Logger.log_warn("w")
    pb_utils.Logger.log_error("e")
    pb_utils.Logger.log("plain")
    pb_utils.Logger.log("warned", pb_utils.Logger.WARNING)
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 5
    m = _LINE.match(lines[0])
    assert m is not None, lines[0]
    assert m.group(1) == "I"
    assert int(m.group(4)) > 0
    assert m.group(5) == "test_pb_utils.py" and int(m.group(6)) == lineno
    assert m.group(7) == '"hello \\"x\\""'
    assert [ln[0] for ln in lines] == ["I", "W", "E", "I", "W"]
    assert lines[1].endswith('] "w"')


def test_logger_levels_and_verbose(capsys: pytest.CaptureFixture[str]) -> None:
    pb_utils.Logger.log_verbose("hidden")
    pb_utils.Logger.log("hidden too", pb_utils.Logger.VERBOSE)
    assert capsys.readouterr().err == ""
    impl._configure_logging(verbose_level=1, log_info=False, log_error=False)
    pb_utils.Logger.log_verbose("shown")
    pb_utils.Logger.log_info("info off")
    pb_utils.Logger.log_error("error off")
    pb_utils.Logger.log_warn("warn on")
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("I") and lines[0].endswith('] "shown"')
    assert lines[1].startswith("W")


def test_logger_enum_and_sink(monkeypatch: pytest.MonkeyPatch) -> None:
    assert int(pb_utils.Logger.LogLevel.INFO) == 0 and int(pb_utils.Logger.VERBOSE) == 3
    assert pb_utils.Logger.WARNING is pb_utils.Logger.LogLevel.WARNING
    lines: list[str] = []
    impl._configure_logging(sink=lines.append)
    pb_utils.Logger.log_info("a\nb")
    assert lines[0].endswith('] "a\\nb"')
    monkeypatch.setenv("TRITONLITE_LOG_VERBOSE", "2")
    impl._configure_logging(sink=lines.append)  # verbose level from the environment
    pb_utils.Logger.log_verbose("v")
    assert len(lines) == 2
    with pytest.raises(TypeError):
        pb_utils.Logger.log_info(42)  # type: ignore[arg-type]


# ---- Metrics -------------------------------------------------------------------------


class _MetricsRecorder:
    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []

    def family_created(self, name: str, description: str, kind: pb_utils.MetricKind) -> None:
        self.events.append(("family", name, kind))

    def metric_created(
        self, family_name: str, labels: dict[str, str], buckets: list[float] | None
    ) -> None:
        self.events.append(("metric", family_name, labels, buckets))

    def metric_update(
        self, family_name: str, labels: dict[str, str], op: str, value: float
    ) -> None:
        self.events.append(("update", family_name, labels, op, value))


def test_counter_rules() -> None:
    family = pb_utils.MetricFamily("t_counter_total", "a counter", pb_utils.MetricFamily.COUNTER)
    metric = family.Metric(labels={"model": "m", "version": "1"})
    assert metric.value() == 0.0
    metric.increment(2)
    metric.increment(0.5)
    assert metric.value() == 2.5
    with pytest.raises(
        TME,
        match=r"^Failed to increment metric value: TRITONSERVER_METRIC_KIND_COUNTER can only be "
        r"incremented monotonically by non-negative values\.$",
    ):
        metric.increment(-1)
    with pytest.raises(
        TME, match=r"^Failed to set metric value: TRITONSERVER_METRIC_KIND_COUNTER does not "
    ):
        metric.set(5)
    with pytest.raises(TME, match=r"COUNTER does not support Observe$"):
        metric.observe(1)
    # Same family name and labels: the same series, as in Triton.
    again = pb_utils.MetricFamily("t_counter_total", "other text", pb_utils.MetricFamily.COUNTER)
    assert again.Metric(labels={"version": "1", "model": "m"}).value() == 2.5


def test_gauge_rules() -> None:
    gauge = pb_utils.MetricFamily("t_gauge", "g", pb_utils.MetricFamily.GAUGE).Metric()
    gauge.set(10)
    gauge.increment(-3)
    assert gauge.value() == 7.0
    with pytest.raises(TME, match=r"GAUGE does not support Observe$"):
        gauge.observe(1.0)
    with pytest.raises(TypeError):
        gauge.set("1")  # type: ignore[arg-type]
    gauge.set(np.float32(1.5))
    assert gauge.value() == 1.5


def test_histogram_rules() -> None:
    family = pb_utils.MetricFamily("t_hist", "h", pb_utils.MetricFamily.HISTOGRAM)
    with pytest.raises(TME, match=r"^Failed to create metric\. Missing required buckets\.$"):
        family.Metric()
    with pytest.raises(TME, match=r"^Failed to create metric\. Buckets must be a list\.$"):
        family.Metric(buckets=(1.0, 2.0))  # type: ignore[arg-type]
    with pytest.raises(TME, match=r"Bucket Boundaries must be strictly sorted$"):
        family.Metric(buckets=[2.0, 1.0])
    with pytest.raises(TME, match=r"Invalid label name$"):
        family.Metric(labels={"le": "x"}, buckets=[1.0])
    hist = family.Metric(buckets=[1.0, 5.0])
    hist.observe(0.5)
    hist.observe(3)
    hist.observe(10)
    assert hist._state.bucket_counts == [1, 1, 1] and hist._state.count == 3
    with pytest.raises(
        TME,
        match=r"^Failed to get metric value: TRITONSERVER_METRIC_KIND_HISTOGRAM does not support "
        r"Value$",
    ):
        hist.value()
    with pytest.raises(TME, match=r"HISTOGRAM does not support Increment$"):
        hist.increment(1)
    with pytest.raises(TME, match=r"HISTOGRAM does not support Set$"):
        hist.set(1)


def test_metric_family_and_label_validation() -> None:
    counter = pb_utils.MetricFamily.COUNTER
    with pytest.raises(TME, match=r"^Error when creating MetricFamily: Invalid metric name$"):
        pb_utils.MetricFamily("1bad", "d", counter)
    with pytest.raises(TME, match=r"Invalid metric name$"):
        pb_utils.MetricFamily("__reserved", "d", counter)
    pb_utils.MetricFamily("t_kind_clash", "d", counter)
    with pytest.raises(TME, match=r"Family name already exists with different type$"):
        pb_utils.MetricFamily("t_kind_clash", "d", pb_utils.MetricFamily.GAUGE)
    with pytest.raises(TypeError):
        pb_utils.MetricFamily("t_x", "d", 0)  # type: ignore[arg-type]
    family = pb_utils.MetricFamily("t_labels", "d", pb_utils.MetricFamily.GAUGE)
    with pytest.raises(TME, match=r"^Failed to create metric\. Labels must be a dictionary\.$"):
        family.Metric(labels=[("a", "b")])  # type: ignore[arg-type]
    with pytest.raises(TME, match=r"^Failed to create metric\. Unexpected buckets found\.$"):
        family.Metric(buckets=[1.0])
    with pytest.raises(TME, match=r"attempt to access JSON non-string as string$"):
        family.Metric(labels={"a": 1})  # type: ignore[dict-item]
    with pytest.raises(TME, match=r"Invalid label name$"):
        family.Metric(labels={"bad-name": "x"})


def test_metrics_handler_receives_every_event() -> None:
    rec = _MetricsRecorder()
    impl._set_metrics_handler(rec)
    family = pb_utils.MetricFamily("t_routed", "d", pb_utils.MetricFamily.GAUGE)
    metric = family.Metric(labels={"k": "v"})
    metric.set(3)
    metric.increment(1)
    with pytest.raises(TME):
        metric.observe(1)  # rejected updates are not forwarded
    assert rec.events == [
        ("family", "t_routed", pb_utils.MetricKind.GAUGE),
        ("metric", "t_routed", {"k": "v"}, None),
        ("update", "t_routed", {"k": "v"}, "set", 3.0),
        ("update", "t_routed", {"k": "v"}, "increment", 1.0),
    ]


# ---- ModelConfig and config helpers --------------------------------------------------


def _config(**extra: Any) -> pb_utils.ModelConfig:
    base: dict[str, Any] = {"name": "m", "max_batch_size": 0, "input": [], "output": []}
    base.update(extra)
    return pb_utils.ModelConfig(json.dumps(base))


def test_model_config_auto_complete_happy_path() -> None:
    cfg = _config()
    cfg.set_max_batch_size(8)
    cfg.set_dynamic_batching()
    cfg.add_input({"name": "IN", "data_type": "TYPE_FP32", "dims": [4], "optional": True})
    cfg.add_output({"name": "OUT", "data_type": "TYPE_FP32", "dims": [4]})
    cfg.set_model_transaction_policy({"decoupled": True})
    d = cfg.as_dict()
    assert d["max_batch_size"] == 8
    assert d["dynamic_batching"] == {}
    assert d["input"] == [{"name": "IN", "data_type": "TYPE_FP32", "dims": [4], "optional": True}]
    assert d["output"][0]["name"] == "OUT"
    assert pb_utils.using_decoupled_model_transaction_policy(d) is True
    assert cfg._model_config is d  # the stub reads _model_config, as Triton's does
    assert pb_utils.ModelConfig({"name": "x"}).as_dict()["max_batch_size"] == 0


def test_model_config_completes_declared_tensors() -> None:
    cfg = _config(
        input=[{"name": "IN", "data_type": "TYPE_INVALID", "dims": []}],
        output=[{"name": "OUT", "data_type": "TYPE_INT32", "dims": [2]}],
    )
    cfg.add_input({"name": "IN", "data_type": "TYPE_INT64", "dims": [3]})
    cfg.add_output({"name": "OUT", "data_type": "TYPE_INT32", "dims": [2]})
    assert cfg.as_dict()["input"] == [{"name": "IN", "data_type": "TYPE_INT64", "dims": [3]}]
    assert len(cfg.as_dict()["output"]) == 1


@pytest.mark.parametrize(
    ("action", "message"),
    [
        (
            lambda c: c.set_max_batch_size(4),
            "configuration specified max_batch_size 8, but in auto-complete-config function "
            "for model 'm' specified max_batch_size 4",
        ),
        (
            lambda c: c.add_input({"name": "IN", "data_type": "TYPE_FP32", "dims": [1], "x": 1}),
            "input 'IN' in auto-complete-config function for model 'm' contains property "
            "other than 'name', 'data_type', 'dims' and 'optional'.",
        ),
        (
            lambda c: c.add_output({"name": "O", "data_type": "TYPE_FP32", "dims": [1], "x": 1}),
            "output 'O' in auto-complete-config function for model 'm' contains property other "
            "than 'name', 'data_type' and 'dims'.",
        ),
        (
            lambda c: c.add_input({"data_type": "TYPE_FP32", "dims": [1]}),
            "input in auto-complete-config function for model 'm' is missing 'name' property.",
        ),
        (
            lambda c: c.add_output({"name": "O", "dims": [1]}),
            "output 'O' in auto-complete-config function for model 'm' is missing 'data_type' "
            "property.",
        ),
        (
            lambda c: c.add_input({"name": "I", "data_type": "TYPE_FP32"}),
            "input 'I' in auto-complete-config function for model 'm' is missing 'dims' property.",
        ),
        (
            lambda c: c.add_input({"name": "IN", "data_type": "TYPE_INT32", "dims": [2]}),
            "unable to load model 'm', configuration expects datatype TYPE_FP32 for input 'IN', "
            "model provides TYPE_INT32",
        ),
        (
            lambda c: c.add_input({"name": "IN", "data_type": "TYPE_FP32", "dims": [3]}),
            "model 'm', tensor 'IN': the model expects dims [3] but the model configuration "
            "specifies dims [2]",
        ),
        (
            lambda c: c.add_input(
                {"name": "IN", "data_type": "TYPE_FP32", "dims": [2], "optional": True}
            ),
            "model 'm', tensor 'IN': the model expects optional True but the model "
            "configuration specifies optional False",
        ),
        (
            lambda c: c.add_output({"name": "OUT", "data_type": "TYPE_FP16", "dims": [2]}),
            "unable to load model 'm', configuration expects datatype TYPE_FP32 for output "
            "'OUT', model provides TYPE_FP16",
        ),
        (
            lambda c: c.set_dynamic_batching(),
            "Configuration specified scheduling_choice as 'sequence_batching', but "
            "auto-complete-config function for model 'm' tries to set scheduling_choice as "
            "'dynamic_batching'",
        ),
        (
            lambda c: c.set_model_transaction_policy({"decoupled": True, "other": 1}),
            "model transaction property in auto-complete-config function for model 'm' "
            "contains property other than 'decoupled'.",
        ),
        (
            lambda c: c.set_model_transaction_policy({"decoupled": True}),
            "trying to change decoupled property in auto-complete-config for model 'm', which "
            "is already set to 'False'.",
        ),
    ],
)
def test_model_config_errors_match_triton(action: Any, message: str) -> None:
    cfg = _config(
        max_batch_size=8,
        sequence_batching={},
        model_transaction_policy={"decoupled": False},
        input=[{"name": "IN", "data_type": "TYPE_FP32", "dims": [2], "optional": False}],
        output=[{"name": "OUT", "data_type": "TYPE_FP32", "dims": [2]}],
    )
    with pytest.raises(ValueError) as info:
        action(cfg)
    assert str(info.value) == message


def test_config_lookups() -> None:
    cfg = {
        "input": [{"name": "A", "data_type": "TYPE_FP32"}],
        "output": [{"name": "B", "data_type": "TYPE_STRING"}],
    }
    assert pb_utils.get_input_config_by_name(cfg, "A") == cfg["input"][0]
    assert pb_utils.get_input_config_by_name(cfg, "B") is None
    assert pb_utils.get_output_config_by_name(cfg, "B") == cfg["output"][0]
    assert pb_utils.get_output_config_by_name({}, "B") is None
    assert pb_utils.using_decoupled_model_transaction_policy(cfg) is False
    policy = {"model_transaction_policy": {"decoupled": False}}
    assert pb_utils.using_decoupled_model_transaction_policy(policy) is False


# ---- The promise: a user's model.py is unit-testable without a server ----------------

_USER_MODEL = """
import json

import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    @staticmethod
    def auto_complete_config(auto_complete_model_config):
        auto_complete_model_config.add_input(
            {"name": "TEXT", "data_type": "TYPE_STRING", "dims": [-1]})
        auto_complete_model_config.add_output(
            {"name": "LENGTHS", "data_type": "TYPE_INT32", "dims": [-1]})
        auto_complete_model_config.set_max_batch_size(0)
        return auto_complete_model_config

    def initialize(self, args):
        config = json.loads(args["model_config"])
        out = pb_utils.get_output_config_by_name(config, "LENGTHS")
        self.out_dtype = pb_utils.triton_string_to_numpy(out["data_type"])
        self.calls = pb_utils.MetricFamily(
            "user_model_calls_total", "calls", pb_utils.MetricFamily.COUNTER
        ).Metric(labels={"model": args["model_name"]})

    def execute(self, requests):
        responses = []
        for request in requests:
            self.calls.increment(1)
            text = pb_utils.get_input_tensor_by_name(request, "TEXT")
            if text is None:
                error = pb_utils.TritonError("TEXT is missing", pb_utils.TritonError.INVALID_ARG)
                responses.append(pb_utils.InferenceResponse(error=error))
                continue
            pb_utils.Logger.log_verbose(f"batch of {len(text.as_numpy())}")
            lengths = pb_utils.np.array([len(s) for s in text.as_numpy()], dtype=self.out_dtype)
            responses.append(pb_utils.InferenceResponse([pb_utils.Tensor("LENGTHS", lengths)]))
        return responses
"""


def test_user_model_can_be_unit_tested_without_a_server(tmp_path: Path) -> None:
    model_file = tmp_path / "1" / "model.py"
    model_file.parent.mkdir()
    model_file.write_text(textwrap.dedent(_USER_MODEL))
    spec = importlib.util.spec_from_file_location("user_model_under_test", model_file)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    config = module.TritonPythonModel.auto_complete_config(
        pb_utils.ModelConfig(json.dumps({"name": "lengths", "input": [], "output": []}))
    )
    assert isinstance(config, pb_utils.ModelConfig)
    model = module.TritonPythonModel()
    model.initialize({"model_config": json.dumps(config.as_dict()), "model_name": "lengths"})

    good = pb_utils.InferenceRequest(
        model_name="lengths",
        inputs=[pb_utils.Tensor("TEXT", np.array([b"ab", "héllo"], dtype=np.object_))],
        requested_output_names=["LENGTHS"],
    )
    bad = pb_utils.InferenceRequest(model_name="lengths")
    responses = model.execute([good, bad])

    assert len(responses) == 2
    out = pb_utils.get_output_tensor_by_name(responses[0], "LENGTHS")
    assert out is not None
    assert out.as_numpy().tolist() == [2, 5]
    assert out.as_numpy().dtype == np.int32
    assert responses[1].has_error()
    assert responses[1].error().code() == pb_utils.TritonError.INVALID_ARG
    assert model.calls.value() == 2.0


def test_bls_request_accepts_bytes_names_as_triton_does() -> None:
    # python_backend's examples/bls passes a BYTES tensor element as model_name.
    req = pb_utils.InferenceRequest(model_name=b"add_sub", request_id=b"r1",
                                    requested_output_names=[b"OUTPUT0"], inputs=[])
    assert req._model_name == "add_sub"  # what the stub sends to the server
    assert req.request_id() == "r1"
    assert req.requested_output_names() == {"OUTPUT0"}


def test_request_from_server_makes_its_sender_once_on_first_use() -> None:
    made: list[pb_utils.InferenceResponseSender] = []

    def factory() -> pb_utils.InferenceResponseSender:
        sender = pb_utils.InferenceResponseSender(lambda r, f: None, lambda: False)
        made.append(sender)
        return sender

    req = pb_utils.InferenceRequest._from_server(
        inputs=[], request_id="", correlation_id=0, flags=0, parameters_json="{}",
        requested_output_names=[], timeout=0, model_name="m", model_version=1,
        is_cancelled=None, sender_factory=factory)
    assert made == []  # a model that never asks costs no sender
    barrier = threading.Barrier(8)

    def ask() -> pb_utils.InferenceResponseSender:
        barrier.wait()
        return req.get_response_sender()

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda _: ask(), range(8)))
    assert len(made) == 1
    assert all(s is made[0] for s in got)
    # Neither a sender nor a factory: a detached sender, as for a request a model builds.
    bare = pb_utils.InferenceRequest._from_server(
        inputs=[], request_id="", correlation_id=0, flags=0, parameters_json="{}",
        requested_output_names=[], timeout=0, model_name="m", model_version=1,
        is_cancelled=None)
    with pytest.raises(TME, match="no reference to the decoupled state of the model"):
        bare.get_response_sender().send(pb_utils.InferenceResponse())
    assert bare.trace().get_context() is None
