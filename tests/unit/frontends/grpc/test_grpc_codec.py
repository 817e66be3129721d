"""The gRPC codec: protobuf <-> core types, with Triton's error texts. No sockets."""

from __future__ import annotations

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from google.protobuf.message import DecodeError
from tritonclient.grpc import model_config_pb2, service_pb2

from tritonlite.core.errors import DecoupledNotSupported, ErrorKind, InferenceServerError
from tritonlite.core.tensor import DataType, Tensor, serialize_bytes
from tritonlite.core.types import InferenceRequest, InferenceResponse
from tritonlite.frontends.common.tensors import refine_decode_error
from tritonlite.frontends.grpc.codec import (
    FINAL_RESPONSE_PARAM,
    InvalidDatatype,
    RequestLayouts,
    WireInferRequest,
    decode_infer_request,
    encode_empty_final_response,
    encode_infer_response,
    encode_stream_error,
    encode_stream_response,
    parse_infer_request,
    wants_empty_final_response,
)

P = service_pb2.InferParameter
Input = service_pb2.ModelInferRequest.InferInputTensor
Output = service_pb2.ModelInferRequest.InferRequestedOutputTensor

NUMERIC = {
    "BOOL": np.array([[True, False, True]]),
    "UINT8": np.array([[0, 7, 255]], dtype=np.uint8),
    "UINT16": np.array([[0, 7, 65535]], dtype=np.uint16),
    "UINT32": np.array([[0, 7, 2**32 - 1]], dtype=np.uint32),
    "UINT64": np.array([[0, 7, 2**64 - 1]], dtype=np.uint64),
    "INT8": np.array([[-128, 0, 127]], dtype=np.int8),
    "INT16": np.array([[-32768, 0, 32767]], dtype=np.int16),
    "INT32": np.array([[-(2**31), 0, 2**31 - 1]], dtype=np.int32),
    "INT64": np.array([[-(2**63), 0, 2**63 - 1]], dtype=np.int64),
    "FP16": np.array([[-1.5, 0, 65504]], dtype=np.float16),
    "FP32": np.array([[-1.5, 0, 3.25]], dtype=np.float32),
    "FP64": np.array([[-1.5, 0, 1e300]], dtype=np.float64),
}
CONTENTS_FIELD = {
    "BOOL": "bool_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
}


def raw_request(
    *arrays: tuple[str, str, np.ndarray], **kw: object
) -> service_pb2.ModelInferRequest:
    msg = service_pb2.ModelInferRequest(model_name="m", **kw)  # type: ignore[arg-type]
    for name, datatype, array in arrays:
        msg.inputs.add(name=name, datatype=datatype, shape=array.shape)
        if datatype == "BYTES":
            msg.raw_input_contents.append(serialize_bytes(array))
        else:
            msg.raw_input_contents.append(np.ascontiguousarray(array).tobytes())
    return msg


def with_params(**params: P) -> service_pb2.ModelInferRequest:
    return raw_request(("IN", "FP32", np.zeros(2, np.float32)), parameters=params)


def decode_error(msg: service_pb2.ModelInferRequest) -> InferenceServerError:
    with pytest.raises(InferenceServerError) as info:
        decode_infer_request(msg)
    return info.value


# ---------------------------------------------------------------------------- tensors


@pytest.mark.parametrize("datatype", sorted(NUMERIC))
def test_raw_numeric_inputs_round_trip(datatype: str) -> None:
    array = NUMERIC[datatype]
    request = decode_infer_request(raw_request(("IN", datatype, array)))
    (tensor,) = request.inputs
    assert tensor.name == "IN"
    assert tensor.datatype is DataType(datatype)
    assert tensor.shape == (1, 3)
    np.testing.assert_array_equal(tensor.as_numpy(), array)


def test_raw_bytes_input_stays_in_wire_form() -> None:
    array = np.array([[b"a", b"", "h\u00e9".encode()]], dtype=np.object_)
    request = decode_infer_request(raw_request(("S", "BYTES", array)))
    (tensor,) = request.inputs
    assert bytes(tensor.raw()) == serialize_bytes(array)
    assert tensor.as_numpy().tolist() == array.tolist()


def test_bf16_input_is_passed_as_raw_bytes() -> None:
    raw = b"\x80\x3f\x00\x40"  # 1.0, 2.0 as bfloat16
    msg = service_pb2.ModelInferRequest(model_name="m", raw_input_contents=[raw])
    msg.inputs.add(name="B", datatype="BF16", shape=[2])
    (tensor,) = decode_infer_request(msg).inputs
    assert tensor.datatype is DataType.BF16
    assert bytes(tensor.raw()) == raw


def test_raw_inputs_pair_with_inputs_in_order_and_extra_raw_is_ignored() -> None:
    a, b = np.array([1, 2], np.int32), np.array([3.0], np.float64)
    msg = raw_request(("A", "INT32", a), ("B", "FP64", b))
    msg.raw_input_contents.append(b"spare")
    request = decode_infer_request(msg)
    np.testing.assert_array_equal(request.inputs[0].as_numpy(), a)
    np.testing.assert_array_equal(request.inputs[1].as_numpy(), b)


@pytest.mark.parametrize("datatype", sorted(CONTENTS_FIELD))
def test_typed_contents_inputs(datatype: str) -> None:
    array = NUMERIC[datatype]
    msg = service_pb2.ModelInferRequest(model_name="m")
    tensor = msg.inputs.add(name="IN", datatype=datatype, shape=array.shape)
    getattr(tensor.contents, CONTENTS_FIELD[datatype]).extend(array.reshape(-1).tolist())
    (decoded,) = decode_infer_request(msg).inputs
    assert decoded.datatype is DataType(datatype)
    np.testing.assert_array_equal(decoded.as_numpy(), array)


def test_bytes_contents_become_bytes_wire_form() -> None:
    msg = service_pb2.ModelInferRequest(model_name="m")
    tensor = msg.inputs.add(name="S", datatype="BYTES", shape=[3])
    tensor.contents.bytes_contents.extend([b"x", b"", b"yz"])
    (decoded,) = decode_infer_request(msg).inputs
    assert bytes(decoded.raw()) == b"\x01\x00\x00\x00x\x00\x00\x00\x00\x02\x00\x00\x00yz"
    assert decoded.as_numpy().tolist() == [b"x", b"", b"yz"]


def test_contents_count_is_left_to_the_core() -> None:
    msg = service_pb2.ModelInferRequest(model_name="m")
    msg.inputs.add(name="IN", datatype="FP32", shape=[2]).contents.fp32_contents.extend([1, 2, 3])
    (decoded,) = decode_infer_request(msg).inputs
    assert decoded.byte_size == 12  # the core reports "Expected 8, got 12"


def contents_request(datatype: str, **fields: list[object]) -> service_pb2.ModelInferRequest:
    msg = service_pb2.ModelInferRequest(model_name="m")
    tensor = msg.inputs.add(name="IN", datatype=datatype, shape=[2])
    tensor.contents.SetInParent()
    for field, values in fields.items():
        getattr(tensor.contents, field).extend(values)
    return msg


@pytest.mark.parametrize(
    ("msg", "text"),
    [
        (
            contents_request("FP32", int_contents=[1, 2]),
            "unexpected explicit tensor data for input tensor 'IN' for model 'm' of type "
            "'INT32', expected datatype 'FP32'",
        ),
        (
            contents_request("FP16", fp32_contents=[1, 2]),
            "unexpected explicit tensor data for input tensor 'IN' for model 'm' of type "
            "'FP32', expected datatype 'FP16'",
        ),
        (
            contents_request("FLOAT", fp32_contents=[1, 2]),
            "unexpected explicit tensor data for input tensor 'IN' for model 'm' of type "
            "'FP32', expected datatype '<invalid>'",
        ),
        (
            contents_request("FP32", fp32_contents=[1, 2], fp64_contents=[1, 2]),
            "unexpected explicit tensor data for input tensor 'IN' for model 'm', "
            "binary data was already supplied.",
        ),
    ],
)
def test_contents_type_errors(msg: service_pb2.ModelInferRequest, text: str) -> None:
    error = decode_error(msg)
    assert (error.kind, error.message) == (ErrorKind.INVALID_ARG, text)


def test_contents_with_raw_is_rejected() -> None:
    msg = contents_request("FP32", fp32_contents=[1, 2])
    msg.raw_input_contents.append(b"\x00" * 8)
    assert decode_error(msg).message == (
        "contents field must not be specified when using raw_input_contents for 'IN' for model 'm'"
    )


def test_missing_raw_input() -> None:
    msg = raw_request(("A", "INT32", np.array([1], np.int32)))
    msg.inputs.add(name="B", datatype="INT32", shape=[1])
    assert decode_error(msg).message == (
        "unable to find data for input tensor 'B' for model 'm' in request."
    )


def test_unknown_datatype_is_reported_after_the_data_checks() -> None:
    msg = raw_request(("IN", "INT32", np.array([1], np.int32)))
    msg.inputs[0].datatype = "FLOAT"
    error = decode_error(msg)
    assert isinstance(error, InvalidDatatype)
    assert error.input_name == "IN"
    msg.inputs.add(name="MISSING", datatype="FP32", shape=[1])
    assert "unable to find data for input tensor 'MISSING'" in decode_error(msg).message


def model_config(*, decoupled: bool = False) -> model_config_pb2.ModelConfig:
    config = model_config_pb2.ModelConfig(name="m")
    config.input.add(name="IN", data_type=model_config_pb2.TYPE_FP32, dims=[-1])
    config.input.add(name="S", data_type=model_config_pb2.TYPE_STRING, dims=[1])
    config.model_transaction_policy.decoupled = decoupled
    return config


def refine(error: InferenceServerError, msg: service_pb2.ModelInferRequest,
           config: model_config_pb2.ModelConfig, *, unary: bool) -> InferenceServerError:
    """The gRPC frontend's call of the shared refinement."""
    return refine_decode_error(error, config, model_name=msg.model_name, request_id=msg.id,
                               one_response=unary)


def test_refine_invalid_datatype_names_the_expected_type() -> None:
    msg = raw_request(("S", "STRING", np.array([b"x"], np.object_)))
    error = decode_error(msg)
    refined = refine(error, msg, model_config(), unary=True)
    assert refined.kind is ErrorKind.INVALID_ARG
    assert refined.message == (
        "[request id: <id_unknown>] inference input 'S' data-type is '<invalid>', "
        "but model 'm' expects 'BYTES'"
    )
    msg.id = "r1"
    refined = refine(error, msg, model_config(), unary=False)
    assert refined.message.startswith("[request id: r1] inference input 'S'")


def test_refine_invalid_datatype_of_an_unknown_input() -> None:
    msg = raw_request(("X", "FLOAT", np.zeros(1, np.float32)))
    refined = refine(decode_error(msg), msg, model_config(), unary=True)
    assert refined.message == "unexpected inference input 'X' for model 'm'"


def test_refine_reports_decoupled_first_for_model_infer_only() -> None:
    msg = with_params(sequence_id=P(uint64_param=1))
    error = decode_error(msg)
    assert isinstance(
        refine(error, msg, model_config(decoupled=True), unary=True),
        DecoupledNotSupported,
    )
    assert refine(error, msg, model_config(decoupled=True), unary=False) is error
    assert refine(error, msg, model_config(), unary=True) is error


# ------------------------------------------------------------------------- parameters


def test_request_fields() -> None:
    msg = with_params()
    msg.id, msg.model_version = "abc", "3"
    request = decode_infer_request(msg)
    assert (request.model_name, request.model_version, request.id) == ("m", "3", "abc")
    assert request.sequence is None
    assert request.parameters == {}
    assert request.requested_outputs == []
    assert (request.priority, request.timeout_us) == (0, 0)


@pytest.mark.parametrize(
    ("param", "expected"),
    [
        (P(int64_param=42), 42),
        (P(int64_param=-5), 2**64 - 5),  # Triton reinterprets it as uint64
        (P(string_param="abc"), "abc"),
    ],
)
def test_sequence_id(param: P, expected: int | str) -> None:
    request = decode_infer_request(
        with_params(sequence_id=param, sequence_start=P(bool_param=True))
    )
    assert request.sequence is not None
    assert request.sequence.correlation_id == expected
    assert (request.sequence.start, request.sequence.end) == (True, False)
    assert request.flags == 1


def test_sequence_end_alone() -> None:
    request = decode_infer_request(with_params(sequence_end=P(bool_param=True)))
    assert request.sequence is not None
    assert (request.sequence.correlation_id, request.flags) == (0, 2)


@pytest.mark.parametrize(
    ("params", "text"),
    [
        (
            {"sequence_id": P(uint64_param=5)},
            "invalid value type for 'sequence_id' parameter, expected int64_param or string_param.",
        ),
        (
            {"sequence_id": P()},
            "invalid value type for 'sequence_id' parameter, expected int64_param or string_param.",
        ),
        (
            {"sequence_start": P(int64_param=1)},
            "invalid value type for 'sequence_start' parameter, expected bool_param.",
        ),
        (
            {"sequence_end": P(string_param="x")},
            "invalid value type for 'sequence_end' parameter, expected bool_param.",
        ),
        ({"priority": P(int64_param=-1)}, "invalid value for 'priority', expected value >= 0."),
        (
            {"priority": P(string_param="1")},
            "invalid value type for 'priority' parameter, expected int64_param or uint64_param.",
        ),
        (
            {"timeout": P(uint64_param=3)},
            "invalid value type for 'timeout' parameter, expected int64_param.",
        ),
        (
            {"triton_x": P(bool_param=True)},
            "parameter keys starting with 'triton_' are reserved for Triton usage. Only the "
            "following keys starting with 'triton_' are allowed: "
            "triton_enable_empty_final_response",
        ),
        (
            {"triton_enable_empty_final_response": P(int64_param=1)},
            "invalid value type for 'triton_enable_empty_final_response' parameter, expected "
            "bool_param.",
        ),
        (
            {"custom": P(uint64_param=7)},
            "invalid value type for 'custom' parameter, expected int64_param, bool_param, "
            "or string_param.",
        ),
    ],
)
def test_parameter_errors(params: dict[str, P], text: str) -> None:
    error = decode_error(with_params(**params))
    assert (error.kind, error.message) == (ErrorKind.INVALID_ARG, text)


def test_schedule_policy_parameters() -> None:
    request = decode_infer_request(
        with_params(priority=P(uint64_param=3), timeout=P(int64_param=200000))
    )
    assert (request.priority, request.timeout_us) == (3, 200000)
    assert decode_infer_request(with_params(priority=P(int64_param=2))).priority == 2


def test_custom_parameters_keep_their_types_and_reserved_ones_are_lifted() -> None:
    msg = with_params(
        a=P(bool_param=True),
        b=P(int64_param=-3),
        c=P(string_param="s"),
        d=P(double_param=1.5),
        headers=P(string_param="h"),
        binary_data_output=P(bool_param=True),
        triton_enable_empty_final_response=P(bool_param=True),
        sequence_id=P(int64_param=9),
        priority=P(int64_param=1),
    )
    request = decode_infer_request(msg)
    # Triton 2.51 hands 'headers' and 'binary_data_output' to the model over gRPC.
    assert request.parameters == {
        "a": True,
        "b": -3,
        "c": "s",
        "d": 1.5,
        "headers": "h",
        "binary_data_output": True,
    }
    assert isinstance(request.parameters["d"], float)
    assert wants_empty_final_response(msg)
    assert not wants_empty_final_response(with_params())


# --------------------------------------------------------------------- requested outputs


def test_requested_outputs_and_classification() -> None:
    msg = with_params()
    msg.outputs.append(Output(name="A"))
    msg.outputs.append(Output(name="B", parameters={"classification": P(int64_param=2)}))
    outputs = decode_infer_request(msg).requested_outputs
    assert [(o.name, o.parameters) for o in outputs] == [("A", {}), ("B", {"classification": 2})]


@pytest.mark.parametrize(
    ("params", "kind", "text"),
    [
        (
            {"classification": P(string_param="1")},
            ErrorKind.INVALID_ARG,
            "invalid value type for 'classification' parameter, expected int64_param",
        ),
        (
            {"classification": P(int64_param=0)},
            ErrorKind.INVALID_ARG,
            "invalid value for 'classification' parameter, expected >= 0",
        ),
        (
            {"shared_memory_region": P(string_param="r")},
            ErrorKind.INVALID_ARG,
            "'shared_memory_byte_size' must be specified along with 'shared_memory_region' "
            "parameter for tensor 'OUT'",
        ),
        (
            {
                "shared_memory_region": P(string_param="r"),
                "shared_memory_byte_size": P(int64_param=8),
            },
            ErrorKind.NOT_FOUND,
            "Unable to find shared memory region: 'r'",
        ),
    ],
)
def test_requested_output_errors(params: dict[str, P], kind: ErrorKind, text: str) -> None:
    msg = with_params()
    msg.outputs.append(Output(name="OUT", parameters=params))
    error = decode_error(msg)
    assert (error.kind, error.message) == (kind, text)


@pytest.mark.parametrize(
    ("params", "text"),
    [
        (
            {"shared_memory_region": P(int64_param=1)},
            "invalid value type for 'shared_memory_region' parameter for tensor 'IN', "
            "expected string_param.",
        ),
        (
            {"shared_memory_offset": P(int64_param=1)},
            "'shared_memory_offset' can not be specified without 'shared_memory_region' "
            "parameter for tensor 'IN'",
        ),
        (
            {
                "shared_memory_region": P(string_param="r"),
                "shared_memory_byte_size": P(string_param="8"),
            },
            "invalid value type for 'shared_memory_byte_size' parameter for tensor 'IN', "
            "expected int64_param.",
        ),
    ],
)
def test_input_shared_memory_parameter_errors(params: dict[str, P], text: str) -> None:
    msg = service_pb2.ModelInferRequest(model_name="m")
    msg.inputs.append(Input(name="IN", datatype="FP32", shape=[2], parameters=params))
    assert decode_error(msg).message == text


def test_input_in_unknown_shared_memory_region() -> None:
    msg = service_pb2.ModelInferRequest(model_name="m", raw_input_contents=[b"\x00" * 8])
    region = {
        "shared_memory_region": P(string_param="r"),
        "shared_memory_byte_size": P(int64_param=8),
    }
    msg.inputs.append(Input(name="IN", datatype="FP32", shape=[2], parameters=region))
    error = decode_error(msg)
    assert (error.kind, error.message) == (
        ErrorKind.NOT_FOUND,
        "Unable to find shared memory region: 'r'",
    )


# ----------------------------------------------------------------------- wire parsing


def test_small_requests_parse_with_protobuf() -> None:
    msg = raw_request(("IN", "FP32", np.arange(4, dtype=np.float32)), id="x")
    wire = parse_infer_request(msg.SerializeToString())
    assert wire.message.id == "x"
    assert [bytes(r) for r in wire.raw_inputs] == list(msg.raw_input_contents)


def test_big_requests_keep_raw_inputs_in_the_received_buffer() -> None:
    a = np.arange(40_000, dtype=np.float32)
    b = np.arange(3, dtype=np.int64)
    msg = raw_request(
        ("A", "FP32", a),
        ("B", "INT64", b),
        id="big",
        parameters={"sequence_id": P(int64_param=4)},
    )
    msg.outputs.append(Output(name="OUT"))
    # Concatenated messages merge: this puts a raw input before the other fields.
    tail = service_pb2.ModelInferRequest(model_version="2").SerializeToString()
    data = msg.SerializeToString() + tail
    wire = parse_infer_request(data)
    assert all(isinstance(r, memoryview) and r.obj is data for r in wire.raw_inputs)
    assert wire.message.raw_input_contents == []
    assert (wire.message.id, wire.message.model_version) == ("big", "2")
    request = decode_infer_request(wire.message, wire.raw_inputs)
    np.testing.assert_array_equal(request.inputs[0].as_numpy(), a)
    np.testing.assert_array_equal(request.inputs[1].as_numpy(), b)
    assert request.correlation_id == 4
    assert [o.name for o in request.requested_outputs] == ["OUT"]


def test_big_request_with_raw_first_on_the_wire() -> None:
    big = np.ones(70_000, dtype=np.uint8)
    head = service_pb2.ModelInferRequest(raw_input_contents=[big.tobytes()]).SerializeToString()
    rest = service_pb2.ModelInferRequest(model_name="m")
    rest.inputs.add(name="IN", datatype="UINT8", shape=[70_000])
    wire = parse_infer_request(head + rest.SerializeToString())
    (tensor,) = decode_infer_request(wire.message, wire.raw_inputs).inputs
    assert tensor.as_numpy().sum() == 70_000


def test_malformed_big_request_is_left_to_protobuf() -> None:
    data = b"\x3a\xff\xff\xff\x0f" + b"\x00" * 70_000  # a length past the end
    with pytest.raises(Exception, match=r"(?i)pars|decod|truncat"):
        parse_infer_request(data)


# --------------------------------------------------------------------------- encoding


def response_with(*tensors: Tensor, **kw: object) -> InferenceResponse:
    return InferenceResponse("m", "1", outputs=list(tensors), **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("datatype", sorted(NUMERIC))
def test_encoded_response_reads_back_through_tritonclient(datatype: str) -> None:
    array = NUMERIC[datatype]
    data = encode_infer_response(
        response_with(Tensor.from_numpy("OUT", array, DataType(datatype)), id="r7")
    )
    message = service_pb2.ModelInferResponse.FromString(data)
    assert (message.model_name, message.model_version, message.id) == ("m", "1", "r7")
    assert message.outputs[0].datatype == datatype
    assert list(message.outputs[0].shape) == [1, 3]
    assert message.parameters == {}
    result = grpcclient.InferResult(message)
    np.testing.assert_array_equal(result.as_numpy("OUT"), array)


def test_encoded_bytes_outputs_and_several_outputs() -> None:
    strings = np.array([b"one", b"", b"three"], dtype=np.object_)
    floats = np.arange(6, dtype=np.float32).reshape(2, 3)
    wire_tensor = Tensor("W", DataType.INT32, [2], raw=memoryview(np.array([5, 6], np.int32)))
    data = encode_infer_response(
        response_with(Tensor.from_numpy("S", strings), Tensor.from_numpy("F", floats), wire_tensor)
    )
    result = grpcclient.InferResult(service_pb2.ModelInferResponse.FromString(data))
    assert result.as_numpy("S").tolist() == strings.tolist()
    np.testing.assert_array_equal(result.as_numpy("F"), floats)
    np.testing.assert_array_equal(result.as_numpy("W"), [5, 6])


def test_response_parameters_keep_their_types() -> None:
    params = {"b": True, "i": -4, "big": 2**64 - 1, "f": 0.5, "s": "x"}
    data = encode_infer_response(response_with(parameters=params))
    message = service_pb2.ModelInferResponse.FromString(data)
    assert {k: v.WhichOneof("parameter_choice") for k, v in message.parameters.items()} == {
        "b": "bool_param",
        "i": "int64_param",
        "big": "uint64_param",
        "f": "double_param",
        "s": "string_param",
    }
    assert message.parameters["i"].int64_param == -4
    assert message.parameters["big"].uint64_param == 2**64 - 1


def stream_message(data: bytes) -> service_pb2.ModelStreamInferResponse:
    return service_pb2.ModelStreamInferResponse.FromString(data)


def request_for(model: str = "m", version: str = "", id: str = "q") -> InferenceRequest:
    return InferenceRequest(model_name=model, inputs=[], model_version=version, id=id)


@pytest.mark.parametrize("final", [True, False])
def test_stream_response_carries_the_final_flag(final: bool) -> None:
    array = np.arange(3, dtype=np.int32)
    response = response_with(Tensor.from_numpy("OUT", array), id="q", final=final)
    message = stream_message(encode_stream_response(response, request_for()))
    assert message.error_message == ""
    inner = message.infer_response
    assert inner.parameters[FINAL_RESPONSE_PARAM].bool_param is final
    assert (inner.model_name, inner.model_version, inner.id) == ("m", "1", "q")
    np.testing.assert_array_equal(grpcclient.InferResult(inner).as_numpy("OUT"), array)


def test_stream_error_response_names_the_requested_model_and_version() -> None:
    error = InferenceServerError(ErrorKind.INTERNAL, "boom")
    response = InferenceResponse("m", "1", id="q", error=error)
    message = stream_message(encode_stream_response(response, request_for(version="")))
    assert message.error_message == "boom"
    inner = message.infer_response
    assert (inner.model_name, inner.model_version, inner.id) == ("m", "", "q")
    assert inner.parameters[FINAL_RESPONSE_PARAM].bool_param is True
    assert not inner.outputs


def test_empty_final_response() -> None:
    assert InferenceResponse("m", "1").is_flag_only
    assert not InferenceResponse("m", "1", final=False).is_flag_only
    assert not InferenceResponse("m", "1", parameters={"a": 1}).is_flag_only
    message = stream_message(encode_empty_final_response(request_for(version="", id="z")))
    inner = message.infer_response
    assert (message.error_message, inner.model_name, inner.model_version, inner.id) == (
        "",
        "m",
        "",
        "z",
    )
    assert dict(inner.parameters) == {FINAL_RESPONSE_PARAM: P(bool_param=True)}


def test_stream_request_error_carries_only_the_id() -> None:
    message = stream_message(encode_stream_error("q", "Request for unknown model"))
    assert message.error_message == "Request for unknown model"
    assert message.infer_response == service_pb2.ModelInferResponse(id="q")


# ------------------------------------------------------------ headers decoded before


def _message(raws: list[bytes], *, id: str = "r1", shape: tuple[int, ...] = (2,),
             **input_fields: object) -> service_pb2.ModelInferRequest:
    message = service_pb2.ModelInferRequest(model_name="m", model_version="3", id=id)
    message.parameters["sequence_id"].int64_param = 9
    message.parameters["custom"].string_param = "x"
    message.parameters["timeout"].int64_param = 5
    for i, _ in enumerate(raws):
        message.inputs.append(Input(name=f"IN{i}", datatype="FP32", shape=shape,
                                    **input_fields))  # type: ignore[arg-type]
    message.outputs.append(Output(name="OUT"))
    message.raw_input_contents.extend(raws)
    return message


def _parse_and_decode(layouts: RequestLayouts, data: bytes) -> tuple[
        WireInferRequest, InferenceRequest]:
    """What the gRPC service does with a request message and its layouts."""
    wire = layouts.parse(data)
    if wire.layout is not None:
        return wire, wire.layout.build(wire.raw_inputs)
    request = decode_infer_request(wire.message, wire.raw_inputs)
    layouts.keep(wire, request)
    return wire, request


def _same(a: InferenceRequest, b: InferenceRequest) -> None:
    assert [(t.name, t.datatype, t.shape, bytes(t.raw())) for t in a.inputs] == [
        (t.name, t.datatype, t.shape, bytes(t.raw())) for t in b.inputs]
    for name in ("model_name", "model_version", "id", "requested_outputs", "parameters",
                 "sequence", "priority", "timeout_us"):
        assert getattr(a, name) == getattr(b, name), name


def test_a_header_seen_before_is_not_parsed_again() -> None:
    layouts = RequestLayouts()
    requests = []
    for i in range(3):
        raws = [np.full(2, i, np.float32).tobytes(), np.full(2, 10 + i, np.float32).tobytes()]
        data = _message(raws).SerializeToString()
        wire, request = _parse_and_decode(layouts, data)
        _same(request, decode_infer_request(service_pb2.ModelInferRequest.FromString(data)))
        assert (wire.layout is not None) == (i > 0)
        requests.append(request)
    assert requests[0].layout is None
    assert requests[1].layout is requests[2].layout is not None
    assert requests[1].parameters is not requests[2].parameters
    assert requests[1].sequence is not requests[2].sequence
    # Raw inputs of other sizes (strings, say) are built from the header too, but
    # without the layout: the core validates them in full.
    raws = [b"\1" * 12, b"", ]
    data = _message(raws).SerializeToString()
    wire, request = _parse_and_decode(layouts, data)
    assert wire.layout is not None and request.layout is None
    _same(request, decode_infer_request(service_pb2.ModelInferRequest.FromString(data)))
    # Another count of raw inputs is parsed in full.
    for raws in ([bytes(8)], [bytes(8)] * 3):
        data = _message(raws).SerializeToString()
        wire = layouts.parse(data)
        assert wire.layout is None
        assert [bytes(r) for r in wire.raw_inputs] == raws


def test_large_messages_and_empty_raw_inputs_use_kept_headers() -> None:
    layouts = RequestLayouts()
    small, large = [b"", bytes(8)], [bytes(70_000), b""]
    for raws, kept in ((small, False), (small, True), (large, False), (large, True)):
        data = _message(raws, id=str(len(raws[0]))).SerializeToString()
        message = memoryview(data) if len(data) >= 65536 else data  # as the transport
        wire, request = _parse_and_decode(layouts, message)
        _same(request, decode_infer_request(service_pb2.ModelInferRequest.FromString(data)))
        assert (wire.layout is not None) is (request.layout is not None) is kept


def test_a_kept_header_followed_by_other_fields_is_parsed_as_ever() -> None:
    layouts = RequestLayouts()
    data = _message([bytes(8)]).SerializeToString()
    _parse_and_decode(layouts, data)
    _parse_and_decode(layouts, data)
    assert len(layouts.store) == 1
    # The header, then the raw input, then a model_name (field 1): protobuf's last
    # value wins, which only a full parse sees.
    tail = service_pb2.ModelInferRequest(model_name="other").SerializeToString()
    wire, request = _parse_and_decode(layouts, data + tail)
    assert wire.layout is None and request.model_name == "other"
    # The header, then bytes that are not a raw input field, of a raw input's size.
    bogus = data[:-10] + b"\x0a\x08" + bytes(8)  # field 1 again, 8 bytes
    wire = layouts.parse(bogus)
    assert wire.layout is None and wire.message.model_name == "\0" * 8
    assert not wire.raw_inputs
    # A tag varint longer than protobuf allows is refused, as protobuf refuses it.
    with pytest.raises(DecodeError):
        layouts.parse(data[:-10] + b"\xba" + b"\x80" * 10 + b"\x00\x08" + bytes(8))


def test_a_message_whose_raw_inputs_do_not_end_it_is_parsed_as_ever() -> None:
    message = _message([bytes(8)])
    head = service_pb2.ModelInferRequest(model_name="m")  # field 1, after field 7
    data = message.SerializeToString() + head.SerializeToString()
    layouts = RequestLayouts()
    for _ in range(2):
        wire, request = _parse_and_decode(layouts, data)
        assert wire.header is None and wire.layout is None
        assert request.model_name == "m" and bytes(request.inputs[0].raw()) == bytes(8)
    assert len(layouts.store) == 0


@pytest.mark.parametrize("kind", ["contents", "input-shm", "output-shm"])
def test_requests_that_depend_on_more_than_their_bytes_are_not_kept(kind: str) -> None:
    class Regions:  # every region exists, 8 bytes
        def view(self, name: str, offset: int, size: int) -> memoryview:
            return memoryview(bytearray(8))

    if kind == "contents":
        message = _message([], id="")
        message.inputs.append(Input(name="IN0", datatype="FP32", shape=(2,)))
        message.inputs[0].contents.fp32_contents.extend([1, 2])
    else:
        message = _message([bytes(8)])
        params = message.inputs[0].parameters if kind == "input-shm" else \
            message.outputs[0].parameters
        params["shared_memory_region"].string_param = "r"
        params["shared_memory_byte_size"].int64_param = 8
        if kind == "input-shm":
            del message.raw_input_contents[:]
    data = message.SerializeToString()
    layouts = RequestLayouts()
    for _ in range(2):
        wire = layouts.parse(data)
        request = decode_infer_request(wire.message, wire.raw_inputs, Regions())  # type: ignore[arg-type]
        layouts.keep(wire, request)
        assert wire.layout is None
    assert len(layouts.store) == 0


def test_headers_are_looked_for_at_the_lengths_found_last() -> None:
    layouts = RequestLayouts()
    steady = _message([bytes(8)], id="steady").SerializeToString()
    for n in range(3 * RequestLayouts.LENGTHS):  # one-off headers of new lengths...
        _parse_and_decode(layouts, _message([bytes(8)], id="x" * (10 + n)).SerializeToString())
        wire, _ = _parse_and_decode(layouts, steady)  # ... and a steady client's
        assert (wire.layout is not None) == (n > 0)
    old = _message([bytes(8)], id="x" * 10).SerializeToString()  # kept, length dropped
    assert layouts.parse(old).layout is None
