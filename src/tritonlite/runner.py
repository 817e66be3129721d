"""The composition root: repository -> model factory -> registry/server -> frontends.

Start-up loads every model concurrently, prints Triton's model table, and exits if a
model failed and ``--exit-on-error`` is true. Shutdown follows Triton's order: stop
accepting new inference, wait up to ``--exit-timeout-secs`` for in-flight requests,
finalize the models, then close the listeners.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Protocol

from tritonlite.core.errors import InferenceServerError
from tritonlite.core.lifecycle import ModelState
from tritonlite.core.model import ModelVersion
from tritonlite.core.registry import Registry
from tritonlite.core.server import InferenceServer
from tritonlite.model_factory import ModelFactory
from tritonlite.options import ServerOptions
from tritonlite.repository.loader import ModelSource, discover

log = logging.getLogger(__name__)


class Frontend(Protocol):
    async def start(self) -> int: ...
    async def stop(self, grace: float) -> None: ...


FrontendFactory = Callable[[InferenceServer, ServerOptions], tuple[str, str, Frontend]]


def _grpc(server: InferenceServer, opts: ServerOptions) -> tuple[str, str, Frontend]:
    from tritonlite.frontends.grpc.server import GrpcFrontend

    return ("GRPCInferenceService", opts.grpc_address,
            GrpcFrontend(server, address=opts.grpc_address, port=opts.grpc_port))


def frontend_factories(opts: ServerOptions) -> list[FrontendFactory]:
    out: list[FrontendFactory] = []
    if opts.allow_grpc:
        out.append(_grpc)
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
        self.server = InferenceServer(self.registry, strict_readiness=opts.strict_readiness)
        self.factory = ModelFactory(opts, self.server)
        self.loaded: list[ModelVersion] = []
        self.frontends: list[Frontend] = []
        self.stop_event = asyncio.Event()

    async def _load_source(self, source: ModelSource) -> None:
        async def one(version: int) -> None:
            self.registry.set_state(source.name, version, ModelState.LOADING)
            try:
                mv = await self.factory.load(source, version)
            except Exception as exc:  # one model's failure must not take the server down
                if isinstance(exc, InferenceServerError):
                    reason = f"Internal: {exc.message}"
                else:
                    log.exception("unexpected error loading '%s'", source.name)
                    reason = f"Internal: {type(exc).__name__}: {exc}"
                log.error("failed to load '%s' version %d: %s", source.name, version, reason)
                self.registry.set_state(source.name, version, ModelState.UNAVAILABLE,
                                        reason=reason)
                return
            self.loaded.append(mv)
            self.registry.set_state(source.name, version, ModelState.READY, model=mv)
            log.info("successfully loaded '%s' version %d", source.name, version)

        if not source.versions:
            reason = f"Internal: failed to load '{source.name}', no version is available"
            log.error("%s", reason)
            self.registry.set_failed(source.name, reason)
            return
        await asyncio.gather(*(one(v) for v in source.versions))

    async def load_repository(self) -> bool:
        result = discover([Path(p) for p in self.opts.model_repository],
                          model_config_name=self.opts.model_config_name)
        for failure in result.failures:
            log.error("failed to load '%s': %s", failure.name, failure.reason)
            self.registry.set_failed(failure.name, f"Internal: {failure.reason}")
        await asyncio.gather(*(self._load_source(s) for s in result.models))
        rows = [(r.name, r.version, r.state if not r.reason else f"{r.state}: {r.reason}")
                for r in self.registry.index()]
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
        await asyncio.gather(*(self.factory.unload(mv) for mv in self.loaded),
                             return_exceptions=True)
        for fe in self.frontends:
            await fe.stop(grace=1.0)

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, self.stop_event.set)
        ok = await self.load_repository()
        if not ok and self.opts.exit_on_error:
            print("error: creating server: Internal - failed to load all models",
                  file=sys.stderr, flush=True)
            await asyncio.gather(*(self.factory.unload(mv) for mv in self.loaded),
                                 return_exceptions=True)
            return 1
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


async def run(opts: ServerOptions, ready: Callable[[Runner], Awaitable[None]] | None = None,
              ) -> int:
    runner = Runner(opts)
    return await runner.run()
