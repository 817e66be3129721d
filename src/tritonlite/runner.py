"""The composition root: repository -> model factory -> registry/server -> frontends.

Start-up loads every model concurrently, prints Triton's model table, and exits if a
model failed and ``--exit-on-error`` is true. Shutdown follows Triton's order: stop
accepting new inference, wait up to ``--exit-timeout-secs`` for in-flight requests,
finalize the models, then close the listeners.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
import signal
import sys
from collections.abc import Callable
from typing import Protocol

from tritonlite.core.registry import Registry
from tritonlite.core.server import InferenceServer
from tritonlite.core.settings import LogSettings, ServerSettings
from tritonlite.cpu_policy import no_wakeup_preemption
from tritonlite.model_control import ModelControl
from tritonlite.model_factory import ModelFactory
from tritonlite.options import ServerOptions

log = logging.getLogger(__name__)


class Frontend(Protocol):
    async def start(self) -> int: ...
    async def stop(self, grace: float) -> None: ...


FrontendFactory = Callable[[InferenceServer, ServerOptions], tuple[str, str, Frontend]]


def grpc_shape(shape: str) -> str:
    """The gRPC server shape ``--grpc-server shape`` means (``frontends/grpc/server.py``).

    ``auto`` is ``native``, by measurement (``bench/``): pinned to one core, the native
    transport spends about a third of grpcio's CPU per small call, and with two cores it
    still leads (grpcio's thread-pool server was 1.5-2.4x ahead of grpc.aio on one core,
    grpc.aio up to 1.15x ahead on two).
    """
    return "native" if shape == "auto" else shape


def http_shape(shape: str) -> str:
    """The HTTP server shape ``--http-server shape`` means (``frontends/http/server.py``).

    ``auto`` is ``native``, by measurement (``bench/``): pinned to one core, uvicorn's
    protocol and the ASGI hand-off cost more per small request than the native protocol.
    """
    return "native" if shape == "auto" else shape


def busy_poll_window(opts: ServerOptions) -> int:
    """``--busy-poll-us``, or 0 when a frontend runs on grpcio's own threads: polling
    keeps the loop's thread running, and under SCHED_BATCH a woken grpcio thread (the one
    that reads the next call, or sends a reply) would wait for it (``core/busy_poll.py``).
    """
    if opts.allow_grpc and grpc_shape(opts.grpc_server) != "native":
        return 0
    return max(0, opts.busy_poll_us)


def _grpc(server: InferenceServer, opts: ServerOptions, *,
          settings: ServerSettings | None = None) -> tuple[str, str, Frontend]:
    from tritonlite.frontends.grpc.server import GrpcFrontend

    return ("GRPCInferenceService", opts.grpc_address,
            GrpcFrontend(server, address=opts.grpc_address, port=opts.grpc_port,
                         settings=settings, shape=grpc_shape(opts.grpc_server),
                         header_forward_pattern=opts.grpc_header_forward_pattern))


def _http(server: InferenceServer, opts: ServerOptions, *,
          settings: ServerSettings | None = None) -> tuple[str, str, Frontend]:
    from tritonlite.frontends.http.server import HttpFrontend
    from tritonlite.repository.pbtxt import config_to_json

    return ("HTTPService", opts.http_address,
            HttpFrontend(server, address=opts.http_address, port=opts.http_port,
                         max_input_size=opts.http_max_input_size, settings=settings,
                         config_json=config_to_json, shape=http_shape(opts.http_server),
                         header_forward_pattern=opts.http_header_forward_pattern))


def _metrics(server: InferenceServer, opts: ServerOptions) -> tuple[str, str, Frontend]:
    from tritonlite.frontends.metrics.config import MetricsConfig
    from tritonlite.frontends.metrics.exporter import MetricsFrontend

    return ("Metrics Service", opts.metrics_address,
            MetricsFrontend(server, address=opts.metrics_address, port=opts.metrics_port,
                            metrics_config=MetricsConfig.parse(opts.metrics_config),
                            interval_ms=opts.metrics_interval_ms,
                            cpu_metrics=opts.allow_cpu_metrics))


def frontend_factories(opts: ServerOptions) -> list[FrontendFactory]:
    """The frontends to start, in Triton's order (gRPC, HTTP, metrics). gRPC and HTTP
    share one set of log/trace settings, so ``v2/logging`` and ``LogSettings`` agree."""
    settings = ServerSettings(log=LogSettings(
        log_info=opts.log_info, log_warning=opts.log_warning, log_error=opts.log_error,
        log_verbose_level=opts.log_verbose))
    out: list[FrontendFactory] = []
    if opts.allow_grpc:
        out.append(functools.partial(_grpc, settings=settings))
    if opts.allow_http:
        out.append(functools.partial(_http, settings=settings))
    if opts.allow_metrics:
        out.append(_metrics)
    return out


def model_table(rows: list[tuple[str, str, str]]) -> str:
    """Triton's start-up table of models, versions and states."""
    head = ("Model", "Version", "Status")
    widths = [max([len(head[i])] + [len(r[i]) for r in rows]) for i in range(3)]
    sep = "+" + "+".join("-" * (w + 2) for w in widths) + "+"

    def line(cells: tuple[str, str, str]) -> str:
        return "|" + "|".join(f" {c:<{w}} " for c, w in zip(cells, widths, strict=True)) + "|"

    body = [line(r) for r in rows]
    return "\n".join([sep, line(head), sep, *body, sep])


class Runner:
    def __init__(self, opts: ServerOptions) -> None:
        self.opts = opts
        self.registry = Registry()
        self.server = InferenceServer(self.registry, strict_readiness=opts.strict_readiness,
                                      busy_poll_us=busy_poll_window(opts))
        self.factory = ModelFactory(opts, self.server)
        self.control = ModelControl(opts, self.registry, self.factory)
        self.frontends: list[Frontend] = []
        self.stop_event = asyncio.Event()

    async def load_repository(self) -> bool:
        await self.control.load_startup()
        if self.control.explicit:
            self.server.set_model_control(self.control.load, self.control.unload)
        rows = [(r.name, r.version, r.state if not r.reason else f"{r.state}: {r.reason}")
                for r in self.registry.index() if r.state]
        print(model_table(rows), file=sys.stderr, flush=True)
        return self.registry.all_ready()

    async def start_frontends(self) -> None:
        for make in frontend_factories(self.opts):
            _label, _address, fe = make(self.server, self.opts)
            await fe.start()
            self.frontends.append(fe)

    async def shutdown(self) -> None:
        self.server.exiting = True
        timeout = float(self.opts.exit_timeout_secs)
        if not await self.server.drain(timeout):
            log.error("failed to stop server: Exit timeout expired. Exiting immediately.")
        await self.control.unload_all()
        for fe in self.frontends:
            await fe.stop(grace=1.0)

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, self.stop_event.set)
        if self.opts.sched_batch:  # before the workers start: they inherit it
            no_wakeup_preemption()
        ok = await self.load_repository()
        if not ok and self.opts.exit_on_error:
            print("error: creating server: Internal - failed to load all models",
                  file=sys.stderr, flush=True)
            await self.control.unload_all()
            return 1
        gc.freeze()  # models and modules loaded so far live for the whole run
        gc.set_threshold(10_000, 50, 50)
        try:
            await self.start_frontends()
        except Exception as exc:
            log.error("failed to start the frontends: %s", exc)
            await self.shutdown()
            return 1
        await self.stop_event.wait()
        log.info("shutting down")
        await self.shutdown()
        return 0


async def run(opts: ServerOptions) -> int:
    return await Runner(opts).run()
