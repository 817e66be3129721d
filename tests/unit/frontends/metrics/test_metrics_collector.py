"""The nv_* families from statistics, rendered and read back with prometheus_client."""

from __future__ import annotations

import pytest
from http_fake_server import FakeServer, sample_stats
from prometheus_client.parser import text_string_to_metric_families

from tritonlite.frontends.metrics.collector import TritonCollector
from tritonlite.frontends.metrics.config import MetricsConfig
from tritonlite.frontends.metrics.exposition import format_value, render
from tritonlite.frontends.metrics.system import SystemGauges


def scrape(collector: TritonCollector) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """family name -> {sorted labels (incl. the sample name) -> value}."""
    text = render(collector.collect()).decode()
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = tuple(sorted({**sample.labels, "__name__": sample.name}.items()))
            out.setdefault(family.name, {})[key] = sample.value
    return out


def value(families, family: str, sample: str | None = None, **labels: str) -> float:  # type: ignore[no-untyped-def]
    key = tuple(sorted({**labels, "__name__": sample or family}.items()))
    return families[family][key]


@pytest.fixture
def fake() -> FakeServer:
    server = FakeServer()
    server.stats["echo"] = sample_stats()
    return server


def test_counts_and_durations_match_the_statistics(fake: FakeServer) -> None:
    families = scrape(TritonCollector(fake, MetricsConfig()))
    echo = {"model": "echo", "version": "1"}
    assert value(families, "nv_inference_request_success",
                 "nv_inference_request_success_total", **echo) == 3
    for reason, count in (("BACKEND", 2), ("REJECTED", 0), ("CANCELED", 0), ("OTHER", 0)):
        assert value(families, "nv_inference_request_failure",
                     "nv_inference_request_failure_total", reason=reason, **echo) == count
    assert value(families, "nv_inference_count", "nv_inference_count_total", **echo) == 6
    assert value(families, "nv_inference_exec_count", "nv_inference_exec_count_total",
                 **echo) == 3
    for family, us in (("nv_inference_request_duration_us", 300),
                       ("nv_inference_queue_duration_us", 30),
                       ("nv_inference_compute_input_duration_us", 4),
                       ("nv_inference_compute_infer_duration_us", 50),
                       ("nv_inference_compute_output_duration_us", 6)):
        assert value(families, family, family + "_total", **echo) == us
    assert value(families, "nv_inference_pending_request_count", **echo) == 1
    assert len(families["nv_inference_count"]) == 5  # every model version, traffic or not


def test_text_keeps_triton_names_and_number_format(fake: FakeServer) -> None:
    text = render(TritonCollector(fake, MetricsConfig(), SystemGauges()).collect()).decode()
    lines = text.splitlines()
    assert "# TYPE nv_inference_request_success counter" in lines
    assert 'nv_inference_request_success{model="echo",version="1"} 3' in lines
    assert 'nv_inference_request_failure{model="echo",reason="BACKEND",version="1"} 2' in lines
    assert "nv_pinned_memory_pool_total_bytes 0" in lines
    families = [line.split()[2] for line in lines if line.startswith("# TYPE")]
    assert families == [
        "nv_inference_request_success", "nv_inference_request_failure", "nv_inference_count",
        "nv_inference_exec_count", "nv_inference_request_duration_us",
        "nv_inference_queue_duration_us", "nv_inference_compute_input_duration_us",
        "nv_inference_compute_infer_duration_us", "nv_inference_compute_output_duration_us",
        "nv_inference_pending_request_count", "nv_pinned_memory_pool_total_bytes",
        "nv_pinned_memory_pool_used_bytes", "nv_cpu_utilization", "nv_cpu_memory_total_bytes",
        "nv_cpu_memory_used_bytes"]
    assert any(line.startswith("nv_cpu_memory_total_bytes ") and int(line.split()[1]) > 0
               for line in lines)


def test_format_value_like_prometheus_cpp() -> None:
    assert [format_value(v) for v in (3, 3.0, 0.4090909090909091, 25276518400.0)] == [
        "3", "3", "0.4090909090909091", "25276518400"]
    assert [format_value(v) for v in (float("nan"), float("inf"), float("-inf"))] == [
        "Nan", "+Inf", "-Inf"]


def test_counter_latencies_can_be_turned_off(fake: FakeServer) -> None:
    config = MetricsConfig.parse(["counter_latencies=false"])
    families = scrape(TritonCollector(fake, config))
    assert "nv_inference_request_duration_us" not in families
    assert "nv_cpu_utilization" not in families  # no SystemGauges: --allow-cpu-metrics=false


def test_summaries_and_histogram_from_observations(fake: FakeServer) -> None:
    config = MetricsConfig.parse(["summary_latencies=true", "histogram_latencies=true",
                                  "summary_quantiles=0.5:0.05,0.9:0.01"])
    collector = TritonCollector(fake, config)
    collector.attach(fake.model_statistics())
    stats = fake.stats["plain"]
    for ms in (1, 2, 3, 4):
        stats.record_first_response(ms * 1_000_000)
        stats.record_success(ms * 1_000_000, 1000, (2000, 3000, 4000))
    families = scrape(collector)
    plain = {"model": "plain", "version": "1"}
    summary = "nv_inference_request_summary_us"
    assert value(families, summary, summary + "_count", **plain) == 4
    assert value(families, summary, summary + "_sum", **plain) == 10_000
    assert value(families, summary, quantile="0.5", **plain) == 2000
    assert value(families, summary, quantile="0.9", **plain) == 4000
    assert value(families, "nv_inference_compute_infer_summary_us",
                 "nv_inference_compute_infer_summary_us_sum", **plain) == 12
    histogram = "nv_inference_first_response_histogram_ms"
    assert value(families, histogram, histogram + "_count", **plain) == 4
    assert value(families, histogram, histogram + "_bucket", le="100", **plain) == 4
    assert value(families, histogram, histogram + "_bucket", le="+Inf", **plain) == 4
    text = render(collector.collect()).decode()
    assert ('nv_inference_request_summary_us{model="plain",version="1",quantile="0.5"} 2000'
            in text.splitlines())


def test_observers_follow_reloaded_models(fake: FakeServer) -> None:
    collector = TritonCollector(fake, MetricsConfig(summary_latencies=True))
    collector.attach(fake.model_statistics())
    old = fake.stats["plain"]
    assert old.observer is not None
    from tritonlite.core.stats import ModelStats

    fake.stats["plain"] = ModelStats("plain", "1")  # a reload: new statistics object
    collector.attach(fake.model_statistics())
    assert fake.stats["plain"].observer is not None
    assert fake.stats["plain"].observer is not old.observer


def test_custom_metrics_follow_the_builtin_ones(fake: FakeServer) -> None:
    registry = fake.custom_metrics
    registry.family("my_counter", "A counter", "COUNTER")
    registry.metric("my_counter", {"k": "v"}, None)
    registry.update("my_counter", {"k": "v"}, "increment", 2)
    registry.family("my_hist", "A histogram", "HISTOGRAM")
    registry.metric("my_hist", {}, [1.0, 5.0])
    registry.update("my_hist", {}, "observe", 3)
    families = scrape(TritonCollector(fake, MetricsConfig()))
    assert value(families, "my_counter", "my_counter_total", k="v") == 2
    assert value(families, "my_hist", "my_hist_bucket", le="5") == 1
    assert value(families, "my_hist", "my_hist_bucket", le="1") == 0
