"""The system shared memory extension with tritonclient (gRPC and HTTP): register, status,
unregister, inputs read from and outputs written to regions, bounds and their errors, and
CUDA shared memory refused cleanly.

Regions are created with ``tritonclient.utils.shared_memory`` under keys unique to this
process; every test leaves the server with no region registered.
"""

from __future__ import annotations

import base64
import json
import os
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
import tritonclient.utils.shared_memory as shm
from conformance_utils import expect_error, expect_rpc_error, raw_stub, status_name
from tritonclient.grpc import service_pb2

MODEL = "identity_fp32"
DATA = np.array([1.5, -2.0, 3.25, 4.0], dtype=np.float32)
NBYTES = DATA.nbytes  # 16
CUDA_TEXTS = (
    # tritonlite and Triton built without GPUs
    "failed to register CUDA shared memory region: 'c', GPUs not supported",
    # Triton built with GPUs, on a machine without one
    "failed to register shared memory region: invalid args",
)

Region = Callable[[str, int], tuple[str, Any]]


@pytest.fixture(scope="module")
def http(server) -> Iterator[httpclient.InferenceServerClient]:  # type: ignore[no-untyped-def]
    client = httpclient.InferenceServerClient(server.http_url)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def region(client: grpcclient.InferenceServerClient) -> Iterator[Region]:
    """``region(name, byte_size) -> (key, handle)``: a new POSIX shared-memory object
    (not registered). The objects are destroyed and every region unregistered after."""
    handles: list[Any] = []

    def create(name: str, byte_size: int) -> tuple[str, Any]:
        key = f"/tl_conf_shm_{os.getpid()}_{name}"
        handle = shm.create_shared_memory_region(name, key, byte_size)
        handles.append(handle)
        return key, handle

    try:
        yield create
    finally:
        client.unregister_system_shared_memory()
        for handle in handles:
            shm.destroy_shared_memory_region(handle)


def call(url: str, method: str, path: str, body: Any = None) -> tuple[int, str]:
    data = json.dumps(body).encode() if body is not None and not isinstance(body, bytes) else body
    request = urllib.request.Request(f"http://{url}{path}", data=data, method=method)
    try:
        with urllib.request.urlopen(request) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def error_of(status_and_body: tuple[int, str]) -> tuple[int, str]:
    status, body = status_and_body
    return status, json.loads(body)["error"]


def grpc_error(call_: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[str, str]:
    error = expect_error(call_, *args, **kwargs)
    return status_name(error), error.message()


def test_extension_is_listed(client: grpcclient.InferenceServerClient) -> None:
    assert "system_shared_memory" in client.get_server_metadata().extensions


# ------------------------------------------------------------------ register / status


def test_register_status_unregister_grpc(client, region: Region) -> None:
    key_a, _ = region("a", 64)
    key_b, _ = region("b", 8192)
    assert client.get_system_shared_memory_status(as_json=True) == {}
    client.register_system_shared_memory("a", key_a, 64)
    client.register_system_shared_memory("b", key_b, 32, offset=4096)
    status = client.get_system_shared_memory_status(as_json=True)["regions"]
    assert status == {
        "a": {"name": "a", "key": key_a, "byte_size": "64"},
        "b": {"name": "b", "key": key_b, "offset": "4096", "byte_size": "32"},
    }
    assert client.get_system_shared_memory_status("b", as_json=True)["regions"] == {
        "b": status["b"]
    }
    client.unregister_system_shared_memory("a")
    client.unregister_system_shared_memory("a")  # unknown names are not an error
    assert list(client.get_system_shared_memory_status(as_json=True)["regions"]) == ["b"]
    client.unregister_system_shared_memory()
    assert client.get_system_shared_memory_status(as_json=True) == {}


def test_register_errors_grpc(client, region: Region) -> None:
    key, _ = region("r", 64)
    client.register_system_shared_memory("r", key, 64)
    assert grpc_error(client.register_system_shared_memory, "r", key, 64) == (
        "ALREADY_EXISTS", "shared memory region 'r' already in manager")
    missing = f"/tl_conf_shm_{os.getpid()}_missing"
    for bad_key in (missing, "", "/", "/tmp/not_a_shm_key"):
        assert grpc_error(client.register_system_shared_memory, "x", bad_key, 8) == (
            "INTERNAL", f"Unable to open shared memory region: '{bad_key}'")
    other, _ = region("o", 64)
    assert grpc_error(client.register_system_shared_memory, "x", other, 65) == (
        "INVALID_ARGUMENT", "failed to register shared memory region 'x': invalid args")
    assert grpc_error(client.register_system_shared_memory, "x", other, 0) == (
        "INVALID_ARGUMENT",
        "failed to register shared memory region 'x': unable to process address space"
        "Invalid argument")
    assert grpc_error(client.get_system_shared_memory_status, "nope") == (
        "NOT_FOUND", "Unable to find system shared memory region: 'nope'")


def test_register_status_unregister_http(http, server, region: Region) -> None:
    key_a, _ = region("ha", 64)
    key_b, _ = region("hb", 64)
    http.register_system_shared_memory("ha", key_a, 64)
    assert call(server.http_url, "POST", "/v2/systemsharedmemory/region/hb/register",
                {"key": key_b, "byte_size": 16}) == (200, "")
    expected = [{"name": "ha", "key": key_a, "offset": 0, "byte_size": 64},
                {"name": "hb", "key": key_b, "offset": 0, "byte_size": 16}]
    assert http.get_system_shared_memory_status() == expected
    assert http.get_system_shared_memory_status("hb") == expected[1:]
    http.unregister_system_shared_memory("ha")
    assert http.get_system_shared_memory_status() == expected[1:]
    assert call(server.http_url, "POST", "/v2/systemsharedmemory/unregister") == (200, "")
    assert http.get_system_shared_memory_status() == []


def test_register_errors_http(server, region: Region) -> None:
    key, _ = region("he", 64)
    url = server.http_url
    path = "/v2/systemsharedmemory/region/he/register"
    assert error_of(call(url, "POST", path, {"offset": 0, "byte_size": 8})) == (
        400, "Shared memory register request has no 'key' field")
    assert error_of(call(url, "POST", path, {"key": key})) == (
        400, "Shared memory register request has no 'byte_size' field")
    assert error_of(call(url, "POST", path, {"key": key, "byte_size": -8})) == (
        500, "attempt to access JSON non-unsigned-integer as unsigned-integer")
    assert error_of(call(url, "POST", path, {"key": 5, "byte_size": 8})) == (
        500, "attempt to access JSON non-string as string")
    assert error_of(call(url, "POST", path, b"")) == (
        500, "failed to parse the request JSON buffer: The document is empty. at 0")
    assert error_of(call(url, "POST", "/v2/systemsharedmemory/register",
                         {"key": key, "byte_size": 8})) == (
        400, "'region name' is necessary to register system shared memory region")
    assert error_of(call(url, "POST", path, {"key": "/tl_conf_shm_nope", "byte_size": 8})) == (
        500, "Unable to open shared memory region: '/tl_conf_shm_nope'")
    assert error_of(call(url, "POST", path, {"key": key, "byte_size": 80})) == (
        400, "failed to register shared memory region 'he': invalid args")
    assert call(url, "POST", path, {"key": key, "byte_size": 8}) == (200, "")
    assert error_of(call(url, "POST", path, {"key": key, "byte_size": 8})) == (
        400, "shared memory region 'he' already in manager")
    assert error_of(call(url, "GET", "/v2/systemsharedmemory/region/zz/status")) == (
        404, "Unable to find system shared memory region: 'zz'")
    assert error_of(call(url, "GET", path)) == (405, "Method Not Allowed")
    assert error_of(call(url, "POST", "/v2/systemsharedmemory/status")) == (
        405, "Method Not Allowed")


# --------------------------------------------------------------------------- inference


def _registered(client, region: Region) -> tuple[Any, Any]:
    key_in, handle_in = region("in", 64)
    key_out, handle_out = region("out", 64)
    shm.set_shared_memory_region(handle_in, [DATA])
    client.register_system_shared_memory("in", key_in, 64)
    client.register_system_shared_memory("out", key_out, 64)
    return handle_in, handle_out


def test_infer_grpc_input_and_output_in_shared_memory(client, region: Region) -> None:
    _, handle_out = _registered(client, region)
    tensor = grpcclient.InferInput("INPUT0", [4], "FP32")
    tensor.set_shared_memory("in", NBYTES)
    output = grpcclient.InferRequestedOutput("OUTPUT0")
    output.set_shared_memory("out", NBYTES, offset=32)
    result = client.infer(MODEL, [tensor], outputs=[output])
    response = result.get_response()
    # The output's metadata comes back; its (empty) contents are in the region.
    assert [(o.name, o.datatype, list(o.shape)) for o in response.outputs] == [
        ("OUTPUT0", "FP32", [4])]
    assert list(response.raw_output_contents) == [b""]
    assert not response.outputs[0].parameters
    np.testing.assert_array_equal(
        shm.get_contents_as_numpy(handle_out, np.float32, [4], offset=32), DATA)
    # An input from shared memory with the output in the response.
    result = client.infer(MODEL, [tensor])
    np.testing.assert_array_equal(result.as_numpy("OUTPUT0"), DATA)


def test_infer_http_input_and_output_in_shared_memory(http, client, region: Region) -> None:
    _, handle_out = _registered(client, region)
    tensor = httpclient.InferInput("INPUT0", [4], "FP32")
    tensor.set_shared_memory("in", NBYTES)
    output = httpclient.InferRequestedOutput("OUTPUT0")
    output.set_shared_memory("out", NBYTES)
    result = http.infer(MODEL, [tensor], outputs=[output])
    assert result.get_response() == {
        "model_name": MODEL, "model_version": "1",
        "outputs": [{"name": "OUTPUT0", "datatype": "FP32", "shape": [4]}]}
    np.testing.assert_array_equal(shm.get_contents_as_numpy(handle_out, np.float32, [4]), DATA)
    result = http.infer(MODEL, [tensor])
    np.testing.assert_array_equal(result.as_numpy("OUTPUT0"), DATA)


def _grpc_infer_error(client, inputs: tuple[str, int, int],
                      outputs: tuple[str, int, int] | None = None) -> tuple[str, str]:
    name, size, offset = inputs
    tensor = grpcclient.InferInput("INPUT0", [4], "FP32")
    tensor.set_shared_memory(name, size, offset=offset)
    requested = None
    if outputs is not None:
        out = grpcclient.InferRequestedOutput("OUTPUT0")
        out.set_shared_memory(outputs[0], outputs[1], offset=outputs[2])
        requested = [out]
    return grpc_error(client.infer, MODEL, [tensor], outputs=requested)


def test_infer_bounds_and_errors_grpc(client, region: Region) -> None:
    _registered(client, region)
    bad = "INVALID_ARGUMENT"
    assert _grpc_infer_error(client, ("in", NBYTES, 64)) == (
        bad, "Invalid offset for shared memory region: 'in'")
    assert _grpc_infer_error(client, ("in", NBYTES, 56)) == (
        bad, "Invalid offset + byte size for shared memory region: 'in'")
    assert _grpc_infer_error(client, ("zz", NBYTES, 0)) == (
        "NOT_FOUND", "Unable to find shared memory region: 'zz'")
    assert _grpc_infer_error(client, ("in", 12, 0)) == (
        bad, "[request id: <id_unknown>] input byte size mismatch for input 'INPUT0' for "
        "model 'identity_fp32'. Expected 16, got 12")
    assert _grpc_infer_error(client, ("in", NBYTES, 0), ("out", NBYTES, 56)) == (
        bad, "Invalid offset + byte size for shared memory region: 'out'")
    assert _grpc_infer_error(client, ("in", NBYTES, 0), ("zz", NBYTES, 0)) == (
        "NOT_FOUND", "Unable to find shared memory region: 'zz'")
    assert _grpc_infer_error(client, ("in", NBYTES, 0), ("out", 8, 0)) == (
        "INTERNAL", "shared memory size specified with the request for output 'OUTPUT0' "
        "(8 bytes) should be at least 16 bytes to hold the results")


def test_infer_bounds_and_errors_http(server, client, region: Region) -> None:
    _registered(client, region)

    def infer(input_params: dict[str, Any], output_params: dict[str, Any] | None = None,
              **extra: Any) -> tuple[int, str]:
        body: dict[str, Any] = {"inputs": [{"name": "INPUT0", "shape": [4], "datatype": "FP32",
                                            "parameters": input_params, **extra}]}
        if output_params is not None:
            body["outputs"] = [{"name": "OUTPUT0", "parameters": output_params}]
        return call(server.http_url, "POST", f"/v2/models/{MODEL}/infer", body)

    region_in = {"shared_memory_region": "in", "shared_memory_byte_size": NBYTES}
    assert error_of(infer({**region_in, "shared_memory_offset": 60})) == (
        400, "Invalid offset + byte size for shared memory region: 'in'")
    assert error_of(infer({"shared_memory_region": "in"})) == (  # no byte size: 0
        400, "Invalid offset + byte size for shared memory region: 'in'")
    assert error_of(infer({"shared_memory_region": "zz", "shared_memory_byte_size": 16})) == (
        404, "Unable to find shared memory region: 'zz'")
    assert error_of(infer(region_in, {"shared_memory_region": "out",
                                      "shared_memory_byte_size": 8})) == (
        500, "shared memory size specified with the request for output 'OUTPUT0' (8 bytes) "
        "should be at least 16 bytes to hold the results")
    assert error_of(infer(region_in, {"shared_memory_region": "out",
                                      "shared_memory_byte_size": "16"})) == (
        500, "Unable to parse 'shared_memory_byte_size': attempt to access JSON "
        "non-unsigned-integer as unsigned-integer")
    # shared_memory_* without a region are ignored over HTTP.
    status, body = infer({"shared_memory_byte_size": 16}, {"shared_memory_byte_size": 16},
                         data=[1, 2, 3, 4])
    assert (status, json.loads(body)["outputs"][0]["data"]) == (200, [1.0, 2.0, 3.0, 4.0])


# -------------------------------------------------------------------------------- CUDA


def test_cuda_shared_memory_is_refused(client, http, server, region: Region) -> None:
    key, _ = region("sys", 64)
    client.register_system_shared_memory("sys", key, 64)
    assert client.get_cuda_shared_memory_status(as_json=True) == {}
    assert http.get_cuda_shared_memory_status() == []
    assert grpc_error(client.get_cuda_shared_memory_status, "sys") == (
        "NOT_FOUND",
        "The region named 'sys' is registered as system shared memory, not CUDA shared memory")
    assert grpc_error(client.get_cuda_shared_memory_status, "zz") == (
        "NOT_FOUND", "Unable to find cuda shared memory region: 'zz'")
    channel, stub = raw_stub(server.grpc_url)
    try:
        error = expect_rpc_error(stub.CudaSharedMemoryRegister,
                                 service_pb2.CudaSharedMemoryRegisterRequest(
                                     name="c", raw_handle=b"x" * 64, device_id=0, byte_size=8))
    finally:
        channel.close()
    assert error.code().name == "INVALID_ARGUMENT"
    assert error.details() in CUDA_TEXTS
    handle = {"raw_handle": {"b64": base64.b64encode(b"x" * 64).decode()}, "device_id": 0,
              "byte_size": 8}
    status, text = error_of(call(server.http_url, "POST",
                                 "/v2/cudasharedmemory/region/c/register", handle))
    assert (status, text in CUDA_TEXTS) == (400, True)
    client.unregister_cuda_shared_memory("sys")  # not a CUDA region: nothing happens
    client.unregister_cuda_shared_memory()
    assert list(client.get_system_shared_memory_status(as_json=True)["regions"]) == ["sys"]


# -------------------------------------------------- deliberate differences from 2.51


@pytest.mark.tritonlite_only(reason="Triton 2.51 reuses a closed descriptor for a key that "
                             "is already registered and fails; fixed upstream (#8733)")
def test_several_regions_over_one_key(client, region: Region) -> None:
    key, handle = region("shared", 64)
    shm.set_shared_memory_region(handle, [DATA, DATA * 2])
    client.register_system_shared_memory("first", key, NBYTES)
    client.register_system_shared_memory("second", key, NBYTES, offset=NBYTES)
    tensor = grpcclient.InferInput("INPUT0", [4], "FP32")
    tensor.set_shared_memory("second", NBYTES)
    np.testing.assert_array_equal(client.infer(MODEL, [tensor]).as_numpy("OUTPUT0"), DATA * 2)


@pytest.mark.tritonlite_only(reason="Triton 2.51 needs a page-aligned register offset and "
                             "applies it twice; later Triton (#8330) applies it once")
def test_register_offset_is_where_the_region_starts(client, http, region: Region) -> None:
    key, handle = region("off", 8192)
    shm.set_shared_memory_region(handle, [DATA], offset=4100)
    client.register_system_shared_memory("off", key, 64, offset=4100)
    tensor = grpcclient.InferInput("INPUT0", [4], "FP32")
    tensor.set_shared_memory("off", NBYTES)
    output = grpcclient.InferRequestedOutput("OUTPUT0")
    output.set_shared_memory("off", NBYTES, offset=NBYTES)
    client.infer(MODEL, [tensor], outputs=[output])
    np.testing.assert_array_equal(
        shm.get_contents_as_numpy(handle, np.float32, [4], offset=4100 + NBYTES), DATA)
    assert http.get_system_shared_memory_status("off") == [
        {"name": "off", "key": key, "offset": 4100, "byte_size": 64}]
