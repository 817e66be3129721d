"""GrpcFrontend over a FakeServer, driven by the real tritonclient gRPC clients (in-process,
port 0): status codes and texts, streaming rules, health, statistics encoding."""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import Iterator

import grpc
import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.grpc.aio as aioclient
from grpc_fake_server import RunningFrontend
from grpc_health.v1 import health_pb2, health_pb2_grpc
from tritonclient.grpc import service_pb2, service_pb2_grpc
from tritonclient.utils import InferenceServerException

from tritonlite.core.errors import ErrorKind

P = service_pb2.InferParameter

DECOUPLED_TEXT = "ModelInfer RPC doesn't support models with decoupled transaction policy"


@pytest.fixture
def client(grpc_frontend: RunningFrontend) -> Iterator[grpcclient.InferenceServerClient]:
    c = grpcclient.InferenceServerClient(grpc_frontend.url)
    yield c
    c.close()


@pytest.fixture
def stub(grpc_frontend: RunningFrontend) -> Iterator[service_pb2_grpc.GRPCInferenceServiceStub]:
    with grpc.insecure_channel(grpc_frontend.url) as channel:
        yield service_pb2_grpc.GRPCInferenceServiceStub(channel)


def fp32_input(name: str = "INPUT0", rows: int = 1) -> grpcclient.InferInput:
    tensor = grpcclient.InferInput(name, [rows, 4], "FP32")
    tensor.set_data_from_numpy(np.arange(rows * 4, dtype=np.float32).reshape(rows, 4))
    return tensor


def int_input(value: int) -> grpcclient.InferInput:
    tensor = grpcclient.InferInput("N", [1], "INT32")
    tensor.set_data_from_numpy(np.array([value], dtype=np.int32))
    return tensor


def rpc_error(call, *args, **kwargs) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        call(*args, **kwargs)
    return info.value


# ------------------------------------------------------------------- health, metadata


def test_live_ready_and_metadata(client: grpcclient.InferenceServerClient) -> None:
    assert client.is_server_live()
    assert client.is_server_ready()
    meta = client.get_server_metadata()
    assert (meta.name, meta.version, list(meta.extensions)) == (
        "triton",
        "2.51.0",
        ["classification", "sequence"],
    )
    model = client.get_model_metadata("echo", as_json=True)
    assert model == {
        "name": "echo",
        "versions": ["1"],
        "platform": "python",
        "inputs": [{"name": "INPUT0", "datatype": "FP32", "shape": ["-1", "4"]}],
        "outputs": [{"name": "OUTPUT0", "datatype": "FP32", "shape": ["-1", "4"]}],
    }
    config = client.get_model_config("decoupled").config
    assert config.name == "decoupled"
    assert config.model_transaction_policy.decoupled


def test_server_exiting(grpc_frontend: RunningFrontend, stub) -> None:
    grpc_frontend.fake.live = False
    for call, request in (
        (stub.ServerLive, service_pb2.ServerLiveRequest()),
        (stub.ServerReady, service_pb2.ServerReadyRequest()),
    ):
        error = rpc_error(call, request)
        assert (error.code(), error.details()) == (grpc.StatusCode.UNAVAILABLE, "Server exiting")


def test_server_not_ready(grpc_frontend: RunningFrontend, client) -> None:
    grpc_frontend.fake.ready = False
    assert client.is_server_live()
    assert not client.is_server_ready()


def test_model_ready_is_false_for_an_unknown_model(client) -> None:
    assert client.is_model_ready("echo")
    assert not client.is_model_ready("echo", "7")
    assert not client.is_model_ready("no_such_model")


def test_unknown_model_metadata_and_config(stub) -> None:
    for call, request in (
        (stub.ModelMetadata, service_pb2.ModelMetadataRequest(name="nope")),
        (stub.ModelConfig, service_pb2.ModelConfigRequest(name="nope")),
    ):
        error = rpc_error(call, request)
        assert error.code() == grpc.StatusCode.NOT_FOUND
        assert error.details() == "Request for unknown model: 'nope' is not found"


def test_health_check_and_watch(grpc_frontend: RunningFrontend) -> None:
    with grpc.insecure_channel(grpc_frontend.url) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        serving = health_pb2.HealthCheckResponse.SERVING
        not_serving = health_pb2.HealthCheckResponse.NOT_SERVING
        assert health.Check(health_pb2.HealthCheckRequest()).status == serving
        assert health.Check(health_pb2.HealthCheckRequest(service="any")).status == serving
        watch = health.Watch(health_pb2.HealthCheckRequest(), timeout=5)
        assert next(watch).status == serving
        grpc_frontend.fake.ready = False
        assert next(watch).status == not_serving
        watch.cancel()
        assert health.Check(health_pb2.HealthCheckRequest()).status == not_serving


# -------------------------------------------------------------------------- ModelInfer


def test_infer_round_trip_with_sequence_and_parameters(client, grpc_frontend) -> None:
    result = client.infer(
        "echo",
        [fp32_input(rows=2)],
        request_id="r1",
        sequence_id=77,
        sequence_start=True,
        priority=3,
        timeout=1000,
        parameters={"flag": True, "text": "t", "n": 5},
    )
    np.testing.assert_array_equal(
        result.as_numpy("OUTPUT0"), np.arange(8, dtype=np.float32).reshape(2, 4)
    )
    response = result.get_response()
    assert (response.model_name, response.model_version, response.id) == ("echo", "1", "r1")
    assert response.parameters["correlation_id"].int64_param == 77
    assert "triton_final_response" not in response.parameters
    (request,) = grpc_frontend.fake.requests
    assert request.correlation_id == 77 and request.flags == 1
    assert (request.priority, request.timeout_us) == (3, 1000)
    assert request.parameters == {"flag": True, "text": "t", "n": 5}


def test_infer_string_sequence_id_and_requested_outputs(client, grpc_frontend) -> None:
    outputs = [grpcclient.InferRequestedOutput("RENAMED", class_count=2)]
    result = client.infer(
        "echo", [fp32_input()], outputs=outputs, sequence_id="abc", sequence_end=True
    )
    assert result.as_numpy("RENAMED").shape == (1, 4)
    (request,) = grpc_frontend.fake.requests
    assert request.correlation_id == "abc" and request.flags == 2
    assert request.requested_outputs[0].parameters == {"classification": 2}


def test_infer_bytes_tensor(client) -> None:
    data = np.array([[b"a", b"bc", b""]], dtype=np.object_)
    tensor = grpcclient.InferInput("INPUT0", [1, 3], "BYTES")
    tensor.set_data_from_numpy(data)
    assert client.infer("echo", [tensor]).as_numpy("OUTPUT0").tolist() == data.tolist()


def test_infer_big_tensor_round_trip(client) -> None:
    big = np.random.default_rng(0).random((256, 4096), dtype=np.float32)  # 4 MiB
    tensor = grpcclient.InferInput("INPUT0", list(big.shape), "FP32")
    tensor.set_data_from_numpy(big)
    np.testing.assert_array_equal(client.infer("echo", [tensor]).as_numpy("OUTPUT0"), big)


def test_infer_unknown_model(client) -> None:
    with pytest.raises(InferenceServerException) as info:
        client.infer("no_such_model", [fp32_input()])
    assert info.value.status() == "StatusCode.NOT_FOUND"
    assert info.value.message() == "Request for unknown model: 'no_such_model' is not found"


@pytest.mark.parametrize(
    ("kind", "code"),
    [
        (ErrorKind.UNKNOWN, grpc.StatusCode.UNKNOWN),
        (ErrorKind.INTERNAL, grpc.StatusCode.INTERNAL),
        (ErrorKind.NOT_FOUND, grpc.StatusCode.NOT_FOUND),
        (ErrorKind.INVALID_ARG, grpc.StatusCode.INVALID_ARGUMENT),
        (ErrorKind.UNAVAILABLE, grpc.StatusCode.UNAVAILABLE),
        (ErrorKind.UNSUPPORTED, grpc.StatusCode.UNIMPLEMENTED),
        (ErrorKind.ALREADY_EXISTS, grpc.StatusCode.ALREADY_EXISTS),
        (ErrorKind.CANCELLED, grpc.StatusCode.CANCELLED),
    ],
)
def test_error_kinds_map_to_status_codes(stub, kind: ErrorKind, code: grpc.StatusCode) -> None:
    request = service_pb2.ModelInferRequest(model_name=f"raise_{kind.name}")
    error = rpc_error(stub.ModelInfer, request)
    assert (error.code(), error.details()) == (code, f"{kind.name} raised")


def test_decoupled_model_through_model_infer(client) -> None:
    with pytest.raises(InferenceServerException) as info:
        client.infer("decoupled", [int_input(2)])
    assert info.value.status() == "StatusCode.UNIMPLEMENTED"
    assert info.value.message() == DECOUPLED_TEXT


def test_model_error_response(client) -> None:
    with pytest.raises(InferenceServerException) as info:
        client.infer("fails", [fp32_input()])
    assert (info.value.status(), info.value.message()) == ("StatusCode.INTERNAL", "model failed")


def test_decode_errors_come_after_model_checks(stub) -> None:
    bad = {"sequence_id": P(uint64_param=1)}
    cases = [
        ("nope", grpc.StatusCode.NOT_FOUND, "Request for unknown model: 'nope' is not found"),
        ("decoupled", grpc.StatusCode.UNIMPLEMENTED, DECOUPLED_TEXT),
        (
            "echo",
            grpc.StatusCode.INVALID_ARGUMENT,
            "invalid value type for 'sequence_id' parameter, expected int64_param or string_param.",
        ),
    ]
    for model, code, text in cases:
        error = rpc_error(
            stub.ModelInfer, service_pb2.ModelInferRequest(model_name=model, parameters=bad)
        )
        assert (error.code(), error.details()) == (code, text)


def test_invalid_datatype_text_names_the_models_type(stub) -> None:
    request = service_pb2.ModelInferRequest(
        model_name="echo", id="x1", raw_input_contents=[b"\x00" * 16]
    )
    request.inputs.add(name="INPUT0", datatype="FLOAT", shape=[1, 4])
    error = rpc_error(stub.ModelInfer, request)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details() == (
        "[request id: x1] inference input 'INPUT0' data-type is '<invalid>', but model "
        "'echo' expects 'FP32'"
    )


async def test_aio_client_infer(grpc_frontend: RunningFrontend) -> None:
    async with aioclient.InferenceServerClient(grpc_frontend.url) as client:
        assert await client.is_server_live()
        tensor = aioclient.InferInput("INPUT0", [1, 4], "FP32")
        tensor.set_data_from_numpy(np.ones((1, 4), dtype=np.float32))
        results = await asyncio.gather(*(client.infer("echo", [tensor]) for _ in range(8)))
        for result in results:
            np.testing.assert_array_equal(result.as_numpy("OUTPUT0"), np.ones((1, 4)))
        with pytest.raises(InferenceServerException, match="decoupled transaction policy"):
            await client.infer("decoupled", [tensor])


# -------------------------------------------------------------------- ModelStreamInfer


class StreamCollector:
    def __init__(self) -> None:
        self.items: queue.Queue[tuple[grpcclient.InferResult | None, Exception | None]] = (
            queue.Queue()
        )

    def __call__(self, result, error) -> None:
        self.items.put((result, error))

    def take(self, n: int, timeout: float = 5.0) -> list[tuple[object, object]]:
        return [self.items.get(timeout=timeout) for _ in range(n)]

    def nothing_more(self, wait: float = 0.2) -> bool:
        time.sleep(wait)
        return self.items.empty()


def final_flag(result: grpcclient.InferResult) -> bool:
    return result.get_response().parameters["triton_final_response"].bool_param


def test_stream_decoupled_responses_and_final_flags(client) -> None:
    got = StreamCollector()
    client.start_stream(callback=got)
    client.async_stream_infer("decoupled", [int_input(3)], request_id="d3")
    responses = got.take(3)
    assert [e for _, e in responses] == [None] * 3
    assert [int(r.as_numpy("OUT")[0]) for r, _ in responses] == [0, 1, 2]
    assert [final_flag(r) for r, _ in responses] == [False] * 3
    assert [r.get_response().id for r, _ in responses] == ["d3"] * 3
    assert got.nothing_more()  # the flag-only final response was not asked for
    client.stop_stream()


def test_stream_empty_final_response_on_request(client) -> None:
    got = StreamCollector()
    client.start_stream(callback=got)
    client.async_stream_infer(
        "decoupled", [int_input(1)], request_id="d1", enable_empty_final_response=True
    )
    client.async_stream_infer(
        "decoupled", [int_input(0)], request_id="d0", enable_empty_final_response=True
    )
    client.stop_stream()
    responses = [r for r, _ in got.take(3)]
    by_id: dict[str, list[tuple[bool, int]]] = {}
    for r in responses:
        message = r.get_response()
        by_id.setdefault(message.id, []).append((final_flag(r), len(message.outputs)))
        assert message.model_name == "decoupled"
    assert by_id == {"d1": [(False, 1), (True, 0)], "d0": [(True, 0)]}
    assert got.items.empty()


def test_stream_non_decoupled_responses_are_final(client) -> None:
    got = StreamCollector()
    client.start_stream(callback=got)
    client.async_stream_infer("echo", [fp32_input()], request_id="e")
    client.async_stream_infer("empty", [fp32_input()], request_id="z")
    client.stop_stream()
    results = {r.get_response().id: r for r, _ in got.take(2)}
    assert final_flag(results["e"]) and final_flag(results["z"])
    assert results["e"].get_response().model_version == "1"
    assert len(results["z"].get_response().outputs) == 0  # a real, empty response


def test_stream_errors_are_in_band_and_the_stream_stays_open(client) -> None:
    got = StreamCollector()
    client.start_stream(callback=got)
    client.async_stream_infer("no_such_model", [fp32_input()], request_id="u")
    ((_, error),) = got.take(1)
    assert isinstance(error, InferenceServerException)
    assert error.message() == "Request for unknown model: 'no_such_model' is not found"
    client.async_stream_infer("decoupled", [int_input(-1)], request_id="neg")
    ((_, error),) = got.take(1)
    assert error.message() == "negative count"
    client.async_stream_infer("echo", [fp32_input()], request_id="ok")
    ((result, error),) = got.take(1)
    assert error is None and result.get_response().id == "ok"
    client.stop_stream()


def test_stream_error_messages_on_the_wire(stub) -> None:
    requests = [
        service_pb2.ModelInferRequest(model_name="nope", id="a"),
        service_pb2.ModelInferRequest(model_name="fails", id="b"),
        service_pb2.ModelInferRequest(
            model_name="echo", id="c", parameters={"sequence_id": P(uint64_param=1)}
        ),
    ]
    for r in requests[1:]:
        r.inputs.add(name="INPUT0", datatype="FP32", shape=[1, 4])
        r.raw_input_contents.append(b"\x00" * 16)
    messages = {m.infer_response.id: m for m in stub.ModelStreamInfer(iter(requests))}
    assert messages["a"].error_message == "Request for unknown model: 'nope' is not found"
    assert messages["a"].infer_response == service_pb2.ModelInferResponse(id="a")
    assert messages["b"].error_message == "model failed"
    failed = messages["b"].infer_response
    assert (failed.model_name, failed.model_version) == ("fails", "")
    assert failed.parameters["triton_final_response"].bool_param
    assert messages["c"].error_message.startswith("invalid value type for 'sequence_id'")


def test_stream_runs_requests_concurrently_and_waits_on_half_close(
    client, grpc_frontend: RunningFrontend
) -> None:
    got = StreamCollector()
    client.start_stream(callback=got)
    client.async_stream_infer("slow", [fp32_input()], request_id="slow")
    client.async_stream_infer("echo", [fp32_input()], request_id="fast")
    ((result, _),) = got.take(1)
    assert result.get_response().id == "fast"  # not held up behind "slow"
    threading.Timer(0.2, grpc_frontend.fake.release_slow.set).start()
    client.stop_stream()  # half-close: the server finishes "slow" before ending
    ((result, _),) = got.take(1, timeout=0.1)
    assert result.get_response().id == "slow"


async def test_aio_stream_and_cancellation(grpc_frontend: RunningFrontend) -> None:
    fake = grpc_frontend.fake
    gate = asyncio.Event()

    async def requests():
        tensor = aioclient.InferInput("N", [1], "INT32")
        tensor.set_data_from_numpy(np.array([2], dtype=np.int32))
        yield {"model_name": "decoupled", "inputs": [tensor], "request_id": "a"}
        data = aioclient.InferInput("INPUT0", [1, 4], "FP32")
        data.set_data_from_numpy(np.zeros((1, 4), dtype=np.float32))
        yield {"model_name": "slow", "inputs": [data], "request_id": "s"}
        await gate.wait()

    async with aioclient.InferenceServerClient(grpc_frontend.url) as client:
        responses = client.stream_infer(requests())
        seen = []
        async for result, error in responses:
            assert error is None
            seen.append(int(result.as_numpy("OUT")[0]))
            if len(seen) == 2:
                break
        assert seen == [0, 1]
        # Cancel only once the slow request runs: on the thread-pool server a reader
        # thread forwards it, so it may reach the core after the decoupled answers.
        for _ in range(200):
            if any(r.model_name == "slow" for r in fake.requests):
                break
            await asyncio.sleep(0.01)
        responses.cancel()
        for _ in range(200):  # the server closes the running request's generator
            if "slow" in fake.stream_cancelled:
                break
            await asyncio.sleep(0.01)
        assert fake.stream_cancelled == ["slow"]  # the finished "decoupled" one was not
        gate.set()


# ---------------------------------------------------------- statistics and repository


def test_statistics_encoding(client) -> None:
    stats = client.get_inference_statistics("echo", as_json=True)
    (model,) = stats["model_stats"]
    assert (model["name"], model["version"]) == ("echo", "1")
    assert (model["last_inference"], model["inference_count"], model["execution_count"]) == (
        "1234",
        "6",
        "3",
    )
    assert model["inference_stats"]["success"] == {"count": "3", "ns": "300"}
    assert model["inference_stats"]["fail"] == {}
    assert set(model["inference_stats"]) == {
        "success",
        "fail",
        "queue",
        "compute_input",
        "compute_infer",
        "compute_output",
        "cache_hit",
        "cache_miss",
    }
    assert [b["batch_size"] for b in model["batch_stats"]] == ["1", "2"]
    assert model["batch_stats"][0]["compute_input"] == {"count": "2", "ns": "7"}
    assert model["batch_stats"][1]["compute_infer"] == {"count": "1", "ns": "50"}
    everything = client.get_inference_statistics()
    assert [m.name for m in everything.model_stats] == ["echo", "decoupled"]


def test_statistics_unknown_model(client) -> None:
    with pytest.raises(InferenceServerException) as info:
        client.get_inference_statistics("nope")
    assert info.value.status() == "StatusCode.INVALID_ARGUMENT"
    assert info.value.message() == "requested model 'nope' is not available"


def test_repository_index_and_load_in_none_mode(client, stub) -> None:
    index = client.get_model_repository_index(as_json=True)["models"]
    assert {"name": "broken", "version": "1", "state": "UNAVAILABLE", "reason": "load failed"} in (
        index
    )
    ready = stub.RepositoryIndex(service_pb2.RepositoryIndexRequest(ready=True))
    assert all(m.state == "READY" for m in ready.models)
    text = "explicit model load / unload is not allowed if polling is enabled"
    for call in (client.load_model, client.unload_model):
        with pytest.raises(InferenceServerException) as info:
            call("echo")
        assert (info.value.status(), info.value.message()) == ("StatusCode.UNAVAILABLE", text)
    error = rpc_error(stub.RepositoryIndex, service_pb2.RepositoryIndexRequest(repository_name="r"))
    assert (error.code(), error.details()) == (
        grpc.StatusCode.UNIMPLEMENTED,
        "'repository_name' specification is not supported",
    )


def test_load_and_unload_parameters(grpc_frontend: RunningFrontend, client, stub) -> None:
    grpc_frontend.fake.explicit_mode = True
    client.load_model("echo", config='{"max_batch_size": 2}', files={"file:1/model.py": b"x"})
    client.load_model("empty")
    client.unload_model("echo", unload_dependents=True)
    assert grpc_frontend.fake.loads == [
        ("echo", {"config": '{"max_batch_size": 2}', "file:1/model.py": b"x"}),
        ("empty", None),
    ]
    assert grpc_frontend.fake.unloads == [("echo", True)]
    Param = service_pb2.ModelRepositoryParameter
    error = rpc_error(
        stub.RepositoryModelLoad,
        service_pb2.RepositoryModelLoadRequest(
            model_name="echo", parameters={"foo": Param(bool_param=True)}
        ),
    )
    assert (error.code(), error.details()) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "unrecognized load parameter 'foo'.",
    )
    error = rpc_error(
        stub.RepositoryModelUnload,
        service_pb2.RepositoryModelUnloadRequest(
            model_name="echo", parameters={"unload_dependents": Param(string_param="x")}
        ),
    )
    assert error.details() == (
        "invalid value type for 'unload_dependents' parameter, expected bool_param."
    )


# ---------------------------------------------------------- shared memory, trace, log


def test_shared_memory_rpcs(client, stub) -> None:
    assert len(client.get_system_shared_memory_status().regions) == 0
    assert len(client.get_cuda_shared_memory_status().regions) == 0
    client.unregister_system_shared_memory()
    client.unregister_cuda_shared_memory("r")
    with pytest.raises(InferenceServerException) as info:
        client.register_system_shared_memory("r", "/no_such_tritonlite_key", 64)
    assert (info.value.status(), info.value.message()) == (
        "StatusCode.INTERNAL",
        "Unable to open shared memory region: '/no_such_tritonlite_key'",
    )
    error = rpc_error(
        stub.CudaSharedMemoryRegister, service_pb2.CudaSharedMemoryRegisterRequest(name="r")
    )
    assert (error.code(), error.details()) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "failed to register CUDA shared memory region: 'r', GPUs not supported",
    )
    error = rpc_error(
        stub.SystemSharedMemoryStatus, service_pb2.SystemSharedMemoryStatusRequest(name="r")
    )
    assert (error.code(), error.details()) == (
        grpc.StatusCode.NOT_FOUND,
        "Unable to find system shared memory region: 'r'",
    )


def test_trace_settings(client) -> None:
    default = {
        "trace_level": ["OFF"],
        "trace_rate": ["1000"],
        "trace_count": ["-1"],
        "log_frequency": ["0"],
        "trace_file": [""],
        "trace_mode": ["triton"],
    }
    as_dict = lambda r: {k: list(v.value) for k, v in r.settings.items()}  # noqa: E731
    assert as_dict(client.get_trace_settings()) == default
    updated = client.update_trace_settings(settings={"trace_rate": "5"})
    assert as_dict(updated)["trace_rate"] == ["5"]
    model = client.update_trace_settings("echo", settings={"trace_count": "3"})
    assert as_dict(model) == {**default, "trace_rate": ["5"], "trace_count": ["3"]}
    assert as_dict(client.get_trace_settings())["trace_count"] == ["-1"]
    with pytest.raises(InferenceServerException, match="Request for unknown model : nope"):
        client.get_trace_settings("nope")
    with pytest.raises(InferenceServerException) as info:
        client.update_trace_settings(settings={"trace_level": ["TIMESTAMPS"]})
    assert info.value.message() == (
        "Attempting to set invalid trace setting :trace file name is not given"
    )
    with pytest.raises(InferenceServerException) as info:
        client.update_trace_settings(settings={"trace_file": "x"})
    assert info.value.status() == "StatusCode.UNIMPLEMENTED"


def test_log_settings(client) -> None:
    assert client.get_log_settings(as_json=True)["settings"] == {
        "log_file": {"string_param": ""},
        "log_info": {"bool_param": True},
        "log_warning": {"bool_param": True},
        "log_error": {"bool_param": True},
        "log_verbose_level": {"uint32_param": 1 - 1},
        "log_format": {"string_param": "default"},
    }
    updated = client.update_log_settings({"log_info": False, "log_verbose_level": 2})
    assert updated.settings["log_info"].bool_param is False
    assert updated.settings["log_verbose_level"].uint32_param == 2
    with pytest.raises(InferenceServerException) as info:
        client.update_log_settings({"log_format": "xml"})
    assert info.value.message() == "invalid argument for log_format, got: xml"


def test_many_open_streams_do_not_starve_unary_calls(grpc_frontend: RunningFrontend) -> None:
    """The thread-pool server runs each open stream on a thread of its own; with 40 idle
    streams open (more than a small pool has), a unary call is still answered at once."""
    stop = threading.Event()

    def idle_requests() -> Iterator[service_pb2.ModelInferRequest]:
        stop.wait()
        return
        yield  # a generator that sends nothing until the test ends

    with grpc.insecure_channel(grpc_frontend.url) as channel:
        stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
        streams = [stub.ModelStreamInfer(idle_requests()) for _ in range(40)]
        try:
            time.sleep(0.5)  # every stream has reached the server
            live = stub.ServerLive(service_pb2.ServerLiveRequest(), timeout=5)
            assert live.live
        finally:
            stop.set()
            for s in streams:
                assert list(s) == []
