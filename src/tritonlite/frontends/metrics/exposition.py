"""Prometheus text exposition (format 0.0.4) written the way Triton's prometheus-cpp
writes it.

prometheus_client's own ``generate_latest`` renames every counter family to
``<name>_total`` and prints ``1.0`` for 1; Triton's families keep their names
(``nv_inference_request_success``) and print numbers with 16 significant digits (``1``,
``0.4090909090909091``, ``25276518400``). Dashboards and alerts written for Triton query
those names, so this module renders prometheus_client ``Metric`` objects itself: one
``# HELP`` and ``# TYPE`` line per family, then its samples as given, labels sorted by
name except ``quantile``/``le``, which come last, as prometheus-cpp orders them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from prometheus_client.metrics_core import Metric

__all__ = ["CONTENT_TYPE", "format_value", "render"]

CONTENT_TYPE = "text/plain; charset=utf-8"
_LAST = ("quantile", "le")


def format_value(value: float) -> str:
    """A sample value as prometheus-cpp's ``WriteValue`` prints it."""
    if math.isnan(value):
        return "Nan"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if isinstance(value, int) and abs(value) < 2**53:
        return str(value)
    return format(float(value), ".16g")


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels: dict[str, str]) -> str:
    if not labels:
        return ""
    names = sorted(k for k in labels if k not in _LAST) + [k for k in _LAST if k in labels]
    return "{" + ",".join(f'{k}="{_escape(labels[k])}"' for k in names) + "}"


def render(metrics: Iterable[Metric]) -> bytes:
    """The exposition text of ``metrics``."""
    lines: list[str] = []
    for metric in metrics:
        doc = metric.documentation.replace("\\", "\\\\").replace("\n", "\\n")
        lines.append(f"# HELP {metric.name} {doc}")
        lines.append(f"# TYPE {metric.name} {metric.type}")
        for sample in metric.samples:
            lines.append(f"{sample.name}{_labels(sample.labels)} {format_value(sample.value)}")
    lines.append("")
    return "\n".join(lines).encode("utf-8")
