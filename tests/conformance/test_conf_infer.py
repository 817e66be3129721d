"""ModelInfer for every datatype (raw_input_contents and typed contents), parameters, aio."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.grpc.aio as aioclient
from conformance_utils import NP_TO_TRITON, first, make_input
from tritonclient.grpc import service_pb2


def _ints(dtype: type) -> np.ndarray:
    info = np.iinfo(dtype)
    return np.array([[info.min, 0, info.max], [1, 2, 3]], dtype=dtype)


SAMPLES: dict[str, np.ndarray] = {
    "BOOL": np.array([[True, False, True], [False, False, True]]),
    "UINT8": _ints(np.uint8),
    "UINT16": _ints(np.uint16),
    "UINT32": _ints(np.uint32),
    "UINT64": _ints(np.uint64),
    "INT8": _ints(np.int8),
    "INT16": _ints(np.int16),
    "INT32": _ints(np.int32),
    "INT64": _ints(np.int64),
    "FP16": np.array([[0.5, -1.25, 65504.0], [np.inf, -0.0, 1e-4]], dtype=np.float16),
    "FP32": np.array([[1.5, -2.25, 3.4e38], [np.inf, np.nan, -0.0]], dtype=np.float32),
    "FP64": np.array([[1.5, -2.25, 1.7e308], [-np.inf, np.nan, 5e-324]], dtype=np.float64),
    "BYTES": np.array(
        [[b"", b"hello", b"\x00\xff\xfe"], ["héllo".encode(), b"x" * 300, b"\n"]], dtype=np.object_
    ),
}

# Typed `contents` fields of InferTensorContents (FP16 has none: raw only).
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
    "BYTES": "bytes_contents",
}


def _check(result: grpcclient.InferResult, datatype: str) -> None:
    expected = SAMPLES[datatype]
    output = result.get_output(f"OUT_{datatype}")
    assert output is not None
    assert output.datatype == datatype
    assert list(output.shape) == list(expected.shape)
    got = result.as_numpy(f"OUT_{datatype}")
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("datatype", list(SAMPLES))
def test_roundtrip_raw_input_contents(
    client: grpcclient.InferenceServerClient, datatype: str
) -> None:
    result = client.infer("all_types", [make_input(f"IN_{datatype}", SAMPLES[datatype])])
    assert [o.name for o in result.get_response().outputs] == [f"OUT_{datatype}"]
    _check(result, datatype)


def test_roundtrip_every_datatype_in_one_request(client: grpcclient.InferenceServerClient) -> None:
    inputs = [make_input(f"IN_{dt}", array) for dt, array in SAMPLES.items()]
    result = client.infer("all_types", inputs)
    for datatype in SAMPLES:
        _check(result, datatype)


@pytest.mark.parametrize("datatype", list(CONTENTS_FIELD))
def test_roundtrip_typed_contents(stub, datatype: str) -> None:
    array = SAMPLES[datatype]
    request = service_pb2.ModelInferRequest(model_name="all_types")
    tensor = request.inputs.add(name=f"IN_{datatype}", datatype=datatype, shape=list(array.shape))
    values = array.reshape(-1).tolist()
    getattr(tensor.contents, CONTENTS_FIELD[datatype]).extend(values)
    response = stub.ModelInfer(request, timeout=30)
    assert response.model_name == "all_types"
    assert response.model_version == "1"
    # The server always answers in raw_output_contents.
    assert len(response.raw_output_contents) == 1
    _check(grpcclient.InferResult(response), datatype)


def test_raw_response_layout(stub) -> None:
    request = service_pb2.ModelInferRequest(model_name="identity_fp32", id="layout-1")
    request.inputs.add(name="INPUT0", datatype="FP32", shape=[3])
    request.raw_input_contents.append(np.array([1, 2, 3], dtype=np.float32).tobytes())
    response = stub.ModelInfer(request, timeout=30)
    assert response.id == "layout-1"
    assert [(o.name, o.datatype, list(o.shape)) for o in response.outputs] == [
        ("OUTPUT0", "FP32", [3])
    ]
    assert response.raw_output_contents[0] == np.array([1, 2, 3], dtype=np.float32).tobytes()


def test_a_repeated_request_header_is_decoded_for_each_request(stub) -> None:
    """A client sends the same request fields with new raw inputs every time (tritonlite
    keeps headers it decoded): each request is answered from its own data, checked
    against the model it names, and raw inputs of another size get their own error."""
    import grpc

    def request(model: str, raw: bytes) -> service_pb2.ModelInferRequest:
        message = service_pb2.ModelInferRequest(model_name=model, id="rep")
        message.parameters["k"].string_param = "v"
        message.inputs.add(name="INPUT", datatype="FP32", shape=[2, 3])
        message.raw_input_contents.append(raw)
        return message

    for i in range(3):
        x = np.arange(6, dtype=np.float32) + i
        response = stub.ModelInfer(request("plain", x.tobytes()), timeout=30)
        assert response.id == "rep"
        assert np.frombuffer(response.raw_output_contents[0], np.float32).tolist() == (
            x * 2).tolist()
    ones = np.ones(6, np.float32).tobytes()
    response = stub.ModelInfer(request("plain_batch", ones), timeout=30)
    assert list(response.outputs[0].shape) == [2, 3]
    for model, raw, text in (
        ("params", ones, "[request id: rep] unexpected shape for input 'INPUT' for model "
                         "'params'. Expected [-1], got [2,3]. "),
        ("plain", bytes(20), "[request id: rep] input byte size mismatch for input 'INPUT' "
                             "for model 'plain'. Expected 24, got 20"),
    ):
        with pytest.raises(grpc.RpcError) as info:
            stub.ModelInfer(request(model, raw), timeout=30)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert info.value.details() == text


def test_empty_tensor(client: grpcclient.InferenceServerClient) -> None:
    result = client.infer("identity_fp32", [make_input("INPUT0", np.zeros(0, dtype=np.float32))])
    assert result.as_numpy("OUTPUT0").shape == (0,)


def test_large_tensor(client: grpcclient.InferenceServerClient) -> None:
    data = np.arange(1_000_000, dtype=np.float32)
    result = client.infer("identity_fp32", [make_input("INPUT0", data)])
    np.testing.assert_array_equal(result.as_numpy("OUTPUT0"), data)


def test_batched_model_keeps_batch_dimension(client: grpcclient.InferenceServerClient) -> None:
    data = np.arange(12, dtype=np.float32).reshape(4, 3)
    result = client.infer("plain_batch", [make_input("INPUT", data)])
    np.testing.assert_array_equal(result.as_numpy("OUTPUT"), data * 2)


def _params_outputs(result: grpcclient.InferResult) -> dict[str, str]:
    return {o.name: first(result, o.name) for o in result.get_response().outputs}


def test_model_sees_request_fields(client: grpcclient.InferenceServerClient) -> None:
    result = client.infer(
        "params",
        [make_input("INPUT", np.zeros(2, dtype=np.float32))],
        request_id="rid-1",
        parameters={"custom_i": 5, "custom_s": "hello", "custom_b": True, "custom_f": 1.5},
        timeout=200000,
        priority=3,
    )
    seen = _params_outputs(result)
    # Reserved parameters (timeout, priority, sequence_*) are not passed on.
    assert json.loads(seen["PARAMS"]) == {
        "custom_i": 5,
        "custom_s": "hello",
        "custom_b": True,
        "custom_f": 1.5,
    }
    assert seen["REQUEST_ID"] == "rid-1"
    assert seen["TIMEOUT"] == "200000"
    assert seen["CORRELATION_ID"] == "0"
    assert seen["FLAGS"] == "0"
    assert result.get_response().id == "rid-1"


def test_model_sees_defaults(client: grpcclient.InferenceServerClient) -> None:
    result = client.infer("params", [make_input("INPUT", np.zeros(1, dtype=np.float32))])
    seen = _params_outputs(result)
    assert seen["PARAMS"] == "{}"
    assert seen["REQUEST_ID"] == ""
    assert seen["TIMEOUT"] == "0"
    # With no requested outputs the model is asked for all of them.
    assert json.loads(seen["REQUESTED"]) == [
        "CORRELATION_ID",
        "FLAGS",
        "PARAMS",
        "REQUESTED",
        "REQUEST_ID",
        "TIMEOUT",
    ]
    assert result.get_response().id == ""


def test_requested_outputs_subset(client: grpcclient.InferenceServerClient) -> None:
    outputs = [
        grpcclient.InferRequestedOutput("REQUESTED"),
        grpcclient.InferRequestedOutput("FLAGS"),
    ]
    result = client.infer(
        "params", [make_input("INPUT", np.zeros(1, dtype=np.float32))], outputs=outputs
    )
    names = sorted(o.name for o in result.get_response().outputs)
    assert names == ["FLAGS", "REQUESTED"]
    assert json.loads(first(result, "REQUESTED")) == ["FLAGS", "REQUESTED"]


def test_sync_client_infer_ok(client: grpcclient.InferenceServerClient) -> None:
    data = np.array([1.0, 2.0, 3.0], dtype=np.float32)
    result = client.infer("identity_fp32", [make_input("INPUT0", data)], model_version="1")
    np.testing.assert_array_equal(result.as_numpy("OUTPUT0"), data)
    assert result.get_response().model_version == "1"


def test_async_infer_callback(client: grpcclient.InferenceServerClient) -> None:
    import queue

    done: queue.Queue = queue.Queue()
    data = np.array([4.0, 5.0], dtype=np.float32)
    client.async_infer(
        "identity_fp32",
        [make_input("INPUT0", data)],
        callback=lambda result, error: done.put((result, error)),
    )
    result, error = done.get(timeout=30)
    assert error is None
    np.testing.assert_array_equal(result.as_numpy("OUTPUT0"), data)


async def test_aio_client(server) -> None:
    async with aioclient.InferenceServerClient(server.grpc_url) as triton:
        assert await triton.is_server_live()
        assert await triton.is_model_ready("identity_fp32")
        data = np.array([7.0, 8.0], dtype=np.float32)
        tensor = aioclient.InferInput("INPUT0", [2], NP_TO_TRITON[data.dtype])
        tensor.set_data_from_numpy(data)
        result = await triton.infer("identity_fp32", [tensor], request_id="aio-1")
        np.testing.assert_array_equal(result.as_numpy("OUTPUT0"), data)
        metadata = await triton.get_model_metadata("identity_fp32", as_json=True)
        assert metadata["platform"] == "python"
