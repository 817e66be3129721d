"""``--metrics-config <setting>=<value>`` (repeatable), as Triton reads it.

Settings (Triton's ``docs/user_guide/metrics.md``):

* ``counter_latencies`` (default true): the cumulative ``nv_inference_*_duration_us``
  counters.
* ``summary_latencies`` (default false): ``nv_inference_*_summary_us`` summaries over a
  sliding window, with ``summary_quantiles="<q>:<error>,..."`` (default
  ``0.5:0.05,0.9:0.01,0.95:0.001,0.99:0.001,0.999:0.000001``).
* ``histogram_latencies`` (default false): ``nv_inference_first_response_histogram_ms``
  with buckets 100, 500, 2000, 5000 ms (newer Triton; 2.51 accepts the setting but has no
  histogram).

Unknown settings are logged and ignored.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from tritonlite.core.settings import parse_bool

__all__ = ["DEFAULT_BUCKETS_MS", "DEFAULT_QUANTILES", "MetricsConfig"]

logger = logging.getLogger(__name__)

DEFAULT_QUANTILES: tuple[tuple[float, float], ...] = (
    (0.5, 0.05),
    (0.9, 0.01),
    (0.95, 0.001),
    (0.99, 0.001),
    (0.999, 0.000001),
)
DEFAULT_BUCKETS_MS: tuple[float, ...] = (100.0, 500.0, 2000.0, 5000.0)


def _bool(setting: str, text: str) -> bool:
    value = parse_bool(text)
    if value is None:
        raise ValueError(f"invalid value for metrics config setting '{setting}': {text}")
    return value


def _quantiles(text: str) -> tuple[tuple[float, float], ...]:
    out = []
    for item in text.split(","):
        quantile, sep, error = item.partition(":")
        if not sep:
            raise ValueError(f"invalid summary_quantiles entry '{item}', expected <q>:<error>")
        out.append((float(quantile), float(error)))
    return tuple(out)


@dataclass(frozen=True, slots=True, kw_only=True)
class MetricsConfig:
    counter_latencies: bool = True
    summary_latencies: bool = False
    summary_quantiles: tuple[tuple[float, float], ...] = DEFAULT_QUANTILES
    histogram_latencies: bool = False
    histogram_buckets_ms: tuple[float, ...] = DEFAULT_BUCKETS_MS

    @classmethod
    def parse(cls, entries: Sequence[str]) -> MetricsConfig:
        """From ``--metrics-config`` values; raises ValueError on a malformed one."""
        values: dict[str, object] = {}
        for entry in entries:
            setting, sep, text = entry.partition("=")
            if not sep:
                raise ValueError(f"invalid metrics config '{entry}', expected <setting>=<value>")
            if setting in ("counter_latencies", "summary_latencies", "histogram_latencies"):
                values[setting] = _bool(setting, text)
            elif setting == "summary_quantiles":
                values[setting] = _quantiles(text)
            else:
                logger.warning("ignoring unknown metrics config setting '%s'", setting)
        return cls(**values)  # type: ignore[arg-type]

    @property
    def observes_latencies(self) -> bool:
        """Whether per-request observations are needed at all."""
        return self.summary_latencies or self.histogram_latencies
