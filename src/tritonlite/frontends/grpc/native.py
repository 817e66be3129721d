"""The gRPC endpoint on tritonlite's own HTTP/2 transport (``http2.py``), on the event loop.

``--grpc-server native`` (what ``auto`` picks): every RPC of ``inference.GRPCInferenceService``
and ``grpc.health.v1.Health`` is served by the connection protocols on the server's loop,
so a call never changes thread. ModelInfer goes from the decoded request straight to
``ServerApi.submit`` and answers from the response callback, with no task at all;
ModelStreamInfer and the other RPCs run the same ``InferenceServicer`` coroutines as the
grpcio shapes, with a small stand-in for grpc.aio's servicer context. So the protocol
logic (decoding, status codes, stream semantics) exists once, in ``service.py``.

Deadlines: a call whose ``grpc-timeout`` passes is cancelled in the core (a model sees
``request.is_cancelled()``) and ends with DEADLINE_EXCEEDED, "Deadline Exceeded".
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from google.protobuf.message import DecodeError
from grpc import StatusCode
from grpc_health.v1 import health_pb2

from tritonlite.core.errors import InferenceServerError
from tritonlite.core.interfaces import ServerApi
from tritonlite.core.types import InferenceResponse
from tritonlite.frontends.grpc.codec import (
    WireInferRequest,
    encode_infer_response_parts,
)
from tritonlite.frontends.grpc.errors import status_code
from tritonlite.frontends.grpc.http2 import Connection, Stream
from tritonlite.frontends.grpc.service import (
    _RPCS,
    SERVICE_NAME,
    AbortCall,
    HealthServicer,
    InferenceServicer,
    LoopContext,
)

__all__ = ["NativeGrpcServer"]

logger = logging.getLogger(__name__)

_DESERIALIZE_FAILED = "Exception deserializing request!"
_HEALTH = "/grpc.health.v1.Health/"


class _Context(LoopContext):
    """The servicer's context on a native call: ``abort`` and the request metadata."""

    __slots__ = ("_stream",)

    def __init__(self, stream: Stream) -> None:
        self._stream = stream

    def invocation_metadata(self) -> tuple[tuple[str, str | bytes], ...]:
        return tuple(self._stream.metadata())


class _Call:
    """A running call's cancellation: the work to stop and the deadline timer."""

    __slots__ = ("stop_work", "stream", "timer")

    def __init__(self, stream: Stream) -> None:
        self.stream = stream
        self.stop_work: Callable[[], Any] | None = None
        self.timer: asyncio.TimerHandle | None = None
        if stream.timeout is not None:
            self.timer = asyncio.get_running_loop().call_later(stream.timeout, self._expired)
        stream.on_cancel = self.cancel

    def cancel(self) -> None:
        """The call ended early (client reset, connection lost, server stopping)."""
        if self.timer is not None:
            self.timer.cancel()
        stop, self.stop_work = self.stop_work, None
        if stop is not None:
            stop()

    def finish(self, code: StatusCode = StatusCode.OK, message: str = "") -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.stop_work = None
        self.stream.finish(code, message)

    def fail(self, error: InferenceServerError) -> None:
        """End the call with ``error``'s status and its message, exactly."""
        self.finish(status_code(error), error.message)

    def _expired(self) -> None:
        self.timer = None
        stop, self.stop_work = self.stop_work, None
        self.stream.finish(StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded")
        if stop is not None:
            stop()


class NativeGrpcServer:
    """Serves ``servicer`` and ``health`` over ``http2.Connection``s."""

    def __init__(self, server: ServerApi, servicer: InferenceServicer,
                 health: HealthServicer, *, max_message_bytes: int = 2**31 - 1) -> None:
        self._server = server
        self._servicer = servicer
        self._health = health
        self._max_message_bytes = max_message_bytes
        self._listener: asyncio.base_events.Server | None = None
        self._connections: set[Connection] = set()
        self._tasks: set[asyncio.Task[Any]] = set()  # calls running as coroutines
        self._loop: asyncio.AbstractEventLoop | None = None
        self._routes: dict[str, Callable[[Stream], None]] = {}
        prefix = f"/{SERVICE_NAME}/"
        for name, (streaming, deserializer, serializer) in _RPCS.items():
            if name == "ModelInfer":
                self._routes[prefix + name] = self._model_infer
            elif name == "ModelStreamInfer":
                self._routes[prefix + name] = self._model_stream_infer
            else:
                assert not streaming
                self._routes[prefix + name] = self._unary_route(
                    getattr(servicer, name), deserializer, serializer)
        self._routes[_HEALTH + "Check"] = self._unary_route(
            health.Check, health_pb2.HealthCheckRequest.FromString,
            health_pb2.HealthCheckResponse.SerializeToString)
        self._routes[_HEALTH + "Watch"] = self._health_watch

    # ------------------------------------------------------------------- life cycle

    async def start(self, host: str, port: int, *, reuse_port: bool = False) -> int:
        """Listen on ``host:port``; returns the bound port. OSError if that fails."""
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._listener = await loop.create_server(
            self._connection, host.strip("[]"), port, reuse_port=reuse_port or None,
            backlog=1024)
        return int(self._listener.sockets[0].getsockname()[1])

    def _connection(self) -> Connection:
        conn = Connection(self._open, max_message_bytes=self._max_message_bytes,
                          on_close=self._connections.discard)
        self._connections.add(conn)
        return conn

    async def stop(self, grace: float | None) -> None:
        """Stop accepting; running calls get ``grace`` seconds, then are cancelled."""
        listener, self._listener = self._listener, None
        if listener is None:
            return
        listener.close()
        for conn in list(self._connections):
            conn.go_away()
        if grace:
            deadline = asyncio.get_running_loop().time() + grace
            while (any(conn.active_streams for conn in self._connections)
                   and asyncio.get_running_loop().time() < deadline):
                await asyncio.sleep(0.01)
        for conn in list(self._connections):
            conn.abort()  # cancels its calls' work at once
        self._connections.clear()
        if self._tasks:  # let the cancelled calls run their cleanup (core cancels)
            await asyncio.wait(set(self._tasks), timeout=5)
        await listener.wait_closed()

    # ------------------------------------------------------------------- routing

    def _open(self, stream: Stream) -> None:
        route = self._routes.get(stream.path)
        if route is None:
            stream.finish(StatusCode.UNIMPLEMENTED, "Method not found!")
            return
        route(stream)

    def _unary_route(self, method: Callable[[Any, Any], Any],
                     deserializer: Callable[[bytes], Any],
                     serializer: Callable[[Any], bytes]) -> Callable[[Stream], None]:
        def start(call: _Call, data: Any) -> None:
            try:
                request = deserializer(bytes(data))
            except Exception:
                call.finish(StatusCode.INTERNAL, _DESERIALIZE_FAILED)
                return
            call.stop_work = self._task(self._run_unary(call, method, request,
                                                        serializer)).cancel

        return lambda stream: _one_request(stream, start)

    def _task(self, coro: Any) -> asyncio.Task[Any]:
        assert self._loop is not None  # calls arrive only once start() has run
        task = self._loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _run_unary(self, call: _Call, method: Callable[[Any, Any], Any], request: Any,
                         serializer: Callable[[Any], bytes]) -> None:
        try:
            response = await method(request, _Context(call.stream))
            data = serializer(response)
        except AbortCall as exc:
            call.finish(exc.code, exc.details)
            return
        except asyncio.CancelledError:
            return
        except Exception as exc:
            logger.exception("unexpected error in %s", call.stream.path)
            call.finish(StatusCode.UNKNOWN, f"Unexpected error: {type(exc).__name__}: {exc}")
            return
        call.stream.send_message(data)
        call.finish()

    # ------------------------------------------------------------------- inference

    def _model_infer(self, stream: Stream) -> None:
        _one_request(stream, self._start_infer)

    def _start_infer(self, call: _Call, data: Any) -> None:
        servicer = self._servicer
        try:
            wire = servicer.parse(data)
        except DecodeError:
            call.finish(StatusCode.INTERNAL, _DESERIALIZE_FAILED)
            return
        try:
            request = servicer._decode(wire, unary=True)
            servicer.add_forwarded_headers(request, _Context(call.stream))
        except InferenceServerError as exc:
            call.fail(exc)
            return

        def sink(response: InferenceResponse) -> None:
            if not response.final or call.stream.closed:
                return
            error = response.error
            if error is not None:
                call.fail(error)
                return
            try:
                parts = encode_infer_response_parts(response)
            except Exception as exc:
                logger.exception("unexpected error encoding a ModelInfer response")
                call.finish(StatusCode.INTERNAL, f"{type(exc).__name__}: {exc}")
                return
            call.stream.send_message(parts)
            call.finish()

        try:
            cancel = self._server.submit(request, sink)
        except InferenceServerError as exc:
            call.fail(exc)
            return
        except Exception as exc:
            logger.exception("unexpected error in ModelInfer")
            call.finish(StatusCode.INTERNAL, f"{type(exc).__name__}: {exc}")
            return
        if not call.stream.closed:
            call.stop_work = cancel

    def _model_stream_infer(self, stream: Stream) -> None:
        call = _Call(stream)
        inbox: asyncio.Queue[WireInferRequest | None] = asyncio.Queue()

        async def incoming() -> AsyncIterator[WireInferRequest]:
            while (wire := await inbox.get()) is not None:
                yield wire

        def on_message(data: Any) -> None:
            try:
                inbox.put_nowait(self._servicer.parse(data))
            except DecodeError:
                call.cancel()
                call.finish(StatusCode.INTERNAL, _DESERIALIZE_FAILED)

        def emit(message: bytes | None) -> None:
            if message is None:
                call.finish()
            else:
                stream.send_message(message)

        stream.on_message = on_message
        stream.on_half_close = lambda: inbox.put_nowait(None)
        forwarded = self._servicer._forwarded(_Context(stream))  # type: ignore[arg-type]
        task = self._task(self._servicer._read_stream(incoming(), emit, forwarded))
        call.stop_work = task.cancel

    # ------------------------------------------------------------------- health

    def _health_watch(self, stream: Stream) -> None:
        def start(call: _Call, data: Any) -> None:
            call.stop_work = self._task(self._watch(stream)).cancel

        _one_request(stream, start)

    async def _watch(self, stream: Stream) -> None:
        """The health servicer's Watch, written to the stream until the call ends (its
        cancel stops this task). Any service name is answered, so the request is unread."""
        watch = self._health.Watch(health_pb2.HealthCheckRequest(), _Context(stream))
        async for response in watch:
            stream.send_message(response.SerializeToString())


def _one_request(stream: Stream, start: Callable[[_Call, Any], None]) -> None:
    """Open a call that reads exactly one request message (unary and server-streaming
    RPCs): ``start(call, message)`` runs when it arrives; a client that half-closes
    without sending it gets INTERNAL "Missing request message"."""
    call = _Call(stream)

    def on_message(data: Any) -> None:
        stream.on_message = None  # one message; later ones are not read
        start(call, data)

    def on_half_close() -> None:
        if stream.on_message is not None:
            call.finish(StatusCode.INTERNAL, "Missing request message")

    stream.on_message = on_message
    stream.on_half_close = on_half_close
