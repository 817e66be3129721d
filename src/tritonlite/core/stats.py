"""Per-model-version statistics as plain data, shaped like Triton's ModelStatistics.

Recorded by the schedulers and the server; read by the gRPC/HTTP statistics endpoints and
the metrics exporter, so all three report the same numbers. A :data:`LatencyObserver`
set on a ``ModelStats`` also sees each request's latencies one by one (the metrics
exporter's optional summaries and histograms need them; cumulative sums cannot give
quantiles).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

INFER_STAT_FIELDS = ("success", "fail", "queue", "compute_input", "compute_infer",
                     "compute_output", "cache_hit", "cache_miss")
"""The ``InferStats`` fields, in the order Triton's ModelStatistics lists them."""
BATCH_STAT_FIELDS = ("compute_input", "compute_infer", "compute_output")
"""The ``BatchStat`` duration fields."""

LatencyObserver = Callable[[str, int], None]
"""Called with (kind, ns) per request: "request", "queue", "compute_input",
"compute_infer", "compute_output" for each successful request (the values the
cumulative statistics add), and "first_response" when a request's first response
(of any outcome) is produced."""


@dataclass(slots=True)
class StatDuration:
    count: int = 0
    ns: int = 0

    def add(self, ns: int, count: int = 1) -> None:
        self.count += count
        self.ns += ns


@dataclass(slots=True)
class InferStats:
    success: StatDuration = field(default_factory=StatDuration)
    fail: StatDuration = field(default_factory=StatDuration)
    queue: StatDuration = field(default_factory=StatDuration)
    compute_input: StatDuration = field(default_factory=StatDuration)
    compute_infer: StatDuration = field(default_factory=StatDuration)
    compute_output: StatDuration = field(default_factory=StatDuration)
    cache_hit: StatDuration = field(default_factory=StatDuration)
    cache_miss: StatDuration = field(default_factory=StatDuration)


@dataclass(slots=True)
class BatchStat:
    batch_size: int
    compute_input: StatDuration = field(default_factory=StatDuration)
    compute_infer: StatDuration = field(default_factory=StatDuration)
    compute_output: StatDuration = field(default_factory=StatDuration)


def _add_compute(s: InferStats | BatchStat, input_ns: int, infer_ns: int,
                 output_ns: int) -> None:
    """One more of each compute duration: ``StatDuration.add`` spelled out, as this runs
    per request and per execute."""
    d = s.compute_input
    d.count += 1
    d.ns += input_ns
    d = s.compute_infer
    d.count += 1
    d.ns += infer_ns
    d = s.compute_output
    d.count += 1
    d.ns += output_ns


@dataclass(slots=True)
class FailureCounts:
    """``nv_inference_request_failure`` by reason."""

    REJECTED: int = 0
    CANCELED: int = 0
    BACKEND: int = 0
    OTHER: int = 0


@dataclass(slots=True)
class ModelStats:
    name: str
    version: str
    last_inference_ms: int = 0
    inference_count: int = 0
    execution_count: int = 0
    pending: int = 0
    inference_stats: InferStats = field(default_factory=InferStats)
    batch_stats: dict[int, BatchStat] = field(default_factory=dict)
    failures: FailureCounts = field(default_factory=FailureCounts)
    observer: LatencyObserver | None = field(default=None, repr=False, compare=False)

    def record_success(self, request_ns: int, queue_ns: int, compute: tuple[int, int, int],
                       batch_size: int = 1) -> None:
        """A request that succeeded. Triton counts inferences and per-request compute time
        only for successful requests; ``compute`` is its execute's (input, infer, output) ns."""
        s = self.inference_stats
        s.success.add(request_ns)
        s.queue.add(queue_ns)
        _add_compute(s, compute[0], compute[1], compute[2])
        self.inference_count += batch_size
        self.last_inference_ms = time.time_ns() // 1_000_000
        if self.observer is not None:
            self.observer("request", request_ns)
            self.observer("queue", queue_ns)
            self.observer("compute_input", compute[0])
            self.observer("compute_infer", compute[1])
            self.observer("compute_output", compute[2])

    def record_first_response(self, ns: int) -> None:
        """A request's first response came ``ns`` after the request arrived (only the
        observer keeps this)."""
        if self.observer is not None:
            self.observer("first_response", ns)

    def record_failure(self, request_ns: int, reason: str = "BACKEND") -> None:
        self.inference_stats.fail.add(request_ns)
        setattr(self.failures, reason, getattr(self.failures, reason) + 1)
        self.last_inference_ms = time.time_ns() // 1_000_000

    def record_execution(self, batch_size: int, input_ns: int, infer_ns: int,
                         output_ns: int) -> None:
        """One ``execute`` call (successful or not) over requests whose batch sizes sum to
        ``batch_size``."""
        self.execution_count += 1
        b = self.batch_stats.get(batch_size)
        if b is None:
            b = self.batch_stats[batch_size] = BatchStat(batch_size)
        _add_compute(b, input_ns, infer_ns, output_ns)
