"""The HTTP frontend's ASGI app over a fake ServerApi: routes, methods, bodies, errors.

No sockets: the app is called in-process (see ``conftest.AsgiClient``).
"""

from __future__ import annotations

import asyncio
import gzip
import json
import zlib

import numpy as np
import pytest
from http_fake_server import FakeServer
from http_support import AsgiClient

from tritonlite.frontends.http.server import HttpFrontend

PLAIN = {"name": "INPUT", "shape": [2, 3], "datatype": "FP32", "data": [1, 2, 3, 4, 5, 6]}


def dumps(value: object) -> bytes:
    return json.dumps(value).encode()


def binary(header: dict[str, object], *blobs: bytes) -> tuple[bytes, dict[str, str]]:
    head = dumps(header)
    return head + b"".join(blobs), {"Inference-Header-Content-Length": str(len(head))}


def split(body: bytes, header_length: str) -> tuple[dict[str, object], bytes]:
    n = int(header_length)
    return json.loads(body[:n]), body[n:]


# ------------------------------------------------------------------------- health, routes


async def test_health_and_server_metadata(client: AsgiClient, fake: FakeServer) -> None:
    live = await client.request("GET", "/v2/health/live")
    assert (live.status, live.body, live.headers["content-type"]) == (200, b"", "text/plain")
    fake.ready = False
    assert (await client.request("GET", "/v2/health/ready")).status == 400
    meta = await client.request("GET", "/v2")
    assert meta.json() == {"name": "triton", "version": "2.51.0",
                           "extensions": ["classification", "sequence"]}
    assert meta.headers["content-type"] == "application/json"


@pytest.mark.parametrize("path", ["/nope", "/v2/", "/v2/models", "/v2/models/echo/versions/x",
                                  "/v2/models/echo/versions/1/trace/setting", "/metrics"])
async def test_unknown_routes_are_not_found(client: AsgiClient, path: str) -> None:
    response = await client.request("GET", path)
    assert (response.status, response.json()) == (404, {"error": "Not Found"})


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/v2/health/live"), ("POST", "/v2"), ("POST", "/v2/models/echo"),
     ("GET", "/v2/models/echo/infer"), ("PUT", "/v2/logging"), ("GET", "/v2/repository/index"),
     ("POST", "/v2/models/stats"), ("GET", "/v2/models/echo/generate"),
     ("DELETE", "/v2/trace/setting"), ("POST", "/v2/systemsharedmemory/status"),
     ("GET", "/v2/systemsharedmemory/unregister")],
)
async def test_wrong_method(client: AsgiClient, method: str, path: str) -> None:
    response = await client.request(method, path)
    assert (response.status, response.json()) == (405, {"error": "Method Not Allowed"})


async def test_model_metadata_ready_config_stats(client: AsgiClient) -> None:
    meta = (await client.request("GET", "/v2/models/echo/versions/1")).json()
    assert meta == {"name": "echo", "versions": ["1"], "platform": "python",
                    "inputs": [{"name": "INPUT0", "datatype": "FP32", "shape": [-1, 4]}],
                    "outputs": [{"name": "OUTPUT0", "datatype": "FP32", "shape": [-1, 4]}]}
    ready = await client.request("GET", "/v2/models/echo/ready")
    assert (ready.status, ready.body) == (200, b"")
    config = (await client.request("GET", "/v2/models/echo/config")).json()
    assert (config["name"], config["max_batch_size"]) == ("echo", 8)
    stats = (await client.request("GET", "/v2/models/echo/stats")).json()
    assert [s["name"] for s in stats["model_stats"]] == ["echo"]
    everything = (await client.request("GET", "/v2/models/stats")).json()
    assert len(everything["model_stats"]) == 5


async def test_model_errors_per_endpoint(client: AsgiClient) -> None:
    unknown = "Request for unknown model: 'nope' is not found"
    assert (await client.request("GET", "/v2/models/nope")).json() == {"error": unknown}
    assert (await client.request("GET", "/v2/models/nope/config")).status == 404
    ready = await client.request("GET", "/v2/models/nope/ready")
    assert (ready.status, ready.json()) == (400, {"error": "Model version not ready"})
    stats = await client.request("GET", "/v2/models/nope/stats")
    assert (stats.status, stats.json()["error"]) == (400, "requested model 'nope' is not available")
    version = await client.request("GET", "/v2/models/echo/versions/7")
    assert (version.status, version.json()["error"]) == (
        404, "Request for unknown model: 'echo' version 7 is not found")


@pytest.mark.parametrize(("kind", "status"), [("INTERNAL", 500), ("NOT_FOUND", 404),
                                              ("UNAVAILABLE", 503), ("UNSUPPORTED", 501),
                                              ("INVALID_ARG", 400), ("UNKNOWN", 400),
                                              ("ALREADY_EXISTS", 400), ("CANCELLED", 400)])
async def test_error_kinds_map_to_triton_statuses(client: AsgiClient, kind: str,
                                                  status: int) -> None:
    response = await client.request("GET", f"/v2/models/raise_{kind}")
    assert (response.status, response.json()) == (status, {"error": f"{kind} raised"})


def test_model_config_json_encoder_is_pluggable(fake: FakeServer) -> None:
    frontend = HttpFrontend(fake, port=0, config_json=lambda c: f'{{"x":"{c.name}"}}')
    assert frontend.handlers.config_json(fake.model_config("echo")) == '{"x":"echo"}'


# --------------------------------------------------------------------------- infer, JSON


async def test_infer_json_in_json_out(client: AsgiClient) -> None:
    response = await client.request("POST", "/v2/models/plain/infer",
                                    dumps({"id": "r1", "inputs": [PLAIN]}))
    assert response.status == 200
    assert response.headers["content-type"] == "application/json"
    assert response.body == (
        b'{"id":"r1","model_name":"plain","model_version":"1","outputs":[{"name":"OUTPUT",'
        b'"datatype":"FP32","shape":[2,3],"data":[2.0,4.0,6.0,8.0,10.0,12.0]}]}'
    )


async def test_infer_nested_data_and_no_id(client: AsgiClient) -> None:
    body = dumps({"inputs": [{**PLAIN, "data": [[1, 2, 3], [4, 5, 6]]}]})
    result = (await client.request("POST", "/v2/models/plain/infer", body)).json()
    assert "id" not in result
    assert result["outputs"][0]["data"] == [2.0, 4.0, 6.0, 8.0, 10.0, 12.0]


async def test_binary_data_output_and_per_output_override(client: AsgiClient) -> None:
    body = dumps({"inputs": [PLAIN], "parameters": {"binary_data_output": True}})
    response = await client.request("POST", "/v2/models/plain/infer", body)
    assert response.headers["content-type"] == "application/octet-stream"
    header, data = split(response.body, response.headers["inference-header-content-length"])
    assert header["outputs"][0]["parameters"] == {"binary_data_size": 24}
    assert np.frombuffer(data, np.float32).tolist() == [2, 4, 6, 8, 10, 12]
    body = dumps({"inputs": [PLAIN], "parameters": {"binary_data_output": True},
                  "outputs": [{"name": "OUTPUT", "parameters": {"binary_data": False}}]})
    response = await client.request("POST", "/v2/models/plain/infer", body)
    assert "inference-header-content-length" not in response.headers
    assert response.json()["outputs"][0]["data"][0] == 2.0


async def test_binary_inputs_and_outputs(client: AsgiClient, fake: FakeServer) -> None:
    data = np.arange(8, dtype=np.float32)
    names = np.array([b"a", b"\xff\x00", b""], dtype=object)
    from tritonlite.core.tensor import serialize_bytes

    raw_names = serialize_bytes(names)
    body, headers = binary(
        {"inputs": [
            {"name": "INPUT0", "shape": [2, 4], "datatype": "FP32",
             "parameters": {"binary_data_size": 32}},
            {"name": "NAMES", "shape": [3], "datatype": "BYTES",
             "parameters": {"binary_data_size": len(raw_names)}},
        ], "outputs": [{"name": "A", "parameters": {"binary_data": True}},
                       {"name": "B", "parameters": {"binary_data": True}}]},
        data.tobytes(), raw_names)
    response = await client.request("POST", "/v2/models/echo/infer", body, headers)
    header, rest = split(response.body, response.headers["inference-header-content-length"])
    assert [o["parameters"]["binary_data_size"] for o in header["outputs"]] == [32, 15]
    assert rest == data.tobytes() + raw_names
    (request,) = fake.requests
    assert isinstance(request.inputs[0].raw(), memoryview)  # a view of the body, no copy


async def test_bytes_json_round_trip_keeps_raw_bytes(client: AsgiClient) -> None:
    body = dumps({"inputs": [{"name": "S", "shape": [3], "datatype": "BYTES",
                              "data": ["a\u0001\"\\", "é", ""]}]})
    response = await client.request("POST", "/v2/models/echo/infer", body)
    assert response.json()["outputs"][0]["data"] == ["a\u0001\"\\", "é", ""]


async def test_json_errors_as_triton_words_them(client: AsgiClient) -> None:
    async def error(payload: object) -> tuple[int, str]:
        body = payload if isinstance(payload, bytes) else dumps(payload)
        response = await client.request("POST", "/v2/models/plain/infer", body)
        return response.status, response.json()["error"]

    assert await error({"inputs": [{**PLAIN, "data": [1, 2, 3]}]}) == (
        500, "Unable to parse 'data': Shape does not match true shape of 'data' field")
    assert await error({"inputs": [{**PLAIN, "data": [1, 2, 3, 4, 5, "x"]}]}) == (
        500, "Unable to parse 'data': attempt to access JSON non-number as double")
    assert await error({"inputs": [{**PLAIN, "datatype": "FLOAT"}]}) == (
        400, "invalid datatype for input INPUT")
    assert await error(b'{"inputs":[}') == (
        500, "failed to parse the request JSON buffer: Invalid value. at 11")
    assert await error({}) == (
        500, "Unable to parse 'inputs': attempt to access non-existing object member 'inputs'")
    assert await error({"inputs": [{"name": "INPUT", "shape": [2, 3], "datatype": "FP32"}]}) == (
        400, "Input must set only one of the following fields: 'data', 'binary_data_size' in "
        "'parameters', 'shared_memory_region' in 'parameters'. But no field is set")
    assert await error({"inputs": [PLAIN], "parameters": {"triton_x": 1}}) == (
        400, "parameter keys starting with 'triton_' are reserved for Triton usage and should "
        "not be specified.")
    assert await error({"inputs": [PLAIN], "parameters": {"sequence_id": -1}}) == (
        500, "Unable to parse 'sequence_id': attempt to access JSON non-string as string")
    assert await error({"inputs": [PLAIN], "parameters": {"custom": [1]}}) == (
        400, "parameter 'custom' has invalid type. It should be either 'int', 'bool', or "
        "'string'.")
    assert await error({"inputs": [PLAIN, PLAIN]}) == (
        400, "[request id: <id_unknown>] input 'INPUT' already exists in request")
    assert await error({"inputs": [{**PLAIN, "shape": [3, 2]}]}) == (
        400, "[request id: <id_unknown>] unexpected shape for input 'INPUT' for model 'plain'. "
        "Expected [2,3], got [3,2]. ")


async def test_model_checks_come_before_the_body(client: AsgiClient) -> None:
    unknown = await client.request("POST", "/v2/models/nope/infer", b"{bad")
    assert (unknown.status, unknown.json()["error"]) == (
        404, "Request for unknown model: 'nope' is not found")
    decoupled = await client.request("POST", "/v2/models/decoupled/infer", b"{bad")
    assert (decoupled.status, decoupled.json()["error"]) == (
        501, "HTTP end point doesn't support models with decoupled transaction policy")
    good = await client.request(
        "POST", "/v2/models/decoupled/infer",
        dumps({"inputs": [{"name": "N", "shape": [1], "datatype": "INT32", "data": [1]}]}))
    assert good.status == 501


async def test_binary_errors(client: AsgiClient) -> None:
    x = np.zeros(6, np.float32).tobytes()
    spec = {"name": "INPUT", "shape": [2, 3], "datatype": "FP32",
            "parameters": {"binary_data_size": 24}}
    short = await client.request("POST", "/v2/models/plain/infer", *binary({"inputs": [spec]},
                                                                        x[:20]))
    assert short.json()["error"] == (
        "unexpected size for input 'INPUT', expecting 4 additional bytes for model 'plain'")
    extra = await client.request("POST", "/v2/models/plain/infer",
                                 *binary({"inputs": [spec]}, x, b"xx"))
    assert extra.json()["error"] == "unexpected additional input data for model 'plain'"
    bad_type = await client.request("POST", "/v2/models/plain/infer",
                                    *binary({"inputs": [{**spec, "datatype": "FLOAT"}]}, x))
    assert (bad_type.status, bad_type.json()["error"]) == (
        400, "[request id: <id_unknown>] inference input 'INPUT' data-type is '<invalid>', but "
        "model 'plain' expects 'FP32'")
    header = await client.request("POST", "/v2/models/plain/infer", b"{}",
                                  {"Inference-Header-Content-Length": "10"})
    assert (header.status, header.json()["error"]) == (
        400, "inference header size should be in range (0, 2), got: 10")


async def test_raw_binary_request(client: AsgiClient, fake: FakeServer) -> None:
    x = np.arange(6, dtype=np.float32)
    response = await client.request("POST", "/v2/models/plain/infer", x.tobytes(),
                                    {"Inference-Header-Content-Length": "0"})
    header, data = split(response.body, response.headers["inference-header-content-length"])
    assert header["outputs"][0]["parameters"] == {"binary_data_size": 24}
    assert np.frombuffer(data, np.float32).tolist() == (x * 2).tolist()
    (request,) = fake.requests
    assert (request.inputs[0].name, request.inputs[0].shape) == ("INPUT", (2, 3))
    many = await client.request("POST", "/v2/models/echo/infer", b"", {})
    assert many.status == 200  # echo: INPUT0 [1, 4] deduced, empty data goes to the model


async def test_parameters_reach_the_request(client: AsgiClient, fake: FakeServer) -> None:
    body = dumps({"inputs": [{"name": "INPUT0", "shape": [1, 4], "datatype": "FP32",
                              "data": [1, 2, 3, 4]}],
                  "parameters": {"sequence_id": 2**64 - 1, "sequence_start": True,
                                 "sequence_end": False, "priority": 3, "timeout": 1000,
                                 "i": -5, "s": "x", "b": True, "d": 1.5, "big": 2**63,
                                 "binary_data_output": False}})
    await client.request("POST", "/v2/models/echo/infer", body)
    (request,) = fake.requests
    assert (request.correlation_id, request.flags) == (2**64 - 1, 1)
    assert (request.priority, request.timeout_us) == (3, 1000)
    assert request.parameters == {"i": -5, "s": "x", "b": True, "d": 1.5, "big": 2.0**63}
    fake.requests.clear()
    body = dumps({"inputs": [{"name": "INPUT0", "shape": [1, 4], "datatype": "FP32",
                              "data": [1, 2, 3, 4]}], "parameters": {"sequence_id": "abc"}})
    await client.request("POST", "/v2/models/echo/infer", body)
    assert fake.requests[0].correlation_id == "abc"


async def test_requested_outputs_and_classification(client: AsgiClient,
                                                    fake: FakeServer) -> None:
    body = dumps({"inputs": [PLAIN], "outputs": [
        {"name": "OUTPUT", "parameters": {"classification": 2}},
        {"name": "OUTPUT", "parameters": {"classification": 5}},  # the first one wins
    ]})
    await client.request("POST", "/v2/models/plain/infer", body)
    (request,) = fake.requests
    assert [(o.name, o.parameters) for o in request.requested_outputs] == [
        ("OUTPUT", {"classification": 2})]
    negative = await client.request("POST", "/v2/models/plain/infer", dumps(
        {"inputs": [PLAIN], "outputs": [{"name": "OUTPUT", "parameters": {"classification": -1}}]}))
    assert (negative.status, negative.json()["error"]) == (
        500, "Unable to set 'classification': attempt to access JSON non-unsigned-integer as "
        "unsigned-integer")


async def test_header_forwarding(fake: FakeServer) -> None:
    frontend = HttpFrontend(fake, port=0, header_forward_pattern="^x-fw")
    client = AsgiClient(frontend.app)
    body = dumps({"inputs": [{"name": "INPUT0", "shape": [1, 4], "datatype": "FP32",
                              "data": [1, 2, 3, 4]}]})
    await client.request("POST", "/v2/models/echo/infer", body,
                         {"X-Fw-One": "1", "X-Other": "2"})
    assert fake.requests[0].parameters == {"x-fw-one": "1"}


async def test_model_error_response(client: AsgiClient) -> None:
    body = dumps({"inputs": [{"name": "INPUT0", "shape": [1, 4], "datatype": "FP32",
                              "data": [1, 2, 3, 4]}]})
    response = await client.request("POST", "/v2/models/fails/infer", body)
    assert (response.status, response.json()) == (500, {"error": "model failed"})


# ------------------------------------------------------------------------ compression


async def test_request_compression(client: AsgiClient) -> None:
    body = dumps({"inputs": [PLAIN]})
    for encoding, packed in (("gzip", gzip.compress(body)), ("deflate", zlib.compress(body))):
        response = await client.request("POST", "/v2/models/plain/infer", packed,
                                        {"Content-Encoding": encoding})
        assert response.json()["outputs"][0]["data"][0] == 2.0
    unknown = await client.request("POST", "/v2/models/plain/infer", body,
                                   {"Content-Encoding": "br"})
    assert (unknown.status, unknown.json()["error"]) == (501, "Unsupported compression type")
    assert unknown.headers["accept-encoding"] == "gzip, deflate"
    empty = await client.request("POST", "/v2/models/plain/infer", b"",
                                 {"Content-Encoding": "gzip"})
    assert (empty.status, empty.json()["error"]) == (400, "nothing to be decompressed")
    garbage = await client.request("POST", "/v2/models/plain/infer", b"garbage",
                                   {"Content-Encoding": "gzip"})
    assert garbage.status == 400


async def test_decompressed_size_is_bounded(client: AsgiClient) -> None:
    bomb = gzip.compress(b" " * (2 << 20))
    response = await client.request("POST", "/v2/models/plain/infer", bomb,
                                    {"Content-Encoding": "gzip"})
    assert (response.status, response.json()["error"]) == (
        400, "Decompressed data size exceeds the maximum allowed value of 1048576 bytes. "
        "Use --http-max-input-size to increase the limit.")


async def test_response_compression(client: AsgiClient) -> None:
    body = dumps({"inputs": [PLAIN]})
    for accept, encoding, unpack in (("gzip", "gzip", gzip.decompress),
                                     ("gzip;q=0.5, deflate;q=0.8", "deflate", zlib.decompress)):
        response = await client.request("POST", "/v2/models/plain/infer", body,
                                        {"Accept-Encoding": accept})
        assert response.headers["content-encoding"] == encoding
        assert json.loads(unpack(response.body))["outputs"][0]["data"][0] == 2.0
    plain = await client.request("POST", "/v2/models/plain/infer", body,
                                 {"Accept-Encoding": "br"})
    assert "content-encoding" not in plain.headers
    meta = await client.request("GET", "/v2", headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in meta.headers  # only inference replies are compressed


# ------------------------------------------------------------------------- body limits


async def test_declared_body_over_the_limit_is_refused_unread(client: AsgiClient) -> None:
    response = await client.request("POST", "/v2/models/plain/infer", b"x" * ((1 << 20) + 1))
    assert response.status == 400
    assert response.json()["error"] == (
        "request size of 1048577 bytes exceeds the maximum allowed input size of 1048576 "
        "bytes. Use --http-max-input-size to increase the limit.")
    assert response.headers["connection"] == "close"


async def test_chunked_body_over_the_limit_is_refused(client: AsgiClient) -> None:
    chunks = [b"x" * (600 << 10), b"x" * (600 << 10), b"x"]
    response = await client.request("POST", "/v2/models/plain/infer", chunks=chunks)
    assert response.status == 400


async def test_chunked_body_is_joined(client: AsgiClient) -> None:
    body = dumps({"inputs": [PLAIN]})
    response = await client.request("POST", "/v2/models/plain/infer",
                                    chunks=[body[:10], body[10:20], body[20:]])
    assert response.status == 200


# --------------------------------------------------------------------------- generate


async def test_generate_single_response(client: AsgiClient) -> None:
    response = await client.request("POST", "/v2/models/plain/generate",
                                    dumps({"INPUT": [1, 2, 3, 4, 5, 6], "id": "g1"}))
    assert response.status == 200
    assert response.body == (b'{"OUTPUT":[2.0,4.0,6.0,8.0,10.0,12.0],"id":"g1",'
                             b'"model_name":"plain","model_version":"1"}')


async def test_generate_decoupled(client: AsgiClient) -> None:
    one = await client.request("POST", "/v2/models/decoupled/generate", dumps({"N": 1}))
    assert one.body == b'{"OUT":0,"model_name":"decoupled","model_version":"1"}'
    for n in (0, 3):
        many = await client.request("POST", "/v2/models/decoupled/generate", dumps({"N": n}))
        assert (many.status, many.json()["error"]) == (
            200, "generate expects model to produce exactly 1 response, use generate stream "
            "for model that generates various number of responses")
    failed = await client.request("POST", "/v2/models/decoupled/generate", dumps({"N": -1}))
    assert (failed.status, failed.json()) == (400, {"error": "negative"})


async def test_generate_stream_is_server_sent_events(client: AsgiClient) -> None:
    response = await client.request("POST", "/v2/models/decoupled/generate_stream",
                                    dumps({"N": 3}))
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert "content-length" not in response.headers
    assert response.body == b"".join(
        b'data: {"OUT":%d,"model_name":"decoupled","model_version":"1"}\n\n' % i
        for i in range(3))
    empty = await client.request("POST", "/v2/models/decoupled/generate_stream", dumps({"N": 0}))
    assert (empty.status, empty.body) == (200, b"")


async def test_generate_errors(client: AsgiClient, fake: FakeServer) -> None:
    shape = await client.request("POST", "/v2/models/plain/generate", dumps({"INPUT": [1, 2]}))
    assert (shape.status, shape.json()["error"]) == (
        400, "The schema can not convert input 'INPUT' to tensor with proper shape")
    encoded = await client.request("POST", "/v2/models/plain/generate", b"{}",
                                   {"Content-Encoding": "gzip"})
    assert encoded.json()["error"] == (
        "Unsupported content-encoding, only 'identity' is supported.")
    unknown = await client.request("POST", "/v2/models/nope/generate", b"{}")
    assert unknown.status == 404
    empty = await client.request("POST", "/v2/models/plain/generate", b"")
    assert (empty.status, empty.json()["error"]) == (
        500, "failed to parse the request JSON buffer: The document is empty. at 0")
    bad = await client.request("POST", "/v2/models/plain/generate", dumps({"x": [1]}))
    assert bad.json()["error"] == (
        "parameter 'x' has invalid type. It should be either 'int', 'bool', or 'string'.")
    await client.request("POST", "/v2/models/echo/generate",
                         dumps({"INPUT0": [1, 2, 3, 4], "id": "i", "p": 5}))
    request = fake.requests[-1]
    assert request.inputs[0].shape == (1, 4)  # the batch dim gets the rest
    assert (request.id, request.parameters) == ("i", {"id": "i", "p": 5})


# ------------------------------------------------------------------------ repository


async def test_repository_index_and_control(client: AsgiClient, fake: FakeServer) -> None:
    index = (await client.request("POST", "/v2/repository/index")).json()
    assert index[-1] == {"name": "broken", "version": "1", "state": "UNAVAILABLE",
                         "reason": "load failed"}
    ready = (await client.request("POST", "/v2/repository/index", dumps({"ready": True}))).json()
    assert all(e["state"] == "READY" for e in ready)
    bad = await client.request("POST", "/v2/repository/index", dumps({"ready": 1}))
    assert (bad.status, bad.json()["error"]) == (
        500, "attempt to access JSON non-boolean as boolean")
    none_mode = await client.request("POST", "/v2/repository/models/echo/load")
    assert (none_mode.status, none_mode.json()["error"]) == (
        503, "explicit model load / unload is not allowed if polling is enabled")
    fake.explicit_mode = True
    load = await client.request("POST", "/v2/repository/models/echo/load", dumps(
        {"parameters": {"config": "{}", "file:1/model.py": "cHJpbnQoMSk="}}))
    assert (load.status, load.body) == (200, b"")
    assert fake.loads == [("echo", {"config": "{}", "file:1/model.py": b"print(1)"})]
    unload = await client.request("POST", "/v2/repository/models/echo/unload", dumps(
        {"parameters": {"unload_dependents": True}}))
    assert unload.status == 200 and fake.unloads == [("echo", True)]
    named = await client.request("POST", "/v2/repository/r/models/echo/load")
    assert (named.status, named.json()["error"]) == (
        501, "'repository_name' specification is not supported")


async def test_shared_memory_endpoints(client: AsgiClient) -> None:
    assert (await client.request("GET", "/v2/systemsharedmemory/status")).json() == []
    assert (await client.request("GET", "/v2/cudasharedmemory/status")).json() == []
    region = await client.request("GET", "/v2/systemsharedmemory/region/r/status")
    assert region.status == 404
    assert (await client.request("POST", "/v2/systemsharedmemory/unregister")).status == 200
    register = await client.request("POST", "/v2/systemsharedmemory/region/r/register",
                                    dumps({"key": "no_such_tritonlite_key", "byte_size": 4}))
    assert register.status == 500
    assert register.json() == {
        "error": "Unable to open shared memory region: 'no_such_tritonlite_key'"}


async def test_a_client_that_goes_away_ends_the_stream(frontend: HttpFrontend) -> None:
    gone = asyncio.Event()
    sent: list[bytes] = []
    body = [dumps({"N": 10_000})]

    async def receive() -> dict[str, object]:
        if body:
            return {"type": "http.request", "body": body.pop(), "more_body": False}
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, object]) -> None:
        chunk = message.get("body")
        if isinstance(chunk, bytes) and chunk:
            sent.append(chunk)
            if len(sent) == 3:
                gone.set()

    scope = {"type": "http", "method": "POST", "path": "/v2/models/decoupled/generate_stream",
             "headers": []}
    await asyncio.wait_for(frontend.app(scope, receive, send), 5)
    assert 3 <= len(sent) < 100


async def test_a_client_that_goes_away_cancels_a_running_request(frontend: HttpFrontend,
                                                                  fake: FakeServer) -> None:
    gone = asyncio.Event()
    body = [dumps({"inputs": [{"name": "INPUT0", "shape": [1, 4], "datatype": "FP32",
                               "data": [1, 2, 3, 4]}]})]
    sent: list[object] = []

    async def receive() -> dict[str, object]:
        if body:
            return {"type": "http.request", "body": body.pop(), "more_body": False}
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/v2/models/slow/infer", "headers": []}
    call = asyncio.ensure_future(frontend.app(scope, receive, send))
    await asyncio.sleep(0.1)
    assert not call.done()
    gone.set()
    await asyncio.wait_for(call, 5)
    assert fake.cancelled == 1 and sent == []
