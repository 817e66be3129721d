"""ModelStatistics after known traffic."""

from __future__ import annotations

import numpy as np
import tritonclient.grpc as grpcclient
from conformance_utils import MODELS, expect_error, make_input, status_name


def _count(stats: dict, key: str) -> int:
    return int(stats["inference_stats"][key].get("count", 0))


def _ns(stats: dict, key: str) -> int:
    return int(stats["inference_stats"][key].get("ns", 0))


def test_statistics_after_known_traffic(client: grpcclient.InferenceServerClient) -> None:
    # stats_model is used by this test only: 3 successes, 2 failures in execute,
    # 1 request rejected by input validation (not counted at all).
    for value in (1.0, 2.0, 3.0, -1.0, -2.0):
        try:
            client.infer("stats_model", [make_input("INPUT", np.array([value], np.float32))])
        except Exception:
            assert value < 0
    error = expect_error(
        client.infer, "stats_model", [make_input("INPUT", np.array([1], dtype=np.int32))]
    )
    assert status_name(error) == "INVALID_ARGUMENT"

    response = client.get_inference_statistics("stats_model", as_json=True)
    (stats,) = response["model_stats"]
    assert stats["name"] == "stats_model"
    assert stats["version"] == "1"
    assert _count(stats, "success") == 3
    assert _count(stats, "fail") == 2
    assert int(stats["inference_count"]) == 3
    assert int(stats["execution_count"]) == 5
    assert int(stats["last_inference"]) > 0
    for key in ("success", "fail"):
        assert _ns(stats, key) > 0, key
    for key in ("queue", "compute_input", "compute_infer", "compute_output"):
        assert _count(stats, key) == 3, key
        assert _ns(stats, key) > 0, key
    (batch,) = stats["batch_stats"]
    assert int(batch["batch_size"]) == 1
    assert int(batch["compute_infer"]["count"]) == 5
    assert int(batch["compute_infer"]["ns"]) > 0


def test_statistics_of_every_model(client: grpcclient.InferenceServerClient) -> None:
    response = client.get_inference_statistics(as_json=True)
    names = sorted(s["name"] for s in response["model_stats"])
    assert names == sorted(p.name for p in MODELS.iterdir() if p.is_dir())


def test_statistics_unknown_model(client: grpcclient.InferenceServerClient) -> None:
    error = expect_error(client.get_inference_statistics, "no_such_model")
    assert status_name(error) == "INVALID_ARGUMENT"
    assert error.message() == "requested model 'no_such_model' is not available"
