"""How requests of one sequence travel: the two modes of :class:`SequenceClient`.

* ``unary``: one ``ModelInfer`` call per request, like the classic Triton client. Each call
  blocks, so at most one request is in flight.
* ``stream``: one bidirectional ``ModelStreamInfer`` stream (``start_stream`` /
  ``async_stream_infer``); many requests may be in flight and responses come back on
  tritonclient's reader thread.

Both turn every answer into a :class:`Completion` that :meth:`Transport.receive` hands
out; the caller matches completions to requests by request id.
"""

from __future__ import annotations

import queue
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from tritonclient.utils import InferenceServerException

from tritonlite.client.errors import ResponseTimeoutError, StreamClosedError

__all__ = ["TRANSPORTS", "Completion", "Request", "StreamTransport", "Transport", "UnaryTransport"]


@dataclass(frozen=True)
class Request:
    """One request of the sequence, ready to send."""

    request_id: str
    inputs: Sequence[Any]  # tritonclient.grpc.InferInput
    sequence_start: bool = False
    sequence_end: bool = False


@dataclass(frozen=True)
class Completion:
    """The server's answer to one request.

    ``request_id`` is None for an error that arrived in-band on a stream: tritonclient's
    stream callback drops the id of error responses. ``stream_failed`` marks a failure of
    the stream itself (not of one request).
    """

    request_id: str | None
    result: Any | None  # tritonclient.grpc.InferResult
    error: InferenceServerException | None
    received_at: float
    stream_failed: bool = False


class Transport(Protocol):
    """Carries the requests of one sequence to the server and brings back completions."""

    #: How many requests this transport can have in flight at once.
    max_inflight: int

    def send(self, request: Request) -> None:
        """Send one request (blocking in unary mode)."""

    def receive(self, timeout: float | None) -> Completion:
        """The next completion, in arrival order; ResponseTimeoutError after ``timeout``."""

    def close(self, *, cancel: bool = False) -> None:
        """Release the transport; completions not yet received are dropped.

        ``cancel`` also cancels requests still queued on the server, instead of waiting
        for them (a request may wait long in a sequence backlog).
        """


class UnaryTransport:
    """One blocking ``client.infer()`` per request."""

    max_inflight = 1

    def __init__(
        self,
        client: Any,
        model_name: str,
        *,
        model_version: str = "",
        sequence_id: int | str,
        timeout: float | None = None,
        max_inflight: int = 1,
    ) -> None:
        del max_inflight  # each infer() call blocks: one request in flight
        self._client = client
        self._model_name = model_name
        self._model_version = model_version
        self._sequence_id = sequence_id
        self._timeout = timeout
        self._done: deque[Completion] = deque()

    def send(self, request: Request) -> None:
        try:
            result = self._client.infer(
                self._model_name,
                list(request.inputs),
                model_version=self._model_version,
                request_id=request.request_id,
                sequence_id=self._sequence_id,
                sequence_start=request.sequence_start,
                sequence_end=request.sequence_end,
                client_timeout=self._timeout,
            )
        except InferenceServerException as exc:
            self._done.append(Completion(request.request_id, None, exc, time.perf_counter()))
        else:
            self._done.append(Completion(request.request_id, result, None, time.perf_counter()))

    def receive(self, timeout: float | None) -> Completion:
        if not self._done:
            raise RuntimeError("receive() without a request in flight")
        return self._done.popleft()

    def close(self, *, cancel: bool = False) -> None:
        self._done.clear()


class StreamTransport:
    """One ``ModelStreamInfer`` stream carrying every request of the sequence."""

    def __init__(
        self,
        client: Any,
        model_name: str,
        *,
        model_version: str = "",
        sequence_id: int | str,
        timeout: float | None = None,
        max_inflight: int = 8,
    ) -> None:
        del timeout  # the caller bounds each wait in receive()
        if max_inflight < 1:
            raise ValueError(f"max_inflight must be >= 1, got {max_inflight}")
        self.max_inflight = max_inflight
        self._client = client
        self._model_name = model_name
        self._model_version = model_version
        self._sequence_id = sequence_id
        self._completions: queue.SimpleQueue[Completion] = queue.SimpleQueue()
        self._started = False

    def _on_response(self, result: Any, error: InferenceServerException | None) -> None:
        # Runs on tritonclient's stream reader thread: only enqueue.
        now = time.perf_counter()
        if error is None:
            request_id = result.get_response().id
            self._completions.put(Completion(request_id, result, None, now))
        else:
            # In-band errors come with no gRPC status; a failed stream carries one.
            failed = error.status() is not None
            self._completions.put(Completion(None, None, error, now, stream_failed=failed))

    def send(self, request: Request) -> None:
        try:
            if not self._started:
                self._client.start_stream(callback=self._on_response)
                self._started = True
            self._client.async_stream_infer(
                self._model_name,
                list(request.inputs),
                model_version=self._model_version,
                request_id=request.request_id,
                sequence_id=self._sequence_id,
                sequence_start=request.sequence_start,
                sequence_end=request.sequence_end,
            )
        except InferenceServerException as exc:
            raise StreamClosedError(f"cannot send on the stream: {exc.message()}") from exc

    def receive(self, timeout: float | None) -> Completion:
        try:
            return self._completions.get(timeout=timeout)
        except queue.Empty:
            raise ResponseTimeoutError(f"no response on the stream within {timeout} s") from None

    def close(self, *, cancel: bool = False) -> None:
        if self._started:
            self._started = False
            # Without cancel, stop_stream() blocks until every request on the stream
            # has been answered.
            self._client.stop_stream(cancel_requests=cancel)


#: The modes of :class:`~tritonlite.client.sequence.SequenceClient`, by name.
#: Both take ``(client, model_name, *, model_version, sequence_id, timeout, max_inflight)``.
TRANSPORTS: dict[str, type[UnaryTransport] | type[StreamTransport]] = {
    "unary": UnaryTransport,
    "stream": StreamTransport,
}
