"""Per-request latency observations for the optional summaries and histogram.

A :class:`LatencyRecorder` is set as each model's ``ModelStats.observer`` and keeps, per
kind, a :class:`Summary` (count, sum and quantiles over a sliding window, as
prometheus-cpp's ``Summary``: 60 s in 5 age buckets) and, for ``first_response``, a
:class:`Histogram`. Values are microseconds (milliseconds for the histogram), as
Triton observes them. Memory stays bounded: each age bucket keeps at most
:data:`RESERVOIR` samples (a uniform reservoir), so quantiles under heavy load are
estimates, like prometheus-cpp's CKMS ones.
"""

from __future__ import annotations

import bisect
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

__all__ = ["RESERVOIR", "SUMMARY_KINDS", "Histogram", "LatencyRecorder", "Summary"]

RESERVOIR = 2048
MAX_AGE_S = 60.0
AGE_BUCKETS = 5
SUMMARY_KINDS = ("request", "queue", "compute_input", "compute_infer", "compute_output")


@dataclass(slots=True)
class _AgeBucket:
    start: float
    seen: int = 0
    samples: list[float] = field(default_factory=list)


class Summary:
    """Count and sum of every observation; quantiles of the last ``max_age`` seconds."""

    def __init__(self, *, max_age: float = MAX_AGE_S, age_buckets: int = AGE_BUCKETS,
                 clock: Callable[[], float] = time.monotonic,
                 rng: random.Random | None = None) -> None:
        self.count = 0
        self.sum = 0.0
        self._width = max_age / age_buckets
        self._age_buckets = age_buckets
        self._clock = clock
        self._rng = rng or random.Random(0)
        self._buckets: list[_AgeBucket] = []

    def _current(self) -> _AgeBucket:
        now = self._clock()
        if not self._buckets or now - self._buckets[-1].start >= self._width:
            self._buckets.append(_AgeBucket(now))
        horizon = now - self._width * self._age_buckets
        while self._buckets and self._buckets[0].start + self._width <= horizon:
            self._buckets.pop(0)
        return self._buckets[-1]

    def observe(self, value: float) -> None:
        self.count += 1
        self.sum += value
        bucket = self._current()
        bucket.seen += 1
        if len(bucket.samples) < RESERVOIR:
            bucket.samples.append(value)
        else:
            slot = self._rng.randrange(bucket.seen)
            if slot < RESERVOIR:
                bucket.samples[slot] = value

    def quantiles(self, qs: Sequence[float]) -> list[float]:
        """Nearest-rank quantiles of the window (NaN when it is empty)."""
        self._current()
        values = sorted(v for b in self._buckets for v in b.samples)
        if not values:
            return [math.nan for _ in qs]
        n = len(values)
        return [values[min(n - 1, max(0, math.ceil(q * n) - 1))] for q in qs]


class Histogram:
    """Cumulative bucket counts (``le`` upper bounds, +Inf last), count and sum."""

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = sorted(bounds)
        self.counts = [0] * (len(self.bounds) + 1)
        self.count = 0
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.count += 1
        self.sum += value

    def cumulative(self) -> list[int]:
        out, total = [], 0
        for c in self.counts:
            total += c
            out.append(total)
        return out


class LatencyRecorder:
    """The observer of one model version's statistics (``ModelStats.observer``)."""

    def __init__(self, *, summaries: bool, histogram_buckets_ms: Sequence[float] | None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.summaries = (
            {kind: Summary(clock=clock) for kind in SUMMARY_KINDS} if summaries else {}
        )
        self.first_response = (
            Histogram(histogram_buckets_ms) if histogram_buckets_ms is not None else None
        )

    def __call__(self, kind: str, ns: int) -> None:
        if kind == "first_response":
            if self.first_response is not None:
                self.first_response.observe(ns / 1e6)
            return
        summary = self.summaries.get(kind)
        if summary is not None:
            summary.observe(float(ns // 1000))
