"""``InferenceRequest`` (what ``execute`` receives, and the BLS request) and its helpers.

The server builds requests with ``InferenceRequest._from_server``; a model builds BLS
requests with the public constructor and runs them with ``exec`` / ``async_exec``, which
go through the handler the worker stub installed (see ``pb_server``).
"""

from __future__ import annotations

import enum
import operator
import threading
from collections.abc import Awaitable, Callable, Sequence

from tritonlite.backends.python.pb_errors import TritonModelException
from tritonlite.backends.python.pb_response import (
    InferenceResponse,
    InferenceResponseSender,
    ResponseIterator,
    _DetachedResponseSender,
    _parameters_to_json,
)
from tritonlite.backends.python.pb_server import _server_handler
from tritonlite.backends.python.pb_tensor import Tensor

__all__ = [
    "TRITONSERVER_MEMORY_CPU",
    "TRITONSERVER_MEMORY_GPU",
    "TRITONSERVER_REQUEST_FLAG_SEQUENCE_END",
    "TRITONSERVER_REQUEST_FLAG_SEQUENCE_START",
    "TRITONSERVER_REQUEST_RELEASE_ALL",
    "TRITONSERVER_REQUEST_RELEASE_RESCHEDULE",
    "InferenceRequest",
    "InferenceTrace",
    "MemoryType",
    "PreferredMemory",
]

TRITONSERVER_REQUEST_FLAG_SEQUENCE_START = 1
TRITONSERVER_REQUEST_FLAG_SEQUENCE_END = 2
TRITONSERVER_REQUEST_RELEASE_ALL = 1
TRITONSERVER_REQUEST_RELEASE_RESCHEDULE = 2

_UINT64_MAX = 2**64 - 1


class MemoryType(enum.IntEnum):
    """Where BLS outputs should be placed (values as in Triton's python_backend)."""

    TRITONSERVER_MEMORY_GPU = 0
    TRITONSERVER_MEMORY_CPU = 1


TRITONSERVER_MEMORY_GPU = MemoryType.TRITONSERVER_MEMORY_GPU
TRITONSERVER_MEMORY_CPU = MemoryType.TRITONSERVER_MEMORY_CPU


class PreferredMemory:
    """Preferred placement of BLS output tensors: ``PreferredMemory(TRITONSERVER_MEMORY_CPU)``.

    tritonlite runs on CPU only; GPU placement is accepted and ignored.
    """

    __slots__ = ("_device_id", "_type")

    def __init__(
        self, preferred_memory_type: MemoryType | int, preferred_device_id: int = 0
    ) -> None:
        """Prefer memory of ``preferred_memory_type`` on device ``preferred_device_id``."""
        try:
            self._type = MemoryType(preferred_memory_type)
        except ValueError:
            raise TypeError(
                "PreferredMemory(): preferred_memory_type must be TRITONSERVER_MEMORY_CPU or "
                "TRITONSERVER_MEMORY_GPU"
            ) from None
        self._device_id = int(preferred_device_id)

    @property
    def preferred_memory_type(self) -> MemoryType:
        """The preferred memory type (tritonlite extension; Triton has no getter)."""
        return self._type

    @property
    def preferred_device_id(self) -> int:
        """The preferred device id (tritonlite extension; Triton has no getter)."""
        return self._device_id


class InferenceTrace:
    """The trace of a request; ``get_context()`` is its trace context string, or None."""

    __slots__ = ("_context",)

    def __init__(self) -> None:
        """An empty trace (no context)."""
        self._context: str | None = None

    @classmethod
    def _with_context(cls, context: str | None) -> InferenceTrace:
        """Server side: a trace carrying ``context`` (without one: the shared empty
        trace, which nothing can change)."""
        if not context:
            return _NO_TRACE
        trace = cls()
        trace._context = context
        return trace

    def get_context(self) -> str | None:
        """The trace context (e.g. OpenTelemetry headers as JSON), or None."""
        return self._context


_NO_TRACE = InferenceTrace()
# Guards the first get_response_sender() of a request from the server, which makes the
# sender (two threads of a model must not get two senders for one request).
_SENDER_LOCK = threading.Lock()


class InferenceRequest:
    """An inference request: what ``execute`` receives, or a BLS request a model builds.

    BLS example::

        request = pb_utils.InferenceRequest(
            model_name="other", inputs=[pb_utils.Tensor("IN", data)],
            requested_output_names=["OUT"])
        response = request.exec()

    ``correlation_id`` (int or str) and ``flags`` (``TRITONSERVER_REQUEST_FLAG_SEQUENCE_*``)
    address a sequence model; ``timeout`` is in microseconds; ``parameters`` is a dict of
    str -> bool/int/str.
    """

    __slots__ = (
        "_correlation_id",
        "_flags",
        "_inputs",
        "_is_cancelled_fn",
        "_model_name",
        "_model_version",
        "_parameters",
        "_preferred_memory",
        "_release_flags",
        "_request_id",
        "_requested_output_names",
        "_response_sender",
        "_sender_factory",
        "_timeout",
        "_trace",
    )

    _request_id: str
    _correlation_id: int | str
    _inputs: list[Tensor]
    _requested_output_names: list[str]
    _model_name: str
    _model_version: int
    _flags: int
    _timeout: int
    _preferred_memory: PreferredMemory | None
    _trace: InferenceTrace
    _parameters: str
    _release_flags: int
    _response_sender: InferenceResponseSender | None  # None: made on first use
    _sender_factory: Callable[[], InferenceResponseSender] | None
    _is_cancelled_fn: Callable[[], bool] | None

    def __init__(
        self,
        request_id: str = "",
        correlation_id: int | str = 0,
        inputs: Sequence[Tensor] = (),
        requested_output_names: Sequence[str] = (),
        model_name: str = "",
        model_version: int = -1,
        flags: int = 0,
        timeout: int = 0,
        preferred_memory: PreferredMemory | None = None,
        trace: InferenceTrace | None = None,
        parameters: dict[str, bool | int | str] | None = None,
    ) -> None:
        """Build a BLS request for ``model_name`` (``model_version`` -1 = server's choice).

        ``preferred_memory`` None means the server's default placement (CPU here).
        """
        # Triton's binding takes std::string, so bytes work too (python_backend's BLS example
        # passes a BYTES tensor element as model_name): decode them as UTF-8.
        request_id = _text(request_id, "request_id")
        model_name = _text(model_name, "model_name")
        if isinstance(correlation_id, int):
            if not 0 <= correlation_id <= _UINT64_MAX:
                raise TritonModelException(
                    "Correlation ID must be an unsigned 64-bit integer or a string, got "
                    f"{correlation_id}"
                )
            correlation_id = int(correlation_id)
        elif not isinstance(correlation_id, str):
            raise TritonModelException("Correlation ID must be integer or string")
        checked_inputs: list[Tensor] = []
        for tensor in inputs:
            if tensor is None:
                raise TritonModelException(
                    f"Input tensor for request with id '{request_id}' and model name "
                    f"'{model_name}' should not be empty."
                )
            if not isinstance(tensor, Tensor):
                raise TypeError(
                    f"inputs must be a list of pb_utils.Tensor, found {type(tensor).__name__}"
                )
            checked_inputs.append(tensor)
        names: list[str] = []
        for raw_name in requested_output_names:
            if not isinstance(raw_name, (str, bytes)):
                raise TypeError(
                    "requested_output_names must be a list of str, found "
                    f"{type(raw_name).__name__}"
                )
            name = _text(raw_name, "requested_output_names")
            if name == "":
                raise TritonModelException(
                    f"Requested output name for request with id '{request_id}' and model "
                    f"name '{model_name}' should not be empty."
                )
            if name not in names:
                names.append(name)
        if preferred_memory is not None and not isinstance(preferred_memory, PreferredMemory):
            raise TypeError("preferred_memory must be a pb_utils.PreferredMemory")
        if trace is not None and not isinstance(trace, InferenceTrace):
            raise TypeError("trace must be an InferenceTrace")
        self._request_id = request_id
        self._correlation_id = correlation_id
        self._inputs = checked_inputs
        self._requested_output_names = names
        self._model_name = model_name
        self._model_version = operator.index(model_version)
        self._flags = _unsigned(flags, "flags")
        self._timeout = _unsigned(timeout, "timeout")
        self._preferred_memory = preferred_memory
        self._trace = trace if trace is not None else InferenceTrace()
        self._parameters = _parameters_to_json(parameters)
        self._release_flags = TRITONSERVER_REQUEST_RELEASE_ALL
        self._response_sender = _DetachedResponseSender()
        self._sender_factory = None
        self._is_cancelled_fn = None

    @classmethod
    def _from_server(
        cls,
        *,
        inputs: list[Tensor],
        request_id: str,
        correlation_id: int | str,
        flags: int,
        parameters_json: str,
        requested_output_names: list[str],
        timeout: int,
        model_name: str,
        model_version: int,
        is_cancelled: Callable[[], bool] | None,
        trace_context: str | None = None,
        sender_factory: Callable[[], InferenceResponseSender] | None = None,
    ) -> InferenceRequest:
        """Stub side: a request for ``execute`` from validated parts (no checks, no copies).

        ``requested_output_names`` should list every config output when the client asked
        for none (Triton does so). ``sender_factory`` makes the request's response
        sender on the first ``get_response_sender()`` (most models never ask, and a sender
        per request costs the worker about a microsecond); without one, the sender is a
        detached one, as for a request a model builds.
        """
        request = cls.__new__(cls)
        request._request_id = request_id
        request._correlation_id = correlation_id
        request._inputs = inputs
        request._requested_output_names = requested_output_names
        request._model_name = model_name
        request._model_version = model_version
        request._flags = flags
        request._timeout = timeout
        request._preferred_memory = None
        request._trace = InferenceTrace._with_context(trace_context)
        request._parameters = parameters_json
        request._release_flags = TRITONSERVER_REQUEST_RELEASE_ALL
        request._response_sender = None
        request._sender_factory = sender_factory
        request._is_cancelled_fn = is_cancelled
        return request

    def inputs(self) -> list[Tensor]:
        """All input tensors, including injected sequence control tensors (a new list)."""
        return list(self._inputs)

    def request_id(self) -> str:
        """The client's request id ("" when none was sent)."""
        return self._request_id

    def correlation_id(self) -> int | str:
        """The sequence's correlation id: an int (0 outside a sequence) or a str."""
        return self._correlation_id

    def flags(self) -> int:
        """Sequence flags: ``TRITONSERVER_REQUEST_FLAG_SEQUENCE_START`` (1) / ``_END`` (2)."""
        return self._flags

    def set_flags(self, flags: int) -> None:
        """Set the sequence flags (for BLS requests)."""
        self._flags = _unsigned(flags, "flags")

    def timeout(self) -> int:
        """The request timeout in microseconds (0 = none)."""
        return self._timeout

    def parameters(self) -> str:
        """The request parameters as a JSON string; use ``json.loads`` to get a dict."""
        return self._parameters

    def requested_output_names(self) -> set[str]:
        """Names of the outputs to return (all config outputs if the client named none)."""
        return set(self._requested_output_names)

    def trace(self) -> InferenceTrace:
        """The request's trace."""
        return self._trace

    def is_cancelled(self) -> bool:
        """Whether the client cancelled the request (e.g. its deadline passed)."""
        return self._is_cancelled_fn() if self._is_cancelled_fn is not None else False

    def get_response_sender(self) -> InferenceResponseSender:
        """The sender for this request's responses (decoupled models; always the same)."""
        sender = self._response_sender
        if sender is None:
            with _SENDER_LOCK:
                sender = self._response_sender
                if sender is None:
                    factory = self._sender_factory
                    sender = factory() if factory is not None else _DetachedResponseSender()
                    self._response_sender = sender
        return sender

    def set_release_flags(self, flags: int) -> None:
        """``TRITONSERVER_REQUEST_RELEASE_RESCHEDULE`` re-queues this request (iterative
        sequences; return None for it from ``execute``); ``..._RELEASE_ALL`` is the default.
        """
        self._release_flags = _unsigned(flags, "flags")

    def exec(self, decoupled: bool = False) -> InferenceResponse | ResponseIterator:
        """Run this BLS request and wait: an InferenceResponse, or a ResponseIterator when
        ``decoupled`` is True. Only valid inside ``execute`` of a model run by a server.
        """
        return _server_handler("BLS (InferenceRequest.exec)").exec(self, bool(decoupled))

    def async_exec(
        self, decoupled: bool = False
    ) -> Awaitable[InferenceResponse | ResponseIterator]:
        """Like ``exec`` but returns an awaitable: ``await request.async_exec()`` inside
        ``async def execute``.
        """
        return _server_handler("BLS (InferenceRequest.async_exec)").async_exec(
            self, bool(decoupled)
        )

    def __repr__(self) -> str:
        names = [t.name() for t in self._inputs]
        return (
            f"InferenceRequest(request_id={self._request_id!r}, "
            f"correlation_id={self._correlation_id!r}, inputs={names}, flags={self._flags})"
        )


def _text(value: object, what: str) -> str:
    """A str argument that also accepts UTF-8 bytes (as pybind11's std::string does)."""
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str, got {type(value).__name__}")
    return value


def _unsigned(value: int, what: str) -> int:
    """An unsigned int argument (numpy integers are fine, as with Triton's bindings)."""
    try:
        number = operator.index(value)
    except TypeError:
        raise TypeError(f"{what} must be an int, got {type(value).__name__}") from None
    if number < 0:
        raise TypeError(f"{what} must not be negative, got {number}")
    return number
