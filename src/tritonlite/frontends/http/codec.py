"""The HTTP inference codec: a request body in, ``InferenceRequest`` out; an
``InferenceResponse`` in, response body parts out. Pure: no I/O, no server calls.

The body is the KServe v2 JSON, optionally followed by raw tensor bytes (Triton's binary
tensor data extension): ``Inference-Header-Content-Length`` says how long the JSON is,
each binary input names its size in ``parameters.binary_data_size``, and binary outputs
come back the same way. Tensor bytes are never copied on the way in (inputs are
memoryviews of the received body) nor on the way out (outputs are appended as they
are). The order of checks and every error text follow Triton 2.51's
``src/http_server.cc`` (``EVBufferToInput``, ``ParseJsonTritonParams``,
``ParseJsonTritonIO``, ``InferRequestClass::FinalizeResponse``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
from tritonclient.grpc import model_config_pb2

from tritonlite.core.errors import invalid_arg, request_prefix
from tritonlite.core.shared_memory import SystemSharedMemoryRegistry
from tritonlite.core.tensor import DataType, Tensor, count_bytes_elements, element_count
from tritonlite.core.types import InferenceRequest, InferenceResponse, RequestedOutput
from tritonlite.frontends.common.layouts import LayoutStore, RequestTemplate
from tritonlite.frontends.common.parameters import TRITON_PREFIX, RequestParameters
from tritonlite.frontends.common.shared_memory import (
    SharedMemoryRef,
    in_shared_memory,
    input_view,
    names_shared_memory,
    output_parameters,
)
from tritonlite.frontends.common.tensors import DATATYPES, InputSet, InvalidDatatype
from tritonlite.frontends.http import tritonjson as tj
from tritonlite.frontends.http.jsondata import bytes_byte_size, json_to_wire, wire_to_json

__all__ = [
    "RAW_INPUT",
    "DecodedInfer",
    "EncodedResponse",
    "HeaderLayouts",
    "decode_infer_request",
    "decode_raw_request",
    "encode_infer_response",
    "json_parameter",
    "max_size_error",
]

_CONTENT_FIELDS = (
    "Input must set only one of the following fields: 'data', 'binary_data_size' in "
    "'parameters', 'shared_memory_region' in 'parameters'. But"
)


@dataclass(slots=True)
class DecodedInfer:
    """A decoded request and how its outputs go back: binary or JSON per requested
    output, ``default_binary`` for the others (``binary_data_output``). ``raw`` marks a
    raw binary request (its input is called ``raw_input`` in Triton's errors)."""

    request: InferenceRequest
    default_binary: bool = False
    binary: dict[str, bool] = field(default_factory=dict)
    raw: bool = False

    def is_binary(self, output: str) -> bool:
        return self.binary.get(output, self.default_binary)


@dataclass(slots=True)
class EncodedResponse:
    """Body parts to send in order; ``header_length`` is set when binary data follows."""

    parts: list[bytes | memoryview]
    header_length: int | None


def max_size_error(kind: str, size: int, limit: int) -> Exception:
    return invalid_arg(
        f"{kind} of {size} bytes exceeds the maximum allowed input size of {limit} bytes. "
        "Use --http-max-input-size to increase the limit."
    )


def json_parameter(key: str, value: Any) -> bool | int | float | str:
    """A custom parameter as Triton's ``SetTritonParameterFromJsonParameter`` takes it."""
    if type(value) is str or tj.is_int(value) or type(value) is bool:
        return value  # type: ignore[no-any-return]
    if tj.is_number(value):
        return float(value)
    raise invalid_arg(
        f"parameter '{key}' has invalid type. It should be either 'int', 'bool', or 'string'."
    )


# ------------------------------------------------------------------------------ decode


def decode_infer_request(
    model: str,
    version: str,
    body: bytes | memoryview,
    header_length: int | None,
    *,
    max_input_size: int,
    forwarded: dict[str, str] | None = None,
    shared_memory: SystemSharedMemoryRegistry | None = None,
    layouts: HeaderLayouts | None = None,
) -> DecodedInfer:
    """Decode a JSON (``header_length`` None: the whole body) or JSON + binary request.

    Raises InferenceServerError with Triton's texts. Datatype names Triton does not know
    are reported as :class:`InvalidDatatype` (finished once the model is known) when
    the data is binary, as Triton does. Tensors that name a region are looked up in
    ``shared_memory`` (none: every region is unknown). With ``layouts``, a JSON header
    decoded before is not parsed again (``frontends.common.layouts``).
    """
    view = memoryview(body).cast("B") if not isinstance(body, bytes) else memoryview(body)
    json_length = len(view) if header_length is None else header_length
    if json_length > max_input_size:
        raise max_size_error("request JSON size", json_length, max_input_size)
    key = None
    if (layouts is not None and header_length is not None
            and json_length <= layouts.MAX_HEADER_BYTES):
        key = bytes(view[:json_length])
        layout = layouts.get(key)
        if layout is not None:
            decoded = layout.build(model, version, view, json_length)
            if decoded is not None:
                if forwarded:
                    decoded.request.parameters.update(forwarded)
                return decoded
            key = None  # the body does not fit the header: decode it, for the error
    document = tj.parse(view[:json_length])
    request = InferenceRequest(model_name=model, inputs=[], model_version=version)
    if type(document) is dict and "id" in document:
        request.id = tj.as_string(document["id"], "Unable to parse 'id'")
    decoded = DecodedInfer(request)
    _decode_parameters(document, decoded)
    _decode_inputs(document, decoded, view, json_length, max_input_size, shared_memory)
    _decode_outputs(document, decoded, shared_memory)
    if key is not None and _bytes_only(document):
        assert layouts is not None
        if layouts.offered():
            layouts.keep(key, HttpLayout(decoded, len(view) - json_length))
    if forwarded:
        request.parameters.update(forwarded)
    return decoded


class HttpLayout:
    """What one JSON header decoded to, every input binary (see ``common.layouts``)."""

    __slots__ = ("binary", "default_binary", "size", "sizes", "template")

    def __init__(self, decoded: DecodedInfer, size: int) -> None:
        self.template = RequestTemplate(decoded.request)
        self.sizes = self.template.sizes
        self.size = size  # of the binary data after the header: the inputs' sizes added
        self.default_binary = decoded.default_binary
        self.binary = decoded.binary  # not changed once decoded: shared

    def build(self, model: str, version: str, view: memoryview,
              offset: int) -> DecodedInfer | None:
        """The request whose JSON header ends at ``offset`` of ``view``; None if the
        data after it is not the size the header says (the full decode words that)."""
        if len(view) - offset != self.size:
            return None
        raws = []
        for size in self.sizes:
            end = offset + size
            raws.append(view[offset:end])
            offset = end
        request = self.template.build(raws, self, model, version)
        return DecodedInfer(request, self.default_binary, self.binary)


HeaderLayouts = LayoutStore[HttpLayout]
"""The JSON headers an HTTP frontend has decoded, by their bytes."""


def _bytes_only(document: Any) -> bool:
    """Whether a decoded header's request depends on its bytes only: every input is
    binary and nothing names shared memory (whose regions come and go)."""
    for io in document["inputs"]:
        params = io.get("parameters")
        if (type(params) is not dict or "binary_data_size" not in params
                or names_shared_memory(params)):
            return False
    for io in document.get("outputs", ()):
        params = io.get("parameters")
        if type(params) is dict and names_shared_memory(params):
            return False
    return True


def _decode_parameters(document: Any, decoded: DecodedInfer) -> None:
    if type(document) is not dict or "parameters" not in document:
        return
    params = tj.members(document["parameters"], "failed to get request params.")
    values = RequestParameters()
    for key, value in params.items():
        if key == "sequence_id":
            if tj.is_uint(value):
                values.set_correlation_id(value)
            else:
                values.set_correlation_id(tj.as_string(value, "Unable to parse 'sequence_id'"))
        elif key == "sequence_start":
            values.set_sequence_start(tj.as_bool(value, "Unable to parse 'sequence_start'"))
        elif key == "sequence_end":
            values.set_sequence_end(tj.as_bool(value, "Unable to parse 'sequence_end'"))
        elif key == "priority":
            values.set_priority(tj.as_uint(value, "Unable to parse 'priority'"))
        elif key == "timeout":
            values.set_timeout(tj.as_uint(value, "Unable to parse 'timeout'"))
        elif key == "binary_data_output":
            decoded.default_binary = tj.as_bool(value, "Unable to parse 'binary_data_output'")
        elif key.startswith(TRITON_PREFIX):
            raise invalid_arg(
                "parameter keys starting with 'triton_' are reserved for Triton usage and "
                "should not be specified."
            )
        else:
            values.add_custom(key, json_parameter(key, value))
    values.apply(decoded.request)


def _check_content_fields(io: Any) -> None:
    has_data = type(io) is dict and "data" in io
    params = io.get("parameters") if type(io) is dict else None
    has_binary = type(params) is dict and "binary_data_size" in params
    has_shm = type(params) is dict and "shared_memory_region" in params
    if has_data + has_binary + has_shm == 1:
        return
    if not (has_data or has_binary or has_shm):
        raise invalid_arg(f"{_CONTENT_FIELDS} no field is set")
    found = [n for n, f in (("'data'", has_data), ("'binary_data_size'", has_binary),
                            ("'shared_memory_region'", has_shm)) if f]
    raise invalid_arg(f"{_CONTENT_FIELDS} set {' '.join(found)}")


def _shared_memory(io: dict[str, Any]) -> SharedMemoryRef | None:
    """The ``shared_memory_*`` parameters of an input or output: where the tensor is, or
    None. A missing offset or byte size is 0, as in Triton."""
    params = io.get("parameters")
    if type(params) is not dict:
        return None
    region = None
    if "shared_memory_region" in params:
        region = tj.as_string(
            params["shared_memory_region"], "Unable to parse 'shared_memory_region'"
        )
    values = {"shared_memory_offset": 0, "shared_memory_byte_size": 0}
    for key in values:
        if key in params:
            values[key] = tj.as_uint(params[key], f"Unable to parse '{key}'")
    if region is None:
        return None
    return SharedMemoryRef(
        region, values["shared_memory_offset"], values["shared_memory_byte_size"]
    )


def _all_uint(values: list[Any]) -> bool:
    """Whether every value is an unsigned 64-bit integer (:func:`tj.is_uint`; a loop:
    cheaper than all() over a generator for a shape's few dims)."""
    is_uint = tj.is_uint
    for v in values:  # noqa: SIM110
        if not is_uint(v):
            return False
    return True


def _decode_inputs(
    document: Any,
    decoded: DecodedInfer,
    view: memoryview,
    offset: int,
    max_input_size: int,
    shared_memory: SystemSharedMemoryRegistry | None,
) -> None:
    request = decoded.request
    model = request.model_name
    inputs = InputSet(request.id)
    bad_datatype: str | None = None
    for io in tj.member_array(document, "inputs", "Unable to parse 'inputs'"):
        # Each field is taken as it usually comes first; only when it is not does the
        # checked accessor run, to raise TritonJson's error (in Triton's order).
        params = io.get("parameters") if type(io) is dict else None
        if not (type(params) is dict and "binary_data_size" in params
                and "shared_memory_region" not in params and "data" not in io):
            _check_content_fields(io)
        name = io.get("name")
        if type(name) is not str:
            name = tj.as_string(tj.member(io, "name", "Unable to parse 'name'"),
                                "Unable to parse 'name'")
        type_name = io.get("datatype")
        if type(type_name) is not str:
            type_name = tj.as_string(tj.member(io, "datatype", "Unable to parse 'datatype'"),
                                     "Unable to parse 'datatype'")
        datatype = DATATYPES.get(type_name)
        shape = io.get("shape")
        if type(shape) is not list or not _all_uint(shape):
            shape = [tj.as_uint(d, "Unable to parse 'shape'")
                     for d in tj.member_array(io, "shape", "Unable to parse 'shape'")]
        inputs.claim(name)
        data: bytes | memoryview
        if type(params) is dict and "binary_data_size" in params:
            size = tj.as_uint(params["binary_data_size"], "Unable to parse 'binary_data_size'")
            available = len(view) - offset
            if size > available:
                raise invalid_arg(
                    f"unexpected size for input '{name}', expecting {size - available} "
                    f"additional bytes for model '{model}'"
                )
            data = view[offset : offset + size]
            offset += size
        else:
            region = _shared_memory(io)
            count = element_count(shape)
            if region is not None:
                data = input_view(shared_memory, region)
            elif count == 0:
                data = b""
            else:
                values = tj.member_array(io, "data", "Unable to parse 'data'")
                if datatype is DataType.BYTES:
                    expected = bytes_byte_size(values)
                else:
                    expected = count
                    item = datatype.itemsize if datatype is not None else 0
                    if count * item > max_input_size:
                        raise invalid_arg(
                            f"JSON input '{name}' has a byte_size ({count * item} bytes) that "
                            f"exceeds the maximum allowed value of {max_input_size} bytes. "
                            "Use --http-max-input-size to increase the limit."
                        )
                data = json_to_wire(name, datatype, values, expected)
        if datatype is None:
            bad_datatype = bad_datatype or name
            continue
        inputs.add(Tensor(name, datatype, shape, raw=data))
    if offset != len(view):
        raise invalid_arg(f"unexpected additional input data for model '{model}'")
    if bad_datatype is not None:
        raise InvalidDatatype(bad_datatype)
    request.inputs = inputs.tensors


def _decode_outputs(
    document: Any, decoded: DecodedInfer, shared_memory: SystemSharedMemoryRegistry | None
) -> None:
    if type(document) is not dict or "outputs" not in document:
        return
    requested: list[RequestedOutput] = []
    for io in tj.member_array(document, "outputs", "Unable to parse 'outputs'"):
        params = io.get("parameters") if type(io) is dict else None
        if type(params) is dict and "shared_memory_region" in params:
            if "classification" in params:
                raise invalid_arg(
                    "Output can't set both 'shared_memory_region' and 'classification'"
                )
            if "binary_data" in params and tj.as_bool(
                params["binary_data"], "Unable to set 'binary_data'"
            ):
                raise invalid_arg("Output can't set both 'shared_memory_region' and 'binary_data'")
        name = io.get("name") if type(io) is dict else None
        if type(name) is not str:
            name = tj.as_string(tj.member(io, "name", "Unable to parse 'name'"),
                                "Unable to parse 'name'")
        parameters: dict[str, bool | int | float | str] = {}
        if type(params) is dict:
            if "classification" in params:
                count = tj.as_uint(params["classification"], "Unable to set 'classification'")
                if count > 0:
                    parameters["classification"] = count
            if ("shared_memory_region" in params or "shared_memory_offset" in params
                    or "shared_memory_byte_size" in params):
                region = _shared_memory(io)
                if region is not None:
                    parameters.update(output_parameters(shared_memory, region))
        binary = False
        if type(params) is dict and "binary_data" in params:
            binary = tj.as_bool(params["binary_data"], "Unable to parse 'binary_data'")
        if name not in decoded.binary:  # the first mention of an output wins, as in Triton
            decoded.binary[name] = binary
            requested.append(RequestedOutput(name, parameters))
    decoded.request.requested_outputs = requested


RAW_INPUT = "raw_input"


def decode_raw_request(
    model: str, version: str, body: bytes | memoryview, config: model_config_pb2.ModelConfig
) -> DecodedInfer:
    """A "raw binary" request (``Inference-Header-Content-Length: 0``): the whole body is
    the one input of a model that has exactly one; its type and shape come from the
    model config (variable dims are filled from the body size). Outputs are binary."""
    prefix = request_prefix("")
    if len(config.input) != 1:
        raise invalid_arg(
            f"{prefix}Raw request must only have 1 input (found 1) to be deduced but got "
            f"{len(config.input)} inputs in '{model}' model configuration"
        )
    spec = config.input[0]
    datatype = DataType.from_config(spec.data_type)
    dims = ([1] if config.max_batch_size > 0 else []) + [int(d) for d in spec.dims]
    if -1 in dims:
        if datatype is DataType.BYTES:
            total = max(count_bytes_elements(body), 0)
        else:
            total = len(body) // max(datatype.itemsize, 1)
        known = element_count([d for d in dims if d != -1]) or 1
        fill = total // known if dims.count(-1) == 1 else 1
        dims = [fill if d == -1 else d for d in dims]
    request = InferenceRequest(model_name=model, inputs=[], model_version=version)
    request.inputs = [Tensor(spec.name, datatype, dims, raw=body)]
    return DecodedInfer(request, default_binary=True, raw=True)


# ------------------------------------------------------------------------------ encode


def _parameters_json(parameters: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in parameters.items() if isinstance(v, (bool, int, float, str))}


def encode_infer_response(
    response: InferenceResponse, request: InferenceRequest, decoded: DecodedInfer
) -> EncodedResponse:
    """A successful response -> the JSON header (+ binary outputs, in output order)."""
    head: dict[str, Any] = {}
    if request.id:
        head["id"] = request.id
    head["model_name"] = response.model_name or request.model_name
    head["model_version"] = response.model_version
    if response.parameters:
        head["parameters"] = _parameters_json(response.parameters)
    outputs: list[bytes] = []
    blobs: list[bytes | memoryview] = []
    for tensor in response.outputs:
        meta = orjson.dumps(
            {"name": tensor.name, "datatype": tensor.datatype._value_, "shape": tensor.shape}
        )
        if in_shared_memory(tensor):  # written to its region: no data, as Triton
            outputs.append(meta)
        elif decoded.is_binary(tensor.name):
            size = tensor.byte_size
            outputs.append(meta[:-1] + b',"parameters":{"binary_data_size":%d}}' % size)
            if size:
                blobs.append(tensor.raw())
        else:
            outputs.append(meta[:-1] + b',"data":' + wire_to_json(tensor) + b"}")
    header = orjson.dumps(head)[:-1] + b',"outputs":[' + b",".join(outputs) + b"]}"
    if not blobs:
        return EncodedResponse([header], None)
    return EncodedResponse([header, *blobs], len(header))
