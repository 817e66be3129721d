"""tritonclient.http (sync and aio) against the server: every datatype, binary and JSON
tensors, parameters, sequences, classification, compression, and the same statistics over
HTTP as over gRPC."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
import tritonclient.http.aio as aioclient
from tritonclient.utils import InferenceServerException


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


@pytest.fixture(scope="module")
def http(server) -> Iterator[httpclient.InferenceServerClient]:  # type: ignore[no-untyped-def]
    client = httpclient.InferenceServerClient(server.http_url)
    try:
        yield client
    finally:
        client.close()


def http_input(name: str, array: np.ndarray, datatype: str, binary: bool = True,
               module: Any = httpclient) -> Any:
    tensor = module.InferInput(name, list(array.shape), datatype)
    tensor.set_data_from_numpy(array, binary_data=binary)
    return tensor


def check(result: Any, datatype: str) -> None:
    expected = SAMPLES[datatype]
    got = result.as_numpy(f"OUT_{datatype}")
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)


def test_health_and_metadata(http: httpclient.InferenceServerClient) -> None:
    assert http.is_server_live() and http.is_server_ready()
    assert http.is_model_ready("plain") and not http.is_model_ready("no_such_model")
    assert http.get_model_metadata("plain_batch")["inputs"] == [
        {"name": "INPUT", "datatype": "FP32", "shape": [-1, 3]}]
    assert http.get_model_config("plain")["max_batch_size"] == 0


@pytest.mark.parametrize("datatype", list(SAMPLES))
def test_every_datatype_binary(http: httpclient.InferenceServerClient, datatype: str) -> None:
    result = http.infer("all_types", [http_input(f"IN_{datatype}", SAMPLES[datatype], datatype)])
    check(result, datatype)


@pytest.mark.parametrize("datatype", [d for d in SAMPLES if d != "FP16"])
def test_every_datatype_json(http: httpclient.InferenceServerClient, datatype: str) -> None:
    array = SAMPLES[datatype]
    if datatype == "BYTES":  # JSON carries strings: UTF-8 only
        array = np.array([["", "hello", "é"], ["x" * 300, "\n", "\x01"]], dtype=np.object_)
    if datatype.startswith("FP"):  # tritonclient cannot write NaN/Infinity as JSON numbers
        array = np.where(np.isfinite(array), array, 0).astype(array.dtype)
    output = httpclient.InferRequestedOutput(f"OUT_{datatype}", binary_data=False)
    result = http.infer("all_types", [http_input(f"IN_{datatype}", array, datatype, False)],
                        outputs=[output])
    got = result.as_numpy(f"OUT_{datatype}")
    if datatype == "BYTES":  # JSON outputs come back as str
        assert got.tolist() == array.tolist()
    else:
        np.testing.assert_array_equal(got, array)


def test_fp16_has_no_json_form(http: httpclient.InferenceServerClient) -> None:
    output = httpclient.InferRequestedOutput("OUT_FP16", binary_data=False)
    with pytest.raises(InferenceServerException) as info:
        http.infer("all_types", [http_input("IN_FP16", SAMPLES["FP16"], "FP16")], outputs=[output])
    assert info.value.message() == ("sending FP16 data via JSON is not supported. Please use the "
                                    "binary data format for output")


def test_all_datatypes_in_one_request(http: httpclient.InferenceServerClient) -> None:
    inputs = [http_input(f"IN_{dt}", a, dt) for dt, a in SAMPLES.items()]
    result = http.infer("all_types", inputs)
    for datatype in SAMPLES:
        check(result, datatype)


def test_request_id_and_parameters(http: httpclient.InferenceServerClient) -> None:
    x = np.array([1.0], np.float32)
    result = http.infer("params", [http_input("INPUT", x, "FP32")], request_id="req-7",
                        sequence_id=42, sequence_start=True, priority=1, timeout=123,
                        parameters={"custom_i": 5, "custom_s": "hello", "custom_b": True})
    response = result.get_response()
    assert response["id"] == "req-7"
    outputs = {o["name"]: result.as_numpy(o["name"])[0].decode() for o in response["outputs"]}
    assert json.loads(outputs["PARAMS"]) == {"custom_i": 5, "custom_s": "hello", "custom_b": True}
    assert outputs["REQUEST_ID"] == "req-7"
    assert outputs["CORRELATION_ID"] == "42"  # params is not a sequence model: passed through
    assert outputs["FLAGS"] == "1"
    string_id = http.infer("params", [http_input("INPUT", x, "FP32")], sequence_id="abc")
    assert string_id.as_numpy("CORRELATION_ID")[0] == b'"abc"'


def test_requested_outputs(http: httpclient.InferenceServerClient) -> None:
    x = np.array([1.0], np.float32)
    result = http.infer("params", [http_input("INPUT", x, "FP32")],
                        outputs=[httpclient.InferRequestedOutput("REQUESTED")])
    assert [o["name"] for o in result.get_response()["outputs"]] == ["REQUESTED"]
    assert json.loads(result.as_numpy("REQUESTED")[0]) == ["REQUESTED"]


def test_classification(http: httpclient.InferenceServerClient) -> None:
    x = np.array([[1, 5, 3], [4, 2, 6]], np.float32)
    for binary in (True, False):
        output = httpclient.InferRequestedOutput("OUTPUT", binary_data=binary, class_count=2)
        result = http.infer("plain_batch", [http_input("INPUT", x, "FP32")], outputs=[output])
        got = [[v.decode() if isinstance(v, bytes) else v for v in row]
               for row in result.as_numpy("OUTPUT").tolist()]
        assert got == [["10.000000:1", "6.000000:2"], ["12.000000:2", "8.000000:0"]]


@pytest.mark.parametrize("algorithm", ["gzip", "deflate"])
def test_compression(http: httpclient.InferenceServerClient, algorithm: str) -> None:
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    result = http.infer("plain", [http_input("INPUT", x, "FP32")],
                        request_compression_algorithm=algorithm,
                        response_compression_algorithm=algorithm)
    np.testing.assert_array_equal(result.as_numpy("OUTPUT"), x * 2)


def test_large_binary_tensor(http: httpclient.InferenceServerClient) -> None:
    x = np.random.default_rng(1).random(1 << 20).astype(np.float32)  # 4 MiB
    result = http.infer("identity_fp32", [http_input("INPUT0", x, "FP32")])
    np.testing.assert_array_equal(result.as_numpy("OUTPUT0"), x)


def test_errors_reach_the_client(http: httpclient.InferenceServerClient) -> None:
    x = np.arange(6, dtype=np.float32).reshape(3, 2)
    with pytest.raises(InferenceServerException) as info:
        http.infer("plain", [http_input("INPUT", x, "FP32")])
    assert info.value.status() == "400"
    assert info.value.message() == (
        "[request id: <id_unknown>] unexpected shape for input 'INPUT' for model 'plain'. "
        "Expected [2,3], got [3,2]. ")
    with pytest.raises(InferenceServerException) as info:
        http.infer("no_such_model", [http_input("INPUT", x, "FP32")])
    assert (info.value.status(), info.value.message()) == (
        "404", "Request for unknown model: 'no_such_model' is not found")
    n = np.array([1], np.int32)
    with pytest.raises(InferenceServerException) as info:
        http.infer("decoupled_repeat", [http_input("N", n, "INT32")])
    assert (info.value.status(), info.value.message()) == (
        "501", "HTTP end point doesn't support models with decoupled transaction policy")


# -------------------------------------------------------------------------- sequences


def seq_step(http: httpclient.InferenceServerClient, model: str, sequence_id: int | str,
             value: int, start: bool = False, end: bool = False) -> dict[str, Any]:
    x = np.full((1,), value, dtype=np.int32)
    result = http.infer(model, [http_input("INPUT", x, "INT32")], sequence_id=sequence_id,
                        sequence_start=start, sequence_end=end)
    out = {}
    for o in result.get_response()["outputs"]:
        v = result.as_numpy(o["name"]).reshape(-1)[0]
        out[o["name"]] = v.decode() if isinstance(v, bytes) else v.item()
    return out


def test_sequence_over_http(http: httpclient.InferenceServerClient) -> None:
    first = seq_step(http, "seq_direct", 9001, 1, start=True)
    assert (first["OUTPUT"], first["FLAGS"], first["OUT_START"]) == (1, 1, 1)
    assert seq_step(http, "seq_direct", 9001, 2)["OUTPUT"] == 3
    last = seq_step(http, "seq_direct", 9001, 3, end=True)
    assert (last["OUTPUT"], last["FLAGS"], last["OUT_END"]) == (6, 2, 1)
    assert last["CORRELATION_ID"] == "9001"
    with pytest.raises(InferenceServerException) as info:
        seq_step(http, "seq_direct", 9001, 1)
    assert (info.value.status(), info.value.message()) == (
        "400", "inference request for sequence 9001 to model 'seq_direct' must specify the "
        "START flag on the first request of the sequence")
    with pytest.raises(InferenceServerException) as info:
        http.infer("seq_direct", [http_input("INPUT", np.array([1], np.int32), "INT32")])
    assert info.value.message() == ("inference request to model 'seq_direct' must specify a "
                                    "non-zero or non-empty correlation ID")


def test_one_sequence_over_both_protocols(server, http) -> None:  # type: ignore[no-untyped-def]
    """One core: a sequence started over gRPC continues over HTTP."""
    grpc = grpcclient.InferenceServerClient(server.grpc_url)
    try:
        x = grpcclient.InferInput("INPUT", [1], "INT32")
        x.set_data_from_numpy(np.array([10], np.int32))
        started = grpc.infer("seq_direct", [x], sequence_id=9002, sequence_start=True)
        assert started.as_numpy("OUTPUT")[0] == 10
        assert seq_step(http, "seq_direct", 9002, 5, end=True)["OUTPUT"] == 15
    finally:
        grpc.close()


def test_concurrent_http_clients(server) -> None:  # type: ignore[no-untyped-def]
    errors: list[BaseException] = []

    def worker(k: int) -> None:
        client = httpclient.InferenceServerClient(server.http_url)
        try:
            for i in range(5):
                x = np.full((2, 3), k * 10 + i, np.float32)
                result = client.infer("plain", [http_input("INPUT", x, "FP32")])
                np.testing.assert_array_equal(result.as_numpy("OUTPUT"), x * 2)
        except BaseException as error:
            errors.append(error)
        finally:
            client.close()

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors


# ---------------------------------------------------------------------------- aio


async def test_aio_client(server) -> None:  # type: ignore[no-untyped-def]
    client = aioclient.InferenceServerClient(server.http_url)
    try:
        assert await client.is_server_ready()
        x = np.arange(6, dtype=np.float32).reshape(2, 3)
        result = await client.infer("plain", [http_input("INPUT", x, "FP32", module=aioclient)])
        np.testing.assert_array_equal(result.as_numpy("OUTPUT"), x * 2)
        zipped = await client.infer("plain", [http_input("INPUT", x, "FP32", module=aioclient)],
                                    request_compression_algorithm="gzip",
                                    response_compression_algorithm="gzip")
        np.testing.assert_array_equal(zipped.as_numpy("OUTPUT"), x * 2)
        strings = http_input("IN_BYTES", SAMPLES["BYTES"], "BYTES", module=aioclient)
        check(await client.infer("all_types", [strings]), "BYTES")
        stats = await client.get_inference_statistics("plain")
        assert stats["model_stats"][0]["name"] == "plain"
    finally:
        await client.close()


# ------------------------------------------------------------------------ statistics


def test_statistics_agree_across_protocols(server, http) -> None:  # type: ignore[no-untyped-def]
    grpc = grpcclient.InferenceServerClient(server.grpc_url)
    try:
        over_grpc = grpc.get_inference_statistics("plain", as_json=True)["model_stats"][0]
        over_http = http.get_inference_statistics("plain")["model_stats"][0]
        for key in ("inference_count", "execution_count", "last_inference"):
            assert int(over_grpc[key]) == int(over_http[key])
        for key, value in over_http["inference_stats"].items():
            assert int(over_grpc["inference_stats"][key].get("count", 0)) == value["count"]
            assert int(over_grpc["inference_stats"][key].get("ns", 0)) == value["ns"]
    finally:
        grpc.close()
