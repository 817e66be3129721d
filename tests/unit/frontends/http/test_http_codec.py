"""The HTTP codec and its JSON pieces: pure functions, Triton's rules and texts."""

from __future__ import annotations

import json

import numpy as np
import pytest
from tritonclient.grpc import model_config_pb2

from tritonlite.core.errors import ErrorKind, InferenceServerError
from tritonlite.core.tensor import DataType, Tensor
from tritonlite.core.types import InferenceRequest, InferenceResponse
from tritonlite.frontends.common.tensors import InvalidDatatype
from tritonlite.frontends.http import tritonjson as tj
from tritonlite.frontends.http.codec import (
    HeaderLayouts,
    decode_infer_request,
    decode_raw_request,
    encode_infer_response,
)
from tritonlite.frontends.http.generate import (
    decode_generate_request,
    encode_generate_response,
)
from tritonlite.frontends.http.jsondata import json_leaves, json_to_wire, wire_to_json

LIMIT = 1 << 20


def decode(document: object, blobs: bytes = b"", header: bool = False):  # type: ignore[no-untyped-def]
    head = json.dumps(document).encode()
    return decode_infer_request("m", "", head + blobs, len(head) if header else None,
                                max_input_size=LIMIT)


def error_of(fn, *args, **kwargs) -> InferenceServerError:  # type: ignore[no-untyped-def]
    with pytest.raises(InferenceServerError) as info:
        fn(*args, **kwargs)
    return info.value


# ------------------------------------------------------------------------- JSON data in


@pytest.mark.parametrize(
    ("datatype", "values", "expected"),
    [
        (DataType.UINT8, [300, 255], [44, 255]),
        (DataType.INT8, [300, -129], [44, 127]),
        (DataType.UINT64, [2**64 - 1, 1], [2**64 - 1, 1]),
        (DataType.INT64, [-(2**63), 2**63 - 1], [-(2**63), 2**63 - 1]),
        (DataType.FP32, [1, 2.5], [1.0, 2.5]),
        (DataType.FP32, [1e39, -1e39], [np.inf, -np.inf]),
        (DataType.BOOL, [True, False], [True, False]),
    ],
)
def test_json_data_converts_like_a_c_cast(datatype: DataType, values: list[object],
                                          expected: list[object]) -> None:
    raw = json_to_wire("x", datatype, values, len(values))
    assert np.frombuffer(raw, datatype.numpy_dtype).tolist() == expected


@pytest.mark.parametrize(
    ("datatype", "values", "message"),
    [
        (DataType.UINT8, [-1], tj.NOT_UINT),
        (DataType.UINT64, [2**64], tj.NOT_UINT),
        (DataType.INT64, [2**63], tj.NOT_INT),
        (DataType.INT32, [1.5], tj.NOT_INT),
        (DataType.INT32, [True], tj.NOT_INT),
        (DataType.BOOL, [1], tj.NOT_BOOL),
        (DataType.FP64, ["1"], tj.NOT_DOUBLE),
        (DataType.FP64, [True], tj.NOT_DOUBLE),
    ],
)
def test_json_data_type_errors(datatype: DataType, values: list[object], message: str) -> None:
    error = error_of(json_to_wire, "x", datatype, values, len(values))
    assert (error.kind, error.message) == (ErrorKind.INTERNAL, f"Unable to parse 'data': {message}")


def test_json_data_shape_errors_and_nesting() -> None:
    mismatch = "Unable to parse 'data': Shape does not match true shape of 'data' field"
    assert error_of(json_to_wire, "x", DataType.INT32, [1, 2], 3).message == mismatch
    assert error_of(json_to_wire, "x", DataType.INT32, [1, 2, 3, 4], 3).message == mismatch
    # Elements past the expected count are not type-checked: the count error wins.
    assert error_of(json_to_wire, "x", DataType.INT32, [1, 2, 3, "x"], 3).message == mismatch
    assert json_leaves([[1, [2]], [3]]) == [1, 2, 3]
    assert np.frombuffer(json_to_wire("x", DataType.INT32, [[1, [2]], [3]], 3), "<i4").tolist() \
        == [1, 2, 3]
    fp16 = error_of(json_to_wire, "IN", DataType.FP16, [1.0], 1)
    assert (fp16.kind, fp16.message) == (
        ErrorKind.INVALID_ARG,
        "receiving FP16 data via JSON is not supported. Please use the binary data format for "
        "input IN")
    assert error_of(json_to_wire, "IN", None, [1], 1).message == "invalid datatype for input IN"


# ------------------------------------------------------------------------ JSON data out


def tensor(array: np.ndarray, datatype: DataType | None = None) -> Tensor:
    return Tensor.from_numpy("t", array, datatype)


def test_doubles_in_rapidjson_notation() -> None:
    values = [1e-7, 1e-6, 1e-5, 1e16, 1e21, 1e22, 0.5, 3.4e38, -0.0, 5e-324, 100.0]
    out = wire_to_json(tensor(np.array(values, np.float64)))
    assert out == (b"[1e-7,0.000001,0.00001,10000000000000000.0,1e21,1e22,0.5,3.4e38,-0.0,"
                   b"5e-324,100.0]")
    special = wire_to_json(tensor(np.array([np.nan, np.inf, -np.inf, 1.1], np.float32)))
    assert special == b"[NaN,Infinity,-Infinity,1.100000023841858]"


def test_integer_bool_and_bytes_outputs() -> None:
    assert wire_to_json(tensor(np.array([[2**64 - 1]], np.uint64))) == b"[18446744073709551615]"
    assert wire_to_json(tensor(np.array([True, False]))) == b"[true,false]"
    strings = np.array([b"a", b"\xff\"\x01", "é".encode()], dtype=object)
    assert wire_to_json(tensor(strings, DataType.BYTES)) == b'["a","\xff\\"\\u0001","\xc3\xa9"]'
    with pytest.raises(InferenceServerError, match="sending FP16 data via JSON"):
        wire_to_json(tensor(np.zeros(1, np.float16)))


# ------------------------------------------------------------------------------ decode


def test_decode_binary_inputs_are_views_of_the_body() -> None:
    data = np.arange(4, dtype=np.float32).tobytes()
    decoded = decode({"inputs": [{"name": "A", "shape": [4], "datatype": "FP32",
                                  "parameters": {"binary_data_size": 16}},
                                 {"name": "E", "shape": [0], "datatype": "FP32",
                                  "parameters": {"binary_data_size": 0}}]},
                     data, header=True)
    a, e = decoded.request.inputs
    assert isinstance(a.raw(), memoryview) and bytes(a.raw()) == data
    assert e.shape == (0,) and e.byte_size == 0


def test_decode_invalid_binary_datatype_is_finished_later() -> None:
    doc = {"inputs": [{"name": "A", "shape": [1], "datatype": "FLOAT",
                       "parameters": {"binary_data_size": 4}}]}
    with pytest.raises(InvalidDatatype):
        decode(doc, b"\0" * 4, header=True)


def test_decode_outputs_and_defaults() -> None:
    decoded = decode({"inputs": [], "parameters": {"binary_data_output": True}, "outputs": [
        {"name": "A"}, {"name": "B", "parameters": {"binary_data": False, "classification": 3}},
        {"name": "C", "parameters": {"classification": 0}}]})
    assert [(o.name, o.parameters) for o in decoded.request.requested_outputs] == [
        ("A", {}), ("B", {"classification": 3}), ("C", {})]
    assert (decoded.is_binary("A"), decoded.is_binary("B"), decoded.is_binary("Z")) == (
        False, False, True)


def test_decode_shared_memory_is_not_available() -> None:
    doc = {"inputs": [{"name": "A", "shape": [1], "datatype": "FP32",
                       "parameters": {"shared_memory_region": "r",
                                      "shared_memory_byte_size": 4}}]}
    error = error_of(decode, doc)
    assert (error.kind, error.message) == (ErrorKind.NOT_FOUND,
                                           "Unable to find shared memory region: 'r'")
    both = {"inputs": [], "outputs": [{"name": "A", "parameters": {
        "shared_memory_region": "r", "classification": 1}}]}
    assert error_of(decode, both).message == (
        "Output can't set both 'shared_memory_region' and 'classification'")


def test_decode_json_header_over_the_limit() -> None:
    head = json.dumps({"inputs": []}).encode()
    error = error_of(decode_infer_request, "m", "", head, None, max_input_size=5)
    assert error.message == (
        f"request JSON size of {len(head)} bytes exceeds the maximum allowed input size of 5 "
        "bytes. Use --http-max-input-size to increase the limit.")


def test_decode_raw_request_from_the_config() -> None:
    config = model_config_pb2.ModelConfig(name="m", max_batch_size=4)
    config.input.add(name="IN", data_type=model_config_pb2.TYPE_FP32, dims=[-1])
    decoded = decode_raw_request("m", "", b"\0" * 12, config)
    (tensor_,) = decoded.request.inputs
    assert (tensor_.name, tensor_.shape, decoded.raw, decoded.default_binary) == (
        "IN", (1, 3), True, True)
    config.input.add(name="IN2", data_type=model_config_pb2.TYPE_FP32, dims=[1])
    assert error_of(decode_raw_request, "m", "", b"", config).message == (
        "[request id: <id_unknown>] Raw request must only have 1 input (found 1) to be deduced "
        "but got 2 inputs in 'm' model configuration")


# ------------------------------------------------------------------------------ encode


def test_encode_response_layout() -> None:
    request = InferenceRequest("m", [], id="r")
    decoded = decode(
        {"inputs": [], "outputs": [{"name": "B", "parameters": {"binary_data": True}}]})
    response = InferenceResponse(
        "m", "1", outputs=[tensor(np.array([1, 2], np.int32)),
                           Tensor.from_numpy("B", np.array([3.0], np.float32))],
        parameters={"p": 1, "skip": object()})
    encoded = encode_infer_response(response, request, decoded)
    header, blob = encoded.parts
    assert encoded.header_length == len(header)
    assert json.loads(header) == {
        "id": "r", "model_name": "m", "model_version": "1", "parameters": {"p": 1},
        "outputs": [{"name": "t", "datatype": "INT32", "shape": [2], "data": [1, 2]},
                    {"name": "B", "datatype": "FP32", "shape": [1],
                     "parameters": {"binary_data_size": 4}}]}
    assert bytes(blob) == np.array([3.0], np.float32).tobytes()


# ---------------------------------------------------------------------------- generate


def generate_config(mbs: int = 0) -> model_config_pb2.ModelConfig:
    config = model_config_pb2.ModelConfig(name="g", max_batch_size=mbs)
    config.input.add(name="X", data_type=model_config_pb2.TYPE_INT32, dims=[2, -1])
    config.input.add(name="S", data_type=model_config_pb2.TYPE_STRING, dims=[1])
    return config


def test_generate_shapes_inputs_from_the_config() -> None:
    body = json.dumps({"X": [1, 2, 3, 4], "S": "hi", "p": True}).encode()
    request = decode_generate_request("g", "", body, generate_config())
    x, s = request.inputs
    assert (x.shape, s.shape, request.parameters) == ((2, 2), (1,), {"p": True})
    assert s.as_numpy().tolist() == [b"hi"]
    batched = decode_generate_request("g", "", body, generate_config(mbs=4))
    assert batched.inputs[0].shape == (1, 2, 2)
    odd = json.dumps({"X": [1, 2, 3]}).encode()
    assert error_of(decode_generate_request, "g", "", odd, generate_config()).message == (
        "The schema can not convert input 'X' to tensor with proper shape")


def test_generate_response_keys_in_byte_order() -> None:
    response = InferenceResponse("g", "1", outputs=[
        Tensor.from_numpy("b", np.array([1, 2], np.int32)),
        Tensor.from_numpy("A", np.array([7], np.int32))], parameters={"z": "p"})
    out = encode_generate_response(response, InferenceRequest("g", [], id="i"))
    assert out == b'{"A":7,"b":[1,2],"id":"i","model_name":"g","model_version":"1","z":"p"}'


# ------------------------------------------------------------ headers decoded before


def _binary(document: dict[str, object], *blobs: bytes) -> tuple[bytes, int]:
    head = json.dumps(document).encode()
    return head + b"".join(blobs), len(head)


def decode_with(layouts: HeaderLayouts, body: bytes, header_length: int,
                **kwargs: object):  # type: ignore[no-untyped-def]
    return decode_infer_request("m", "2", body, header_length, max_input_size=LIMIT,
                                layouts=layouts, **kwargs)  # type: ignore[arg-type]


SPEC = {"name": "IN", "datatype": "FP32", "shape": [2],
        "parameters": {"binary_data_size": 8}}


def test_a_header_seen_before_is_rebuilt_with_this_requests_data() -> None:
    layouts = HeaderLayouts()
    document = {"id": "r7", "inputs": [SPEC, {**SPEC, "name": "IN2"}],
                "outputs": [{"name": "OUT", "parameters": {"binary_data": True}}],
                "parameters": {"sequence_id": 5, "sequence_start": True, "priority": 2,
                               "timeout": 9, "custom": "x", "binary_data_output": True}}
    decoded = []
    for i in range(3):
        a, b = np.full(2, i, np.float32), np.full(2, 10 + i, np.float32)
        body, n = _binary(document, a.tobytes(), b.tobytes())
        decoded.append(decode_with(layouts, body, n))
        fresh = decode_infer_request("m", "2", body, n, max_input_size=LIMIT)
        got, want = decoded[-1], fresh
        assert [bytes(x.raw()) for x in got.request.inputs] == [a.tobytes(), b.tobytes()]
        assert [(x.name, x.datatype, x.shape) for x in got.request.inputs] == [
            (x.name, x.datatype, x.shape) for x in want.request.inputs]
        for field_name in ("model_name", "model_version", "id", "requested_outputs",
                           "parameters", "sequence", "priority", "timeout_us"):
            assert getattr(got.request, field_name) == getattr(want.request, field_name)
        assert (got.default_binary, got.binary, got.raw) == (
            want.default_binary, want.binary, want.raw)
    assert len(layouts) == 1
    first, second = decoded[0].request, decoded[1].request
    assert first.layout is None  # decoded in full
    assert second.layout is not None and second.layout is decoded[2].request.layout
    # What a request may change later is its own.
    assert second.parameters is not decoded[2].request.parameters
    assert second.sequence is not decoded[2].request.sequence
    assert second.requested_outputs is not decoded[2].request.requested_outputs


def test_forwarded_headers_stay_with_their_request() -> None:
    layouts = HeaderLayouts()
    body, n = _binary({"inputs": [SPEC], "parameters": {"p": 1}}, bytes(8))
    one = decode_with(layouts, body, n, forwarded={"x-a": "1"})
    two = decode_with(layouts, body, n, forwarded={"x-b": "2"})
    three = decode_with(layouts, body, n)
    assert one.request.parameters == {"p": 1, "x-a": "1"}
    assert two.request.parameters == {"p": 1, "x-b": "2"}
    assert three.request.parameters == {"p": 1}


def test_a_body_that_does_not_fit_the_header_gets_the_full_decodes_error() -> None:
    layouts = HeaderLayouts()
    body, n = _binary({"inputs": [SPEC]}, bytes(8))
    decode_with(layouts, body, n)
    assert len(layouts) == 1
    for blobs, text in ((bytes(4), "unexpected size for input 'IN', expecting 4 additional "
                                   "bytes for model 'm'"),
                        (bytes(10), "unexpected additional input data for model 'm'")):
        short, n = _binary({"inputs": [SPEC]}, blobs)
        assert error_of(decode_with, layouts, short, n).message == text


@pytest.mark.parametrize(
    "document",
    [
        {"inputs": [{"name": "IN", "datatype": "FP32", "shape": [2], "data": [1, 2]}]},
        {"inputs": [{"name": "IN", "datatype": "FP32", "shape": [2],
                     "parameters": {"shared_memory_region": "r",
                                    "shared_memory_byte_size": 8}}]},
        {"inputs": [SPEC], "outputs": [{"name": "OUT", "parameters": {
            "shared_memory_region": "r", "shared_memory_byte_size": 8}}]},
    ],
    ids=["json-data", "input-in-shared-memory", "output-in-shared-memory"],
)
def test_headers_that_depend_on_more_than_their_bytes_are_not_kept(
        document: dict[str, object]) -> None:
    class Regions:  # every region exists, 8 bytes
        def view(self, name: str, offset: int, size: int) -> memoryview:
            return memoryview(bytearray(8))

    layouts = HeaderLayouts()
    binary = "binary_data_size" in document["inputs"][0].get("parameters", {})  # type: ignore[index]
    body, n = _binary(document, bytes(8) if binary else b"")
    for _ in range(2):
        decoded = decode_with(layouts, body, n, shared_memory=Regions())
        assert decoded.request.layout is None
    assert len(layouts) == 0


def test_a_header_that_fails_is_not_kept() -> None:
    layouts = HeaderLayouts()
    body, n = _binary({"inputs": [{**SPEC, "datatype": "FLOAT"}]}, bytes(8))
    for _ in range(2):
        with pytest.raises(InvalidDatatype):
            decode_with(layouts, body, n)
    assert len(layouts) == 0


def test_headers_that_never_repeat_rest_the_store() -> None:
    layouts = HeaderLayouts()
    for i in range(HeaderLayouts.LIMIT):
        body, n = _binary({"id": str(i), "inputs": [SPEC]}, bytes(8))
        decode_with(layouts, body, n)
    assert len(layouts) == HeaderLayouts.LIMIT
    body, n = _binary({"id": "new", "inputs": [SPEC]}, bytes(8))
    decode_with(layouts, body, n)  # full, without a hit: start over, and rest
    assert len(layouts) == 0
    for _ in range(3):
        decode_with(layouts, body, n)
    assert len(layouts) == 0
    # A store that filled with hits starts over without resting.
    layouts = HeaderLayouts()
    for i in range(HeaderLayouts.LIMIT):
        body, n = _binary({"id": str(i), "inputs": [SPEC]}, bytes(8))
        decode_with(layouts, body, n)
        decode_with(layouts, body, n)
    body, n = _binary({"id": "new", "inputs": [SPEC]}, bytes(8))
    decode_with(layouts, body, n)
    assert len(layouts) == 1


def test_long_headers_are_not_kept() -> None:
    layouts = HeaderLayouts()
    body, n = _binary({"id": "x" * HeaderLayouts.MAX_HEADER_BYTES, "inputs": [SPEC]}, bytes(8))
    for _ in range(2):
        assert decode_with(layouts, body, n).request.layout is None
    assert len(layouts) == 0
