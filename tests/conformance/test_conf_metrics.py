"""Prometheus metrics on the metrics port: Triton's families and labels, exact counts after
known traffic (over HTTP and gRPC), the same numbers as ModelStatistics, and the
optional latency summaries."""

from __future__ import annotations

import shutil
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from conformance_utils import MODELS
from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]

MODEL_FAMILIES = (
    "nv_inference_request_success",
    "nv_inference_request_failure",
    "nv_inference_count",
    "nv_inference_exec_count",
    "nv_inference_request_duration_us",
    "nv_inference_queue_duration_us",
    "nv_inference_compute_input_duration_us",
    "nv_inference_compute_infer_duration_us",
    "nv_inference_compute_output_duration_us",
    "nv_inference_pending_request_count",
)


def fetch(url: str, method: str = "GET") -> tuple[int, str, str]:
    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read().decode()


def scrape(url: str) -> tuple[dict[str, str], Samples]:
    """(family name -> type, (sample name, sorted labels) -> value)."""
    status, _, text = fetch(url)
    assert status == 200
    types: dict[str, str] = {}
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        types[family.name] = family.type
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return types, samples


def get(samples: Samples, name: str, model: str, **labels: str) -> float:
    key = tuple(sorted({"model": model, "version": "1", **labels}.items()))
    return samples.get((name, key), 0.0)


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("metrics did not reach the expected values")
        time.sleep(0.05)


def test_families_and_labels(server) -> None:  # type: ignore[no-untyped-def]
    status, content_type, _ = fetch(server.metrics_url)
    assert (status, content_type) == (200, "text/plain; charset=utf-8")
    types, samples = scrape(server.metrics_url)
    for family in MODEL_FAMILIES:
        expected = "gauge" if family.endswith("pending_request_count") else "counter"
        assert types[family] == expected, family
    for family in ("nv_cpu_utilization", "nv_cpu_memory_total_bytes",
                   "nv_cpu_memory_used_bytes"):
        assert types[family] == "gauge"
    models = {dict(labels).get("model") for name, labels in samples
              if name == "nv_inference_count_total"}
    assert {"plain", "identity_fp32", "seq_direct"} <= models
    reasons = {dict(labels)["reason"] for name, labels in samples
               if name == "nv_inference_request_failure_total"
               and dict(labels)["model"] == "plain"}
    assert reasons == {"REJECTED", "CANCELED", "BACKEND", "OTHER"}
    total = samples[("nv_cpu_memory_total_bytes", ())]
    used = samples[("nv_cpu_memory_used_bytes", ())]
    assert total > used > 0
    assert 0.0 <= samples[("nv_cpu_utilization", ())] <= 1.0


def test_other_paths_and_methods(server) -> None:  # type: ignore[no-untyped-def]
    base = server.metrics_url.removesuffix("/metrics")
    assert fetch(base + "/other")[0::2] == (200, "")
    status, _, body = fetch(server.metrics_url, "POST")
    assert (status, body) == (405, '{"error":"Method Not Allowed"}')


def test_counts_are_exact_after_known_traffic(server) -> None:  # type: ignore[no-untyped-def]
    _, before = scrape(server.metrics_url)
    http = httpclient.InferenceServerClient(server.http_url)
    grpc = grpcclient.InferenceServerClient(server.grpc_url)
    try:
        for protocol, module in ((http, httpclient), (grpc, grpcclient), (http, httpclient)):
            x = module.InferInput("INPUT0", [4], "FP32")
            x.set_data_from_numpy(np.arange(4, dtype=np.float32))
            protocol.infer("identity_fp32", [x])
        for protocol, module in ((http, httpclient), (grpc, grpcclient)):
            kind = module.InferInput("KIND", [1], "INT32")
            kind.set_data_from_numpy(np.array([0], np.int32))
            with pytest.raises(Exception, match="boom from execute"):
                protocol.infer("raises", [kind])
    finally:
        http.close()
        grpc.close()

    def delta(samples: Samples, name: str, model: str, **labels: str) -> float:
        return get(samples, name, model, **labels) - get(before, name, model, **labels)

    expected = {
        ("nv_inference_request_success_total", "identity_fp32", ()): 3,
        ("nv_inference_count_total", "identity_fp32", ()): 3,
        ("nv_inference_exec_count_total", "identity_fp32", ()): 3,
        ("nv_inference_request_success_total", "raises", ()): 0,
        ("nv_inference_request_failure_total", "raises", (("reason", "BACKEND"),)): 2,
        ("nv_inference_request_failure_total", "raises", (("reason", "OTHER"),)): 0,
        ("nv_inference_exec_count_total", "raises", ()): 2,
        ("nv_inference_count_total", "raises", ()): 0,
    }
    state: dict[str, Samples] = {}

    def reached() -> bool:
        _, state["after"] = scrape(server.metrics_url)
        return all(delta(state["after"], n, m, **dict(lab)) == v
                   for (n, m, lab), v in expected.items())

    wait_for(reached)
    after = state["after"]
    for (name, model, labels), value in expected.items():
        assert delta(after, name, model, **dict(labels)) == value, (name, model, labels)
    assert get(after, "nv_inference_pending_request_count", "identity_fp32") == 0
    for family in MODEL_FAMILIES[4:9]:
        assert delta(after, family + "_total", "identity_fp32") >= 0
    assert delta(after, "nv_inference_request_duration_us_total", "identity_fp32") > 0


def test_durations_match_model_statistics(server) -> None:  # type: ignore[no-untyped-def]
    http = httpclient.InferenceServerClient(server.http_url)
    try:
        x = httpclient.InferInput("INPUT", [2, 3], "FP32")
        x.set_data_from_numpy(np.ones((2, 3), np.float32))
        http.infer("plain", [x])
        stats = http.get_inference_statistics("plain")["model_stats"][0]
    finally:
        http.close()
    _, samples = scrape(server.metrics_url)
    count = stats["inference_stats"]["success"]["count"]
    assert get(samples, "nv_inference_request_success_total", "plain") == count
    assert get(samples, "nv_inference_count_total", "plain") == stats["inference_count"]
    assert get(samples, "nv_inference_exec_count_total", "plain") == stats["execution_count"]
    for family, key in (("nv_inference_request_duration_us", "success"),
                        ("nv_inference_queue_duration_us", "queue"),
                        ("nv_inference_compute_infer_duration_us", "compute_infer")):
        ns = stats["inference_stats"][key]["ns"]
        # Triton adds each request's whole microseconds; tritonlite divides the sum.
        assert abs(get(samples, family + "_total", "plain") - ns / 1000) <= count + 1, family


@pytest.fixture
def plain_repository(tmp_path: Path) -> Path:
    repository = tmp_path / "models"
    shutil.copytree(MODELS / "plain", repository / "plain")
    return repository


def test_latency_summaries(server_factory, plain_repository: Path) -> None:  # type: ignore[no-untyped-def]
    extra = server_factory(plain_repository, ["--metrics-config", "summary_latencies=true"])
    http = httpclient.InferenceServerClient(extra.http_url)
    try:
        x = httpclient.InferInput("INPUT", [2, 3], "FP32")
        x.set_data_from_numpy(np.ones((2, 3), np.float32))
        for _ in range(4):
            http.infer("plain", [x])
    finally:
        http.close()
    state: dict[str, Samples] = {}

    def reached() -> bool:
        _, state["s"] = scrape(extra.metrics_url)
        return get(state["s"], "nv_inference_request_summary_us_count", "plain") == 4

    wait_for(reached)
    types, samples = scrape(extra.metrics_url)
    for kind in ("request", "queue", "compute_input", "compute_infer", "compute_output"):
        family = f"nv_inference_{kind}_summary_us"
        assert types[family] == "summary"
        assert get(samples, family + "_count", "plain") == 4
        for quantile in ("0.5", "0.9", "0.95", "0.99", "0.999"):
            assert (family, tuple(sorted({"model": "plain", "version": "1",
                                          "quantile": quantile}.items()))) in samples
    total = get(samples, "nv_inference_request_summary_us_sum", "plain")
    assert total == pytest.approx(
        get(samples, "nv_inference_request_duration_us_total", "plain"), abs=5)


@pytest.mark.tritonlite_only(reason="Triton 2.51 accepts histogram_latencies but has no "
                             "first-response histogram yet; newer Triton and tritonlite do")
def test_first_response_histogram(server_factory, plain_repository: Path) -> None:  # type: ignore[no-untyped-def]
    extra = server_factory(plain_repository, ["--metrics-config", "histogram_latencies=true"])
    http = httpclient.InferenceServerClient(extra.http_url)
    try:
        x = httpclient.InferInput("INPUT", [2, 3], "FP32")
        x.set_data_from_numpy(np.ones((2, 3), np.float32))
        for _ in range(3):
            http.infer("plain", [x])
    finally:
        http.close()
    types, samples = scrape(extra.metrics_url)
    family = "nv_inference_first_response_histogram_ms"
    assert types[family] == "histogram"
    assert get(samples, family + "_count", "plain") == 3
    assert get(samples, family + "_bucket", "plain", le="+Inf") == 3
    assert "nv_inference_request_summary_us" not in types
