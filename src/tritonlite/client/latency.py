"""Latency statistics: percentiles with linear interpolation, as ``numpy.percentile``."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["LatencySummary", "percentile"]


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) of ``values``, interpolating linearly.

    Matches ``numpy.percentile(values, q)`` (its default ``method="linear"``). Raises
    ``ValueError`` for an empty sequence or a ``q`` outside 0..100.
    """
    if not values:
        raise ValueError("percentile of an empty sequence")
    if not 0.0 <= q <= 100.0 or math.isnan(q):
        raise ValueError(f"percentile must be within 0..100, got {q}")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    fraction = rank - low
    return ordered[low] + (ordered[high] - ordered[low]) * fraction


@dataclass(frozen=True)
class LatencySummary:
    """Latency percentiles over a run, in seconds."""

    count: int
    p50: float
    p95: float
    p99: float
    mean: float
    min: float
    max: float

    @classmethod
    def from_samples(cls, samples: Sequence[float]) -> LatencySummary:
        """Summarize per-item latencies (seconds); all zeros for no samples."""
        if not samples:
            return cls(count=0, p50=0.0, p95=0.0, p99=0.0, mean=0.0, min=0.0, max=0.0)
        return cls(
            count=len(samples),
            p50=percentile(samples, 50),
            p95=percentile(samples, 95),
            p99=percentile(samples, 99),
            mean=sum(samples) / len(samples),
            min=min(samples),
            max=max(samples),
        )

    def format_ms(self) -> str:
        """One line: ``p50 7.91 ms  p95 …  p99 …  mean …  max …``."""
        parts = [("p50", self.p50), ("p95", self.p95), ("p99", self.p99)]
        parts += [("mean", self.mean), ("max", self.max)]
        return "  ".join(f"{name} {value * 1e3:.2f} ms" for name, value in parts)
