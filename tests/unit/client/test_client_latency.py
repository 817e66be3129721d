"""Latency percentile math."""

from __future__ import annotations

import random

import numpy as np
import pytest

from tritonlite.client.latency import LatencySummary, percentile


@pytest.mark.parametrize("q", [0, 1, 25, 50, 90, 95, 99, 99.9, 100])
@pytest.mark.parametrize("n", [1, 2, 3, 10, 101, 240])
def test_percentile_matches_numpy_linear(q: float, n: int) -> None:
    rng = random.Random(n)
    values = [rng.uniform(0.001, 0.1) for _ in range(n)]
    assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)), rel=1e-12)


def test_percentile_of_known_values() -> None:
    values = [4.0, 1.0, 3.0, 2.0]  # unsorted on purpose
    assert percentile(values, 0) == 1.0
    assert percentile(values, 100) == 4.0
    assert percentile(values, 50) == 2.5
    assert percentile(list(range(1, 101)), 99) == pytest.approx(99.01)


@pytest.mark.parametrize("q", [-1, 100.5, float("nan")])
def test_percentile_rejects_bad_q(q: float) -> None:
    with pytest.raises(ValueError, match=r"within 0\.\.100"):
        percentile([1.0], q)


def test_percentile_rejects_empty() -> None:
    with pytest.raises(ValueError, match="empty"):
        percentile([], 50)


def test_summary_from_samples() -> None:
    samples = [i / 1000 for i in range(1, 101)]  # 1..100 ms
    summary = LatencySummary.from_samples(samples)
    assert summary.count == 100
    assert summary.p50 == pytest.approx(0.0505)
    assert summary.p95 == pytest.approx(0.09505)
    assert summary.p99 == pytest.approx(0.09901)
    assert summary.mean == pytest.approx(0.0505)
    assert (summary.min, summary.max) == (0.001, 0.1)
    text = summary.format_ms()
    assert "p50 50.50 ms" in text
    assert "p95 95.05 ms" in text
    assert "p99 99.01 ms" in text


def test_summary_of_nothing_is_zero() -> None:
    summary = LatencySummary.from_samples([])
    assert summary.count == 0
    assert summary.p99 == 0.0
