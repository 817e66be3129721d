"""The codec layer both frontends share (``frontends.common``)."""

from __future__ import annotations

import re

import numpy as np
import pytest
from tritonclient.grpc import model_config_pb2

from tritonlite.core.errors import InferenceServerError
from tritonlite.core.tensor import DataType, Tensor
from tritonlite.core.types import InferenceRequest
from tritonlite.frontends.common.parameters import RequestParameters, forward_headers
from tritonlite.frontends.common.tensors import (
    InputSet,
    InvalidDatatype,
    integers_to_wire,
    refine_invalid_datatype,
    strings_to_wire,
)


def test_request_parameters_apply() -> None:
    values = RequestParameters()
    values.set_correlation_id(-1)
    values.set_sequence_end(True)
    values.set_priority(2)
    values.set_timeout(10)
    values.add_custom("k", "v")
    request = InferenceRequest("m", [])
    values.apply(request)
    assert (request.correlation_id, request.flags) == (2**64 - 1, 2)
    assert (request.priority, request.timeout_us, request.parameters) == (2, 10, {"k": "v"})
    empty = InferenceRequest("m", [])
    RequestParameters().apply(empty)
    assert empty.sequence is None


def test_input_set_refuses_duplicates() -> None:
    inputs = InputSet("r1")
    inputs.claim("A")
    inputs.add(Tensor.from_numpy("A", np.zeros(1)))
    with pytest.raises(InferenceServerError, match=r"^\[request id: r1\] input 'A' already "
                                                   r"exists in request$"):
        inputs.claim("A")


def test_wire_conversions() -> None:
    assert np.frombuffer(integers_to_wire([2**64 - 1, -1], DataType.UINT64), "<u8").tolist() == [
        2**64 - 1, 2**64 - 1]
    assert strings_to_wire(["a", b"bc", "\udcff"]) == b"\x01\0\0\0a\x02\0\0\0bc\x01\0\0\0\xff"


def test_refine_invalid_datatype() -> None:
    config = model_config_pb2.ModelConfig(name="m")
    config.input.add(name="IN", data_type=model_config_pb2.TYPE_FP32, dims=[1])
    known = refine_invalid_datatype(InvalidDatatype("IN"), request_id="", model_name="m",
                                    config=config)
    assert known.message == ("[request id: <id_unknown>] inference input 'IN' data-type is "
                             "'<invalid>', but model 'm' expects 'FP32'")
    other = refine_invalid_datatype(InvalidDatatype("X"), request_id="r", model_name="m",
                                    config=config)
    assert other.message == "unexpected inference input 'X' for model 'm'"


def test_forward_headers() -> None:
    headers = [("x-a", "1"), ("y-b", "2"), ("host", "h")]
    assert forward_headers(headers, None) == {}
    assert forward_headers(headers, re.compile("-")) == {"x-a": "1", "y-b": "2"}
