"""The gRPC inference codec: ``ModelInferRequest`` in, ``InferenceRequest`` out, and
``InferenceResponse`` in, serialized ``ModelInferResponse`` / ``ModelStreamInferResponse``
bytes out. Pure: no I/O, no server calls.

Tensor bytes are never copied on the way in or out:

* :func:`parse_infer_request` is the gRPC request deserializer. For big messages it walks
  the top-level wire format itself and hands out ``raw_input_contents`` as memoryviews of
  the received buffer; only the small rest of the message goes through protobuf.
* The encoders serialize everything but ``raw_output_contents`` with protobuf and append
  the output bytes as wire fields with a single ``bytes.join`` (upb needs ~6 ms to
  serialize a 4 MiB bytes field; the join costs one memcpy).

Error texts, their order and their kinds follow Triton 2.51's ``src/grpc/infer_handler.cc``
and ``src/grpc/grpc_utils.h`` (``SetInferenceRequestMetadata``, ``InferGRPCToInput``,
``ParseSharedMemoryParams``, ``ParseClassificationParams``), checked against the reference
server.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from tritonclient.grpc import model_config_pb2, service_pb2

from tritonlite.core.errors import (
    DecoupledNotSupported,
    ErrorKind,
    InferenceServerError,
    invalid_arg,
    not_found,
)
from tritonlite.core.tensor import DataType, Tensor, serialize_bytes
from tritonlite.core.types import (
    InferenceRequest,
    InferenceResponse,
    ParamValue,
    RequestedOutput,
    SequenceInfo,
)

__all__ = [
    "DECOUPLED_TEXT",
    "FINAL_RESPONSE_PARAM",
    "InvalidDatatype",
    "WireInferRequest",
    "decode_infer_request",
    "encode_empty_final_response",
    "encode_infer_response",
    "encode_stream_error",
    "encode_stream_response",
    "is_flag_only",
    "parse_infer_request",
    "refine_decode_error",
    "wants_empty_final_response",
]

FINAL_RESPONSE_PARAM = "triton_final_response"
EMPTY_FINAL_PARAM = "triton_enable_empty_final_response"
DECOUPLED_TEXT = "ModelInfer RPC doesn't support models with decoupled transaction policy"
_ALLOWED_TRITON_PARAMS = (EMPTY_FINAL_PARAM,)
_UINT64 = (1 << 64) - 1

_DATATYPES: dict[str, DataType] = {dt.value: dt for dt in DataType}
_INVALID_DATATYPE = "<invalid>"  # TRITONSERVER_DataTypeString(TRITONSERVER_TYPE_INVALID)

# Requests at least this big are split on the wire so raw tensors stay in the received
# buffer; below it, protobuf's C parser is faster than walking the fields in Python.
_SPLIT_THRESHOLD = 64 * 1024
_RAW_INPUT_FIELD = 7
_RAW_OUTPUT_TAG = b"\x32"  # ModelInferResponse.raw_output_contents: field 6, length-delimited
_INFER_RESPONSE_TAG = b"\x12"  # ModelStreamInferResponse.infer_response: field 2


class InvalidDatatype(InferenceServerError):
    """An input's datatype string is not a Triton type. Triton reports it only after the
    model is known, in a text that names the model's expected type, so the service
    finishes the message with :func:`refine_decode_error`."""

    def __init__(self, input_name: str) -> None:
        message = f"invalid datatype '{_INVALID_DATATYPE}' for input '{input_name}'"
        super().__init__(ErrorKind.INVALID_ARG, message)
        self.input_name = input_name


# --------------------------------------------------------------------------- wire level


@dataclass(slots=True)
class WireInferRequest:
    """A parsed ``ModelInferRequest`` with its raw input buffers held apart."""

    message: service_pb2.ModelInferRequest
    raw_inputs: Sequence[bytes | memoryview]


def parse_infer_request(data: bytes) -> WireInferRequest:
    """The request deserializer for ModelInfer and ModelStreamInfer."""
    if len(data) >= _SPLIT_THRESHOLD:
        split = _split_raw_inputs(data)
        if split is not None:
            rest, raws = split
            return WireInferRequest(service_pb2.ModelInferRequest.FromString(rest), raws)
    message = service_pb2.ModelInferRequest.FromString(data)
    return WireInferRequest(message, list(message.raw_input_contents))


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        b = data[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, pos
        shift += 7


def _varint(value: int) -> bytes:
    if value < 0x80:
        return bytes((value,))
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _split_raw_inputs(data: bytes) -> tuple[bytes | memoryview, list[memoryview]] | None:
    """(message bytes without field 7, field 7 payloads as views), or None to let protobuf
    handle (and report) anything unusual."""
    view = memoryview(data)
    raws: list[memoryview] = []
    kept: list[memoryview] = []
    pos, end, kept_from = 0, len(data), 0
    try:
        while pos < end:
            field_start = pos
            key, pos = _read_varint(data, pos)
            wire_type = key & 7
            if wire_type == 2:
                n, pos = _read_varint(data, pos)
                if key >> 3 == _RAW_INPUT_FIELD:
                    raws.append(view[pos : pos + n])
                    if field_start > kept_from:
                        kept.append(view[kept_from:field_start])
                    kept_from = pos + n
                pos += n
            elif wire_type == 0:
                _, pos = _read_varint(data, pos)
            elif wire_type == 1:
                pos += 8
            elif wire_type == 5:
                pos += 4
            else:
                return None
    except IndexError:
        return None
    if pos != end:
        return None
    if kept_from < end:
        kept.append(view[kept_from:end])
    rest: bytes | memoryview = kept[0] if len(kept) == 1 else b"".join(kept)
    return rest, raws


# ------------------------------------------------------------------------------ decode


def decode_infer_request(
    message: service_pb2.ModelInferRequest,
    raw_inputs: Sequence[bytes | memoryview] | None = None,
) -> InferenceRequest:
    """``ModelInferRequest`` -> ``InferenceRequest``; raises InferenceServerError with
    Triton's texts. ``raw_inputs`` defaults to the message's own ``raw_input_contents``."""
    if raw_inputs is None:
        raw_inputs = list(message.raw_input_contents)
    request = InferenceRequest(
        model_name=message.model_name,
        inputs=[],
        model_version=message.model_version,
        id=message.id,
    )
    if message.parameters:
        _decode_parameters(message.parameters, request)
    request.inputs = _decode_inputs(message, raw_inputs)
    if message.outputs:
        request.requested_outputs = [_decode_output(o) for o in message.outputs]
    return request


def wants_empty_final_response(message: service_pb2.ModelInferRequest) -> bool:
    """Whether the client asked for flag-only final responses (already validated)."""
    if not message.parameters:
        return False
    param = message.parameters.get(EMPTY_FINAL_PARAM)
    return param is not None and param.bool_param


def _decode_parameters(
    params: Mapping[str, service_pb2.InferParameter], request: InferenceRequest
) -> None:
    sequence: SequenceInfo | None = None
    custom: dict[str, ParamValue] = {}
    for key, param in params.items():
        kind = param.WhichOneof("parameter_choice")
        if key == "sequence_id":
            sequence = sequence or SequenceInfo()
            if kind == "int64_param":
                sequence.correlation_id = param.int64_param & _UINT64
            elif kind == "string_param":
                sequence.correlation_id = param.string_param
            else:
                raise invalid_arg(
                    "invalid value type for 'sequence_id' parameter, expected "
                    "int64_param or string_param."
                )
        elif key in ("sequence_start", "sequence_end"):
            if kind != "bool_param":
                raise invalid_arg(f"invalid value type for '{key}' parameter, expected bool_param.")
            sequence = sequence or SequenceInfo()
            if key == "sequence_start":
                sequence.start = param.bool_param
            else:
                sequence.end = param.bool_param
        elif key == "priority":
            if kind == "int64_param":
                if param.int64_param < 0:
                    raise invalid_arg("invalid value for 'priority', expected value >= 0.")
                request.priority = param.int64_param
            elif kind == "uint64_param":
                request.priority = param.uint64_param
            else:
                raise invalid_arg(
                    "invalid value type for 'priority' parameter, expected "
                    "int64_param or uint64_param."
                )
        elif key == "timeout":
            if kind != "int64_param":
                raise invalid_arg(
                    "invalid value type for 'timeout' parameter, expected int64_param."
                )
            request.timeout_us = param.int64_param & _UINT64  # Triton stores a uint64
        elif key.startswith("triton_"):
            if key not in _ALLOWED_TRITON_PARAMS:
                raise invalid_arg(
                    "parameter keys starting with 'triton_' are reserved for Triton usage. "
                    "Only the following keys starting with 'triton_' are allowed: "
                    + " ".join(_ALLOWED_TRITON_PARAMS)
                )
            if kind != "bool_param":
                raise invalid_arg(f"invalid value type for '{key}' parameter, expected bool_param.")
        else:
            # Triton 2.51 passes 'headers' and 'binary_data_output' through to the model
            # over gRPC (observed), so no other key is reserved here.
            if kind in ("int64_param", "bool_param", "string_param", "double_param"):
                custom[key] = getattr(param, kind)
            else:
                raise invalid_arg(
                    f"invalid value type for '{key}' parameter, expected "
                    "int64_param, bool_param, or string_param."
                )
    request.sequence = sequence
    request.parameters = custom


def _decode_inputs(
    message: service_pb2.ModelInferRequest, raw_inputs: Sequence[bytes | memoryview]
) -> list[Tensor]:
    model = message.model_name
    has_raw = len(raw_inputs) > 0
    raw_index = 0
    bad_datatype: str | None = None
    tensors: list[Tensor] = []
    for io in message.inputs:
        name = io.name
        datatype = _DATATYPES.get(io.datatype)
        data: bytes | memoryview
        region = _shared_memory_region(io.parameters, name) if io.parameters else None
        if region is not None:
            if io.HasField("contents"):
                raise invalid_arg(
                    "unexpected 'content' provided when using shared memory for input "
                    f"tensor '{name}' for model '{model}'"
                )
            raise _unknown_region(region)
        if io.HasField("contents"):
            if has_raw:
                raise invalid_arg(
                    "contents field must not be specified when using raw_input_contents "
                    f"for '{name}' for model '{model}'"
                )
            data = _contents_to_wire(io.contents, name, model, datatype)
        elif raw_index < len(raw_inputs):
            data = raw_inputs[raw_index]
            raw_index += 1
        else:
            raise invalid_arg(
                f"unable to find data for input tensor '{name}' for model '{model}' in request."
            )
        if datatype is None:
            bad_datatype = bad_datatype or name
            continue
        tensors.append(Tensor(name, datatype, io.shape, raw=data))
    if bad_datatype is not None:
        raise InvalidDatatype(bad_datatype)
    return tensors


# contents field -> (numpy dtype it holds, the Triton type it stands for); ``int_contents``
# and ``uint_contents`` also carry the 8- and 16-bit types, one element per 32-bit value.
_CONTENTS: tuple[tuple[str, str, DataType, dict[DataType, np.dtype[Any]]], ...] = (
    ("bool_contents", "?", DataType.BOOL, {}),
    (
        "int_contents",
        "<i4",
        DataType.INT32,
        {DataType.INT8: np.dtype("<i1"), DataType.INT16: np.dtype("<i2")},
    ),
    ("int64_contents", "<i8", DataType.INT64, {}),
    (
        "uint_contents",
        "<u4",
        DataType.UINT32,
        {DataType.UINT8: np.dtype("<u1"), DataType.UINT16: np.dtype("<u2")},
    ),
    ("uint64_contents", "<u8", DataType.UINT64, {}),
    ("fp32_contents", "<f4", DataType.FP32, {}),
    ("fp64_contents", "<f8", DataType.FP64, {}),
)


def _contents_to_wire(
    contents: service_pb2.InferTensorContents,
    name: str,
    model: str,
    datatype: DataType | None,
) -> bytes:
    """Typed ``contents`` -> wire bytes. Like Triton, the element count is not checked
    here: the core reports a byte-size mismatch against the shape."""
    expected = datatype.value if datatype is not None else _INVALID_DATATYPE
    data = b""
    for field, np_type, field_type, narrow in _CONTENTS:
        values = getattr(contents, field)
        if not values:
            continue
        tensor_type = datatype if datatype in narrow else field_type
        _check_contents_type(name, model, tensor_type, expected, supplied=bool(data))
        array = np.array(values, dtype=np_type)
        if datatype in narrow:
            array = array.astype(narrow[datatype])  # keeps the low bytes, as Triton does
        data = array.tobytes()
    if contents.bytes_contents:
        _check_contents_type(name, model, DataType.BYTES, expected, supplied=bool(data))
        items = np.empty(len(contents.bytes_contents), dtype=np.object_)
        items[:] = list(contents.bytes_contents)
        data = serialize_bytes(items)
    return data


def _check_contents_type(
    name: str, model: str, tensor_type: DataType | None, expected: str, *, supplied: bool
) -> None:
    if supplied:
        raise invalid_arg(
            f"unexpected explicit tensor data for input tensor '{name}' for model '{model}', "
            "binary data was already supplied."
        )
    if tensor_type is None or tensor_type.value != expected:
        got = tensor_type.value if tensor_type is not None else _INVALID_DATATYPE
        raise invalid_arg(
            f"unexpected explicit tensor data for input tensor '{name}' for model '{model}' "
            f"of type '{got}', expected datatype '{expected}'"
        )


def _decode_output(
    output: service_pb2.ModelInferRequest.InferRequestedOutputTensor,
) -> RequestedOutput:
    if not output.parameters:
        return RequestedOutput(output.name)
    params = output.parameters
    region = _shared_memory_region(params, output.name)
    parameters: dict[str, ParamValue] = {}
    classification = params.get("classification")
    if classification is not None:
        if classification.WhichOneof("parameter_choice") != "int64_param":
            raise invalid_arg(
                "invalid value type for 'classification' parameter, expected int64_param"
            )
        if classification.int64_param <= 0:
            raise invalid_arg("invalid value for 'classification' parameter, expected >= 0")
        if region is not None:
            raise invalid_arg("output can't set both 'shared_memory_region' and 'classification'")
        parameters["classification"] = classification.int64_param
    if region is not None:
        raise _unknown_region(region)
    return RequestedOutput(output.name, parameters)


def _shared_memory_region(
    params: Mapping[str, service_pb2.InferParameter], tensor: str
) -> str | None:
    """Validate the ``shared_memory_*`` tensor parameters; the region name or None."""
    region = params.get("shared_memory_region")
    if region is not None and region.WhichOneof("parameter_choice") != "string_param":
        raise invalid_arg(
            "invalid value type for 'shared_memory_region' parameter for tensor "
            f"'{tensor}', expected string_param."
        )
    for key in ("shared_memory_offset", "shared_memory_byte_size"):
        value = params.get(key)
        if value is None:
            continue
        if region is None:
            raise invalid_arg(
                f"'{key}' can not be specified without 'shared_memory_region' parameter "
                f"for tensor '{tensor}'"
            )
        if value.WhichOneof("parameter_choice") != "int64_param":
            raise invalid_arg(
                f"invalid value type for '{key}' parameter for tensor '{tensor}', "
                "expected int64_param."
            )
    if region is None:
        return None
    if "shared_memory_byte_size" not in params:
        raise invalid_arg(
            "'shared_memory_byte_size' must be specified along with 'shared_memory_region' "
            f"parameter for tensor '{tensor}'"
        )
    return str(region.string_param)


def _unknown_region(region: str) -> InferenceServerError:
    # No shared-memory regions can be registered yet, so every named region is unknown.
    return not_found(f"Unable to find shared memory region: '{region}'")


def refine_decode_error(
    error: InferenceServerError,
    message: service_pb2.ModelInferRequest,
    config: model_config_pb2.ModelConfig,
    *,
    unary: bool,
) -> InferenceServerError:
    """The error Triton reports for a request that failed to decode, once the model is
    known to exist (Triton checks the model, and for ModelInfer its transaction policy,
    before it looks at parameters or tensors)."""
    if unary and config.model_transaction_policy.decoupled:
        return DecoupledNotSupported()
    if not isinstance(error, InvalidDatatype):
        return error
    for model_input in config.input:
        if model_input.name == error.input_name:
            type_name = model_config_pb2.DataType.Name(model_input.data_type)
            try:
                expected = DataType.from_config_name(type_name).value
            except (KeyError, ValueError):
                expected = _INVALID_DATATYPE
            request_id = message.id or "<id_unknown>"
            return invalid_arg(
                f"[request id: {request_id}] inference input '{error.input_name}' data-type "
                f"is '{_INVALID_DATATYPE}', but model '{message.model_name}' expects "
                f"'{expected}'"
            )
    return invalid_arg(
        f"unexpected inference input '{error.input_name}' for model '{message.model_name}'"
    )


# ------------------------------------------------------------------------------ encode


def _set_parameter(param: service_pb2.InferParameter, value: object) -> None:
    if isinstance(value, bool):
        param.bool_param = value
    elif isinstance(value, (int, np.integer)):
        value = int(value)
        if value > (1 << 63) - 1:
            param.uint64_param = value
        else:
            param.int64_param = value
    elif isinstance(value, (float, np.floating)):
        param.double_param = float(value)
    else:
        param.string_param = str(value)


def _encode_response_parts(
    response: InferenceResponse,
    final_flag: bool | None,
    model_name: str,
    model_version: str,
) -> list[bytes | memoryview]:
    """Serialized ``ModelInferResponse`` as parts to join: protobuf head + raw outputs."""
    message = service_pb2.ModelInferResponse(
        model_name=model_name, model_version=model_version, id=response.id
    )
    for key, value in response.parameters.items():
        _set_parameter(message.parameters[key], value)
    if final_flag is not None:
        message.parameters[FINAL_RESPONSE_PARAM].bool_param = final_flag
    parts: list[bytes | memoryview] = [b""]
    outputs = message.outputs
    for tensor in response.outputs:
        outputs.add(name=tensor.name, datatype=tensor.datatype.value, shape=tensor.shape)
        raw = tensor.raw()
        size = raw.nbytes if isinstance(raw, memoryview) else len(raw)
        parts.append(_RAW_OUTPUT_TAG + _varint(size))
        parts.append(raw)
    parts[0] = message.SerializeToString()
    return parts


def encode_infer_response(response: InferenceResponse) -> bytes:
    """A successful response -> serialized ``ModelInferResponse`` (outputs in
    ``raw_output_contents``, which is what tritonclient reads)."""
    parts = _encode_response_parts(response, None, response.model_name, response.model_version)
    return b"".join(parts)


def encode_stream_response(response: InferenceResponse, request: InferenceRequest) -> bytes:
    """One response of a streamed request -> serialized ``ModelStreamInferResponse``.

    Every response carries ``triton_final_response``. A response with an error travels
    in ``error_message`` and, like in Triton, names the model and version as the request
    spelled them.
    """
    if response.error is None:
        inner = _encode_response_parts(
            response, response.final, response.model_name, response.model_version
        )
        return _wrap_stream_response(b"", inner)
    head = service_pb2.ModelInferResponse(
        model_name=request.model_name, model_version=request.model_version, id=request.id
    )
    head.parameters[FINAL_RESPONSE_PARAM].bool_param = response.final
    prefix = service_pb2.ModelStreamInferResponse(
        error_message=response.error.message
    ).SerializeToString()
    return _wrap_stream_response(prefix, [head.SerializeToString()])


def encode_empty_final_response(request: InferenceRequest) -> bytes:
    """The flag-only final response of a decoupled model, for clients that asked for it
    with ``triton_enable_empty_final_response``."""
    head = service_pb2.ModelInferResponse(
        model_name=request.model_name, model_version=request.model_version, id=request.id
    )
    head.parameters[FINAL_RESPONSE_PARAM].bool_param = True
    return _wrap_stream_response(b"", [head.SerializeToString()])


def _wrap_stream_response(prefix: bytes, inner: list[bytes | memoryview]) -> bytes:
    size = sum(p.nbytes if isinstance(p, memoryview) else len(p) for p in inner)
    return b"".join([prefix, _INFER_RESPONSE_TAG, _varint(size), *inner])


def encode_stream_error(request_id: str, message: str) -> bytes:
    """A request that failed before it ran: ``error_message`` plus the request id only."""
    data: bytes = service_pb2.ModelStreamInferResponse(
        error_message=message, infer_response=service_pb2.ModelInferResponse(id=request_id)
    ).SerializeToString()
    return data


def is_flag_only(response: InferenceResponse) -> bool:
    """A final response that carries nothing: the "complete" marker of a decoupled model."""
    return (
        response.final
        and response.error is None
        and not response.outputs
        and not response.parameters
    )
