"""Error cases of TRITON-BEHAVIOUR.md section 3: exact gRPC status codes and texts."""

from __future__ import annotations

import re
import time

import grpc
import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from conformance_utils import expect_error, expect_rpc_error, make_input, status_name
from tritonclient.grpc import service_pb2

NO_ID = "[request id: <id_unknown>] "


def _plain_input(array: np.ndarray, datatype: str | None = None) -> list[grpcclient.InferInput]:
    return [make_input("INPUT", array, datatype)]


def test_e1_wrong_datatype(client: grpcclient.InferenceServerClient) -> None:
    error = expect_error(client.infer, "plain", _plain_input(np.zeros((2, 3), dtype=np.int32)))
    assert status_name(error) == "INVALID_ARGUMENT"
    assert error.message() == (
        NO_ID + "inference input 'INPUT' data-type is 'INT32', but model 'plain' expects 'FP32'"
    )


def test_e1_request_id_in_prefix(client: grpcclient.InferenceServerClient) -> None:
    error = expect_error(
        client.infer, "plain", _plain_input(np.zeros((2, 3), dtype=np.int32)), request_id="my-id"
    )
    assert error.message() == (
        "[request id: my-id] inference input 'INPUT' data-type is 'INT32', "
        "but model 'plain' expects 'FP32'"
    )


def test_e2_wrong_shape(client: grpcclient.InferenceServerClient) -> None:
    error = expect_error(client.infer, "plain", _plain_input(np.zeros((3, 2), dtype=np.float32)))
    assert status_name(error) == "INVALID_ARGUMENT"
    # Note the trailing space.
    assert error.message() == (
        NO_ID + "unexpected shape for input 'INPUT' for model 'plain'. Expected [2,3], got [3,2]. "
    )


def test_e3_byte_size_mismatch(stub) -> None:
    request = service_pb2.ModelInferRequest(model_name="plain")
    request.inputs.add(name="INPUT", datatype="FP32", shape=[2, 3])
    request.raw_input_contents.append(b"\x00" * 20)
    error = expect_rpc_error(stub.ModelInfer, request)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details() == (
        NO_ID + "input byte size mismatch for input 'INPUT' for model 'plain'. Expected 24, got 20"
    )


def test_e4_missing_input(stub) -> None:
    request = service_pb2.ModelInferRequest(model_name="plain")
    error = expect_rpc_error(stub.ModelInfer, request)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details() == (
        NO_ID + "expected 1 inputs but got 0 inputs for model 'plain'. Got input(s) [], but "
        "missing required input(s) ['INPUT']. Please provide all required input(s)."
    )


def test_e5_extra_input(client: grpcclient.InferenceServerClient) -> None:
    inputs = [
        make_input("INPUT", np.zeros((2, 3), dtype=np.float32)),
        make_input("BOGUS", np.zeros((2, 3), dtype=np.float32)),
    ]
    error = expect_error(client.infer, "plain", inputs)
    assert status_name(error) == "INVALID_ARGUMENT"
    # The lone "]" is verbatim Triton.
    assert error.message() == (
        NO_ID + "expected 1 inputs but got 2 inputs for model 'plain'. Got input(s) "
        "['BOGUS','INPUT'], but missing required input(s) ]. Please provide all required input(s)."
    )


def test_e6_unknown_requested_output(client: grpcclient.InferenceServerClient) -> None:
    error = expect_error(
        client.infer,
        "plain",
        _plain_input(np.zeros((2, 3), dtype=np.float32)),
        outputs=[grpcclient.InferRequestedOutput("NOPE")],
    )
    assert status_name(error) == "INVALID_ARGUMENT"
    assert error.message() == "unexpected inference output 'NOPE' for model 'plain'"


def test_e7_batch_too_large(client: grpcclient.InferenceServerClient) -> None:
    error = expect_error(
        client.infer, "plain_batch", _plain_input(np.zeros((9, 3), dtype=np.float32))
    )
    assert status_name(error) == "INVALID_ARGUMENT"
    assert error.message() == NO_ID + "inference request batch-size must be <= 8 for 'plain_batch'"


def test_e8_missing_batch_dimension(client: grpcclient.InferenceServerClient) -> None:
    error = expect_error(client.infer, "plain_batch", _plain_input(np.zeros(3, dtype=np.float32)))
    assert status_name(error) == "INVALID_ARGUMENT"
    assert error.message() == (
        NO_ID + "unexpected shape for input 'INPUT' for model 'plain_batch'. Expected [-1,3], "
        "got [3]. NOTE: Setting a non-zero max_batch_size in the model config requires a batch "
        "dimension to be prepended to each input shape. If you want to specify the full shape "
        "including the batch dim in your input dims config, try setting max_batch_size to zero. "
        "See the model configuration docs for more info on max_batch_size."
    )


def test_f1_unknown_model(client: grpcclient.InferenceServerClient) -> None:
    error = expect_error(client.infer, "no_such_model", _plain_input(np.zeros(1, dtype=np.float32)))
    assert status_name(error) == "NOT_FOUND"
    assert error.message() == "Request for unknown model: 'no_such_model' is not found"


def test_f2_unknown_version(client: grpcclient.InferenceServerClient) -> None:
    error = expect_error(
        client.infer, "plain", _plain_input(np.zeros((2, 3), dtype=np.float32)), model_version="7"
    )
    assert status_name(error) == "NOT_FOUND"
    assert error.message() == "Request for unknown model: 'plain' version 7 is not found"


def _traceback_pattern(server, model: str, instance: str, head: str) -> re.Pattern[str]:
    path = re.escape(str(server.repository / model / "1" / "model.py"))
    return re.compile(
        re.escape(f"Failed to process the request(s) for model '{instance}', message: {head}")
        + r"\n\nAt:\n  "
        + path
        + r"\(\d+\): execute\n"
    )


def test_g_execute_raises(client: grpcclient.InferenceServerClient, server) -> None:
    kind = [make_input("KIND", np.array([0], dtype=np.int32))]
    for _ in range(2):  # the instance keeps serving: the next call fails the same way
        error = expect_error(client.infer, "raises", kind)
        assert status_name(error) == "INTERNAL"
        pattern = _traceback_pattern(server, "raises", "raises_0", "ValueError: boom from execute")
        assert pattern.fullmatch(error.message()), error.message()


def test_g_prime_triton_model_exception(client: grpcclient.InferenceServerClient, server) -> None:
    error = expect_error(
        client.infer, "raises", [make_input("KIND", np.array([1], dtype=np.int32))]
    )
    assert status_name(error) == "INTERNAL"
    pattern = _traceback_pattern(server, "raises", "raises_0", "TritonModelException: tme message")
    assert pattern.fullmatch(error.message()), error.message()


def test_g_logged_by_server(client: grpcclient.InferenceServerClient, server) -> None:
    expect_error(client.infer, "raises", [make_input("KIND", np.array([0], dtype=np.int32))])
    assert server.wait_for_log("boom from execute")


# (code passed to TritonError, or -1 for the default) -> gRPC status
H_CODES = [
    (-1, grpc.StatusCode.INTERNAL),
    (3, grpc.StatusCode.INVALID_ARGUMENT),
    (2, grpc.StatusCode.NOT_FOUND),
    (4, grpc.StatusCode.UNAVAILABLE),
    (5, grpc.StatusCode.UNIMPLEMENTED),
    (6, grpc.StatusCode.ALREADY_EXISTS),
    (1, grpc.StatusCode.INTERNAL),
    (7, grpc.StatusCode.CANCELLED),
    (0, grpc.StatusCode.UNKNOWN),
]


@pytest.mark.parametrize(("code", "status"), H_CODES, ids=[s.name + str(c) for c, s in H_CODES])
def test_h_error_response_codes(stub, code: int, status: grpc.StatusCode) -> None:
    request = service_pb2.ModelInferRequest(model_name="error_resp")
    request.inputs.add(name="CODE", datatype="INT32", shape=[1])
    request.raw_input_contents.append(np.array([code], dtype=np.int32).tobytes())
    error = expect_rpc_error(stub.ModelInfer, request)
    assert error.code() == status
    assert error.details() == "custom error message"


def test_h_error_response_via_tritonclient(client: grpcclient.InferenceServerClient) -> None:
    error = expect_error(
        client.infer, "error_resp", [make_input("CODE", np.array([3], dtype=np.int32))]
    )
    assert status_name(error) == "INVALID_ARGUMENT"
    assert error.message() == "custom error message"


def test_i_decoupled_model_over_unary_infer(client: grpcclient.InferenceServerClient) -> None:
    error = expect_error(
        client.infer, "decoupled_repeat", [make_input("N", np.array([2], dtype=np.int32))]
    )
    assert status_name(error) == "UNIMPLEMENTED"
    assert error.message() == (
        "ModelInfer RPC doesn't support models with decoupled transaction policy"
    )


def _badresp(client: grpcclient.InferenceServerClient, mode: int) -> grpcclient.InferResult:
    return client.infer("badresp", [make_input("MODE", np.array([mode], dtype=np.int32))])


def test_j_outputs_not_validated(client: grpcclient.InferenceServerClient) -> None:
    ok = _badresp(client, 0)
    np.testing.assert_array_equal(ok.as_numpy("OUTPUT"), np.array([1.0, 2.0], dtype=np.float32))

    # An undeclared output name is dropped silently.
    undeclared = _badresp(client, 1)
    assert [o.name for o in undeclared.get_response().outputs] == ["OUTPUT"]

    # A wrong dtype passes through as sent by the model.
    wrong_dtype = _badresp(client, 2)
    (output,) = wrong_dtype.get_response().outputs
    assert (output.datatype, list(output.shape)) == ("INT64", [1])
    np.testing.assert_array_equal(wrong_dtype.as_numpy("OUTPUT"), np.array([1], dtype=np.int64))

    # A wrong shape passes through too.
    wrong_shape = _badresp(client, 3)
    assert list(wrong_shape.get_response().outputs[0].shape) == [3]

    # No outputs at all: OK with an empty output list.
    empty = _badresp(client, 4)
    assert list(empty.get_response().outputs) == []


def test_response_count_mismatch(client: grpcclient.InferenceServerClient) -> None:
    error = expect_error(client.infer, "badresp", [make_input("MODE", np.array([5], np.int32))])
    assert status_name(error) == "INTERNAL"
    # badresp has an explicit instance_group, so its instance is badresp_0_0.
    assert error.message() == (
        "Failed to process the request(s) for model 'badresp_0_0', message: Number of "
        "InferenceResponse objects do not match the number of InferenceRequest objects. "
        "InferenceRequest(s) size is:1, and InferenceResponse(s) size is:0\n"
    )


def test_k_client_deadline(client: grpcclient.InferenceServerClient) -> None:
    seconds = [make_input("SECONDS", np.array([1.0], dtype=np.float32))]
    error = expect_error(client.infer, "slow", seconds, client_timeout=0.2)
    assert status_name(error) == "DEADLINE_EXCEEDED"
    assert error.message() == "Deadline Exceeded"
    # The server keeps working.
    quick = [make_input("SECONDS", np.array([0.0], dtype=np.float32))]
    result = client.infer("slow", quick, client_timeout=30)
    assert result.as_numpy("CANCELLED").tolist() == [False]


@pytest.mark.tritonlite_only(
    reason="Triton 2.51 hangs until the client deadline when execute returns None"
)
def test_execute_returning_none_fails_at_once(client: grpcclient.InferenceServerClient) -> None:
    started = time.monotonic()
    error = expect_error(
        client.infer,
        "none_return",
        [make_input("INPUT", np.zeros(1, dtype=np.float32))],
        client_timeout=20,
    )
    assert time.monotonic() - started < 10
    assert status_name(error) == "INTERNAL", error
    assert "None" in error.message()


@pytest.mark.tritonlite_only(
    reason="classification on a BYTES output kills the Triton 2.51 server process"
)
def test_classification_of_bytes_output_is_invalid_argument(
    client: grpcclient.InferenceServerClient,
) -> None:
    error = expect_error(
        client.infer,
        "params",
        [make_input("INPUT", np.zeros(1, dtype=np.float32))],
        outputs=[grpcclient.InferRequestedOutput("REQUEST_ID", class_count=2)],
    )
    assert status_name(error) == "INVALID_ARGUMENT"
    # The server survives.
    assert client.is_server_live() is True
