"""Custom metrics that models define with ``pb_utils.MetricFamily``, held by the server.

Workers forward every family, metric and update; the server keeps one value per
(family, label set) across all instances (as Triton keeps them in the server, not in the
stub), and the metrics exporter renders them next to the built-in ``nv_*`` families.
Plain data, no I/O.
"""

from __future__ import annotations

import bisect
import threading
from dataclasses import dataclass, field

Labels = tuple[tuple[str, str], ...]


@dataclass(slots=True)
class Histogram:
    buckets: list[float]
    counts: list[int]
    total: float = 0.0
    count: int = 0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, value)] += 1
        self.total += value
        self.count += 1


@dataclass(slots=True)
class Family:
    name: str
    description: str
    kind: str  # "COUNTER" | "GAUGE" | "HISTOGRAM"
    values: dict[Labels, float] = field(default_factory=dict)
    histograms: dict[Labels, Histogram] = field(default_factory=dict)


class CustomMetrics:
    """Thread-safe registry of model-defined metric families."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._families: dict[str, Family] = {}

    def family(self, name: str, description: str, kind: str) -> None:
        with self._lock:
            self._families.setdefault(name, Family(name, description, kind))

    def metric(self, family: str, labels: dict[str, str], buckets: list[float] | None) -> None:
        key = tuple(sorted(labels.items()))
        with self._lock:
            fam = self._families.get(family)
            if fam is None:
                return
            if fam.kind == "HISTOGRAM":
                b = sorted(buckets or [])
                fam.histograms.setdefault(key, Histogram(b, [0] * (len(b) + 1)))
            else:
                fam.values.setdefault(key, 0.0)

    def update(self, family: str, labels: dict[str, str], op: str, value: float) -> None:
        key = tuple(sorted(labels.items()))
        with self._lock:
            fam = self._families.get(family)
            if fam is None:
                return
            if op == "observe":
                hist = fam.histograms.get(key)
                if hist is not None:
                    hist.observe(value)
            elif op == "increment":
                fam.values[key] = fam.values.get(key, 0.0) + value
            elif op == "set":
                fam.values[key] = value

    def snapshot(self) -> list[Family]:
        """A consistent copy for one scrape."""
        with self._lock:
            return [
                Family(f.name, f.description, f.kind, dict(f.values),
                       {k: Histogram(list(h.buckets), list(h.counts), h.total, h.count)
                        for k, h in f.histograms.items()})
                for f in self._families.values()
            ]
