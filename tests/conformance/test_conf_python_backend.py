"""Python-backend features: BLS (sync, async, decoupled, errors, sequences, is_model_ready),
ensembles over a Python model, auto_complete_config, custom metrics, cancellation.

Models: ``pb_add`` (SUM/DIFF, error response on a negative A), ``pb_bls`` (MODE picks
the BLS call, INFO reports what the model saw), ``pb_ensemble`` (3 steps over
``pb_add``), ``pb_autocomplete`` (no config.pbtxt), ``pb_metrics`` (MetricFamily
counter/gauge/histogram), ``pb_cancel`` (polls ``request.is_cancelled()``).
"""

from __future__ import annotations

import json
import time
import urllib.request

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from conformance_utils import expect_error, make_input, status_name
from prometheus_client.parser import text_string_to_metric_families


def bls(
    client: grpcclient.InferenceServerClient, mode: str, x: list[float]
) -> tuple[list[float], dict]:
    result = client.infer(
        "pb_bls",
        [
            make_input("MODE", np.array([mode.encode()], dtype=np.object_)),
            make_input("X", np.array(x, dtype=np.float32)),
        ],
    )
    return result.as_numpy("Y").tolist(), json.loads(result.as_numpy("INFO")[0])


# ------------------------------------------------------------------------------ BLS


def test_bls_sync_exec(client: grpcclient.InferenceServerClient) -> None:
    y, info = bls(client, "sync", [1, 2, 3])
    assert y == [2, 4, 6]
    # requested_output_names=["SUM"]: only SUM comes back
    assert info == {"error": {"has_error": False}, "outputs": ["SUM"]}


def test_bls_async_exec_gather(client: grpcclient.InferenceServerClient) -> None:
    # async def execute + asyncio.gather of two async_exec calls to two models
    y, info = bls(client, "async", [1, 2])
    assert y == [2, 3, 1, 2]
    assert info == {"errors": [{"has_error": False}, {"has_error": False}]}


def test_bls_decoupled_exec_iterator(client: grpcclient.InferenceServerClient) -> None:
    # decoupled_repeat(N=3): 3 data responses, then the flag-only FINAL, which the
    # iterator yields as one response without outputs.
    y, info = bls(client, "decoupled", [0, 0, 0])
    assert y == [0, 1, 2]
    assert info == {"empty": 1}


@pytest.fixture(scope="module")
def bls_errors(client: grpcclient.InferenceServerClient) -> dict:
    _, info = bls(client, "error", [1])
    return info


def test_bls_error_response_surfaces(bls_errors: dict) -> None:
    negative = bls_errors["negative"]
    assert negative["has_error"] is True
    assert negative["message"] == "negative input"


def test_bls_exception_in_called_model_surfaces(bls_errors: dict, server) -> None:  # type: ignore[no-untyped-def]
    raised = bls_errors["raises"]
    assert raised["has_error"] is True
    assert raised["code"] == 1  # INTERNAL
    assert raised["message"] == (
        "Failed to process the request(s) for model 'raises_0', message: "
        "ValueError: boom from execute\n\nAt:\n"
        f"  {server.repository}/raises/1/model.py(11): execute\n"
    )


def test_bls_decoupled_model_without_decoupled_flag_fails(bls_errors: dict) -> None:
    assert bls_errors["not_decoupled"]["has_error"] is True


def test_bls_decoupled_model_needs_decoupled_flag(
    bls_errors: dict, request: pytest.FixtureRequest, target: str
) -> None:
    not_decoupled = bls_errors["not_decoupled"]
    assert not_decoupled["code"] == 1  # INTERNAL
    assert not_decoupled["message"] == (
        "Model decoupled_repeat - Error when running inference: Model decoupled_repeat is "
        "using the decoupled. The current BLS request call doesn't support models using the "
        "decoupled transaction policy. Please use 'decoupled=True' argument to the 'exec' or "
        "'async_exec' calls for decoupled models.'"
    )


def test_bls_unknown_model(
    bls_errors: dict, request: pytest.FixtureRequest, target: str
) -> None:
    unknown = bls_errors["unknown"]
    assert unknown["has_error"] is True
    assert unknown["message"] == (
        "Model no_such_model - Error when running inference: Failed for execute the "
        "inference request. Model 'no_such_model' is not ready."
    )
    assert unknown["code"] == 1  # INTERNAL


@pytest.mark.tritonlite_only(
    reason="2.51's BLS turns every error of the called model into INTERNAL "
    "(request_executor.cc InferResponseComplete built PbError(message) only); "
    "later python_backend releases keep the code, as tritonlite does"
)
def test_bls_error_response_keeps_its_code(bls_errors: dict) -> None:
    negative = bls_errors["negative"]
    assert negative["code"] == 3  # INVALID_ARG, as pb_add set it
    assert negative["is_invalid_arg"] is True


def test_bls_sequence_with_correlation_id_and_flags(
    client: grpcclient.InferenceServerClient,
) -> None:
    # pb_bls sends 1, 2, 3 to seq_direct with correlation_id=424242 and START / 0 / END.
    y, info = bls(client, "seq", [424242, 1, 2, 3])
    assert y == [1, 3, 6]
    assert info == {
        "seen": [
            {"correlation_id": "424242", "flags": 1, "corrid": 424242},
            {"correlation_id": "424242", "flags": 0, "corrid": 424242},
            {"correlation_id": "424242", "flags": 2, "corrid": 424242},
        ]
    }
    # The sequence ended: a new one on the same id starts from 0 again.
    y, _ = bls(client, "seq", [424242, 5, 5, 5])
    assert y == [5, 10, 15]


def test_bls_is_model_ready_and_no_bls_in_initialize(
    client: grpcclient.InferenceServerClient,
) -> None:
    _, info = bls(client, "ready", [0])
    assert info == {
        "identity_fp32": True,
        "identity_fp32_v1": True,
        "identity_fp32_v7": False,
        "no_such_model": False,
        "init_error": "TritonModelException: BLS is only supported during the 'execute' "
        "function.",
    }


# ------------------------------------------------------------------------- ensemble


def _stats(client: grpcclient.InferenceServerClient, model: str) -> dict:
    (stats,) = client.get_inference_statistics(model, as_json=True)["model_stats"]
    return stats


def _success(stats: dict) -> int:
    return int(stats["inference_stats"]["success"].get("count", 0))


def test_ensemble_runs_every_step(client: grpcclient.InferenceServerClient) -> None:
    add_before = _stats(client, "pb_add")
    ens_before = _stats(client, "pb_ensemble")
    result = client.infer("pb_ensemble", [make_input("X", np.array([1, 2, 3], np.float32))])
    assert result.as_numpy("TRIPLE").tolist() == [3, 6, 9]  # (x + x) + x
    assert result.as_numpy("DOUBLE").tolist() == [2, 4, 6]  # step 2 DIFF = x, x + x

    def deltas() -> tuple[int, int, int, int]:
        add_after = _stats(client, "pb_add")
        ens_after = _stats(client, "pb_ensemble")
        return (
            int(add_after.get("inference_count", 0)) - int(add_before.get("inference_count", 0)),
            _success(add_after) - _success(add_before),
            int(ens_after.get("inference_count", 0)) - int(ens_before.get("inference_count", 0)),
            _success(ens_after) - _success(ens_before),
        )

    # Statistics may trail the response a little (the reference reports them after
    # the last step's response is sent).
    deadline = time.monotonic() + 10
    while deltas() != (3, 3, 1, 1) and time.monotonic() < deadline:
        time.sleep(0.05)
    # Each step is an ordinary request to pb_add; the ensemble counts one request.
    assert deltas() == (3, 3, 1, 1)


def _fail(stats: dict) -> int:
    return int(stats["inference_stats"]["fail"].get("count", 0))


def test_error_response_counts_as_success_in_statistics(
    client: grpcclient.InferenceServerClient, request: pytest.FixtureRequest, target: str
) -> None:
    # execute() returned normally (with InferenceResponse(error=...)): for Triton's
    # statistics that is a successful execution; only an exception counts in `fail`.
    before = _stats(client, "pb_add")
    inputs = [
        make_input("A", np.array([-1], np.float32)),
        make_input("B", np.array([1], np.float32)),
    ]
    error = expect_error(client.infer, "pb_add", inputs)
    assert status_name(error) == "INVALID_ARGUMENT"
    assert error.message() == "negative input"

    def deltas() -> tuple[int, int, int, int]:
        after = _stats(client, "pb_add")
        return (
            _success(after) - _success(before),
            _fail(after) - _fail(before),
            int(after.get("inference_count", 0)) - int(before.get("inference_count", 0)),
            int(after.get("execution_count", 0)) - int(before.get("execution_count", 0)),
        )

    deadline = time.monotonic() + 10
    while deltas() != (1, 0, 1, 1) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert deltas() == (1, 0, 1, 1)


def test_ensemble_metadata(client: grpcclient.InferenceServerClient) -> None:
    metadata = client.get_model_metadata("pb_ensemble", as_json=True)
    assert metadata["platform"] == "ensemble"
    assert metadata["versions"] == ["1"]
    assert [(t["name"], t["datatype"], t["shape"]) for t in metadata["inputs"]] == [
        ("X", "FP32", ["-1"])
    ]
    assert [t["name"] for t in metadata["outputs"]] == ["TRIPLE", "DOUBLE"]


def test_ensemble_requested_output_subset(client: grpcclient.InferenceServerClient) -> None:
    result = client.infer(
        "pb_ensemble",
        [make_input("X", np.array([2], np.float32))],
        outputs=[grpcclient.InferRequestedOutput("DOUBLE")],
    )
    assert result.as_numpy("DOUBLE").tolist() == [4]
    assert result.as_numpy("TRIPLE") is None


def test_ensemble_step_error_fails_the_request(client: grpcclient.InferenceServerClient) -> None:
    error = expect_error(
        client.infer, "pb_ensemble", [make_input("X", np.array([-1], np.float32))]
    )
    assert status_name(error) == "INVALID_ARGUMENT"  # pb_add's INVALID_ARG
    assert "negative input" in error.message()


def test_ensemble_step_error_names_the_ensemble(
    client: grpcclient.InferenceServerClient, request: pytest.FixtureRequest, target: str
) -> None:
    error = expect_error(
        client.infer, "pb_ensemble", [make_input("X", np.array([-1], np.float32))]
    )
    assert error.message() == "in ensemble 'pb_ensemble', negative input"


# ------------------------------------------------------------------- auto-complete


def test_auto_complete_config_serves_the_completed_config(
    client: grpcclient.InferenceServerClient,
) -> None:
    config = client.get_model_config("pb_autocomplete", as_json=True)["config"]
    assert config["backend"] == "python"
    assert config["max_batch_size"] == 4
    assert [(i["name"], i["data_type"], i["dims"]) for i in config["input"]] == [
        ("IN", "TYPE_FP32", ["2"])
    ]
    assert [o["name"] for o in config["output"]] == ["OUT", "INFO"]
    assert config["dynamic_batching"] == {"preferred_batch_size": [4]}
    metadata = client.get_model_metadata("pb_autocomplete", as_json=True)
    assert metadata["platform"] == "python"
    assert [(t["name"], t["datatype"], t["shape"]) for t in metadata["inputs"]] == [
        ("IN", "FP32", ["-1", "2"])
    ]


def test_auto_complete_config_reaches_initialize(
    client: grpcclient.InferenceServerClient,
) -> None:
    result = client.infer("pb_autocomplete", [make_input("IN", np.ones((2, 2), np.float32))])
    assert result.as_numpy("OUT").tolist() == [[3, 3], [3, 3]]
    info = json.loads(result.as_numpy("INFO")[0][0])
    assert info == {
        "name": "pb_autocomplete",
        "backend": "python",
        "max_batch_size": 4,
        "inputs": [["IN", "TYPE_FP32", [2]]],
        "outputs": [["OUT", "TYPE_FP32", [2]], ["INFO", "TYPE_STRING", [1]]],
        "dynamic_batching": True,
    }


def test_auto_complete_batch_limit(client: grpcclient.InferenceServerClient) -> None:
    error = expect_error(
        client.infer, "pb_autocomplete", [make_input("IN", np.ones((5, 2), np.float32))]
    )
    assert status_name(error) == "INVALID_ARGUMENT"


# ------------------------------------------------------------------- custom metrics


def _custom_samples(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        if family.name.startswith("pb_conf_")
        for sample in family.samples
    }


def _types(url: str) -> dict[str, str]:
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    return {f.name: f.type for f in text_string_to_metric_families(text)}


def test_custom_metrics_are_exported(server, client: grpcclient.InferenceServerClient) -> None:  # type: ignore[no-untyped-def]
    seen = []
    for value in (0.5, 5.0, 50.0, 7.0):
        result = client.infer("pb_metrics", [make_input("X", np.array([value], np.float32))])
        seen.append(result.as_numpy("Y").tolist()[0])
    assert seen == [1, 2, 3, 4]  # Metric.value() after each increment
    labels = (("model", "pb_metrics"), ("source", "conformance"))
    deadline = time.monotonic() + 10
    while True:
        samples = _custom_samples(server.metrics_url)
        if samples.get(("pb_conf_requests_total", labels)) == 4 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    # (the parser reports a counter's samples with a _total suffix; the exposition has none)
    assert samples == {
        ("pb_conf_requests_total", labels): 4,
        ("pb_conf_last_input", labels): 7,
        ("pb_conf_input_values_count", labels): 4,
        ("pb_conf_input_values_sum", labels): 62.5,
        ("pb_conf_input_values_bucket", (("le", "1"), *labels)): 1,
        ("pb_conf_input_values_bucket", (("le", "10"), *labels)): 3,
        ("pb_conf_input_values_bucket", (("le", "+Inf"), *labels)): 4,
    }
    types = _types(server.metrics_url)
    assert types["pb_conf_requests"] == "counter"
    assert types["pb_conf_last_input"] == "gauge"
    assert types["pb_conf_input_values"] == "histogram"


# --------------------------------------------------------------------- cancellation


def test_client_deadline_reaches_is_cancelled(  # type: ignore[no-untyped-def]
    server, client: grpcclient.InferenceServerClient
) -> None:
    error = expect_error(
        client.infer,
        "pb_cancel",
        [make_input("SECONDS", np.array([5], np.float32))],
        request_id="pb-cancel-1",
        client_timeout=0.5,
    )
    assert status_name(error) == "DEADLINE_EXCEEDED"
    assert server.wait_for_log("pb_cancel request pb-cancel-1 saw cancellation", timeout=10)
    # The instance is free again at once, and a request without a deadline is not cancelled.
    started = time.monotonic()
    result = client.infer(
        "pb_cancel", [make_input("SECONDS", np.array([0.2], np.float32))], request_id="pb-cancel-2"
    )
    assert time.monotonic() - started < 3
    assert result.as_numpy("CANCELLED").tolist() == [False]
    assert server.wait_for_log("pb_cancel request pb-cancel-2 finished", timeout=10)
    assert "pb_cancel request pb-cancel-2 saw cancellation" not in server.log()
