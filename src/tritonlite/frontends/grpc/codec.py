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

The protocol-independent rules (datatype names, typed ``contents`` -> bytes, the reserved
parameters, duplicate inputs) are the HTTP frontend's too, in ``frontends.common``.

Error texts, their order and their kinds follow Triton 2.51's ``src/grpc/infer_handler.cc``
and ``src/grpc/grpc_utils.h`` (``SetInferenceRequestMetadata``, ``InferGRPCToInput``,
``ParseSharedMemoryParams``, ``ParseClassificationParams``), checked against the reference
server.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from tritonclient.grpc import service_pb2

from tritonlite.core.errors import (
    invalid_arg,
)
from tritonlite.core.shared_memory import SystemSharedMemoryRegistry
from tritonlite.core.tensor import DataType, Tensor
from tritonlite.core.types import (
    InferenceRequest,
    InferenceResponse,
    ParamValue,
    RequestedOutput,
)
from tritonlite.frontends.common.layouts import LayoutStore, RequestTemplate
from tritonlite.frontends.common.parameters import TRITON_PREFIX, RequestParameters
from tritonlite.frontends.common.shared_memory import (
    SharedMemoryRef,
    in_shared_memory,
    input_view,
    names_shared_memory,
    output_parameters,
)
from tritonlite.frontends.common.tensors import (
    DATATYPES,
    INVALID_DATATYPE,
    InputSet,
    InvalidDatatype,
    bools_to_wire,
    floats_to_wire,
    integers_to_wire,
    strings_to_wire,
)

__all__ = [
    "FINAL_RESPONSE_PARAM",
    "GrpcLayout",
    "InvalidDatatype",
    "RequestLayouts",
    "WireInferRequest",
    "decode_infer_request",
    "encode_empty_final_response",
    "encode_infer_response",
    "encode_infer_response_parts",
    "encode_stream_error",
    "encode_stream_response",
    "parse_infer_request",
    "wants_empty_final_response",
]

FINAL_RESPONSE_PARAM = "triton_final_response"
EMPTY_FINAL_PARAM = "triton_enable_empty_final_response"
_ALLOWED_TRITON_PARAMS = (EMPTY_FINAL_PARAM,)

# Requests at least this big are split on the wire so raw tensors stay in the received
# buffer; below it, protobuf's C parser is faster than walking the fields in Python.
_SPLIT_THRESHOLD = 64 * 1024
_RAW_INPUT_FIELD = 7
_RAW_INPUT_KEY = _RAW_INPUT_FIELD << 3 | 2  # its tag: field 7, length-delimited
_RAW_OUTPUT_TAG = b"\x32"  # ModelInferResponse.raw_output_contents: field 6, length-delimited
_INFER_RESPONSE_TAG = b"\x12"  # ModelStreamInferResponse.infer_response: field 2


# --------------------------------------------------------------------------- wire level


@dataclass(slots=True)
class WireInferRequest:
    """A parsed ``ModelInferRequest`` with its raw input buffers held apart. ``layout``:
    its header was decoded before (:class:`RequestLayouts`); ``header``: the message's
    bytes without the raw inputs, which end it (the key its layout may be kept by)."""

    message: service_pb2.ModelInferRequest
    raw_inputs: Sequence[bytes | memoryview]
    layout: GrpcLayout | None = None
    header: bytes | None = None


def parse_infer_request(data: bytes | memoryview) -> WireInferRequest:
    """The request deserializer for ModelInfer and ModelStreamInfer."""
    if len(data) >= _SPLIT_THRESHOLD:
        split = _split_raw_inputs(data)
        if split is not None:
            rest, raws = split
            return WireInferRequest(service_pb2.ModelInferRequest.FromString(rest), raws)
    message = service_pb2.ModelInferRequest.FromString(data)
    return WireInferRequest(message, list(message.raw_input_contents))


class GrpcLayout:
    """What one ``ModelInferRequest`` header decoded to: every input in
    ``raw_input_contents``, which end the message (see ``common.layouts``).

    The raw inputs' sizes are not in the header: a request whose raw inputs have other
    sizes than the first one's (strings, say) is built from the same header, but it
    does not get the layout, so the core validates it in full."""

    __slots__ = ("count", "length", "message", "sizes", "template")

    def __init__(self, message: service_pb2.ModelInferRequest, request: InferenceRequest,
                 header_length: int) -> None:
        self.message = message  # parsed from the header alone: no raw_input_contents
        self.template = RequestTemplate(request)
        self.length = header_length
        self.sizes = self.template.sizes
        self.count = len(self.sizes)

    def raws(self, data: bytes | memoryview) -> list[memoryview] | None:
        """The raw inputs after this header in ``data`` (which starts with it): one per
        input, and nothing else; None if that is not what follows. Its own walk, not
        :func:`_raw_input_fields`: this runs per request, and a tag compared as one byte
        costs about 1 us less per call than the general walk (in-process, small gRPC)."""
        view = memoryview(data)
        pos, end = self.length, len(data)
        out = []
        try:
            while pos < end:
                if data[pos] != _RAW_INPUT_KEY:
                    return None
                n, pos = _read_varint(data, pos + 1)
                out.append(view[pos : pos + n])
                pos += n
        except IndexError:
            return None
        if pos != end or len(out) != self.count:
            return None
        return out

    def build(self, raws: Sequence[bytes | memoryview]) -> InferenceRequest:
        same = all(len(raw) == size for raw, size in zip(raws, self.sizes, strict=True))
        return self.template.build(raws, self if same else None)


class RequestLayouts:
    """The ``ModelInferRequest`` headers a gRPC frontend has decoded, by their bytes.

    :meth:`parse` is the request deserializer with them: a message that starts with a
    header kept here, followed by its raw inputs, is not parsed at all. A message is
    not split where its header ends without walking its fields, so headers are looked
    for at the lengths of the last few that were found (:data:`LENGTHS`).
    """

    #: Distinct header lengths looked for.
    LENGTHS = 4

    __slots__ = ("_lengths", "store")

    def __init__(self) -> None:
        self.store: LayoutStore[GrpcLayout] = LayoutStore()
        self._lengths: list[int] = []  # the most recently found first

    def parse(self, data: bytes | memoryview) -> WireInferRequest:
        lengths = self._lengths
        for i, length in enumerate(lengths):
            layout = self.store.get(bytes(data[:length]))
            if layout is not None:
                raws = layout.raws(data)
                if raws is not None:
                    if i:
                        lengths.insert(0, lengths.pop(i))
                    return WireInferRequest(layout.message, raws, layout)
        if not self.store.offered():
            return parse_infer_request(data)
        split = _split_tail(data)
        if split is None:
            return parse_infer_request(data)
        header, raws = split
        return WireInferRequest(service_pb2.ModelInferRequest.FromString(header), raws,
                                None, header)

    def keep(self, wire: WireInferRequest, request: InferenceRequest) -> None:
        """``wire`` decoded into ``request``: keep its layout, if it may be kept."""
        header = wire.header
        if header is None or not _raw_only(wire.message, len(wire.raw_inputs)):
            return
        if not self.store.keep(header, GrpcLayout(wire.message, request, len(header))):
            return
        lengths = self._lengths
        if len(header) in lengths:
            lengths.remove(len(header))
        lengths.insert(0, len(header))
        del lengths[self.LENGTHS:]  # the length found least recently goes


def _raw_only(message: service_pb2.ModelInferRequest, raws: int) -> bool:
    """Whether a request depends on its bytes only: one raw input per input, and nothing
    names shared memory (whose regions come and go)."""
    if len(message.inputs) != raws:
        return False
    for io in message.inputs:
        if io.HasField("contents") or names_shared_memory(io.parameters):
            return False
    return not any(names_shared_memory(o.parameters) for o in message.outputs)


def _split_tail(data: bytes | memoryview) -> tuple[bytes, list[memoryview]] | None:
    """(the message's bytes before its raw inputs, the raw inputs as views) when the raw
    inputs end the message, as protobuf writes it (fields in number order); else None."""
    fields = _raw_input_fields(data)
    if not fields or not _back_to_back(fields, fields[0][0], len(data)):
        return None  # no raw inputs, or another field after (or between) them
    view = memoryview(data)
    return bytes(view[:fields[0][0]]), [view[at:end] for _, at, end in fields]


def _back_to_back(fields: list[tuple[int, int, int]], start: int, end: int) -> bool:
    """Whether ``fields`` (see :func:`_raw_input_fields`) fill ``start``-``end`` exactly,
    one after the other."""
    for field_start, _, field_end in fields:
        if field_start != start:
            return False
        start = field_end
    return start == end


def _raw_input_fields(data: bytes | memoryview) -> list[tuple[int, int, int]] | None:
    """Each ``raw_input_contents`` field of a message: (field start, payload start,
    payload end); None for a message this walk cannot follow (protobuf decides)."""
    out = []
    pos, end = 0, len(data)
    try:
        while pos < end:
            field_start = pos
            key, pos = _read_varint(data, pos)
            if key == _RAW_INPUT_KEY:
                n, pos = _read_varint(data, pos)
                out.append((field_start, pos, pos + n))
                pos += n
            else:
                pos = _skip_field(data, pos, key & 7)
    except IndexError:
        return None
    return out if pos == end else None


def _skip_field(data: bytes | memoryview, pos: int, wire_type: int) -> int:
    """The position after a field's value of ``wire_type`` starting at ``pos``.
    IndexError for a wire type this walk does not take (groups: protobuf decides)."""
    if wire_type == 2:
        n, pos = _read_varint(data, pos)
        return pos + n
    if wire_type == 0:
        return _read_varint(data, pos)[1]
    if wire_type == 1:
        return pos + 8
    if wire_type == 5:
        return pos + 4
    raise IndexError(f"wire type {wire_type}")


def _read_varint(data: bytes | memoryview, pos: int) -> tuple[int, int]:
    """The varint at ``pos`` and the position after it. IndexError for one that runs
    past the end or past 10 bytes (which protobuf refuses too)."""
    value = shift = 0
    while True:
        b = data[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, pos
        shift += 7
        if shift >= 70:
            raise IndexError("varint longer than 10 bytes")


def _varint(value: int) -> bytes:
    if value < 0x80:
        return bytes((value,))
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _split_raw_inputs(
    data: bytes | memoryview,
) -> tuple[bytes | memoryview, list[memoryview]] | None:
    """(message bytes without field 7, field 7 payloads as views), or None to let protobuf
    handle (and report) anything unusual."""
    fields = _raw_input_fields(data)
    if fields is None:
        return None
    view = memoryview(data)
    kept: list[memoryview] = []
    kept_from = 0
    for start, _, end in fields:
        if start > kept_from:
            kept.append(view[kept_from:start])
        kept_from = end
    if kept_from < len(data):
        kept.append(view[kept_from:])
    rest: bytes | memoryview = kept[0] if len(kept) == 1 else b"".join(kept)
    return rest, [view[at:end] for _, at, end in fields]


# ------------------------------------------------------------------------------ decode


def decode_infer_request(
    message: service_pb2.ModelInferRequest,
    raw_inputs: Sequence[bytes | memoryview] | None = None,
    shared_memory: SystemSharedMemoryRegistry | None = None,
) -> InferenceRequest:
    """``ModelInferRequest`` -> ``InferenceRequest``; raises InferenceServerError with
    Triton's texts. ``raw_inputs`` defaults to the message's own ``raw_input_contents``.
    Tensors that name a region are looked up in ``shared_memory`` (none: every region is
    unknown)."""
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
    request.inputs = _decode_inputs(message, raw_inputs, request.id, shared_memory)
    if message.outputs:
        request.requested_outputs = [_decode_output(o, shared_memory) for o in message.outputs]
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
    """Read each parameter's protobuf value; what it means is ``RequestParameters``'."""
    decoded = RequestParameters()
    for key, param in params.items():
        kind = param.WhichOneof("parameter_choice")
        if key == "sequence_id":
            if kind == "int64_param":
                decoded.set_correlation_id(param.int64_param)
            elif kind == "string_param":
                decoded.set_correlation_id(param.string_param)
            else:
                raise invalid_arg(
                    "invalid value type for 'sequence_id' parameter, expected "
                    "int64_param or string_param."
                )
        elif key in ("sequence_start", "sequence_end"):
            if kind != "bool_param":
                raise invalid_arg(f"invalid value type for '{key}' parameter, expected bool_param.")
            if key == "sequence_start":
                decoded.set_sequence_start(param.bool_param)
            else:
                decoded.set_sequence_end(param.bool_param)
        elif key == "priority":
            if kind == "int64_param":
                if param.int64_param < 0:
                    raise invalid_arg("invalid value for 'priority', expected value >= 0.")
                decoded.set_priority(param.int64_param)
            elif kind == "uint64_param":
                decoded.set_priority(param.uint64_param)
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
            decoded.set_timeout(param.int64_param)  # Triton stores a uint64
        elif key.startswith(TRITON_PREFIX):
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
                value: ParamValue = getattr(param, kind)
                decoded.add_custom(key, value)
            else:
                raise invalid_arg(
                    f"invalid value type for '{key}' parameter, expected "
                    "int64_param, bool_param, or string_param."
                )
    decoded.apply(request)


def _decode_inputs(
    message: service_pb2.ModelInferRequest,
    raw_inputs: Sequence[bytes | memoryview],
    request_id: str,
    shared_memory: SystemSharedMemoryRegistry | None,
) -> list[Tensor]:
    model = message.model_name
    has_raw = len(raw_inputs) > 0
    raw_index = 0
    bad_datatype: str | None = None
    inputs = InputSet(request_id)
    for io in message.inputs:
        name = io.name
        inputs.claim(name)
        datatype = DATATYPES.get(io.datatype)
        data: bytes | memoryview
        region = _shared_memory_region(io.parameters, name) if io.parameters else None
        if region is not None:
            if io.HasField("contents"):
                raise invalid_arg(
                    "unexpected 'content' provided when using shared memory for input "
                    f"tensor '{name}' for model '{model}'"
                )
            data = input_view(shared_memory, region)
        elif io.HasField("contents"):
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
        inputs.add(Tensor(name, datatype, io.shape, raw=data))
    if bad_datatype is not None:
        raise InvalidDatatype(bad_datatype)
    return inputs.tensors


# contents field -> (the Triton type it stands for, wire encoder); ``int_contents`` and
# ``uint_contents`` also carry the 8- and 16-bit types, one element per 32-bit value.
_INTS = (DataType.INT8, DataType.INT16, DataType.INT32)
_UINTS = (DataType.UINT8, DataType.UINT16, DataType.UINT32)
_CONTENTS: tuple[tuple[str, DataType, tuple[DataType, ...]], ...] = (
    ("bool_contents", DataType.BOOL, (DataType.BOOL,)),
    ("int_contents", DataType.INT32, _INTS),
    ("int64_contents", DataType.INT64, (DataType.INT64,)),
    ("uint_contents", DataType.UINT32, _UINTS),
    ("uint64_contents", DataType.UINT64, (DataType.UINT64,)),
    ("fp32_contents", DataType.FP32, (DataType.FP32,)),
    ("fp64_contents", DataType.FP64, (DataType.FP64,)),
    ("bytes_contents", DataType.BYTES, (DataType.BYTES,)),
)


def _contents_to_wire(
    contents: service_pb2.InferTensorContents,
    name: str,
    model: str,
    datatype: DataType | None,
) -> bytes:
    """Typed ``contents`` -> wire bytes. Like Triton, the element count is not checked
    here: the core reports a byte-size mismatch against the shape."""
    expected = datatype.value if datatype is not None else INVALID_DATATYPE
    data = b""
    for field, field_type, carries in _CONTENTS:
        values = getattr(contents, field)
        if not values:
            continue
        tensor_type = datatype if datatype in carries else field_type
        _check_contents_type(name, model, tensor_type, expected, supplied=bool(data))
        if field_type is DataType.BOOL:
            data = bools_to_wire(values)
        elif field_type is DataType.BYTES:
            data = strings_to_wire(list(values))
        elif field_type in (DataType.FP32, DataType.FP64):
            data = floats_to_wire(values, field_type)
        else:
            data = integers_to_wire(values, tensor_type)  # keeps the low bytes, as Triton
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
        got = tensor_type.value if tensor_type is not None else INVALID_DATATYPE
        raise invalid_arg(
            f"unexpected explicit tensor data for input tensor '{name}' for model '{model}' "
            f"of type '{got}', expected datatype '{expected}'"
        )


def _decode_output(
    output: service_pb2.ModelInferRequest.InferRequestedOutputTensor,
    shared_memory: SystemSharedMemoryRegistry | None = None,
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
        parameters.update(output_parameters(shared_memory, region))
    return RequestedOutput(output.name, parameters)


def _shared_memory_region(
    params: Mapping[str, service_pb2.InferParameter], tensor: str
) -> SharedMemoryRef | None:
    """Validate the ``shared_memory_*`` tensor parameters; where the tensor is, or None.
    Like Triton, a negative offset or size is taken as the huge unsigned value it casts
    to (the region check then refuses it)."""
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
    offset = params.get("shared_memory_offset")
    return SharedMemoryRef(
        str(region.string_param),
        offset.int64_param if offset is not None else 0,
        params["shared_memory_byte_size"].int64_param,
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
        outputs.add(name=tensor.name, datatype=tensor.datatype._value_, shape=tensor.shape)
        if in_shared_memory(tensor):  # written to its region: an empty entry, as Triton
            parts.append(_RAW_OUTPUT_TAG + b"\x00")
            continue
        parts.append(_RAW_OUTPUT_TAG + _varint(tensor.byte_size))
        parts.append(tensor.raw())
    parts[0] = message.SerializeToString()
    return parts


def encode_infer_response_parts(response: InferenceResponse) -> list[bytes | memoryview]:
    """:func:`encode_infer_response` as pieces to send one after the other, so the output
    tensors' bytes are written out without first being joined into one buffer."""
    return _encode_response_parts(response, None, response.model_name, response.model_version)


def encode_infer_response(response: InferenceResponse) -> bytes:
    """A successful response -> serialized ``ModelInferResponse`` (outputs in
    ``raw_output_contents``, which is what tritonclient reads)."""
    return b"".join(encode_infer_response_parts(response))


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
