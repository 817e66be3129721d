"""The ``nv_*`` metric families, built at scrape time from ``ServerApi`` statistics.

:class:`TritonCollector` is a prometheus_client custom collector: every scrape reads
``server.model_statistics()``, so ``/metrics`` reports exactly what the statistics
endpoints of both protocols report (durations are the same nanosecond sums, in whole
microseconds). Names, help texts, label sets and family order are Triton 2.51's (CPU
build): per model version ``model`` and ``version`` labels; ``nv_inference_request_
failure`` also has ``reason`` (REJECTED, CANCELED, BACKEND, OTHER). Pinned-memory gauges
are reported as 0 (tritonlite has no pinned pool; dashboards built for Triton still
find them). Custom metrics that models define with ``pb_utils.MetricFamily`` follow the
built-in families.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from tritonlite.core.interfaces import ServerApi
from tritonlite.core.stats import ModelStats
from tritonlite.frontends.metrics.config import MetricsConfig
from tritonlite.frontends.metrics.latency import SUMMARY_KINDS, LatencyRecorder
from tritonlite.frontends.metrics.system import SystemGauges

__all__ = ["FAILURE_REASONS", "TritonCollector", "format_bound"]

FAILURE_REASONS = ("REJECTED", "CANCELED", "BACKEND", "OTHER")

_COUNTERS = (
    ("nv_inference_request_success", "Number of successful inference requests, all batch sizes"),
    ("nv_inference_request_failure", "Number of failed inference requests, all batch sizes"),
    ("nv_inference_count", "Number of inferences performed (does not include cached requests)"),
    (
        "nv_inference_exec_count",
        "Number of model executions performed (does not include cached requests)",
    ),
)
# family, ModelStats.inference_stats field, help
_DURATIONS = (
    (
        "nv_inference_request_duration_us",
        "success",
        "Cumulative inference request duration in microseconds (includes cached requests)",
    ),
    (
        "nv_inference_queue_duration_us",
        "queue",
        "Cumulative inference queuing duration in microseconds (includes cached requests)",
    ),
    (
        "nv_inference_compute_input_duration_us",
        "compute_input",
        "Cumulative compute input duration in microseconds (does not include cached requests)",
    ),
    (
        "nv_inference_compute_infer_duration_us",
        "compute_infer",
        "Cumulative compute inference duration in microseconds (does not include cached "
        "requests)",
    ),
    (
        "nv_inference_compute_output_duration_us",
        "compute_output",
        "Cumulative inference compute output duration in microseconds (does not include "
        "cached requests)",
    ),
)
_SUMMARIES = {
    "request": (
        "nv_inference_request_summary_us",
        "Summary of inference request duration in microseconds (includes cached requests)",
    ),
    "queue": (
        "nv_inference_queue_summary_us",
        "Summary of inference queuing duration in microseconds (includes cached requests)",
    ),
    "compute_input": (
        "nv_inference_compute_input_summary_us",
        "Cumulative compute input duration in microseconds (does not include cached requests)",
    ),
    "compute_infer": (
        "nv_inference_compute_infer_summary_us",
        "Cumulative compute inference duration in microseconds (does not include cached "
        "requests)",
    ),
    "compute_output": (
        "nv_inference_compute_output_summary_us",
        "Cumulative inference compute output duration in microseconds (does not include "
        "cached requests)",
    ),
}
_FIRST_RESPONSE = (
    "nv_inference_first_response_histogram_ms",
    "Duration from request to first response in milliseconds",
)


def format_bound(value: float) -> str:
    """A quantile or bucket bound as prometheus-cpp prints it."""
    return "+Inf" if value == float("inf") else format(value, ".16g")


class TritonCollector(Collector):
    """Collects Triton's families for ``server``; ``recorders`` maps each model
    version's statistics to its latency observer (summaries/histogram enabled)."""

    def __init__(
        self,
        server: ServerApi,
        config: MetricsConfig,
        system: SystemGauges | None = None,
    ) -> None:
        self.server = server
        self.config = config
        self.system = system
        self.recorders: dict[int, tuple[ModelStats, LatencyRecorder]] = {}

    # -------------------------------------------------------------- latency observers

    def attach(self, stats: Iterable[ModelStats]) -> None:
        """Give every model version that has none a latency observer (no-op when
        summaries and histograms are off)."""
        if not self.config.observes_latencies:
            return
        buckets = self.config.histogram_buckets_ms if self.config.histogram_latencies else None
        live: dict[int, tuple[ModelStats, LatencyRecorder]] = {}
        for s in stats:
            entry = self.recorders.get(id(s))
            if entry is None or entry[0] is not s:
                recorder = LatencyRecorder(summaries=self.config.summary_latencies,
                                           histogram_buckets_ms=buckets)
                s.observer = recorder
                entry = (s, recorder)
            live[id(s)] = entry
        self.recorders = live

    # ------------------------------------------------------------------------- collect

    def collect(self) -> Iterator[Metric]:
        stats = self.server.model_statistics()
        self.attach(stats)
        labels = [{"model": s.name, "version": s.version} for s in stats]
        yield from self._counts(stats, labels)
        if self.config.counter_latencies:
            for name, field, doc in _DURATIONS:
                metric = Metric(name, doc, "counter")
                for s, lab in zip(stats, labels, strict=True):
                    metric.add_sample(name, lab, getattr(s.inference_stats, field).ns // 1000)
                yield metric
        pending = Metric(
            "nv_inference_pending_request_count",
            "Instantaneous number of pending requests awaiting execution per-model.",
            "gauge",
        )
        for s, lab in zip(stats, labels, strict=True):
            pending.add_sample(pending.name, lab, s.pending)
        yield pending
        yield from self._system()
        if self.config.summary_latencies:
            yield from self._summaries(stats, labels)
        if self.config.histogram_latencies:
            yield from self._histogram(stats, labels)
        yield from self._custom()

    def _counts(self, stats: list[ModelStats], labels: list[dict[str, str]]) -> Iterator[Metric]:
        values = {
            "nv_inference_request_success": lambda s: s.inference_stats.success.count,
            "nv_inference_count": lambda s: s.inference_count,
            "nv_inference_exec_count": lambda s: s.execution_count,
        }
        for name, doc in _COUNTERS:
            metric = Metric(name, doc, "counter")
            for s, lab in zip(stats, labels, strict=True):
                if name == "nv_inference_request_failure":
                    for reason in FAILURE_REASONS:
                        count = getattr(s.failures, reason)
                        metric.add_sample(name, {**lab, "reason": reason}, count)
                else:
                    metric.add_sample(name, lab, values[name](s))
            yield metric

    def _system(self) -> Iterator[Metric]:
        for name, doc in (
            ("nv_pinned_memory_pool_total_bytes", "Pinned memory pool total memory size, in bytes"),
            ("nv_pinned_memory_pool_used_bytes", "Pinned memory pool used memory size, in bytes"),
        ):
            metric = Metric(name, doc, "gauge")
            metric.add_sample(name, {}, 0)
            yield metric
        if self.system is None:
            return
        for name, doc, value in (
            ("nv_cpu_utilization", "CPU utilization rate [0.0 - 1.0]",
             self.system.cpu_utilization),
            ("nv_cpu_memory_total_bytes", "CPU total memory (RAM), in bytes",
             self.system.memory_total_bytes),
            ("nv_cpu_memory_used_bytes", "CPU used memory (RAM), in bytes",
             self.system.memory_used_bytes),
        ):
            metric = Metric(name, doc, "gauge")
            metric.add_sample(name, {}, value)
            yield metric

    def _recorder(self, s: ModelStats) -> LatencyRecorder | None:
        entry = self.recorders.get(id(s))
        return entry[1] if entry is not None and entry[0] is s else None

    def _summaries(self, stats: list[ModelStats],
                   labels: list[dict[str, str]]) -> Iterator[Metric]:
        quantiles = [q for q, _ in self.config.summary_quantiles]
        for kind in SUMMARY_KINDS:
            name, doc = _SUMMARIES[kind]
            metric = Metric(name, doc, "summary")
            for s, lab in zip(stats, labels, strict=True):
                recorder = self._recorder(s)
                if recorder is None:
                    continue
                summary = recorder.summaries[kind]
                metric.add_sample(name + "_count", lab, summary.count)
                metric.add_sample(name + "_sum", lab, summary.sum)
                for q, value in zip(quantiles, summary.quantiles(quantiles), strict=True):
                    metric.add_sample(name, {**lab, "quantile": format_bound(q)}, value)
            yield metric

    def _histogram(self, stats: list[ModelStats],
                   labels: list[dict[str, str]]) -> Iterator[Metric]:
        name, doc = _FIRST_RESPONSE
        metric = Metric(name, doc, "histogram")
        for s, lab in zip(stats, labels, strict=True):
            recorder = self._recorder(s)
            histogram = recorder.first_response if recorder is not None else None
            if histogram is None:
                continue
            metric.add_sample(name + "_count", lab, histogram.count)
            metric.add_sample(name + "_sum", lab, histogram.sum)
            bounds = [*histogram.bounds, float("inf")]
            for bound, total in zip(bounds, histogram.cumulative(), strict=True):
                metric.add_sample(name + "_bucket", {**lab, "le": format_bound(bound)}, total)
        yield metric

    def _custom(self) -> Iterator[Metric]:
        registry = getattr(self.server, "custom_metrics", None)
        if registry is None:
            return
        for family in registry.snapshot():
            if family.kind == "HISTOGRAM":
                metric = Metric(family.name, family.description, "histogram")
                for key, hist in family.histograms.items():
                    lab = dict(key)
                    metric.add_sample(family.name + "_count", lab, hist.count)
                    metric.add_sample(family.name + "_sum", lab, hist.total)
                    total = 0
                    for bound, count in zip([*hist.buckets, float("inf")], hist.counts,
                                            strict=True):
                        total += count
                        metric.add_sample(family.name + "_bucket",
                                          {**lab, "le": format_bound(bound)}, total)
            else:
                kind = "counter" if family.kind == "COUNTER" else "gauge"
                metric = Metric(family.name, family.description, kind)
                for key, value in family.values.items():
                    metric.add_sample(family.name, dict(key), value)
            yield metric
