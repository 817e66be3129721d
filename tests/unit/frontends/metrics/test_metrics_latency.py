"""Sliding-window summaries, histograms and --metrics-config parsing."""

from __future__ import annotations

import math

import pytest

from tritonlite.frontends.metrics.config import DEFAULT_QUANTILES, MetricsConfig
from tritonlite.frontends.metrics.latency import RESERVOIR, Histogram, LatencyRecorder, Summary


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_summary_window_slides_but_count_and_sum_do_not() -> None:
    clock = Clock()
    summary = Summary(clock=clock)
    for v in range(1, 101):
        summary.observe(float(v))
    assert summary.quantiles([0.5, 0.9, 0.99]) == [50.0, 90.0, 99.0]
    clock.now = 73.0  # past 60 s plus one age bucket (12 s), as prometheus-cpp
    summary.observe(7.0)
    assert summary.quantiles([0.5]) == [7.0]
    assert (summary.count, summary.sum) == (101, 5057.0)
    clock.now = 200.0
    assert math.isnan(summary.quantiles([0.5])[0])


def test_summary_memory_is_bounded() -> None:
    summary = Summary(clock=Clock())
    for v in range(RESERVOIR * 3):
        summary.observe(float(v))
    assert summary.count == RESERVOIR * 3
    assert 0.3 * RESERVOIR * 3 < summary.quantiles([0.5])[0] < 0.7 * RESERVOIR * 3


def test_histogram_and_recorder() -> None:
    histogram = Histogram([100, 500])
    for v in (50, 100, 101, 10_000):
        histogram.observe(v)
    assert histogram.cumulative() == [2, 3, 4]
    recorder = LatencyRecorder(summaries=True, histogram_buckets_ms=[1.0])
    recorder("request", 2_500)
    recorder("first_response", 2_000_000)
    recorder("unknown", 1)
    assert recorder.summaries["request"].sum == 2.0  # whole microseconds
    assert recorder.first_response is not None and recorder.first_response.cumulative() == [0, 1]


def test_metrics_config() -> None:
    default = MetricsConfig.parse([])
    assert (default.counter_latencies, default.summary_latencies) == (True, False)
    assert default.summary_quantiles == DEFAULT_QUANTILES and not default.observes_latencies
    config = MetricsConfig.parse(["summary_latencies=true", "histogram_latencies=1",
                                  "summary_quantiles=0.5:0.05,0.99:0.001", "future_thing=1"])
    assert config.summary_quantiles == ((0.5, 0.05), (0.99, 0.001))
    assert config.observes_latencies
    with pytest.raises(ValueError):
        MetricsConfig.parse(["summary_latencies"])
    with pytest.raises(ValueError):
        MetricsConfig.parse(["summary_latencies=maybe"])
