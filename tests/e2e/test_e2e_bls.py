"""BLS (sync, async, decoupled, errors, model control) and decoupled streaming, end to end."""

from __future__ import annotations

import json
import os
import queue
from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as grpcclient

MODELS = Path(__file__).resolve().parent / "models"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    from conformance_utils import launch

    s = launch("tritonlite", MODELS, tmp_path_factory.mktemp("bls-logs"), name="bls")
    s.wait_until("ready")
    yield s
    s.stop()


def bls(server, mode: str, x: np.ndarray | None = None) -> tuple[np.ndarray, dict]:
    client = grpcclient.InferenceServerClient(server.grpc_url)
    m = grpcclient.InferInput("MODE", [1], "BYTES")
    m.set_data_from_numpy(np.array([mode.encode()], dtype=np.object_))
    xi = grpcclient.InferInput("X", [4], "FP32")
    xi.set_data_from_numpy(np.arange(4, dtype=np.float32) if x is None else x)
    r = client.infer("bls", [m, xi])
    return r.as_numpy("Y"), json.loads(r.as_numpy("INFO")[0])


def test_bls_sync_and_async(server) -> None:
    y, _ = bls(server, "sync")
    assert y.tolist() == [1, 2, 3, 4]
    y, _ = bls(server, "async")
    assert y.tolist() == [1, 2, 3, 4, 1, 3, 5, 7]


def test_bls_error_surfaces_in_the_response(server) -> None:
    _, info = bls(server, "error")
    assert info == {"has_error": True, "message": "negative input", "code": 3}


def test_bls_decoupled_iterator(server) -> None:
    y, _ = bls(server, "decoupled")
    assert y.tolist() == [0, 1, 2]


def test_model_control_and_bls_outside_execute(server) -> None:
    _, info = bls(server, "control")
    assert info == {"add_sub": True, "nope": False,
                    "init_error": "BLS is only supported during the 'execute' function."}


def test_decoupled_over_grpc_stream(server) -> None:
    client = grpcclient.InferenceServerClient(server.grpc_url)
    results: queue.Queue = queue.Queue()
    client.start_stream(callback=lambda result, error: results.put((result, error)))
    i = grpcclient.InferInput("IN", [1], "INT32")
    i.set_data_from_numpy(np.array([4], np.int32))
    client.async_stream_infer("repeat", [i], request_id="r1",
                              enable_empty_final_response=True)
    got = []
    while True:
        result, error = results.get(timeout=30)
        assert error is None
        resp = result.get_response()
        final = resp.parameters["triton_final_response"].bool_param
        out = result.as_numpy("OUT")
        if out is not None:
            got.append(int(out[0]))
        if final:
            break
    client.stop_stream()
    assert got == [0, 1, 2, 3]
    with pytest.raises(Exception, match="doesn't support models with decoupled"):
        client.infer("repeat", [i])


def test_auto_complete_config_without_config_pbtxt(server) -> None:
    client = grpcclient.InferenceServerClient(server.grpc_url)
    cfg = client.get_model_config("auto", as_json=True)["config"]
    assert cfg["max_batch_size"] == 8
    assert [i["name"] for i in cfg["input"]] == ["A"]
    assert [o["name"] for o in cfg["output"]] == ["B"]
    assert "dynamic_batching" in cfg
    a = grpcclient.InferInput("A", [1, 2], "FP32")
    a.set_data_from_numpy(np.ones((1, 2), np.float32))
    assert client.infer("auto", [a]).as_numpy("B").tolist() == [[3, 3]]


def test_ensemble_dag(server) -> None:
    client = grpcclient.InferenceServerClient(server.grpc_url)
    before = client.get_inference_statistics("add_sub", as_json=True)["model_stats"][0]
    x = grpcclient.InferInput("X", [4], "FP32")
    x.set_data_from_numpy(np.arange(4, dtype=np.float32))
    r = client.infer("pipeline", [x])
    assert r.as_numpy("SUM").tolist() == [0, 3, 6, 9]  # (x + x) + x
    assert r.as_numpy("TWICE").tolist() == [0, 2, 4, 6]
    after = client.get_inference_statistics("add_sub", as_json=True)["model_stats"][0]
    assert int(after["inference_count"]) - int(before["inference_count"]) == 3  # per step
    meta = client.get_model_metadata("pipeline", as_json=True)
    assert meta["platform"] == "ensemble"
    x.set_data_from_numpy(-np.ones(4, dtype=np.float32))
    with pytest.raises(Exception, match="negative input"):
        client.infer("pipeline", [x])


@pytest.mark.parametrize("shape", ["threaded", "aio"])
def test_grpcio_server_shapes(start_server, shape: str) -> None:
    """``--grpc-server threaded|aio``: the same protocol on grpcio's thread-pool server and
    on grpc.aio (the rest of the suite runs the default, the native transport)."""
    server = start_server(MODELS, [f"--grpc-server={shape}", "--model-control-mode=explicit",
                                   "--load-model=add_sub", "--load-model=repeat"])
    client = grpcclient.InferenceServerClient(server.grpc_url)
    a = grpcclient.InferInput("INPUT0", [4], "FP32")
    a.set_data_from_numpy(np.ones(4, np.float32))
    b = grpcclient.InferInput("INPUT1", [4], "FP32")
    b.set_data_from_numpy(np.ones(4, np.float32))
    assert client.infer("add_sub", [a, b]).as_numpy("OUTPUT0").tolist() == [2, 2, 2, 2]
    results: queue.Queue = queue.Queue()
    client.start_stream(callback=lambda result, error: results.put((result, error)))
    i = grpcclient.InferInput("IN", [1], "INT32")
    i.set_data_from_numpy(np.array([3], np.int32))
    client.async_stream_infer("repeat", [i])
    got = [int(results.get(timeout=30)[0].as_numpy("OUT")[0]) for _ in range(3)]
    client.stop_stream()
    assert got == [0, 1, 2]


def test_uvicorn_http_shape(start_server) -> None:
    """``--http-server uvicorn``: the same HTTP protocol with uvicorn serving the ASGI app
    (the rest of the suite runs the default, the native HTTP/1.1 transport)."""
    import tritonclient.http as httpclient

    server = start_server(MODELS, ["--http-server=uvicorn", "--model-control-mode=explicit",
                                   "--load-model=add_sub"])
    client = httpclient.InferenceServerClient(server.http_url)
    try:
        assert client.is_server_ready()
        a = httpclient.InferInput("INPUT0", [4], "FP32")
        a.set_data_from_numpy(np.arange(4, dtype=np.float32))
        b = httpclient.InferInput("INPUT1", [4], "FP32")
        b.set_data_from_numpy(np.ones(4, np.float32), binary_data=False)
        result = client.infer("add_sub", [a, b])
        assert result.as_numpy("OUTPUT0").tolist() == [1, 2, 3, 4]
    finally:
        client.close()
    assert server.wait_for_log("Started HTTPService at 0.0.0.0:")
    assert "(uvicorn)" in server.log()


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="Linux CPU affinity")
def test_a_server_on_one_cpu(tmp_path: Path) -> None:
    """On one CPU the server holds what it writes to a worker until the end of the loop's
    turn (instances._Outbox): concurrent calls, BLS and a decoupled stream all come
    through exactly as on more CPUs."""
    from concurrent.futures import ThreadPoolExecutor

    from conformance_utils import launch

    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(before)})  # the server inherits it
    try:
        server = launch("tritonlite", MODELS, tmp_path / "logs", name="one-cpu")
    finally:
        os.sched_setaffinity(0, before)
    try:
        server.wait_until("ready")

        def add(i: int) -> list[float]:
            client = grpcclient.InferenceServerClient(server.grpc_url)
            a = grpcclient.InferInput("INPUT0", [4], "FP32")
            a.set_data_from_numpy(np.full(4, i, np.float32))
            b = grpcclient.InferInput("INPUT1", [4], "FP32")
            b.set_data_from_numpy(np.ones(4, np.float32))
            return client.infer("add_sub", [a, b]).as_numpy("OUTPUT0").tolist()

        with ThreadPoolExecutor(8) as pool:
            got = list(pool.map(add, range(64)))
        assert got == [[i + 1.0] * 4 for i in range(64)]
        assert bls(server, "async")[0].tolist() == [1, 2, 3, 4, 1, 3, 5, 7]
        assert bls(server, "decoupled")[0].tolist() == [0, 1, 2]
        results: queue.Queue = queue.Queue()
        client = grpcclient.InferenceServerClient(server.grpc_url)
        client.start_stream(callback=lambda result, error: results.put((result, error)))
        i = grpcclient.InferInput("IN", [1], "INT32")
        i.set_data_from_numpy(np.array([3], np.int32))
        client.async_stream_infer("repeat", [i])
        assert [int(results.get(timeout=30)[0].as_numpy("OUT")[0]) for _ in range(3)] == [0, 1, 2]
        client.stop_stream()
    finally:
        server.stop()
