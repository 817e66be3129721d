"""The internal request and response types every frontend decodes into and encodes from.

They know no wire format. A frontend builds an :class:`InferenceRequest`, hands it to
``InferenceServer`` and turns the :class:`InferenceResponse` objects it gets back into its
own protocol. Reserved Triton parameters (``sequence_id``, ``priority``, ``timeout``, ...)
are lifted into typed fields by the frontend codec; ``parameters`` keeps only the custom
ones, which reach the model as ``request.parameters()``.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

from tritonlite.core.errors import InferenceServerError
from tritonlite.core.tensor import Tensor

ParamValue = bool | int | float | str

# Request flags, as TRITONSERVER_REQUEST_FLAG_SEQUENCE_* and pb_utils.
FLAG_SEQUENCE_START = 1
FLAG_SEQUENCE_END = 2


@dataclass(slots=True)
class SequenceInfo:
    """Sequence-batcher fields of a request. ``correlation_id`` is an int (uint64) or str;
    0 / "" means the client sent none."""

    correlation_id: int | str = 0
    start: bool = False
    end: bool = False

    @property
    def flags(self) -> int:
        return (FLAG_SEQUENCE_START if self.start else 0) | (FLAG_SEQUENCE_END if self.end else 0)

    @property
    def has_id(self) -> bool:
        return self.correlation_id not in (0, "")


@dataclass(slots=True)
class RequestedOutput:
    name: str
    parameters: dict[str, ParamValue] = field(default_factory=dict)


@dataclass(slots=True)
class InferenceRequest:
    """One inference request as the core sees it.

    ``model_version`` is the version as the client spelled it ("" = latest ready version).
    ``requested_outputs`` empty means all outputs of the model. ``timeout_us`` 0 means
    none. ``priority`` 0 means default. ``layout``, when a frontend sets it, is equal
    for two requests only if their inputs have the same names, datatypes, shapes and
    byte sizes and they ask for the same outputs the same way (see
    ``core.validation.ValidationMemo``, which validates each layout once).
    """

    model_name: str
    inputs: list[Tensor]
    model_version: str = ""
    id: str = ""
    requested_outputs: list[RequestedOutput] = field(default_factory=list)
    parameters: dict[str, ParamValue] = field(default_factory=dict)
    sequence: SequenceInfo | None = None
    priority: int = 0
    timeout_us: int = 0
    layout: Hashable | None = None

    @property
    def flags(self) -> int:
        return self.sequence.flags if self.sequence is not None else 0

    @property
    def correlation_id(self) -> int | str:
        return self.sequence.correlation_id if self.sequence is not None else 0


@dataclass(slots=True)
class InferenceResponse:
    """One response. ``final`` is False only for non-final decoupled responses.

    A response with ``error`` set carries no outputs. A final response with no outputs and
    no error is a flag-only "complete" marker (decoupled models).
    """

    model_name: str
    model_version: str
    id: str = ""
    outputs: list[Tensor] = field(default_factory=list)
    parameters: dict[str, Any] = field(default_factory=dict)
    error: InferenceServerError | None = None
    final: bool = True
    # The model answered with InferenceResponse(error=...): execute() itself succeeded, so
    # Triton's statistics count the request as a success.
    error_is_response: bool = False

    @property
    def is_flag_only(self) -> bool:
        """A final response that carries nothing: a decoupled model's "complete" marker."""
        return (self.final and self.error is None and not self.outputs
                and not self.parameters)


@dataclass(slots=True, frozen=True)
class TensorMetadata:
    name: str
    datatype: str  # protocol name, e.g. "FP32", "BYTES"
    shape: tuple[int, ...]  # -1 for variable dims, incl. the batch dim when max_batch_size > 0


@dataclass(slots=True, frozen=True)
class ModelMetadata:
    name: str
    versions: tuple[str, ...]
    platform: str
    inputs: tuple[TensorMetadata, ...]
    outputs: tuple[TensorMetadata, ...]


@dataclass(slots=True, frozen=True)
class ServerMetadata:
    name: str
    version: str
    extensions: tuple[str, ...]


@dataclass(slots=True, frozen=True)
class ModelIndexEntry:
    """A row of the repository index: state is "READY", "UNAVAILABLE", "LOADING", "UNLOADING"."""

    name: str
    version: str
    state: str
    reason: str = ""


ResponseSink = Callable[[InferenceResponse], None]
"""Called once per response of a request, on the event loop thread; the last has final=True."""


@dataclass(slots=True, eq=False)
class ScheduledRequest:
    """A request on its way through a scheduler to an instance.

    ``inputs`` are the tensors the model will see (the request's plus injected sequence
    control tensors); ``output_names`` the outputs it should return; ``batch_size`` the
    request's batch dimension (1 when max_batch_size is 0).
    """

    request: InferenceRequest
    sink: ResponseSink
    inputs: list[Tensor]
    output_names: tuple[str, ...]
    enqueue_ns: int
    batch_size: int = 1
    queue_ns: int = 0
    # When it arrived, for a scheduler that counts a delay from arrival and measured it
    # (the loop's wait for a CPU taken off, ``scheduling.wake_lag``); 0: ``enqueue_ns``.
    arrival_ns: int = 0
    compute_ns: tuple[int, int, int] = (0, 0, 0)  # its execute's input/infer/output ns
    cancelled: bool = False
    # Set by a scheduler that can take the request back when the model asks for it to be
    # rescheduled (pb_utils TRITONSERVER_REQUEST_RELEASE_RESCHEDULE).
    requeue: Callable[[ScheduledRequest], None] | None = None
