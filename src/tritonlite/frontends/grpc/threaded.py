"""The gRPC endpoint on grpcio's synchronous server, bridged to the server's event loop.

Why it exists: for a bare echo, grpc.aio spends ~3x the CPU per small request of
grpcio's thread-pool server (``PERFORMANCE-NOTES.md``). Here the gRPC threads decode and
encode ``ModelInfer`` messages themselves (the codec is pure, so this is safe off the loop)
and only the core call crosses to the event loop, once per request, so the loop sees
requests in bursts and the model worker's pipeline fills. Measured on the whole path it
serves 1.5-2.4x more concurrent small requests than aio when the server has one core;
with more, aio is as fast or faster. Both are options now (``--grpc-server``): the
default is the native transport (``native.py``), about twice as fast as either.

Each RPC runs on a pool thread for its whole life, so an open stream holds one; the pool
is large (``max_workers``) and grows only as concurrency needs it.

The handlers are the ``InferenceServicer``'s own coroutines, run on the loop with a small
context adapter, so both server shapes share every line of protocol logic.
ModelStreamInfer gets a reader thread that feeds the stream's requests to the servicer on
the loop; its responses come back through a thread-safe queue.
"""

from __future__ import annotations

import _thread
import asyncio
import concurrent.futures
import logging
import queue
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tritonlite.core.errors import ErrorKind, InferenceServerError
from tritonlite.core.interfaces import ServerApi
from tritonlite.core.types import InferenceResponse
from tritonlite.frontends.grpc.codec import WireInferRequest, encode_infer_response
from tritonlite.frontends.grpc.errors import status_code
from tritonlite.frontends.grpc.service import (
    _RPCS,
    SERVICE_NAME,
    AbortCall,
    InferenceServicer,
    LoopContext,
    health_status,
)

__all__ = ["ThreadedGrpcServer"]

logger = logging.getLogger(__name__)


class ThreadedGrpcServer:
    """A started grpcio thread-pool server serving ``servicer`` (see the module doc)."""

    def __init__(self, server: ServerApi, servicer: InferenceServicer,
                 loop: asyncio.AbstractEventLoop, options: list[tuple[str, int]],
                 max_workers: int, health_watch_interval: float = 1.0) -> None:
        self._server = server
        self._servicer = servicer
        self._loop = loop
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=max_workers, thread_name_prefix="tritonlite-grpc")
        self.grpc_server = grpc.server(self._pool, options=options,
                                       maximum_concurrent_rpcs=None)
        handlers = self._handlers()
        self.grpc_server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(SERVICE_NAME, handlers),))
        health_pb2_grpc.add_HealthServicer_to_server(
            _Health(server, health_watch_interval), self.grpc_server)

    # ---- running a servicer coroutine from a gRPC thread -------------------------------------
    def _run(self, coro: Coroutine[Any, Any, Any], context: grpc.ServicerContext) -> Any:
        fut = asyncio.run_coroutine_threadsafe(coro, self._loop)
        context.add_callback(fut.cancel)  # client gone or deadline passed: cancel the core call
        try:
            return fut.result()
        except AbortCall as exc:
            context.abort(exc.code, exc.details)
        except concurrent.futures.CancelledError:
            context.abort(grpc.StatusCode.CANCELLED, "Cancelled")
        raise AssertionError("unreachable")

    def _unary(self, name: str) -> Callable[[Any, grpc.ServicerContext], Any]:
        method = getattr(self._servicer, name)

        def handler(request: Any, context: grpc.ServicerContext) -> Any:
            return self._run(method(request, LoopContext()), context)

        return handler

    def _model_infer(self, wire: WireInferRequest, context: grpc.ServicerContext) -> bytes:
        # Decode and encode here, in the gRPC thread; only the core call runs on the loop.
        try:
            request = self._servicer._decode(wire, unary=True)
        except InferenceServerError as exc:
            context.abort(status_code(exc), exc.message)
        self._servicer.add_forwarded_headers(request, context)
        # One hop to the loop and one back: a callback submit, then a wait on a bare lock
        # that the final response releases (the cheapest cross-thread signal there is).
        done = _thread.allocate_lock()
        done.acquire()
        box: list[InferenceResponse | InferenceServerError] = []
        cancel: list[Callable[[], None]] = []

        def sink(response: InferenceResponse) -> None:
            if response.final and not box:
                box.append(response)
                done.release()

        def start() -> None:
            try:
                cancel.append(self._server.submit(request, sink))
            except InferenceServerError as exc:
                box.append(exc)
                done.release()
            except Exception as exc:  # never leave the gRPC thread waiting
                logger.exception("unexpected error in ModelInfer")
                box.append(InferenceServerError(ErrorKind.INTERNAL,
                                                f"{type(exc).__name__}: {exc}"))
                done.release()

        def on_rpc_end() -> None:  # also runs after success: cancelling then is a no-op
            if not box:
                self._loop.call_soon_threadsafe(lambda: cancel and cancel[0]())

        self._loop.call_soon_threadsafe(start)
        context.add_callback(on_rpc_end)
        done.acquire()
        result = box[0]
        if isinstance(result, InferenceServerError):
            context.abort(status_code(result), result.message)
        assert isinstance(result, InferenceResponse)
        if result.error is not None:
            context.abort(status_code(result.error), result.error.message)
        return encode_infer_response(result)

    def _model_stream_infer(self, requests: Iterator[WireInferRequest],
                            context: grpc.ServicerContext) -> Iterator[bytes]:
        loop = self._loop
        inbox: asyncio.Queue[WireInferRequest | None] | None = None
        ready = threading.Event()
        outbox: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()

        async def incoming() -> AsyncIterator[WireInferRequest]:
            nonlocal inbox
            inbox = asyncio.Queue()
            ready.set()
            while (wire := await inbox.get()) is not None:
                yield wire

        def pump() -> None:  # the stream's requests, from this thread to the loop
            ready.wait()
            assert inbox is not None
            try:
                for wire in requests:
                    loop.call_soon_threadsafe(inbox.put_nowait, wire)
            except Exception:  # the client broke the stream: end it like a half-close
                pass
            finally:
                loop.call_soon_threadsafe(inbox.put_nowait, None)

        fut = asyncio.run_coroutine_threadsafe(
            self._servicer._read_stream(incoming(), outbox.put,
                                        self._servicer._forwarded(context)), loop)
        context.add_callback(fut.cancel)
        threading.Thread(target=pump, name="tritonlite-grpc-stream", daemon=True).start()
        while (message := outbox.get()) is not None:
            yield message

    def _handlers(self) -> dict[str, grpc.RpcMethodHandler]:
        handlers: dict[str, grpc.RpcMethodHandler] = {}
        for name, (streaming, deserializer, serializer) in _RPCS.items():
            if name == "ModelInfer":
                behaviour: Any = self._model_infer
            elif name == "ModelStreamInfer":
                behaviour = self._model_stream_infer
            else:
                behaviour = self._unary(name)
            factory = (grpc.stream_stream_rpc_method_handler if streaming
                       else grpc.unary_unary_rpc_method_handler)
            handlers[name] = factory(behaviour, request_deserializer=deserializer,
                                     response_serializer=serializer)
        return handlers

    def stop(self, grace: float | None) -> None:
        self.grpc_server.stop(grace).wait()
        self._pool.shutdown(wait=False, cancel_futures=True)


class _Health(health_pb2_grpc.HealthServicer):  # type: ignore[misc]
    """``grpc.health.v1.Health``: SERVING while the server is ready (any service name)."""

    def __init__(self, server: ServerApi, watch_interval: float) -> None:
        self._server = server
        self._watch_interval = watch_interval

    def _response(self) -> health_pb2.HealthCheckResponse:
        return health_pb2.HealthCheckResponse(status=health_status(self._server))

    def Check(self, request: Any, context: Any) -> health_pb2.HealthCheckResponse:
        return self._response()

    def Watch(self, request: Any, context: Any) -> Iterator[health_pb2.HealthCheckResponse]:
        # ServerApi has no readiness events, so changes are noticed on a timer.
        stopped = threading.Event()
        context.add_callback(stopped.set)
        last = None
        while not stopped.is_set():
            response = self._response()
            if response.status != last:
                yield response
                last = response.status
            stopped.wait(self._watch_interval)
