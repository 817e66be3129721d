"""request.set_release_flags(RELEASE_RESCHEDULE): the request runs again, then answers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tritonclient.grpc as grpcclient

MODELS = Path(__file__).resolve().parent / "models"


def test_rescheduled_requests_run_again(start_server) -> None:
    server = start_server(MODELS, ["--model-control-mode=explicit", "--load-model=iterative",
                                   "--load-model=again"])
    client = grpcclient.InferenceServerClient(server.grpc_url)

    def n(value: int) -> list[grpcclient.InferInput]:
        i = grpcclient.InferInput("N", [1], "INT32")
        i.set_data_from_numpy(np.array([value], np.int32))
        return [i]

    r = client.infer("iterative", n(3), sequence_id=5, sequence_start=True,
                     sequence_end=True, request_id="a")
    assert r.as_numpy("STEPS").tolist() == [3]
    r = client.infer("again", n(4), request_id="b")
    assert r.as_numpy("STEPS").tolist() == [4]
    stats = client.get_inference_statistics("again", as_json=True)["model_stats"][0]
    assert int(stats["execution_count"]) == 4  # ran four times
    assert int(stats["inference_stats"]["success"]["count"]) == 1  # one request answered


def test_rescheduled_decoupled_request(start_server) -> None:
    import queue

    server = start_server(MODELS, ["--model-control-mode=explicit",
                                   "--load-model=again_decoupled"])
    client = grpcclient.InferenceServerClient(server.grpc_url)
    results: queue.Queue = queue.Queue()
    client.start_stream(callback=lambda result, error: results.put((result, error)))
    i = grpcclient.InferInput("N", [1], "INT32")
    i.set_data_from_numpy(np.array([3], np.int32))
    client.async_stream_infer("again_decoupled", [i], request_id="d1")
    got = []
    while len(got) < 3:
        result, error = results.get(timeout=30)
        assert error is None, error
        got.append(int(result.as_numpy("STEPS")[0]))
    client.stop_stream()
    assert got == [0, 1, 2]  # three runs: two rescheduled, then three responses
