"""Request parameters: the reserved ones Triton lifts into request fields, custom ones that
reach the model, and HTTP/gRPC header forwarding.

Each frontend reads a parameter's value from its wire format (protobuf ``InferParameter``
oneof, JSON value) and words its own type errors; what the values *mean* is here, once:

* ``sequence_id`` is a correlation id: an unsigned 64-bit integer or a string. 0 / ""
  means none. Any of ``sequence_id``, ``sequence_start``, ``sequence_end`` makes the
  request carry :class:`~tritonlite.core.types.SequenceInfo`.
* ``priority`` (uint64) and ``timeout`` (microseconds, uint64) go to the request fields.
* Keys starting with ``triton_`` are reserved for Triton (:data:`TRITON_PREFIX`).
* Everything else is a custom parameter the model sees in ``request.parameters()``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from tritonlite.core.types import InferenceRequest, ParamValue, SequenceInfo

__all__ = [
    "TRITON_PREFIX",
    "UINT64_MASK",
    "RequestParameters",
    "forward_headers",
]

UINT64_MASK = (1 << 64) - 1
TRITON_PREFIX = "triton_"


@dataclass(slots=True)
class RequestParameters:
    """The parameters of one request as they are decoded, applied with :meth:`apply`."""

    sequence: SequenceInfo | None = None
    priority: int = 0
    timeout_us: int = 0
    custom: dict[str, ParamValue] = field(default_factory=dict)

    def _sequence(self) -> SequenceInfo:
        if self.sequence is None:
            self.sequence = SequenceInfo()
        return self.sequence

    def set_correlation_id(self, value: int | str) -> None:
        """An integer id is taken as uint64 (a negative int64 wraps, as in Triton)."""
        self._sequence().correlation_id = value & UINT64_MASK if isinstance(value, int) else value

    def set_sequence_start(self, flag: bool) -> None:
        self._sequence().start = flag

    def set_sequence_end(self, flag: bool) -> None:
        self._sequence().end = flag

    def set_priority(self, value: int) -> None:
        self.priority = value & UINT64_MASK

    def set_timeout(self, value: int) -> None:
        self.timeout_us = value & UINT64_MASK

    def add_custom(self, key: str, value: ParamValue) -> None:
        self.custom[key] = value

    def apply(self, request: InferenceRequest) -> None:
        request.sequence = self.sequence
        request.priority = self.priority
        request.timeout_us = self.timeout_us
        request.parameters = self.custom


def forward_headers(
    headers: Iterable[tuple[str, str]], pattern: re.Pattern[str] | None
) -> dict[str, str]:
    """The headers whose name matches ``pattern`` anywhere (RE2 ``PartialMatch``), as
    string parameters. Triton 2.51 forwards any matching header, reserved names
    included, so no name is refused here."""
    if pattern is None:
        return {}
    return {name: value for name, value in headers if pattern.search(name)}
