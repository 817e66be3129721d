"""The response cache: identical requests are answered from it; statistics count it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tritonclient.grpc as grpcclient

MODELS = Path(__file__).resolve().parent / "models"


def test_response_cache_hits_and_misses(start_server) -> None:
    server = start_server(MODELS, ["--model-control-mode=explicit", "--load-model=cached",
                                   "--cache-config=local,size=1048576"])
    client = grpcclient.InferenceServerClient(server.grpc_url)

    def call(values: list[float]) -> list[float]:
        x = grpcclient.InferInput("X", [2], "FP32")
        x.set_data_from_numpy(np.array(values, np.float32))
        return client.infer("cached", [x]).as_numpy("Y").tolist()

    assert call([1, 2]) == [2, 3]
    assert call([1, 2]) == [2, 3]  # hit
    assert call([5, 6]) == [6, 7]
    assert call([1, 2]) == [2, 3]  # hit
    stats = client.get_inference_statistics("cached", as_json=True)["model_stats"][0]
    s = stats["inference_stats"]
    assert int(s["cache_hit"]["count"]) == 2
    assert int(s["cache_miss"]["count"]) == 2
    assert int(s["success"]["count"]) == 4
    assert int(stats["execution_count"]) == 2  # hits never reach the model
    assert int(stats["inference_count"]) == 2
