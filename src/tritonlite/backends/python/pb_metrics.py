"""Custom metrics: ``MetricFamily`` and ``Metric``, validated as Triton validates them.

Values are kept in this process (so ``value()`` works in unit tests) and every creation
and update is also passed to the optional handler the stub installs with
``_set_metrics_handler``, which forwards them to the server's ``/metrics`` exporter.

Rules (Triton core ``metric_family.cc`` and prometheus-cpp): names match
``[a-zA-Z_:][a-zA-Z0-9_:]*`` and do not start with ``__``; label names match
``[a-zA-Z_][a-zA-Z0-9_]*`` (``le`` is reserved for histograms) and label values are
strings; a name keeps the kind it was first created with; histograms need strictly
increasing buckets, other kinds take none; counters only grow and cannot be set; only
histograms observe; a histogram has no single ``value()``. Two metrics of one family
with the same labels share one value, as in Triton.
"""

from __future__ import annotations

import enum
import itertools
import math
import re
import threading
import weakref
from typing import Protocol, SupportsFloat

from tritonlite.backends.python.pb_errors import TritonModelException

__all__ = ["Metric", "MetricFamily", "MetricKind", "MetricsHandler"]

_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


class MetricKind(enum.IntEnum):
    """The kind of a metric family (values as in python_backend)."""

    COUNTER = 0
    GAUGE = 1
    HISTOGRAM = 2


class MetricsHandler(Protocol):
    """Where the stub forwards metric events (e.g. to the server's exporter)."""

    def family_created(self, name: str, description: str, kind: MetricKind) -> None:
        """A family was created (may repeat for the same name and kind)."""
        ...

    def metric_created(
        self, family_name: str, labels: dict[str, str], buckets: list[float] | None
    ) -> None:
        """A metric (a label set of a family) was created."""
        ...

    def metric_update(
        self, family_name: str, labels: dict[str, str], op: str, value: float
    ) -> None:
        """``op`` is "increment", "set" or "observe"; called after the local update."""
        ...


_handler: MetricsHandler | None = None
_lock = threading.Lock()
_family_kinds: dict[str, MetricKind] = {}


def _set_metrics_handler(handler: MetricsHandler | None) -> MetricsHandler | None:
    """Install (or with None, remove) the metrics handler; returns the previous one."""
    global _handler
    previous, _handler = _handler, handler
    return previous


def _valid_name(name: str, pattern: re.Pattern[str]) -> bool:
    return not name.startswith("__") and pattern.fullmatch(name) is not None


class _MetricState:
    """The value behind one (family, labels) pair, shared by all Metric objects for it."""

    def __init__(self, buckets: list[float] | None) -> None:
        self.value = 0.0
        self.buckets = buckets
        self.bucket_counts = [0] * (len(buckets) + 1) if buckets is not None else []
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        assert self.buckets is not None
        index = len(self.buckets)
        for i, bound in enumerate(self.buckets):
            if value <= bound:
                index = i
                break
        self.bucket_counts[index] += 1
        self.sum += value
        self.count += 1


_states: weakref.WeakValueDictionary[tuple[str, tuple[tuple[str, str], ...]], _MetricState]
_states = weakref.WeakValueDictionary()


def _number(value: object, what: str) -> float:
    """A float from an int, float or numpy number (not from a str, unlike ``float()``)."""
    if isinstance(value, (str, bytes)) or not (
        hasattr(value, "__float__") or hasattr(value, "__index__")
    ):
        raise TypeError(f"{what}: value must be a number, got {type(value).__name__}")
    return float(value)  # type: ignore[arg-type]


class Metric:
    """One labelled time series of a MetricFamily; create it with ``family.Metric(...)``."""

    __slots__ = ("__weakref__", "_family", "_labels", "_state")

    def __init__(self, family: MetricFamily, labels: dict[str, str], state: _MetricState) -> None:
        """Internal: use ``MetricFamily.Metric(labels=..., buckets=...)``."""
        self._family = family
        self._labels = labels
        self._state = state

    def _kind_error(self, action: str, operation: str) -> TritonModelException:
        kind = self._family._kind.name
        return TritonModelException(
            f"Failed to {action} metric value: TRITONSERVER_METRIC_KIND_{kind} does not "
            f"support {operation}"
        )

    def _notify(self, op: str, value: float) -> None:
        handler = _handler
        if handler is not None:
            handler.metric_update(self._family._name, dict(self._labels), op, value)

    def increment(self, value: SupportsFloat) -> None:
        """Add ``value`` (counters: must be >= 0; gauges: any sign). Not for histograms."""
        number = _number(value, "increment()")
        kind = self._family._kind
        if kind is MetricKind.HISTOGRAM:
            raise self._kind_error("increment", "Increment")
        if kind is MetricKind.COUNTER and number < 0.0:
            raise TritonModelException(
                "Failed to increment metric value: TRITONSERVER_METRIC_KIND_COUNTER can only "
                "be incremented monotonically by non-negative values."
            )
        with _lock:
            self._state.value += number
        self._notify("increment", number)

    def set(self, value: SupportsFloat) -> None:
        """Set a gauge to ``value``. Not for counters or histograms."""
        number = _number(value, "set()")
        if self._family._kind is not MetricKind.GAUGE:
            raise self._kind_error("set", "Set")
        with _lock:
            self._state.value = number
        self._notify("set", number)

    def observe(self, value: SupportsFloat) -> None:
        """Record ``value`` in a histogram. Not for counters or gauges."""
        number = _number(value, "observe()")
        if self._family._kind is not MetricKind.HISTOGRAM:
            raise self._kind_error("observe", "Observe")
        with _lock:
            self._state.observe(number)
        self._notify("observe", number)

    def value(self) -> float:
        """The current value of a counter or gauge (histograms have none)."""
        if self._family._kind is MetricKind.HISTOGRAM:
            raise self._kind_error("get", "Value")
        with _lock:
            return self._state.value

    def __repr__(self) -> str:
        return f"<Metric {self._family._name}{self._labels}>"


# The method MetricFamily.Metric shadows the class name inside MetricFamily's body.
_Metric = Metric


class MetricFamily:
    """A named custom metric of one kind: ``MetricFamily(name, description, kind)``.

    ``kind`` is ``MetricFamily.COUNTER``, ``GAUGE`` or ``HISTOGRAM``. Create its labelled
    series with ``family.Metric(labels={"k": "v"})`` (histograms also take
    ``buckets=[...]``). The metrics appear on the server's ``/metrics`` endpoint.
    """

    COUNTER = MetricKind.COUNTER
    GAUGE = MetricKind.GAUGE
    HISTOGRAM = MetricKind.HISTOGRAM

    __slots__ = ("_description", "_kind", "_name")

    def __init__(self, name: str, description: str, kind: MetricKind) -> None:
        """Create (or join, with the same kind) the family called ``name``."""
        if not isinstance(name, str) or not isinstance(description, str):
            raise TypeError("MetricFamily(): name and description must be str")
        if not isinstance(kind, MetricKind):
            raise TypeError("MetricFamily(): kind must be MetricFamily.COUNTER, GAUGE or HISTOGRAM")
        if not _valid_name(name, _METRIC_NAME):
            raise TritonModelException("Error when creating MetricFamily: Invalid metric name")
        with _lock:
            existing = _family_kinds.setdefault(name, kind)
        if existing is not kind:
            raise TritonModelException(
                "Error when creating MetricFamily: Family name already exists with different type"
            )
        self._name = name
        self._description = description
        self._kind = kind
        handler = _handler
        if handler is not None:
            handler.family_created(name, description, kind)

    def Metric(
        self,
        labels: dict[str, str] | None = None,
        buckets: list[float] | None = None,
    ) -> _Metric:
        """A metric of this family for ``labels`` (str -> str); ``buckets`` (a list of
        strictly increasing upper bounds) is required for histograms and refused otherwise.
        """
        if labels is not None and not isinstance(labels, dict):
            raise TritonModelException("Failed to create metric. Labels must be a dictionary.")
        bucket_list: list[float] | None = None
        if buckets is not None:
            if not isinstance(buckets, list):
                raise TritonModelException("Failed to create metric. Buckets must be a list.")
            if self._kind is not MetricKind.HISTOGRAM:
                raise TritonModelException("Failed to create metric. Unexpected buckets found.")
            bucket_list = [_number(b, "Metric(buckets=...)") for b in buckets]
        elif self._kind is MetricKind.HISTOGRAM:
            raise TritonModelException("Failed to create metric. Missing required buckets.")
        label_map: dict[str, str] = {}
        for key, value in (labels or {}).items():
            if not isinstance(value, str):
                raise TritonModelException(
                    "Error when creating Metric: attempt to access JSON non-string as string"
                )
            key = str(key)
            if not _valid_name(key, _LABEL_NAME) or (
                self._kind is MetricKind.HISTOGRAM and key == "le"
            ):
                raise TritonModelException("Error when creating Metric: Invalid label name")
            label_map[key] = value
        if bucket_list is not None and (
            any(math.isnan(b) for b in bucket_list)
            or any(not a < b for a, b in itertools.pairwise(bucket_list))
        ):
            raise TritonModelException(
                "Error when creating Metric: Bucket Boundaries must be strictly sorted"
            )
        key_ = (self._name, tuple(sorted(label_map.items())))
        with _lock:
            state = _states.get(key_)
            if state is None:
                state = _MetricState(bucket_list)
                _states[key_] = state
        handler = _handler
        if handler is not None:
            handler.metric_created(self._name, dict(label_map), bucket_list)
        return _Metric(self, label_map, state)

    def __repr__(self) -> str:
        return f"MetricFamily({self._name!r}, {self._description!r}, {self._kind.name})"
