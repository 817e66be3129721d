"""The generate extension's codec: ``POST v2/models/<m>/generate[_stream]``.

A request is one flat JSON object. Keys that name a model input become that input: a
scalar or a (nested) array, shaped to the input's dims by Triton's rule (fixed dims take
their share of the elements, the innermost variable dim gets the rest, other variable
dims 1). Every other key is a custom request parameter (``id`` is also the request id).
A response is one flat JSON object too: each output (a single element as a scalar,
otherwise a flat array), each response parameter, ``id`` when set, ``model_name`` and
``model_version``, keys in byte order. ``generate_stream`` sends each response as a
Server-Sent Event ``data: {...}\\n\\n``. Texts and rules follow Triton 2.51's
``HTTPAPIServer::HandleGenerate`` and ``GenerateRequestClass``.
"""

from __future__ import annotations

import orjson
from tritonclient.grpc import model_config_pb2

from tritonlite.core.errors import invalid_arg
from tritonlite.core.tensor import DataType, Tensor
from tritonlite.core.types import InferenceRequest, InferenceResponse
from tritonlite.frontends.common.parameters import RequestParameters
from tritonlite.frontends.http import tritonjson as tj
from tritonlite.frontends.http.codec import json_parameter
from tritonlite.frontends.http.jsondata import bytes_byte_size, json_to_wire, wire_to_json

__all__ = [
    "ONE_RESPONSE_TEXT",
    "decode_generate_request",
    "encode_generate_response",
    "sse_event",
]

ONE_RESPONSE_TEXT = (
    "generate expects model to produce exactly 1 response, use generate stream for model "
    "that generates various number of responses"
)


def _input_specs(config: model_config_pb2.ModelConfig) -> dict[str, tuple[DataType, list[int]]]:
    """Input name -> (datatype, metadata shape: ``-1`` batch dim first when batched)."""
    batch = [-1] if config.max_batch_size > 0 else []
    specs = {}
    for spec in config.input:
        specs[spec.name] = (DataType.from_config(spec.data_type),
                            batch + [int(d) for d in spec.dims])
    return specs


def _shape_for(name: str, dims: list[int], count: int) -> list[int]:
    error = invalid_arg(f"The schema can not convert input '{name}' to tensor with proper shape")
    shape = list(dims)
    for d in reversed(shape):
        if d != -1:
            if d == 0 or count % d:
                raise error
            count //= d
    for i in range(len(shape) - 1, -1, -1):
        if shape[i] == -1:
            shape[i] = count
            count = 1
    if count != 1:
        raise error
    return shape


def decode_generate_request(
    model: str, version: str, body: bytes | memoryview, config: model_config_pb2.ModelConfig
) -> InferenceRequest:
    """A generate request body -> ``InferenceRequest`` (all outputs requested)."""
    document = tj.parse(body)
    request = InferenceRequest(model_name=model, inputs=[], model_version=version)
    if type(document) is dict and "id" in document:
        request.id = tj.as_string(document["id"], "Unable to parse 'id'")
    specs = _input_specs(config)
    values = RequestParameters()
    for key, value in tj.members(document).items():
        spec = specs.get(key)
        if spec is None:
            values.add_custom(key, json_parameter(key, value))
            continue
        datatype, dims = spec
        count = len(value) if type(value) is list else 1
        expected = bytes_byte_size(value) if datatype is DataType.BYTES else count
        shape = _shape_for(key, dims, count)
        data = json_to_wire(key, datatype, value, expected)
        request.inputs.append(Tensor(key, datatype, shape, raw=data))
    values.apply(request)
    return request


def _scalar_or_array(tensor: Tensor) -> bytes:
    data = wire_to_json(tensor)
    if tensor.element_count == 1:
        return data[1:-1]  # a single element loses its brackets
    return data


def encode_generate_response(response: InferenceResponse, request: InferenceRequest) -> bytes:
    """One successful response -> its JSON object (keys in byte order, as std::map)."""
    fields: dict[str, bytes] = {}
    for key, value in response.parameters.items():
        if isinstance(value, (bool, int, float, str)):
            fields[key] = orjson.dumps(value)
    for tensor in response.outputs:
        fields[tensor.name] = _scalar_or_array(tensor)
    if request.id:
        fields["id"] = orjson.dumps(request.id)
    fields["model_name"] = orjson.dumps(response.model_name or request.model_name)
    fields["model_version"] = orjson.dumps(response.model_version)
    items = sorted(fields.items(), key=lambda kv: kv[0].encode("utf-8"))
    return b"{" + b",".join(orjson.dumps(k) + b":" + v for k, v in items) + b"}"


def sse_event(data: bytes) -> bytes:
    return b"data: " + data + b"\n\n"
