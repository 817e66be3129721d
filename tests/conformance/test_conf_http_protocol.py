"""The HTTP/REST protocol over raw HTTP: routes, methods, status codes and error bodies,
the binary tensor data extension, compression, generate, repository and settings.

Every assertion holds on the reference Triton 2.51 and on tritonlite, except the tests
marked ``tritonlite_only`` (deliberate differences, each with its reason).
"""

from __future__ import annotations

import gzip
import http.client
import json
import shutil
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from conformance_utils import MODELS

PLAIN = {"name": "INPUT", "shape": [2, 3], "datatype": "FP32", "data": [1, 2, 3, 4, 5, 6]}


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def error(self) -> str:
        return str(self.json()["error"])


def call(url: str, method: str, path: str, body: bytes | dict[str, Any] | None = None,
         headers: dict[str, str] | None = None) -> Reply:
    host, port = url.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    try:
        data = json.dumps(body).encode() if isinstance(body, dict) else body
        conn.request(method, path, body=data, headers=headers or {})
        response = conn.getresponse()
        return Reply(response.status, {k.lower(): v for k, v in response.getheaders()},
                     response.read())
    finally:
        conn.close()


def binary_body(header: dict[str, Any], *blobs: bytes) -> tuple[bytes, dict[str, str]]:
    head = json.dumps(header).encode()
    return head + b"".join(blobs), {"Inference-Header-Content-Length": str(len(head))}


def split(reply: Reply) -> tuple[dict[str, Any], bytes]:
    n = int(reply.headers["inference-header-content-length"])
    return json.loads(reply.body[:n]), reply.body[n:]


@pytest.fixture(scope="module")
def url(server) -> str:  # type: ignore[no-untyped-def]
    return str(server.http_url)


# ----------------------------------------------------------------- health and metadata


def test_health(url: str) -> None:
    for path in ("/v2/health/live", "/v2/health/ready"):
        reply = call(url, "GET", path)
        assert (reply.status, reply.body) == (200, b"")
        assert reply.headers["content-type"] == "text/plain"


def test_server_metadata(url: str) -> None:
    meta = call(url, "GET", "/v2").json()
    assert (meta["name"], meta["version"]) == ("triton", "2.51.0")
    for extension in ("classification", "sequence", "model_repository", "schedule_policy",
                      "model_configuration", "binary_tensor_data", "parameters",
                      "statistics", "trace", "logging"):
        assert extension in meta["extensions"]


def test_model_metadata(url: str) -> None:
    assert call(url, "GET", "/v2/models/plain_batch/versions/1").json() == {
        "name": "plain_batch", "versions": ["1"], "platform": "python",
        "inputs": [{"name": "INPUT", "datatype": "FP32", "shape": [-1, 3]}],
        "outputs": [{"name": "OUTPUT", "datatype": "FP32", "shape": [-1, 3]}]}
    assert call(url, "GET", "/v2/models/seq_direct").json()["inputs"] == [
        {"name": "INPUT", "datatype": "INT32", "shape": [1]}]


@pytest.mark.parametrize(
    ("method", "path", "status", "error"),
    [
        ("GET", "/v2/models/nope", 404, "Request for unknown model: 'nope' is not found"),
        ("GET", "/v2/models/nope/config", 404, "Request for unknown model: 'nope' is not found"),
        ("GET", "/v2/models/plain/versions/7", 404,
         "Request for unknown model: 'plain' version 7 is not found"),
        ("GET", "/v2/models/nope/ready", 400, "Model version not ready"),
        ("GET", "/v2/models/plain/versions/7/ready", 400, "Model version not ready"),
        ("GET", "/v2/models/nope/stats", 400, "requested model 'nope' is not available"),
        ("GET", "/nope", 404, "Not Found"),
        ("GET", "/v2/", 404, "Not Found"),
        ("GET", "/v2/models/plain/versions/abc", 404, "Not Found"),
        ("GET", "/v2/models/plain/versions/1/trace/setting", 404, "Not Found"),
        ("POST", "/v2/health/live", 405, "Method Not Allowed"),
        ("POST", "/v2", 405, "Method Not Allowed"),
        ("POST", "/v2/models/plain", 405, "Method Not Allowed"),
        ("POST", "/v2/models/stats", 405, "Method Not Allowed"),
        ("GET", "/v2/models/plain/infer", 405, "Method Not Allowed"),
        ("GET", "/v2/models/plain/generate", 405, "Method Not Allowed"),
        ("GET", "/v2/repository/index", 405, "Method Not Allowed"),
        ("PUT", "/v2/logging", 405, "Method Not Allowed"),
    ],
)
def test_endpoint_errors(url: str, method: str, path: str, status: int, error: str) -> None:
    reply = call(url, method, path)
    assert (reply.status, reply.error) == (status, error)


@pytest.mark.tritonlite_only(reason="error bodies are JSON, so tritonlite always labels them "
                             "application/json; Triton 2.51 says text/plain on some paths")
def test_error_bodies_are_labelled_json(url: str) -> None:
    for path in ("/nope", "/v2/models/nope/ready"):
        assert call(url, "GET", path).headers["content-type"] == "application/json"


def test_config_and_statistics_documents(url: str) -> None:
    config = call(url, "GET", "/v2/models/plain/config").json()
    assert (config["name"], config["backend"], config["max_batch_size"]) == ("plain", "python", 0)
    stats = call(url, "GET", "/v2/models/plain/stats").json()
    (entry,) = stats["model_stats"]
    assert set(entry) >= {"name", "version", "last_inference", "inference_count",
                          "execution_count", "inference_stats", "batch_stats"}
    assert set(entry["inference_stats"]) == {"success", "fail", "queue", "compute_input",
                                             "compute_infer", "compute_output", "cache_hit",
                                             "cache_miss"}
    assert call(url, "GET", "/v2/models/plain/versions/1/stats").json() == stats
    everything = call(url, "GET", "/v2/models/stats").json()["model_stats"]
    assert "plain" in {m["name"] for m in everything}


# ------------------------------------------------------------------------ JSON infer


def test_infer_json(url: str) -> None:
    reply = call(url, "POST", "/v2/models/plain/infer", {"id": "r1", "inputs": [PLAIN]})
    assert (reply.status, reply.headers["content-type"]) == (200, "application/json")
    assert reply.body == (
        b'{"id":"r1","model_name":"plain","model_version":"1","outputs":[{"name":"OUTPUT",'
        b'"datatype":"FP32","shape":[2,3],"data":[2.0,4.0,6.0,8.0,10.0,12.0]}]}')
    nested = call(url, "POST", "/v2/models/plain/infer",
                  {"inputs": [{**PLAIN, "data": [[1, 2, 3], [4, 5, 6]]}],
                   "outputs": [{"name": "OUTPUT"}]}).json()
    assert "id" not in nested and nested["outputs"][0]["data"][-1] == 12.0


def test_infer_json_special_values(url: str) -> None:
    body = (b'{"inputs":[{"name":"INPUT0","shape":[3],"datatype":"FP32",'
            b'"data":[NaN, Infinity, -Infinity]}]}')
    reply = call(url, "POST", "/v2/models/identity_fp32/infer", body)
    assert b'"data":[NaN,Infinity,-Infinity]' in reply.body
    values = [1e-7, 1e-6, 1e-5, 1e16, 1e21, 1e22, 0.5, 3.4e38, -0.0, 5e-324]
    doubles = call(url, "POST", "/v2/models/all_types/infer", {"inputs": [
        {"name": "IN_FP64", "shape": [1, len(values)], "datatype": "FP64", "data": values}]})
    assert (b'"data":[1e-7,0.000001,0.00001,10000000000000000.0,1e21,1e22,0.5,3.4e38,-0.0,'
            b'5e-324]') in doubles.body


@pytest.mark.parametrize(
    ("datatype", "data", "expected"),
    [("UINT8", [300, 255], [44, 255]), ("INT8", [300, -129], [44, 127]),
     ("UINT64", [2**64 - 1, 1], [2**64 - 1, 1]), ("BOOL", [True, False], [True, False]),
     ("FP32", [1e39, 2.5], None), ("BYTES", ["a\u0001\"\\/\n\t é", "x"], None)],
)
def test_json_data_conversions(url: str, datatype: str, data: list[Any],
                               expected: list[Any] | None) -> None:
    reply = call(url, "POST", "/v2/models/all_types/infer", {"inputs": [
        {"name": f"IN_{datatype}", "shape": [1, len(data)], "datatype": datatype, "data": data}]})
    (output,) = reply.json()["outputs"]
    assert output["datatype"] == datatype
    if datatype == "FP32":
        assert b'"data":[Infinity,2.5]' in reply.body
    else:
        assert output["data"] == (data if expected is None else expected)


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ({"inputs": [{**PLAIN, "data": [1, 2, 3, 4, 5]}]}, 500,
         "Unable to parse 'data': Shape does not match true shape of 'data' field"),
        ({"inputs": [{**PLAIN, "data": [1, 2, 3, 4, 5, 6, 7]}]}, 500,
         "Unable to parse 'data': Shape does not match true shape of 'data' field"),
        ({"inputs": [{**PLAIN, "data": [1, 2, 3, 4, 5, "x"]}]}, 500,
         "Unable to parse 'data': attempt to access JSON non-number as double"),
        ({"inputs": [{**PLAIN, "datatype": "FLOAT"}]}, 400, "invalid datatype for input INPUT"),
        ({"inputs": [{**PLAIN, "datatype": "INT32"}]}, 400,
         "[request id: <id_unknown>] inference input 'INPUT' data-type is 'INT32', but model "
         "'plain' expects 'FP32'"),
        ({"inputs": [{**PLAIN, "shape": [3, 2]}]}, 400,
         "[request id: <id_unknown>] unexpected shape for input 'INPUT' for model 'plain'. "
         "Expected [2,3], got [3,2]. "),
        ({"inputs": []}, 400,
         "[request id: <id_unknown>] expected 1 inputs but got 0 inputs for model 'plain'. Got "
         "input(s) [], but missing required input(s) ['INPUT']. Please provide all required "
         "input(s)."),
        ({}, 500,
         "Unable to parse 'inputs': attempt to access non-existing object member 'inputs'"),
        ({"inputs": [{"name": "INPUT", "shape": [2, 3], "datatype": "FP32"}]}, 400,
         "Input must set only one of the following fields: 'data', 'binary_data_size' in "
         "'parameters', 'shared_memory_region' in 'parameters'. But no field is set"),
        ({"inputs": [{**PLAIN, "parameters": {"binary_data_size": 24}}]}, 400,
         "Input must set only one of the following fields: 'data', 'binary_data_size' in "
         "'parameters', 'shared_memory_region' in 'parameters'. But set 'data' "
         "'binary_data_size'"),
        ({"inputs": [PLAIN, PLAIN]}, 400,
         "[request id: <id_unknown>] input 'INPUT' already exists in request"),
        ({"inputs": [PLAIN], "outputs": [{"name": "NOPE"}]}, 400,
         "unexpected inference output 'NOPE' for model 'plain'"),
        ({"inputs": [PLAIN], "parameters": {"triton_x": 1}}, 400,
         "parameter keys starting with 'triton_' are reserved for Triton usage and should not "
         "be specified."),
        ({"inputs": [PLAIN], "parameters": {"sequence_id": -1}}, 500,
         "Unable to parse 'sequence_id': attempt to access JSON non-string as string"),
        ({"inputs": [PLAIN], "parameters": {"priority": -1}}, 500,
         "Unable to parse 'priority': attempt to access JSON non-unsigned-integer as "
         "unsigned-integer"),
        ({"inputs": [PLAIN], "parameters": {"custom": [1]}}, 400,
         "parameter 'custom' has invalid type. It should be either 'int', 'bool', or 'string'."),
        ({"inputs": [PLAIN], "parameters": []}, 500,
         "failed to get request params.: attempt to get members for non-object"),
        ({"inputs": [PLAIN], "id": 5}, 500,
         "Unable to parse 'id': attempt to access JSON non-string as string"),
        ({"inputs": [{**PLAIN, "shape": [1.5]}]}, 500,
         "Unable to parse 'shape': attempt to access JSON non-unsigned-integer as "
         "unsigned-integer"),
        ({"inputs": [PLAIN], "outputs": [{"name": "OUTPUT", "parameters": {"binary_data": 1}}]},
         500, "Unable to parse 'binary_data': attempt to access JSON non-boolean as boolean"),
        ({"inputs": [PLAIN], "outputs": [{"name": "OUTPUT",
                                           "parameters": {"classification": -1}}]},
         500, "Unable to set 'classification': attempt to access JSON non-unsigned-integer as "
         "unsigned-integer"),
    ],
)
def test_infer_errors(url: str, body: dict[str, Any], status: int, error: str) -> None:
    reply = call(url, "POST", "/v2/models/plain/infer", body)
    assert (reply.status, reply.error) == (status, error)


@pytest.mark.parametrize(
    ("body", "message"),
    [(b'{"inputs":[}', "Invalid value. at 11"),
     (b"{bad", "Missing a name for object member. at 1"),
     (b'{"inputs":[1,2', "Missing a comma or ']' after an array element. at 14"),
     (b'{"inputs" []}', "Missing a colon after a name of object member. at 10"),
     (b'{"inputs":[]} x', "The document root must not be followed by other values. at 14")],
)
def test_malformed_json(url: str, body: bytes, message: str) -> None:
    reply = call(url, "POST", "/v2/models/plain/infer", body)
    assert (reply.status, reply.error) == (
        500, f"failed to parse the request JSON buffer: {message}")


def test_model_is_checked_before_the_body(url: str) -> None:
    unknown = call(url, "POST", "/v2/models/nope/infer", b"{bad")
    assert (unknown.status, unknown.error) == (
        404, "Request for unknown model: 'nope' is not found")
    decoupled = call(url, "POST", "/v2/models/decoupled_repeat/infer", b"{")
    assert (decoupled.status, decoupled.error) == (
        501, "HTTP end point doesn't support models with decoupled transaction policy")


@pytest.mark.parametrize(("code", "status"), [(0, 400), (1, 500), (2, 404), (3, 400), (4, 503),
                                              (5, 501), (6, 400), (7, 400)])
def test_model_error_codes(url: str, code: int, status: int) -> None:
    reply = call(url, "POST", "/v2/models/error_resp/infer", {"inputs": [
        {"name": "CODE", "shape": [1], "datatype": "INT32", "data": [code]}]})
    assert (reply.status, reply.error) == (status, "custom error message")


def test_model_exception(url: str) -> None:
    reply = call(url, "POST", "/v2/models/raises/infer", {"inputs": [
        {"name": "KIND", "shape": [1], "datatype": "INT32", "data": [0]}]})
    assert reply.status == 500
    assert reply.error.startswith("Failed to process the request(s) for model 'raises_0', "
                                  "message: ValueError: boom from execute")


# -------------------------------------------------------------------- binary tensors


def test_binary_inputs_and_outputs(url: str) -> None:
    x = np.arange(6, dtype=np.float32)
    spec = {"name": "INPUT", "shape": [2, 3], "datatype": "FP32",
            "parameters": {"binary_data_size": 24}}
    body, headers = binary_body({"inputs": [spec], "parameters": {"binary_data_output": True}},
                                x.tobytes())
    reply = call(url, "POST", "/v2/models/plain/infer", body, headers)
    assert reply.headers["content-type"] == "application/octet-stream"
    header, data = split(reply)
    assert header == {"model_name": "plain", "model_version": "1", "outputs": [
        {"name": "OUTPUT", "datatype": "FP32", "shape": [2, 3],
         "parameters": {"binary_data_size": 24}}]}
    assert np.frombuffer(data, np.float32).tolist() == (x * 2).tolist()
    # A per-output choice overrides binary_data_output.
    body, headers = binary_body({"inputs": [spec], "parameters": {"binary_data_output": False},
                                 "outputs": [{"name": "OUTPUT",
                                              "parameters": {"binary_data": True}}]}, x.tobytes())
    assert split(call(url, "POST", "/v2/models/plain/infer", body, headers))[1] == data
    json_out = call(url, "POST", "/v2/models/plain/infer", *binary_body({"inputs": [spec]},
                                                                      x.tobytes()))
    assert json_out.json()["outputs"][0]["data"] == (x * 2).tolist()


def test_a_repeated_header_is_decoded_for_each_request(url: str) -> None:
    """A client sends the same JSON header with new binary data every time (tritonlite
    keeps headers it decoded): each request is answered from its own data, checked
    against the model it names, and a body that does not fit gets its own error."""
    spec = {"name": "INPUT", "shape": [2, 3], "datatype": "FP32",
            "parameters": {"binary_data_size": 24}}
    header = {"inputs": [spec], "outputs": [{"name": "OUTPUT",
                                             "parameters": {"binary_data": True}}]}
    for i in range(3):
        x = np.arange(6, dtype=np.float32) + i
        reply = call(url, "POST", "/v2/models/plain/infer", *binary_body(header, x.tobytes()))
        assert np.frombuffer(split(reply)[1], np.float32).tolist() == (x * 2).tolist()
    # The same bytes to other models: each checks them against its own config.
    x = np.ones(6, np.float32)
    body, headers = binary_body({"inputs": [spec]}, x.tobytes())
    assert call(url, "POST", "/v2/models/plain/infer", body, headers).status == 200
    batch = call(url, "POST", "/v2/models/plain_batch/infer", body, headers)
    assert batch.json()["outputs"][0]["shape"] == [2, 3]  # a batch of 2
    other = call(url, "POST", "/v2/models/params/infer", body, headers)
    assert (other.status, other.error) == (400, (
        "[request id: <id_unknown>] unexpected shape for input 'INPUT' for model 'params'. "
        "Expected [-1], got [2,3]. "))
    short = call(url, "POST", "/v2/models/plain/infer", *binary_body(header, bytes(20)))
    assert (short.status, short.error) == (
        400, "unexpected size for input 'INPUT', expecting 4 additional bytes for model 'plain'")
    # Parameters and the id, the same in every request, reach the model each time.
    spec = {**spec, "shape": [2], "parameters": {"binary_data_size": 8}}
    header = {"id": "r1", "inputs": [spec], "parameters": {"k": "v", "n": 3}}
    seen = []
    for _ in range(2):
        reply = call(url, "POST", "/v2/models/params/infer", *binary_body(header, bytes(8)))
        seen.append({o["name"]: o["data"][0] for o in reply.json()["outputs"]})
    assert seen[0] == seen[1]
    assert seen[0]["REQUEST_ID"] == "r1"
    assert json.loads(seen[0]["PARAMS"]) == {"k": "v", "n": 3}


def test_binary_bytes_keep_raw_bytes(url: str) -> None:
    raw = b"\x02\x00\x00\x00\xff\"\x00\x00\x00\x00"
    body, headers = binary_body({"inputs": [{"name": "IN_BYTES", "shape": [1, 2],
                                             "datatype": "BYTES",
                                             "parameters": {"binary_data_size": len(raw)}}]}, raw)
    reply = call(url, "POST", "/v2/models/all_types/infer", body, headers)
    assert b'"data":["\xff\\"",""]' in reply.body


@pytest.mark.parametrize(
    ("spec_update", "blobs", "status", "error"),
    [
        ({}, [b"\0" * 20], 400,
         "unexpected size for input 'INPUT', expecting 4 additional bytes for model 'plain'"),
        ({}, [b"\0" * 24, b"xx"], 400, "unexpected additional input data for model 'plain'"),
        ({"parameters": {"binary_data_size": 20}}, [b"\0" * 20], 400,
         "[request id: <id_unknown>] input byte size mismatch for input 'INPUT' for model "
         "'plain'. Expected 24, got 20"),
        ({"datatype": "FLOAT"}, [b"\0" * 24], 400,
         "[request id: <id_unknown>] inference input 'INPUT' data-type is '<invalid>', but model "
         "'plain' expects 'FP32'"),
        ({"parameters": {"binary_data_size": -1}}, [b"\0" * 24], 500,
         "Unable to parse 'binary_data_size': attempt to access JSON non-unsigned-integer as "
         "unsigned-integer"),
    ],
)
def test_binary_errors(url: str, spec_update: dict[str, Any], blobs: list[bytes], status: int,
                       error: str) -> None:
    spec = {"name": "INPUT", "shape": [2, 3], "datatype": "FP32",
            "parameters": {"binary_data_size": 24}, **spec_update}
    reply = call(url, "POST", "/v2/models/plain/infer", *binary_body({"inputs": [spec]}, *blobs))
    assert (reply.status, reply.error) == (status, error)


def test_inference_header_length_range(url: str) -> None:
    for value in ("10", "-1"):
        reply = call(url, "POST", "/v2/models/plain/infer", b"{}",
                     {"Inference-Header-Content-Length": value})
        assert (reply.status, reply.error) == (
            400, f"inference header size should be in range (0, 2), got: {value}")


def test_raw_binary_request(url: str) -> None:
    x = np.arange(6, dtype=np.float32)
    reply = call(url, "POST", "/v2/models/plain/infer", x.tobytes(),
                 {"Inference-Header-Content-Length": "0"})
    header, data = split(reply)
    assert header["outputs"][0]["parameters"] == {"binary_data_size": 24}
    assert np.frombuffer(data, np.float32).tolist() == (x * 2).tolist()
    short = call(url, "POST", "/v2/models/plain/infer", x.tobytes()[:20],
                 {"Inference-Header-Content-Length": "0"})
    assert (short.status, short.error) == (
        400, "[request id: <id_unknown>] input byte size mismatch for input 'raw_input' for "
        "model 'plain'. Expected 24, got 20")
    many = call(url, "POST", "/v2/models/all_types/infer", x.tobytes(),
                {"Inference-Header-Content-Length": "0"})
    assert (many.status, many.error) == (
        400, "[request id: <id_unknown>] Raw request must only have 1 input (found 1) to be "
        "deduced but got 13 inputs in 'all_types' model configuration")


def test_classification(url: str) -> None:
    reply = call(url, "POST", "/v2/models/plain_batch/infer", {
        "inputs": [{"name": "INPUT", "shape": [2, 3], "datatype": "FP32",
                    "data": [1, 5, 3, 4, 2, 6]}],
        "outputs": [{"name": "OUTPUT", "parameters": {"classification": 2}}]})
    assert reply.json()["outputs"] == [{"name": "OUTPUT", "datatype": "BYTES", "shape": [2, 2],
                                        "data": ["10.000000:1", "6.000000:2", "12.000000:2",
                                                 "8.000000:0"]}]
    ties = call(url, "POST", "/v2/models/plain/infer", {
        "inputs": [{**PLAIN, "data": [1, 1, 3, 3, 2, 2]}],
        "outputs": [{"name": "OUTPUT", "parameters": {"classification": 6}}]})
    assert ties.json()["outputs"][0]["data"] == ["6.000000:2", "6.000000:3", "4.000000:4",
                                                 "4.000000:5", "2.000000:0", "2.000000:1"]


# ------------------------------------------------------------------------ compression


def test_request_and_response_compression(url: str) -> None:
    body = json.dumps({"inputs": [PLAIN]}).encode()
    for encoding, pack, unpack in (("gzip", gzip.compress, gzip.decompress),
                                   ("deflate", zlib.compress, zlib.decompress)):
        reply = call(url, "POST", "/v2/models/plain/infer", pack(body),
                     {"Content-Encoding": encoding, "Accept-Encoding": encoding})
        assert reply.headers["content-encoding"] == encoding
        assert json.loads(unpack(reply.body))["outputs"][0]["data"][0] == 2.0
    weighted = call(url, "POST", "/v2/models/plain/infer", body,
                    {"Accept-Encoding": "gzip;q=0.5, deflate;q=0.8"})
    assert weighted.headers["content-encoding"] == "deflate"
    unknown = call(url, "POST", "/v2/models/plain/infer", body, {"Content-Encoding": "br"})
    assert (unknown.status, unknown.error) == (501, "Unsupported compression type")
    meta = call(url, "GET", "/v2", headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in meta.headers


@pytest.mark.tritonlite_only(reason="a corrupt compressed body gets a clear 400; Triton 2.51 "
                             "inflates it to nothing and then fails on the empty request")
def test_corrupt_compressed_body(url: str) -> None:
    reply = call(url, "POST", "/v2/models/plain/infer", b"garbage", {"Content-Encoding": "gzip"})
    assert reply.status == 400 and "decompress" in reply.error


@pytest.mark.tritonlite_only(reason="large replies of incompressible tensor bytes are sent "
                             "uncompressed (identity is always acceptable); Triton spends "
                             "~100 ms of CPU per 4 MiB gzipping them")
def test_incompressible_large_reply_is_sent_as_is(url: str) -> None:
    noise = np.random.default_rng(0).random(100_000).astype(np.float32)
    body, headers = binary_body({"inputs": [{"name": "INPUT0", "shape": [noise.size],
                                             "datatype": "FP32",
                                             "parameters": {"binary_data_size": noise.nbytes}}],
                                 "parameters": {"binary_data_output": True}}, noise.tobytes())
    reply = call(url, "POST", "/v2/models/identity_fp32/infer", body,
                 {**headers, "Accept-Encoding": "gzip"})
    assert "content-encoding" not in reply.headers
    assert split(reply)[1] == noise.tobytes()


# --------------------------------------------------------------------------- generate


def test_generate(url: str) -> None:
    reply = call(url, "POST", "/v2/models/plain/generate", {"INPUT": [1, 2, 3, 4, 5, 6]})
    assert reply.body == (b'{"OUTPUT":[2.0,4.0,6.0,8.0,10.0,12.0],"model_name":"plain",'
                          b'"model_version":"1"}')
    one = call(url, "POST", "/v2/models/decoupled_repeat/generate", {"N": 1, "id": "x1"})
    assert one.body == b'{"OUT":0,"id":"x1","model_name":"decoupled_repeat","model_version":"1"}'
    batched = call(url, "POST", "/v2/models/plain_batch/generate", {"INPUT": [1, 2, 3, 4, 5, 6]})
    assert batched.json()["OUTPUT"] == [2.0, 4.0, 6.0, 8.0, 10.0, 12.0]
    params = call(url, "POST", "/v2/models/params/generate",
                  {"INPUT": [1.0], "custom_i": 5, "custom_s": "hi", "id": "p"}).json()
    assert json.loads(params["PARAMS"]) == {"custom_i": 5, "custom_s": "hi", "id": "p"}
    assert params["REQUEST_ID"] == "p"


def test_generate_needs_exactly_one_response(url: str) -> None:
    for n in (0, 3, -1):
        reply = call(url, "POST", "/v2/models/decoupled_repeat/generate", {"N": n})
        assert (reply.status, reply.error) == (
            200, "generate expects model to produce exactly 1 response, use generate stream "
            "for model that generates various number of responses")


def test_generate_stream(url: str) -> None:
    reply = call(url, "POST", "/v2/models/decoupled_repeat/generate_stream", {"N": 3})
    assert (reply.status, reply.headers["content-type"]) == (200,
                                                             "text/event-stream; charset=utf-8")
    assert reply.body == b"".join(
        b'data: {"OUT":%d,"model_name":"decoupled_repeat","model_version":"1"}\n\n' % i
        for i in range(3))
    failed = call(url, "POST", "/v2/models/decoupled_repeat/generate_stream", {"N": -1})
    events = failed.body.split(b"\n\n")
    assert events[0] == b'data: {"OUT":-1,"model_name":"decoupled_repeat","model_version":"1"}'
    assert json.loads(events[1][len(b"data: "):])["error"].startswith(
        "Failed to process the request(s) for model 'decoupled_repeat_0'")
    empty = call(url, "POST", "/v2/models/decoupled_repeat/generate_stream", {"N": 0})
    assert (empty.status, empty.body) == (200, b"")


@pytest.mark.parametrize(
    ("model", "body", "status", "error"),
    [
        ("plain", {"INPUT": [1, 2, 3, 4, 5]}, 400,
         "The schema can not convert input 'INPUT' to tensor with proper shape"),
        ("plain", {"INPUT": 1}, 400,
         "The schema can not convert input 'INPUT' to tensor with proper shape"),
        ("decoupled_repeat", {"N": 1, "foo": [1]}, 400,
         "parameter 'foo' has invalid type. It should be either 'int', 'bool', or 'string'."),
        ("decoupled_repeat", {"N": "a"}, 500,
         "Unable to parse 'data': attempt to access JSON non-signed-integer as signed-integer"),
        ("decoupled_repeat", {}, 400,
         "[request id: <id_unknown>] expected 1 inputs but got 0 inputs for model "
         "'decoupled_repeat'. Got input(s) [], but missing required input(s) ['N']. Please "
         "provide all required input(s)."),
        ("nope", {"N": 1}, 404, "Request for unknown model: 'nope' is not found"),
        ("params", {"INPUT": [1.0], "id": 5}, 500,
         "Unable to parse 'id': attempt to access JSON non-string as string"),
    ],
)
def test_generate_errors(url: str, model: str, body: dict[str, Any], status: int,
                         error: str) -> None:
    reply = call(url, "POST", f"/v2/models/{model}/generate", body)
    assert (reply.status, reply.error) == (status, error)


def test_generate_model_errors_are_400(url: str) -> None:
    # Triton loses the error's code on this path and answers 400 for every model error.
    for path in ("generate", "generate_stream"):
        reply = call(url, "POST", f"/v2/models/raises/{path}", {"KIND": 0})
        assert reply.status == 400
        assert b"boom from execute" in reply.body
    encoded = call(url, "POST", "/v2/models/plain/generate", {"INPUT": [1] * 6},
                   {"Content-Encoding": "gzip"})
    assert (encoded.status, encoded.error) == (
        400, "Unsupported content-encoding, only 'identity' is supported.")
    empty = call(url, "POST", "/v2/models/plain/generate", b"")
    assert (empty.status, empty.error) == (
        500, "failed to parse the request JSON buffer: The document is empty. at 0")


# ------------------------------------------------------------------------ repository


def test_repository_index(url: str) -> None:
    index = call(url, "POST", "/v2/repository/index").json()
    assert {"name": "plain", "version": "1", "state": "READY"} in index
    ready = call(url, "POST", "/v2/repository/index", {"ready": True}).json()
    assert all(e["state"] == "READY" for e in ready)
    bad = call(url, "POST", "/v2/repository/index", {"ready": 1})
    assert (bad.status, bad.error) == (500, "attempt to access JSON non-boolean as boolean")
    broken = call(url, "POST", "/v2/repository/index", b"{bad")
    assert (broken.status, broken.error) == (
        500, "failed to parse the request JSON buffer: Missing a name for object member. at 1")


def test_load_unload_in_none_mode(url: str) -> None:
    for action in ("load", "unload"):
        reply = call(url, "POST", f"/v2/repository/models/plain/{action}")
        assert (reply.status, reply.error) == (
            503, "explicit model load / unload is not allowed if polling is enabled")
    named = call(url, "POST", "/v2/repository/foo/models/plain/load")
    assert (named.status, named.error) == (501, "'repository_name' specification is not supported")


def test_shared_memory_status(url: str) -> None:
    assert call(url, "GET", "/v2/systemsharedmemory/status").json() == []
    assert call(url, "GET", "/v2/cudasharedmemory/status").json() == []
    assert call(url, "POST", "/v2/systemsharedmemory/unregister").status == 200


# ----------------------------------------------------------------- logging and trace


DEFAULT_LOG = {"log_file": "", "log_info": True, "log_warning": True, "log_error": True,
               "log_verbose_level": 0, "log_format": "default"}
DEFAULT_TRACE = {"trace_level": ["OFF"], "trace_rate": "1000", "trace_count": "-1",
                 "log_frequency": "0", "trace_file": "", "trace_mode": "triton"}


def test_logging_settings(url: str) -> None:
    assert call(url, "GET", "/v2/logging").json() == DEFAULT_LOG
    try:
        updated = call(url, "POST", "/v2/logging", {"log_verbose_level": 1, "log_info": None})
        assert updated.json() == {**DEFAULT_LOG, "log_verbose_level": 1}
        assert call(url, "GET", "/v2/logging").json()["log_verbose_level"] == 1
        for body, status, error in (
            ({"log_info": 1}, 500, "attempt to access JSON non-boolean as boolean"),
            ({"log_verbose_level": -1}, 500,
             "attempt to access JSON non-unsigned-integer as unsigned-integer"),
            ({"log_format": "xml"}, 503, "invalid argument for --log_format, got: xml"),
            ({"log_file": "x"}, 501,
             "log file location can not be updated through network protocol"),
        ):
            reply = call(url, "POST", "/v2/logging", body)
            assert (reply.status, reply.error) == (status, error)
        empty = call(url, "POST", "/v2/logging", b"")
        assert (empty.status, empty.error) == (
            500, "failed to parse the request JSON buffer: The document is empty. at 0")
    finally:
        call(url, "POST", "/v2/logging", {"log_verbose_level": 0})
    assert call(url, "GET", "/v2/logging").json() == DEFAULT_LOG


def test_trace_settings(url: str) -> None:
    assert call(url, "GET", "/v2/trace/setting").json() == DEFAULT_TRACE
    try:
        assert call(url, "POST", "/v2/trace/setting", {"trace_rate": "5"}).json() == {
            **DEFAULT_TRACE, "trace_rate": "5"}
        model = call(url, "POST", "/v2/models/plain/trace/setting", {"trace_count": "3"})
        assert model.json() == {**DEFAULT_TRACE, "trace_rate": "5", "trace_count": "3"}
        assert call(url, "GET", "/v2/trace/setting").json()["trace_count"] == "-1"
        for body, status, error in (
            ({"trace_level": ["TIMESTAMPS"]}, 400,
             "Attempting to set invalid trace setting :trace file name is not given"),
            ({"trace_rate": 5}, 500, "attempt to access JSON non-string as string"),
            ({"trace_rate": "abc"}, 400, "Unable to parse 'trace_rate', got: abc"),
            ({"trace_rate": "99999999999"}, 400,
             "Unable to parse 'trace_rate', value is out of range [ 0, 4294967295 ], got: "
             "99999999999"),
            ({"trace_count": "-5"}, 400,
             "Unable to parse 'trace_count'. Expecting value >= -1, got:-5"),
            ({"trace_level": ["OFF", "TIMESTAMPS"]}, 400,
             "Expect only one trace level 'OFF' is specified"),
            ({"trace_level": "OFF"}, 500, "attempt to access JSON non-array as array"),
            ({"trace_file": "x"}, 501,
             "trace file location can not be updated through network protocol"),
        ):
            reply = call(url, "POST", "/v2/trace/setting", body)
            assert (reply.status, reply.error) == (status, error)
        unknown = call(url, "GET", "/v2/models/nope/trace/setting")
        assert (unknown.status, unknown.error) == (400, "Request for unknown model : nope")
    finally:
        call(url, "POST", "/v2/models/plain/trace/setting", {"trace_count": None})
        call(url, "POST", "/v2/trace/setting", {"trace_rate": None})
    assert call(url, "GET", "/v2/trace/setting").json() == DEFAULT_TRACE
    assert call(url, "GET", "/v2/models/plain/trace/setting").json() == DEFAULT_TRACE


@pytest.mark.tritonlite_only(reason="--http-max-input-size is newer than Triton 2.51; tritonlite "
                             "bounds the whole body (Triton only the JSON part)")
def test_max_input_size(server_factory, tmp_path) -> None:  # type: ignore[no-untyped-def]
    shutil.copytree(MODELS / "plain", tmp_path / "models" / "plain")
    extra = server_factory(tmp_path / "models", ["--http-max-input-size", "1000"])
    url = extra.http_url
    ok = call(url, "POST", "/v2/models/plain/infer", {"inputs": [PLAIN]})
    assert ok.status == 200
    big = call(url, "POST", "/v2/models/plain/infer", b" " * 1001)
    assert (big.status, big.error) == (
        400, "request size of 1001 bytes exceeds the maximum allowed input size of 1000 bytes. "
        "Use --http-max-input-size to increase the limit.")
