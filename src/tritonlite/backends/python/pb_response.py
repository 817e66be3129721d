"""Responses: ``InferenceResponse``, ``InferenceResponseSender`` and ``ResponseIterator``.

The sender enforces Triton's rules, checked in this order on every ``send``:

1. ``flags`` is 0 or ``TRITONSERVER_RESPONSE_COMPLETE_FINAL``;
2. with ``flags == 0`` a response must be given;
3. a non-decoupled model sends at most one response, and not a bare FINAL before it;
4. nothing may be sent once FINAL was sent (or the server closed the sender).

The error texts are Triton's (python_backend ``src/response_sender.cc``).
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence

from tritonlite.backends.python.pb_errors import TritonError, TritonModelException
from tritonlite.backends.python.pb_tensor import Tensor

__all__ = [
    "TRITONSERVER_RESPONSE_COMPLETE_FINAL",
    "InferenceResponse",
    "InferenceResponseSender",
    "ResponseIterator",
]

TRITONSERVER_RESPONSE_COMPLETE_FINAL = 1


def _parameters_to_json(parameters: object) -> str:
    """Validate request/response parameters as Triton does and dump them to JSON."""
    if parameters is None:
        return "{}"
    if not isinstance(parameters, dict):
        raise TritonModelException(f"Expect dict, got {type(parameters)}")
    for key, value in parameters.items():
        if not isinstance(key, str):
            raise TritonModelException(
                f"Expect parameters keys to have type str, found type {type(key)}"
            )
        if not isinstance(value, (bool, int, str)):
            raise TritonModelException(
                f"Expect parameters values to have type bool/int/str, found type {type(value)}"
            )
    return json.dumps(parameters)


def _check_tensors(tensors: Iterable[object], what: str) -> list[Tensor]:
    out: list[Tensor] = []
    for tensor in tensors:
        if not isinstance(tensor, Tensor):
            raise TypeError(
                f"{what} must be a list of pb_utils.Tensor, found {type(tensor).__name__}"
            )
        out.append(tensor)
    return out


class InferenceResponse:
    """The answer to one request: output tensors, or an error.

    ``InferenceResponse(output_tensors=[...])`` for success;
    ``InferenceResponse(error=TritonError("..."))`` to fail this request only (the output
    tensors are then ignored). ``parameters`` is a dict of str -> bool/int/str sent back to
    the client (python_backend main; Triton 2.51 does not accept this keyword).
    """

    __slots__ = ("_error", "_output_tensors", "_parameters")

    _output_tensors: list[Tensor]
    _error: TritonError | None
    _parameters: str

    def __init__(
        self,
        output_tensors: Sequence[Tensor] = (),
        error: TritonError | None = None,
        parameters: dict[str, bool | int | str] | None = None,
    ) -> None:
        """Create a response from output tensors, an optional error and parameters."""
        if error is not None and not isinstance(error, TritonError):
            raise TypeError(
                f"InferenceResponse(): 'error' must be a pb_utils.TritonError or None, got "
                f"{type(error).__name__}"
            )
        self._output_tensors = _check_tensors(output_tensors, "output_tensors")
        self._error = error
        self._parameters = _parameters_to_json(parameters)

    @classmethod
    def _from_server(
        cls,
        output_tensors: list[Tensor],
        error: TritonError | None = None,
        parameters_json: str = "{}",
    ) -> InferenceResponse:
        """Build a BLS response from already validated parts (no checks, no copies)."""
        response = cls.__new__(cls)
        response._output_tensors = output_tensors
        response._error = error
        response._parameters = parameters_json
        return response

    def output_tensors(self) -> list[Tensor]:
        """The output tensors (a new list each call)."""
        return list(self._output_tensors)

    def has_error(self) -> bool:
        """Whether this response carries an error."""
        return self._error is not None

    def error(self) -> TritonError | None:
        """The error, or None."""
        return self._error

    def parameters(self) -> str:
        """The response parameters as a JSON string (``"{}"`` when none)."""
        return self._parameters

    def _prune_outputs(self, requested: Collection[str]) -> None:
        """Drop outputs the client did not request (Triton prunes in place on send)."""
        self._output_tensors = [t for t in self._output_tensors if t.name() in requested]

    def __repr__(self) -> str:
        names = [t.name() for t in self._output_tensors]
        return f"InferenceResponse(output_tensors={names}, error={self._error!r})"


SendFn = Callable[[InferenceResponse | None, int], None]


class InferenceResponseSender:
    """Sends responses for one request; get it with ``request.get_response_sender()``.

    Decoupled models call ``send(response)`` any number of times, then
    ``send(flags=TRITONSERVER_RESPONSE_COMPLETE_FINAL)`` (with or without a last response)
    exactly once. Non-decoupled models may use it for their single response. Safe to use
    from other threads, also after ``execute`` has returned.
    """

    def __init__(
        self,
        send_fn: SendFn,
        is_cancelled_fn: Callable[[], bool],
        *,
        decoupled: bool = True,
        requested_output_names: Collection[str] | None = None,
    ) -> None:
        """Server side: ``send_fn(response_or_None, flags)`` delivers; see the module doc.

        ``decoupled=False`` turns on the single-response rules; ``requested_output_names``
        (when given) prunes other outputs from each sent response, as Triton does.
        """
        self._send_fn = send_fn
        self._is_cancelled_fn = is_cancelled_fn
        self._decoupled = decoupled
        self._requested = requested_output_names
        # _send_lock spans check-and-send, so responses leave in the order their checks
        # passed; _state_lock guards the counters only, so the stub may close or query the
        # sender (even while holding a lock its send_fn needs) without a lock-order deadlock.
        self._send_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._closed = False
        self._sent = 0

    def send(self, response: InferenceResponse | None = None, flags: int = 0) -> None:
        """Send ``response`` and/or ``flags`` (0 or ``TRITONSERVER_RESPONSE_COMPLETE_FINAL``).

        Raises ``TritonModelException`` on a bad flag, a missing response with flags 0,
        a second response from a non-decoupled model, or anything after FINAL.
        """
        if response is not None and not isinstance(response, InferenceResponse):
            raise TypeError(
                "send(): 'response' must be a pb_utils.InferenceResponse or None, got "
                f"{type(response).__name__}"
            )
        if flags != TRITONSERVER_RESPONSE_COMPLETE_FINAL and flags != 0:
            raise TritonModelException("Unable to send response. Unsupported flag provided.")
        if flags == 0 and response is None:
            raise TritonModelException(
                "Inference Response object must be provided when the response flags is set to zero."
            )
        with self._send_lock:
            with self._state_lock:
                self._update_state(response, flags)
            if response is not None and self._requested is not None:
                response._prune_outputs(self._requested)
            self._send_fn(response, flags)

    def is_cancelled(self) -> bool:
        """Whether the client cancelled the request (finish with FINAL anyway)."""
        return self._is_cancelled_fn()

    def _update_state(self, response: InferenceResponse | None, flags: int) -> None:
        if not self._decoupled:
            if response is not None and self._sent > 0:
                raise TritonModelException(
                    "Unable to send response. Non-decoupled model cannot send more than one "
                    "response."
                )
            if (
                response is None
                and flags == TRITONSERVER_RESPONSE_COMPLETE_FINAL
                and (self._sent == 0)
            ):
                raise TritonModelException(
                    "Unable to send response. Non-decoupled model cannot send complete final "
                    "before sending a response."
                )
        if self._closed:
            raise TritonModelException("Unable to send response. Response sender has been closed.")
        if flags == TRITONSERVER_RESPONSE_COMPLETE_FINAL:
            self._closed = True
        self._sent += 1

    def _record_returned_response(self, response: InferenceResponse) -> None:
        """Stub: account for a response returned from ``execute`` (counts as FINAL).

        Raises the same errors as ``send`` when the model already answered through this
        sender.
        """
        with self._state_lock:
            self._update_state(response, TRITONSERVER_RESPONSE_COMPLETE_FINAL)

    def _close(self) -> None:
        """Stub: refuse further sends (e.g. after ``execute`` failed)."""
        with self._state_lock:
            self._closed = True

    def _is_closed(self) -> bool:
        """Stub: whether FINAL was sent or the sender was closed."""
        with self._state_lock:
            return self._closed


class _DetachedResponseSender(InferenceResponseSender):
    """The sender of a request the model built itself (BLS): it cannot send."""

    def __init__(self) -> None:
        # _update_state always raises, so the send function is never reached.
        super().__init__(lambda response, flags: None, lambda: False)

    def _update_state(self, response: InferenceResponse | None, flags: int) -> None:
        raise TritonModelException(
            "Unable to send response. Response sender has no reference to the decoupled "
            "state of the model."
        )


class ResponseIterator:
    """The responses of a decoupled BLS call (``request.exec(decoupled=True)``).

    Iterating blocks until the next response arrives and stops after the final one,
    which may be an empty response (no output tensors). Once finished, iterating again
    replays the responses. ``cancel()`` asks the server to cancel the BLS request.

    In unit tests, ``ResponseIterator([resp1, resp2])`` yields the given responses.
    """

    def __init__(
        self,
        responses: Iterable[InferenceResponse] | None = None,
        *,
        cancel_fn: Callable[[], None] | None = None,
    ) -> None:
        """Pre-filled with ``responses`` (the last one is final), or fed by the server."""
        self._cond = threading.Condition()
        self._pending: deque[tuple[InferenceResponse, bool]] = deque()
        self._received: list[InferenceResponse] = []
        self._finished = False
        self._idx = 0
        self._cancel_fn = cancel_fn
        if responses is not None:
            items = list(responses)
            if not items:
                self._finished = True
            for i, item in enumerate(items):
                self._put(item, final=i == len(items) - 1)

    def __iter__(self) -> Iterator[InferenceResponse]:
        """Iterate; after the final response, a new iteration starts from the first."""
        with self._cond:
            if self._finished and self._idx >= len(self._received):
                self._idx = 0
        return self

    def __next__(self) -> InferenceResponse:
        """The next response; blocks until the server delivers it."""
        with self._cond:
            if self._finished:
                if self._idx < len(self._received):
                    self._idx += 1
                    return self._received[self._idx - 1]
                raise StopIteration
            while not self._pending:
                self._cond.wait()
            response, final = self._pending.popleft()
            self._received.append(response)
            if final:
                self._finished = True
                self._idx = len(self._received)
            return response

    def cancel(self) -> None:
        """Ask the server to cancel the BLS request (no-op when already finished)."""
        with self._cond:
            finished = self._finished
        if not finished and self._cancel_fn is not None:
            self._cancel_fn()

    def _put(self, response: InferenceResponse | None, *, final: bool) -> None:
        """Server: deliver one response; ``None`` with ``final`` is an empty final response."""
        item = response if response is not None else InferenceResponse._from_server([])
        with self._cond:
            self._pending.append((item, final))
            self._cond.notify_all()

    def __repr__(self) -> str:
        state = "finished" if self._finished else "open"
        return f"<ResponseIterator {state}, {len(self._received)} received>"
