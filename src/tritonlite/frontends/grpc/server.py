"""The gRPC endpoint carrying ``inference.GRPCInferenceService`` and ``grpc.health.v1.Health``,
in one of three shapes (``--grpc-server``, ``runner.grpc_shape``):

- ``native`` (the default): tritonlite's own HTTP/2 transport on the server's event loop
  (``native.py`` over ``http2.py``), several times cheaper per call than grpcio;
- ``threaded``: grpcio's thread-pool server bridged to the loop (``threaded.py``); each
  open stream holds one of up to ``max_workers`` threads;
- ``aio``: a grpc.aio server on the loop.

The grpcio shapes stay for what only grpcio does: its keepalive enforcement and
connection-age options (``KeepAliveOptions``) apply to them alone.

Channel options follow Triton's gRPC server (``src/grpc/grpc_server.cc``): messages up to
``INT_MAX`` bytes both ways, SO_REUSEPORT off unless asked for, and Triton's keepalive
defaults (``KeepAliveOptions`` in ``grpc_server.h``). Clients configure their keepalive
against these, so they matter as much as the message limits.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health_pb2_grpc

from tritonlite.core.interfaces import ServerApi
from tritonlite.core.settings import ServerSettings
from tritonlite.frontends.grpc.native import NativeGrpcServer
from tritonlite.frontends.grpc.service import (
    SERVICE_NAME,
    HealthServicer,
    InferenceServicer,
    method_handlers,
)
from tritonlite.frontends.grpc.threaded import ThreadedGrpcServer

__all__ = ["SHAPES", "GrpcFrontend", "KeepAliveOptions"]

#: The values of ``--grpc-server`` besides ``auto`` (see the module doc).
SHAPES = ("native", "threaded", "aio")

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class KeepAliveOptions:
    """gRPC keepalive settings; the defaults are Triton's (``--grpc-keepalive-*``)."""

    time_ms: int = 7_200_000
    timeout_ms: int = 20_000
    permit_without_calls: bool = False
    http2_max_pings_without_data: int = 2
    http2_min_recv_ping_interval_without_data_ms: int = 300_000
    http2_max_ping_strikes: int = 2
    max_connection_age_ms: int = 0  # 0 = not set
    max_connection_age_grace_ms: int = 0  # 0 = not set

    def channel_options(self) -> list[tuple[str, int]]:
        options = [
            ("grpc.keepalive_time_ms", self.time_ms),
            ("grpc.keepalive_timeout_ms", self.timeout_ms),
            ("grpc.keepalive_permit_without_calls", int(self.permit_without_calls)),
            ("grpc.http2.max_pings_without_data", self.http2_max_pings_without_data),
            (
                "grpc.http2.min_ping_interval_without_data_ms",
                self.http2_min_recv_ping_interval_without_data_ms,
            ),
            ("grpc.http2.max_ping_strikes", self.http2_max_ping_strikes),
        ]
        if self.max_connection_age_ms:
            options.append(("grpc.max_connection_age_ms", self.max_connection_age_ms))
        if self.max_connection_age_grace_ms:
            options.append(("grpc.max_connection_age_grace_ms", self.max_connection_age_grace_ms))
        return options


def _host_port(address: str, port: int) -> str:
    if ":" in address and not address.startswith("["):
        address = f"[{address}]"  # an IPv6 literal
    return f"{address}:{port}"


class GrpcFrontend:
    """Serves the Triton gRPC protocol for ``server`` on ``address:port``.

    Call :meth:`start` on the event loop that runs the server; it returns the bound port
    (``port=0`` picks a free one). :meth:`stop` stops accepting RPCs and gives running ones
    ``grace`` seconds before cancelling them. ``health_watch_interval`` is how often an
    open ``Health/Watch`` call looks for a change of readiness. ``settings`` are the log
    and trace settings shared with the other frontends (a private copy if not given);
    ``header_forward_pattern`` is ``--grpc-header-forward-pattern`` (request metadata whose
    key matches becomes string parameters).
    """

    def __init__(
        self,
        server: ServerApi,
        *,
        address: str = "0.0.0.0",
        port: int = 8001,
        max_message_bytes: int = 2**31 - 1,
        reuse_port: bool = False,
        keepalive: KeepAliveOptions | None = None,
        health_watch_interval: float = 1.0,
        settings: ServerSettings | None = None,
        header_forward_pattern: str = "",
        shape: str = "native",
        max_workers: int = 1024,
    ) -> None:
        self.server = server
        self.address = address
        self.port = port
        self.max_message_bytes = max_message_bytes
        self.reuse_port = reuse_port
        self.keepalive = keepalive or KeepAliveOptions()
        pattern = re.compile(header_forward_pattern) if header_forward_pattern else None
        self.servicer = InferenceServicer(server, settings, pattern)
        self.health = HealthServicer(server, watch_interval=health_watch_interval)
        self._grpc_server: grpc.aio.Server | None = None
        if shape not in SHAPES:
            raise ValueError(f"unknown gRPC server shape {shape!r}")
        self.shape = shape
        self.max_workers = max_workers
        self._threaded: ThreadedGrpcServer | None = None
        self._native: NativeGrpcServer | None = None

    def channel_options(self) -> list[tuple[str, int]]:
        return [
            ("grpc.max_send_message_length", self.max_message_bytes),
            ("grpc.max_receive_message_length", self.max_message_bytes),
            ("grpc.so_reuseport", int(self.reuse_port)),
            *self.keepalive.channel_options(),
        ]

    async def start(self) -> int:
        """Bind and start serving; returns the bound port."""
        if self._grpc_server or self._threaded or self._native:
            raise RuntimeError("GrpcFrontend already started")
        if self.shape == "threaded":
            bound = self._start_threaded()
        elif self.shape == "native":
            bound = await self._start_native()
        else:
            bound = await self._start_aio()
        self.port = bound
        logger.info("Started GRPCInferenceService at %s", _host_port(self.address, bound))
        return bound

    async def _start_aio(self) -> int:
        grpc_server = grpc.aio.server(options=self.channel_options())
        handlers = method_handlers(self.servicer)
        grpc_server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(SERVICE_NAME, handlers),)
        )
        grpc_server.add_registered_method_handlers(SERVICE_NAME, handlers)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, grpc_server)
        bound = self._bind(grpc_server.add_insecure_port)
        await grpc_server.start()
        self._grpc_server = grpc_server
        return bound

    def _bind(self, add_insecure_port: Callable[[str], int]) -> int:
        """Bind ``address:port`` with either server shape; OSError if that fails."""
        target = _host_port(self.address, self.port)
        try:
            bound = add_insecure_port(target)
        except RuntimeError as exc:
            raise OSError(f"failed to bind the gRPC endpoint to {target}: {exc}") from exc
        if bound == 0:
            raise OSError(f"failed to bind the gRPC endpoint to {target}")
        return bound

    async def _start_native(self) -> int:
        native = NativeGrpcServer(self.server, self.servicer, self.health,
                                  max_message_bytes=self.max_message_bytes)
        target = _host_port(self.address, self.port)
        try:
            bound = await native.start(self.address, self.port, reuse_port=self.reuse_port)
        except OSError as exc:
            raise OSError(f"failed to bind the gRPC endpoint to {target}: {exc}") from exc
        self._native = native
        return bound

    def _start_threaded(self) -> int:
        threaded = ThreadedGrpcServer(self.server, self.servicer, asyncio.get_running_loop(),
                                      self.channel_options(), self.max_workers,
                                      self.health._watch_interval)
        bound = self._bind(threaded.grpc_server.add_insecure_port)
        threaded.grpc_server.start()
        self._threaded = threaded
        return bound

    async def stop(self, grace: float | None = None) -> None:
        """Stop accepting RPCs; running ones get ``grace`` seconds, then are cancelled."""
        native, self._native = self._native, None
        if native is not None:
            await native.stop(grace)
        threaded, self._threaded = self._threaded, None
        if threaded is not None:
            await asyncio.get_running_loop().run_in_executor(None, threaded.stop, grace)
        grpc_server, self._grpc_server = self._grpc_server, None
        if grpc_server is None:
            return
        await grpc_server.stop(grace)
