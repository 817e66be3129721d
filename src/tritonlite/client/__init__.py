"""A streaming client for sequence models on Triton-compatible servers (gRPC).

``SequenceClient`` opens one sequence (START), sends items in ``unary`` or ``stream`` mode
and closes it (END); results come back in order with per-item latency. The video CLI
``tritonlite-stream`` lives in :mod:`tritonlite.client.video` and needs OpenCV and tqdm,
which this package itself does not import.
"""

from __future__ import annotations

from tritonlite.client.errors import (
    ClientError,
    InferenceError,
    ModelUnavailableError,
    ResponseTimeoutError,
    ServerUnreachableError,
    StreamClosedError,
)
from tritonlite.client.latency import LatencySummary, percentile
from tritonlite.client.sequence import Mode, SequenceClient, SequenceResult
from tritonlite.client.sequence_id import MAX_SEQUENCE_ID, parse_sequence_id, random_sequence_id

__all__ = [
    "MAX_SEQUENCE_ID",
    "ClientError",
    "InferenceError",
    "LatencySummary",
    "Mode",
    "ModelUnavailableError",
    "ResponseTimeoutError",
    "SequenceClient",
    "SequenceResult",
    "ServerUnreachableError",
    "StreamClosedError",
    "parse_sequence_id",
    "percentile",
    "random_sequence_id",
]
