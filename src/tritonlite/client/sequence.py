"""A client for one sequence (a stream of correlated requests) on a Triton-compatible server.

Speaks gRPC through the official ``tritonclient.grpc``, so it works against NVIDIA Triton
and tritonlite alike::

    from tritonlite.client import SequenceClient

    with SequenceClient("localhost:8001", "jpg_model", mode="stream", inflight=8) as seq:
        for result in seq.process({"image": np.array([b64_jpeg], dtype=object)} for ...):
            print(result.index, result.latency_s, result.outputs["output_image"])

Entering the ``with`` block checks the server and the model and sends START; leaving it
sends END. START and END carry an empty value for every model input (Triton checks that
required inputs are present) and are expected to get an empty response.

In ``stream`` mode up to ``inflight`` requests are on the wire at once and results are
released in send order, matched to requests by request id. In ``unary`` mode each item is
one blocking ``ModelInfer`` call. A ``SequenceClient`` is not thread-safe.
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal

import numpy as np
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException, np_to_triton_dtype, triton_to_np_dtype

from tritonlite.client.errors import (
    ClientError,
    InferenceError,
    ModelUnavailableError,
    ResponseTimeoutError,
    ServerUnreachableError,
    StreamClosedError,
    translate_server_exception,
)
from tritonlite.client.sequence_id import (
    MAX_SEQUENCE_ID,
    check_sequence_id,
    parse_sequence_id,
    random_sequence_id,
)
from tritonlite.client.transports import TRANSPORTS, Completion, Request, Transport
from tritonlite.client.window import InOrderWindow

__all__ = [
    "MAX_SEQUENCE_ID",
    "Mode",
    "SequenceClient",
    "SequenceResult",
    "parse_sequence_id",
    "random_sequence_id",
]

logger = logging.getLogger(__name__)

Mode = Literal["unary", "stream"]

#: ``SequenceResult.index`` of the START and END requests.
CONTROL_INDEX = -1


@dataclass(frozen=True)
class SequenceResult:
    """The answer to one request of the sequence.

    ``index`` is the item's position in the sequence, counting from 0 (``-1`` for START
    and END). ``latency_s`` runs from sending the request to receiving its response.
    ``error`` is set (and ``outputs`` empty) when the server answered with an error and
    the caller asked not to raise.
    """

    index: int
    request_id: str
    outputs: dict[str, np.ndarray]
    latency_s: float
    error: InferenceError | None = None

    def output(self, name: str | None = None) -> np.ndarray:
        """One output by name, or the only output when ``name`` is None."""
        if self.error is not None:
            raise self.error
        if name is None:
            if len(self.outputs) != 1:
                raise KeyError(f"expected exactly one output, got {sorted(self.outputs)}")
            return next(iter(self.outputs.values()))
        return self.outputs[name]


class _State(enum.Enum):
    NEW = "new"  # nothing checked yet
    CONNECTED = "connected"  # server live, model ready, metadata known
    OPEN = "open"  # START answered; items may be sent
    CLOSED = "closed"  # END sent (or abandoned) and connection released


@dataclass(frozen=True)
class _InputSpec:
    datatype: str
    shape: tuple[int, ...]


@dataclass(frozen=True)
class _Pending:
    index: int
    request_id: str
    sent_at: float


class SequenceClient:
    """Open a sequence (START), send items, close it (END), over gRPC.

    ``sequence_id`` is an int (1..2**63-1) or a non-empty str; a random int by default.
    ``timeout`` bounds every wait for a response (seconds; None waits forever). Pass
    ``client`` to reuse a ``tritonclient.grpc.InferenceServerClient`` (it is then not
    closed by :meth:`close`).
    """

    def __init__(
        self,
        url: str = "localhost:8001",
        model_name: str = "jpg_model",
        *,
        sequence_id: int | str | None = None,
        mode: Mode = "stream",
        inflight: int = 8,
        model_version: str = "",
        timeout: float | None = 60.0,
        client: Any | None = None,
    ) -> None:
        if mode not in TRANSPORTS:
            raise ValueError(f"mode must be one of {sorted(TRANSPORTS)}, got {mode!r}")
        if inflight < 1:
            raise ValueError(f"inflight must be >= 1, got {inflight}")
        self.url = url
        self.model_name = model_name
        self.model_version = model_version
        self.sequence_id = (
            random_sequence_id() if sequence_id is None else check_sequence_id(sequence_id)
        )
        self.mode: Mode = mode
        # unary: each infer() blocks, so one item is in flight whatever was asked
        self.inflight = 1 if mode == "unary" else inflight
        self.timeout = timeout
        self.start_result: SequenceResult | None = None
        self.end_result: SequenceResult | None = None
        self._client = client
        self._owns_client = client is None
        self._transport: Transport | None = None
        self._window: InOrderWindow[_Pending, Completion] = InOrderWindow()
        self._state = _State.NEW
        self._inputs: dict[str, _InputSpec] = {}
        self._batched = False
        self._next_index = 0
        self._discard_below = 0  # results of items below this index are dropped

    # -- lifecycle ---------------------------------------------------------------------

    def connect(self) -> None:
        """Check that the server is live and the model ready; read the model's inputs.

        On failure the connection is released and the client is closed.
        """
        self._require(_State.NEW)
        try:
            self._connect()
        except BaseException:
            self._release(cancel=True)
            raise
        self._state = _State.CONNECTED

    def _connect(self) -> None:
        if self._client is None:
            try:
                self._client = grpcclient.InferenceServerClient(url=self.url)
            except Exception as exc:  # tritonclient raises assorted types for a bad URL
                raise ServerUnreachableError(f"bad server URL {self.url!r}: {exc}") from exc
        client = self._client
        try:
            live = client.is_server_live(client_timeout=self.timeout)
        except InferenceServerException as exc:
            raise ServerUnreachableError(
                f"no Triton-compatible server at {self.url}: {exc.message()}"
            ) from exc
        if not live:
            raise ServerUnreachableError(f"the server at {self.url} is not live")
        try:
            ready = client.is_model_ready(self.model_name, self.model_version)
            if not ready:
                # ModelReady says only "false": the metadata call says why.
                client.get_model_metadata(self.model_name, self.model_version)
                raise ModelUnavailableError(
                    f"model {self.model_name!r} is not ready on {self.url}", model=self.model_name
                )
            metadata = client.get_model_metadata(self.model_name, self.model_version)
            config = client.get_model_config(self.model_name, self.model_version).config
        except InferenceServerException as exc:
            error = translate_server_exception(exc, url=self.url, model=self.model_name)
            if isinstance(error, InferenceError):
                error = ModelUnavailableError(
                    f"model {self.model_name!r} is not available on {self.url}: {error}",
                    model=self.model_name,
                )
            raise error from exc
        self._inputs = {
            tensor.name: _InputSpec(tensor.datatype, tuple(int(d) for d in tensor.shape))
            for tensor in metadata.inputs
        }
        self._batched = int(config.max_batch_size) > 0

    def open(self) -> SequenceResult:
        """Send START (connecting first if needed) and wait for its response."""
        if self._state is _State.NEW:
            self.connect()
        self._require(_State.CONNECTED)
        self._transport = TRANSPORTS[self.mode](
            self._client,
            self.model_name,
            model_version=self.model_version,
            sequence_id=self.sequence_id,
            timeout=self.timeout,
            max_inflight=self.inflight,
        )
        self._state = _State.OPEN
        try:
            self.start_result = self._control("start", sequence_start=True)
        except BaseException:
            # e.g. START waited in the backlog past the timeout: cancel it, free the stream
            self.abandon()
            raise
        return self.start_result

    def close(self) -> SequenceResult | None:
        """Send END, wait for it, and release the stream and connection.

        Results of items still in flight are dropped. Returns END's result, or None when
        the sequence was never opened. If END fails, requests still queued are cancelled.
        """
        cancel = True
        try:
            result = None
            if self._state is _State.OPEN:
                result = self.end_result = self._control("end", sequence_end=True)
            cancel = False
            return result
        finally:
            self._release(cancel=cancel)

    def abandon(self) -> None:
        """Release the stream and connection without sending END; cancel queued requests.

        For a broken stream or a timeout. The server frees the sequence slot after
        ``max_sequence_idle_microseconds``.
        """
        self._release(cancel=True)

    def __enter__(self) -> SequenceClient:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        broken = (ServerUnreachableError, StreamClosedError, ResponseTimeoutError)
        if isinstance(exc, broken):
            self.abandon()
            return
        if exc is None:
            self.close()
            return
        try:
            self.close()
        except ClientError as close_error:  # keep the original exception
            logger.warning("could not end sequence %s: %s", self.sequence_id, close_error)

    # -- items -------------------------------------------------------------------------

    def process(
        self, items: Iterable[Mapping[str, np.ndarray]], *, raise_on_error: bool = True
    ) -> Iterator[SequenceResult]:
        """Send every item and yield the results in item order.

        Each item maps input names to arrays; an input of a model with
        ``max_batch_size > 0`` gets its batch dimension of 1 added (and removed from the
        outputs). Up to ``inflight`` items are sent but not yet yielded. An error
        response raises :class:`InferenceError` (the sequence stays usable), or is
        yielded as ``result.error`` when ``raise_on_error`` is False. When the generator
        ends early (an error raised, or the caller stopped), the results of items still
        in flight are dropped.
        """
        self._require(_State.OPEN)
        source = iter(items)
        exhausted = False
        ready: list[SequenceResult] = []
        try:
            while True:
                # Refill first, so the server works while the caller handles results.
                while not exhausted and len(self._window) < self.inflight:
                    try:
                        item = next(source)
                    except StopIteration:
                        exhausted = True
                        break
                    self._send_item(item)
                for result in ready:
                    if result.error is not None and raise_on_error:
                        raise result.error
                    yield result
                if not len(self._window):
                    return
                ready = [
                    self._to_result(pending, completion)
                    for pending, completion in self._collect()
                    if pending.index >= self._discard_below
                ]
        finally:
            # Items this call sent but did not yield are nobody's any more: drop their
            # results when they arrive instead of handing them to a later call.
            self._discard_below = self._next_index

    def infer(self, inputs: Mapping[str, np.ndarray]) -> SequenceResult:
        """Send one item and wait for its result (raises on an error response)."""
        return next(iter(self.process([inputs])))

    # -- internals ---------------------------------------------------------------------

    def _require(self, state: _State) -> None:
        if self._state is not state:
            raise RuntimeError(f"sequence is {self._state.value}, expected {state.value}")

    def _release(self, *, cancel: bool) -> None:
        self._state = _State.CLOSED
        transport, self._transport = self._transport, None
        if transport is not None:
            transport.close(cancel=cancel)
        if self._owns_client and self._client is not None:
            client, self._client = self._client, None
            client.close()

    def _send_item(self, item: Mapping[str, np.ndarray]) -> None:
        index = self._next_index
        self._next_index += 1
        inputs = [self._infer_input(name, np.asarray(array)) for name, array in item.items()]
        self._send(index, Request(str(index), inputs))

    def _infer_input(self, name: str, array: np.ndarray) -> Any:
        spec = self._inputs.get(name)
        if self._batched and spec is not None and array.ndim == len(spec.shape) - 1:
            array = array[np.newaxis]
        datatype = np_to_triton_dtype(array.dtype)
        if datatype is None:
            raise TypeError(f"input {name!r}: numpy dtype {array.dtype} has no Triton type")
        infer_input = grpcclient.InferInput(name, list(array.shape), datatype)
        infer_input.set_data_from_numpy(array)
        return infer_input

    def _filler_inputs(self) -> list[Any]:
        """An empty value for every model input, for START and END."""
        inputs = []
        for name, spec in self._inputs.items():
            shape = tuple(1 if dim < 0 else dim for dim in spec.shape)
            if spec.datatype == "BYTES":
                array = np.full(shape, b"", dtype=np.object_)
            else:
                array = np.zeros(shape, dtype=triton_to_np_dtype(spec.datatype))
            infer_input = grpcclient.InferInput(name, list(shape), spec.datatype)
            infer_input.set_data_from_numpy(array)
            inputs.append(infer_input)
        return inputs

    def _send(self, index: int, request: Request) -> None:
        assert self._transport is not None
        pending = _Pending(index, request.request_id, time.perf_counter())
        self._window.add(request.request_id, pending)
        self._transport.send(request)

    def _collect(self) -> list[tuple[_Pending, Completion]]:
        """Wait until the oldest request is answered; pop every answered one in order."""
        assert self._transport is not None
        while not self._window.head_done():
            try:
                completion = self._transport.receive(self.timeout)
            except ResponseTimeoutError as exc:
                raise ResponseTimeoutError(
                    f"no response from model {self.model_name!r} within {self.timeout} s "
                    f"(sequence {self.sequence_id}); are other sequences holding every "
                    "sequence slot of the model (one per instance, with max_batch_size 0)?"
                ) from exc
            if completion.stream_failed:
                assert completion.error is not None
                error = translate_server_exception(
                    completion.error, url=self.url, model=self.model_name
                )
                if not isinstance(error, ServerUnreachableError):
                    error = StreamClosedError(f"the stream to {self.url} failed: {error}")
                raise error from completion.error
            if not self._window.complete(completion.request_id, completion):
                logger.debug("dropping a response for request %r", completion.request_id)
        return self._window.pop_ready()

    def _to_result(self, pending: _Pending, completion: Completion) -> SequenceResult:
        latency = completion.received_at - pending.sent_at
        if completion.error is not None:
            error = translate_server_exception(
                completion.error,
                url=self.url,
                model=self.model_name,
                index=pending.index,
                request_id=pending.request_id,
            )
            if not isinstance(error, InferenceError):
                raise error from completion.error
            return SequenceResult(pending.index, pending.request_id, {}, latency, error)
        result = completion.result
        assert result is not None  # a completion holds a result or an error
        outputs: dict[str, np.ndarray] = {}
        for tensor in result.get_response().outputs:
            array = result.as_numpy(tensor.name)
            if self._batched and array is not None and array.ndim > 0 and array.shape[0] == 1:
                array = array[0]
            outputs[tensor.name] = array
        return SequenceResult(pending.index, pending.request_id, outputs, latency)

    def _control(self, kind: str, **flags: bool) -> SequenceResult:
        """Send START or END with empty inputs; wait for and check its response."""
        request = Request(kind, self._filler_inputs(), **flags)
        self._send(CONTROL_INDEX, request)
        while True:
            for pending, completion in self._collect():
                if pending.request_id != kind:
                    continue  # an item the caller stopped waiting for
                result = self._to_result(pending, completion)
                if result.error is not None:
                    raise result.error
                if result.outputs:
                    logger.warning(
                        "%s of sequence %s got a non-empty response: %s",
                        kind.upper(),
                        self.sequence_id,
                        sorted(result.outputs),
                    )
                return result
