"""The ``inference.GRPCInferenceService`` servicer (grpc.aio) and the health servicer.

Each handler decodes, makes one call on :class:`~tritonlite.core.interfaces.ServerApi`
and encodes; errors raised by the core carry a kind that ``errors.py`` maps to a status.

ModelStreamInfer reads requests as they come and runs each in its own task, so the
responses of a decoupled model and of several requests interleave as they are produced.
The handler itself is the only writer. Errors travel in-band in ``error_message`` and the
stream stays open; when the client half-closes, the handler waits for the requests still
running and then ends the stream.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import grpc
from grpc_health.v1 import health, health_pb2
from tritonclient.grpc import service_pb2

from tritonlite.core.errors import (
    ErrorKind,
    InferenceServerError,
    invalid_arg,
)
from tritonlite.core.interfaces import ServerApi
from tritonlite.core.settings import ServerSettings
from tritonlite.core.shared_memory import SystemSharedMemoryRegistry
from tritonlite.core.types import InferenceRequest
from tritonlite.frontends.common.parameters import forward_headers
from tritonlite.frontends.common.repository import check_repository_name
from tritonlite.frontends.common.tensors import refine_decode_error
from tritonlite.frontends.grpc import messages
from tritonlite.frontends.grpc.codec import (
    RequestLayouts,
    WireInferRequest,
    decode_infer_request,
    encode_empty_final_response,
    encode_infer_response,
    encode_stream_error,
    encode_stream_response,
    parse_infer_request,
    wants_empty_final_response,
)
from tritonlite.frontends.grpc.errors import status_code
from tritonlite.frontends.grpc.settings import (
    log_response,
    trace_response,
    update_log,
    update_trace,
)

__all__ = [
    "SERVICE_NAME",
    "AbortCall",
    "HealthServicer",
    "InferenceServicer",
    "LoopContext",
    "method_handlers",
]

logger = logging.getLogger(__name__)

SERVICE_NAME = "inference.GRPCInferenceService"
SERVER_EXITING = "Server exiting"
# No longer answered (system shared memory works; CUDA gets Triton's own text); kept
# until the unit tests that import them are updated.

_Handler = TypeVar("_Handler", bound=Callable[..., Awaitable[Any]])


class AbortCall(grpc.aio.AbortError):  # type: ignore[misc]
    """What :meth:`LoopContext.abort` raises. The shapes that run these coroutines without
    grpc.aio (``threaded.py``, ``native.py``) turn it into the call's status."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(details)
        self.code = code
        self.details = details


class LoopContext:
    """The part of ``grpc.aio.ServicerContext`` the unary handlers use, for the shapes
    without grpc.aio."""

    __slots__ = ()

    async def abort(self, code: grpc.StatusCode, details: str = "") -> None:
        raise AbortCall(code, details)


def _unary(method: _Handler) -> _Handler:
    """Turn InferenceServerError (and unexpected exceptions) into a gRPC status."""

    @functools.wraps(method)
    async def handler(self: Any, request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            return await method(self, request, context)
        except InferenceServerError as exc:
            await context.abort(status_code(exc), exc.message)
        except grpc.aio.AbortError:
            raise
        except Exception as exc:
            logger.exception("unexpected error in %s", method.__name__)
            await context.abort(grpc.StatusCode.INTERNAL, f"{type(exc).__name__}: {exc}")

    return handler  # type: ignore[return-value]


class InferenceServicer:
    """Handlers for every RPC of ``inference.GRPCInferenceService``."""

    def __init__(
        self,
        server: ServerApi,
        settings: ServerSettings | None = None,
        header_forward_pattern: re.Pattern[str] | None = None,
    ) -> None:
        self._server = server
        self.settings = settings if settings is not None else ServerSettings()
        self._forward = header_forward_pattern
        self.layouts = RequestLayouts()  # headers decoded before (see codec)

    def _forwarded(self, context: grpc.aio.ServicerContext) -> dict[str, str]:
        """``--grpc-header-forward-pattern``: matching metadata as string parameters."""
        if self._forward is None:
            return {}
        metadata = context.invocation_metadata() or ()
        return forward_headers(
            ((str(k), v) for k, v in metadata if isinstance(v, str)), self._forward
        )

    def add_forwarded_headers(self, request: InferenceRequest, context: Any) -> None:
        """Add the request metadata ``--grpc-header-forward-pattern`` selects to
        ``request``'s parameters (no-op without a pattern). Works with a grpc.aio or a
        sync servicer context."""
        if self._forward is not None:
            request.parameters.update(self._forwarded(context))

    # ----------------------------------------------------------------- health, metadata

    @_unary
    async def ServerLive(self, request: Any, context: Any) -> service_pb2.ServerLiveResponse:
        if not self._server.is_live():
            raise InferenceServerError(ErrorKind.UNAVAILABLE, SERVER_EXITING)
        return service_pb2.ServerLiveResponse(live=True)

    @_unary
    async def ServerReady(self, request: Any, context: Any) -> service_pb2.ServerReadyResponse:
        if not self._server.is_live():
            raise InferenceServerError(ErrorKind.UNAVAILABLE, SERVER_EXITING)
        return service_pb2.ServerReadyResponse(ready=self._server.is_ready())

    @_unary
    async def ModelReady(
        self, request: service_pb2.ModelReadyRequest, context: Any
    ) -> service_pb2.ModelReadyResponse:
        ready = self._server.model_ready(request.name, request.version)
        return service_pb2.ModelReadyResponse(ready=ready)

    @_unary
    async def ServerMetadata(
        self, request: Any, context: Any
    ) -> service_pb2.ServerMetadataResponse:
        return messages.encode_server_metadata(self._server.server_metadata())

    @_unary
    async def ModelMetadata(
        self, request: service_pb2.ModelMetadataRequest, context: Any
    ) -> service_pb2.ModelMetadataResponse:
        meta = self._server.model_metadata(request.name, request.version)
        return messages.encode_model_metadata(meta)

    @_unary
    async def ModelConfig(
        self, request: service_pb2.ModelConfigRequest, context: Any
    ) -> service_pb2.ModelConfigResponse:
        config = self._server.model_config(request.name, request.version)
        response = service_pb2.ModelConfigResponse()
        try:
            response.config.CopyFrom(config)
        except TypeError:  # a ModelConfig class from another generated module
            response.config.ParseFromString(config.SerializeToString())
        return response

    @_unary
    async def ModelStatistics(
        self, request: service_pb2.ModelStatisticsRequest, context: Any
    ) -> service_pb2.ModelStatisticsResponse:
        stats = self._server.model_statistics(request.name, request.version)
        return messages.encode_model_statistics(stats)

    # ------------------------------------------------------------------------ inference

    async def ModelInfer(self, wire: WireInferRequest, context: grpc.aio.ServicerContext) -> bytes:
        try:
            request = self._decode(wire, unary=True)
            self.add_forwarded_headers(request, context)
            response = await self._server.infer(request)
        except InferenceServerError as exc:  # DecoupledNotSupported: UNIMPLEMENTED, its text
            await context.abort(status_code(exc), exc.message)
        except Exception as exc:
            logger.exception("unexpected error in ModelInfer")
            await context.abort(grpc.StatusCode.INTERNAL, f"{type(exc).__name__}: {exc}")
        if response.error is not None:
            await context.abort(status_code(response.error), response.error.message)
        return encode_infer_response(response)

    async def ModelStreamInfer(
        self, requests: AsyncIterator[WireInferRequest], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[bytes]:
        outbox: asyncio.Queue[bytes | None] = asyncio.Queue()
        forwarded = self._forwarded(context)
        reader = asyncio.create_task(self._read_stream(requests, outbox.put_nowait, forwarded))
        try:
            while (message := await outbox.get()) is not None:
                yield message
            await reader  # re-raise a broken request stream
        finally:
            reader.cancel()

    async def _read_stream(
        self,
        requests: AsyncIterator[WireInferRequest],
        emit: Callable[[bytes | None], None],
        forwarded: dict[str, str] | None = None,
    ) -> None:
        running: set[asyncio.Task[None]] = set()
        try:
            async for wire in requests:
                task = asyncio.create_task(self._stream_one(wire, emit, forwarded))
                running.add(task)
                task.add_done_callback(running.discard)
            # Half-closed by the client: finish what is running, then end the stream.
            while running:
                await asyncio.wait(set(running))
        finally:
            for task in running:
                task.cancel()
            emit(None)

    async def _stream_one(
        self,
        wire: WireInferRequest,
        emit: Callable[[bytes], None],
        forwarded: dict[str, str] | None = None,
    ) -> None:
        try:
            request = self._decode(wire, unary=False)
            if forwarded:
                request.parameters.update(forwarded)
            empty_final = wants_empty_final_response(wire.message)
            responses = self._server.infer_stream(request)
            try:
                first = True
                async for response in responses:
                    if response.is_flag_only and (not first or self._is_decoupled(request)):
                        if empty_final:
                            emit(encode_empty_final_response(request))
                    else:
                        emit(encode_stream_response(response, request))
                    first = False
            finally:
                # Closed at once (not when collected) so the core learns of a cancel.
                aclose = getattr(responses, "aclose", None)
                if aclose is not None:
                    await aclose()
        except InferenceServerError as exc:
            emit(encode_stream_error(wire.message.id, exc.message))
        except Exception as exc:  # one broken request must not end everyone's stream
            logger.exception("unexpected error in ModelStreamInfer")
            emit(encode_stream_error(wire.message.id, f"{type(exc).__name__}: {exc}"))

    def parse(self, data: bytes | memoryview) -> WireInferRequest:
        """The request deserializer, with the headers decoded before (one event loop
        only: the grpcio shapes deserialize with :func:`parse_infer_request`)."""
        return self.layouts.parse(data)

    def _decode(self, wire: WireInferRequest, *, unary: bool) -> InferenceRequest:
        if wire.layout is not None:
            return wire.layout.build(wire.raw_inputs)
        try:
            request = decode_infer_request(wire.message, wire.raw_inputs,
                                           self._shared_memory())
        except InferenceServerError as exc:
            # Triton looks the model up before it reads the request: an unknown model
            # (or, for ModelInfer, a decoupled one) is reported first.
            message = wire.message
            config = self._server.model_config(message.model_name, message.model_version)
            refined = refine_decode_error(exc, config, model_name=message.model_name,
                                          request_id=message.id, one_response=unary)
            if refined is exc:
                raise
            raise refined from exc
        if wire.header is not None:
            self.layouts.keep(wire, request)
        return request

    def _shared_memory(self) -> SystemSharedMemoryRegistry | None:
        # A ServerApi fake without the extension has no regions.
        return getattr(self._server, "shared_memory", None)

    def _is_decoupled(self, request: InferenceRequest) -> bool:
        """Only asked when a request's first and only response is empty: from a decoupled
        model that is the flag-only "complete" marker, otherwise a real response."""
        try:
            config = self._server.model_config(request.model_name, request.model_version)
        except InferenceServerError:
            return False
        return bool(config.model_transaction_policy.decoupled)

    # ----------------------------------------------------------------------- repository

    @_unary
    async def RepositoryIndex(
        self, request: service_pb2.RepositoryIndexRequest, context: Any
    ) -> service_pb2.RepositoryIndexResponse:
        check_repository_name(request.repository_name)
        entries = self._server.repository_index(ready_only=request.ready)
        return messages.encode_repository_index(entries)

    @_unary
    async def RepositoryModelLoad(
        self, request: service_pb2.RepositoryModelLoadRequest, context: Any
    ) -> service_pb2.RepositoryModelLoadResponse:
        check_repository_name(request.repository_name)
        parameters = messages.load_parameters(request)
        await self._server.load_model(request.model_name, parameters or None)
        return service_pb2.RepositoryModelLoadResponse()

    @_unary
    async def RepositoryModelUnload(
        self, request: service_pb2.RepositoryModelUnloadRequest, context: Any
    ) -> service_pb2.RepositoryModelUnloadResponse:
        check_repository_name(request.repository_name)
        dependents = messages.unload_dependents(request)
        await self._server.unload_model(request.model_name, unload_dependents=dependents)
        return service_pb2.RepositoryModelUnloadResponse()

    # -------------------------------------------------------------------- shared memory

    @_unary
    async def SystemSharedMemoryStatus(
        self, request: service_pb2.SystemSharedMemoryStatusRequest, context: Any
    ) -> service_pb2.SystemSharedMemoryStatusResponse:
        regions = self._server.shared_memory.status(request.name)
        return messages.encode_system_shared_memory_status(regions)

    @_unary
    async def SystemSharedMemoryRegister(
        self, request: service_pb2.SystemSharedMemoryRegisterRequest, context: Any
    ) -> service_pb2.SystemSharedMemoryRegisterResponse:
        self._server.shared_memory.register(
            request.name, request.key, request.offset, request.byte_size
        )
        return service_pb2.SystemSharedMemoryRegisterResponse()

    @_unary
    async def SystemSharedMemoryUnregister(
        self, request: service_pb2.SystemSharedMemoryUnregisterRequest, context: Any
    ) -> service_pb2.SystemSharedMemoryUnregisterResponse:
        self._server.shared_memory.unregister(request.name)
        return service_pb2.SystemSharedMemoryUnregisterResponse()

    @_unary
    async def CudaSharedMemoryStatus(
        self, request: service_pb2.CudaSharedMemoryStatusRequest, context: Any
    ) -> service_pb2.CudaSharedMemoryStatusResponse:
        self._server.shared_memory.cuda_status(request.name)  # never lists a region
        return service_pb2.CudaSharedMemoryStatusResponse()

    @_unary
    async def CudaSharedMemoryRegister(
        self, request: service_pb2.CudaSharedMemoryRegisterRequest, context: Any
    ) -> service_pb2.CudaSharedMemoryRegisterResponse:
        self._server.shared_memory.register_cuda(request.name)

    @_unary
    async def CudaSharedMemoryUnregister(
        self, request: service_pb2.CudaSharedMemoryUnregisterRequest, context: Any
    ) -> service_pb2.CudaSharedMemoryUnregisterResponse:
        self._server.shared_memory.unregister_cuda(request.name)
        return service_pb2.CudaSharedMemoryUnregisterResponse()

    # ------------------------------------------------------------------ trace, logging

    @_unary
    async def TraceSetting(
        self, request: service_pb2.TraceSettingRequest, context: Any
    ) -> service_pb2.TraceSettingResponse:
        model = request.model_name
        if model and not self._server.model_ready(model):
            raise invalid_arg(f"Request for unknown model : {model}")
        if request.settings:
            update_trace(self.settings.trace, model, request.settings)
        return trace_response(self.settings.trace, model)

    @_unary
    async def LogSettings(
        self, request: service_pb2.LogSettingsRequest, context: Any
    ) -> service_pb2.LogSettingsResponse:
        if request.settings:
            update_log(self.settings.log, request.settings)
        return log_response(self.settings.log)


def _identity(data: bytes) -> bytes:
    return data


def _unary_rpc(request_type: Any, response_type: Any) -> tuple[bool, Any, Any]:
    return False, request_type.FromString, response_type.SerializeToString


# name -> (streaming, request deserializer, response serializer)
_RPCS: dict[str, tuple[bool, Any, Any]] = {
    "ServerLive": _unary_rpc(service_pb2.ServerLiveRequest, service_pb2.ServerLiveResponse),
    "ServerReady": _unary_rpc(service_pb2.ServerReadyRequest, service_pb2.ServerReadyResponse),
    "ModelReady": _unary_rpc(service_pb2.ModelReadyRequest, service_pb2.ModelReadyResponse),
    "ServerMetadata": _unary_rpc(
        service_pb2.ServerMetadataRequest, service_pb2.ServerMetadataResponse
    ),
    "ModelMetadata": _unary_rpc(
        service_pb2.ModelMetadataRequest, service_pb2.ModelMetadataResponse
    ),
    # The infer RPCs parse with the codec and send bytes the codec already serialized.
    "ModelInfer": (False, parse_infer_request, _identity),
    "ModelStreamInfer": (True, parse_infer_request, _identity),
    "ModelConfig": _unary_rpc(service_pb2.ModelConfigRequest, service_pb2.ModelConfigResponse),
    "ModelStatistics": _unary_rpc(
        service_pb2.ModelStatisticsRequest, service_pb2.ModelStatisticsResponse
    ),
    "RepositoryIndex": _unary_rpc(
        service_pb2.RepositoryIndexRequest, service_pb2.RepositoryIndexResponse
    ),
    "RepositoryModelLoad": _unary_rpc(
        service_pb2.RepositoryModelLoadRequest, service_pb2.RepositoryModelLoadResponse
    ),
    "RepositoryModelUnload": _unary_rpc(
        service_pb2.RepositoryModelUnloadRequest, service_pb2.RepositoryModelUnloadResponse
    ),
    "SystemSharedMemoryStatus": _unary_rpc(
        service_pb2.SystemSharedMemoryStatusRequest, service_pb2.SystemSharedMemoryStatusResponse
    ),
    "SystemSharedMemoryRegister": _unary_rpc(
        service_pb2.SystemSharedMemoryRegisterRequest,
        service_pb2.SystemSharedMemoryRegisterResponse,
    ),
    "SystemSharedMemoryUnregister": _unary_rpc(
        service_pb2.SystemSharedMemoryUnregisterRequest,
        service_pb2.SystemSharedMemoryUnregisterResponse,
    ),
    "CudaSharedMemoryStatus": _unary_rpc(
        service_pb2.CudaSharedMemoryStatusRequest, service_pb2.CudaSharedMemoryStatusResponse
    ),
    "CudaSharedMemoryRegister": _unary_rpc(
        service_pb2.CudaSharedMemoryRegisterRequest, service_pb2.CudaSharedMemoryRegisterResponse
    ),
    "CudaSharedMemoryUnregister": _unary_rpc(
        service_pb2.CudaSharedMemoryUnregisterRequest,
        service_pb2.CudaSharedMemoryUnregisterResponse,
    ),
    "TraceSetting": _unary_rpc(service_pb2.TraceSettingRequest, service_pb2.TraceSettingResponse),
    "LogSettings": _unary_rpc(service_pb2.LogSettingsRequest, service_pb2.LogSettingsResponse),
}


def method_handlers(servicer: InferenceServicer) -> dict[str, grpc.RpcMethodHandler]:
    """Every RPC of the service bound to ``servicer``, with its (de)serializers."""
    handlers: dict[str, grpc.RpcMethodHandler] = {}
    for name, (streaming, deserializer, serializer) in _RPCS.items():
        factory = (
            grpc.stream_stream_rpc_method_handler
            if streaming
            else grpc.unary_unary_rpc_method_handler
        )
        handlers[name] = factory(
            getattr(servicer, name),
            request_deserializer=deserializer,
            response_serializer=serializer,
        )
    return handlers


def health_status(server: ServerApi) -> int:
    """The ``grpc.health.v1`` status Triton reports: SERVING while live and ready, for any
    service name. Both gRPC server shapes answer with it."""
    if server.is_live() and server.is_ready():
        return int(health_pb2.HealthCheckResponse.SERVING)
    return int(health_pb2.HealthCheckResponse.NOT_SERVING)


class HealthServicer(health.aio.HealthServicer):  # type: ignore[misc]
    """``grpc.health.v1.Health``: SERVING while the server is ready, for any service name
    (as Triton answers)."""

    def __init__(self, server: ServerApi, *, watch_interval: float = 1.0) -> None:
        super().__init__()
        self._server = server
        self._watch_interval = watch_interval

    def _status(self) -> int:
        return health_status(self._server)

    async def Check(
        self, request: health_pb2.HealthCheckRequest, context: Any
    ) -> health_pb2.HealthCheckResponse:
        return health_pb2.HealthCheckResponse(status=self._status())

    async def Watch(
        self, request: health_pb2.HealthCheckRequest, context: Any
    ) -> AsyncIterator[health_pb2.HealthCheckResponse]:
        # ServerApi has no readiness events, so changes are noticed on a timer.
        last = None
        while True:
            status = self._status()
            if status != last:
                yield health_pb2.HealthCheckResponse(status=status)
                last = status
            await asyncio.sleep(self._watch_interval)
