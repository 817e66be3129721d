"""The HTTP/REST endpoint on the server's own event loop (uvloop when the CLI installed
it), in one of two shapes (``--http-server``, ``runner.http_shape``):

* ``native`` (what ``auto`` picks): tritonlite's HTTP/1.1 connection protocol over the
  httptools parser (``native.py``), calling :meth:`HttpApp.handle` directly;
* ``uvicorn``: uvicorn (httptools) serving :class:`HttpApp` as an ASGI application
  (``frontends.common.listener``).

Both serve the same app; the routes, bodies, limits and errors are the app's.

Why, measured on the 2-core box (server pinned to one core, a lean keep-alive asyncio
client on the other; a small binary-tensor request answered by a fixed reply; server CPU
per request; numbers vary +-20% between runs):

=============================================  ===============  =====================
server                                         CPU per request  c1 / c8 throughput
=============================================  ===============  =====================
bare ``asyncio.Protocol`` + httptools           ~18 us          12-13k / 80-110k req/s
uvicorn + httptools, raw ASGI                   31-45 us        4-13k / 12-36k req/s
uvicorn + httptools + Starlette routing         55-70 us        4k / 5-12k req/s
aiohttp low-level ``web.Server``                44-50 us        7-9k / 20-33k req/s
uvicorn + h11                                   ~97 us          5k / 10k req/s
=============================================  ===============  =====================

A routing framework (Starlette) would add 12-25 us per request -- as much as the whole
app costs (~25 us for decode, one core call and encode, measured in-process), so the app
is raw ASGI, and the native shape skips ASGI too. Through the whole server on a 16-float
identity model the reference Triton 2.51 spends ~85-100 us of server CPU per HTTP
request; uvicorn's protocol and the ASGI hand-off were ~30 us of tritonlite's ~118 us
(``bench/README.md`` has the measurements).
"""

from __future__ import annotations

import logging
import re

from tritonlite.core.interfaces import ServerApi
from tritonlite.core.settings import ServerSettings
from tritonlite.frontends.common.listener import EmbeddedUvicorn
from tritonlite.frontends.http.app import HttpApp
from tritonlite.frontends.http.handlers import ConfigEncoder, Handlers
from tritonlite.frontends.http.native import NativeHttpServer

__all__ = ["SHAPES", "HttpFrontend"]

#: The values of ``--http-server`` besides ``auto`` (see the module doc).
SHAPES = ("native", "uvicorn")

logger = logging.getLogger(__name__)

DEFAULT_MAX_INPUT_SIZE = 64 << 20


class HttpFrontend:
    """Serves Triton's HTTP/REST protocol for ``server`` on ``address:port``.

    Call :meth:`start` on the event loop that runs the server; it returns the bound port
    (``port=0`` picks a free one). :meth:`stop` closes the listener at once and gives
    requests in flight ``grace`` seconds.

    ``settings`` are the log/trace settings shared with the other frontends;
    ``config_json`` renders a model config the way ``GET v2/models/<m>/config`` serves
    it; ``header_forward_pattern`` is ``--http-header-forward-pattern`` (matching request
    headers become string parameters; header names arrive lower-cased).
    """

    def __init__(
        self,
        server: ServerApi,
        *,
        address: str = "0.0.0.0",
        port: int = 8000,
        max_input_size: int = DEFAULT_MAX_INPUT_SIZE,
        settings: ServerSettings | None = None,
        config_json: ConfigEncoder | None = None,
        header_forward_pattern: str = "",
        shape: str = "native",
    ) -> None:
        if shape not in SHAPES:
            raise ValueError(f"unknown HTTP server shape {shape!r}; one of {SHAPES}")
        self.server = server
        self.address = address
        self.port = port
        self.max_input_size = max_input_size
        pattern = re.compile(header_forward_pattern) if header_forward_pattern else None
        self.handlers = Handlers(
            server,
            max_input_size=max_input_size,
            settings=settings if settings is not None else ServerSettings(),
            config_json=config_json,
            header_forward_pattern=pattern,
        )
        self.app = HttpApp(self.handlers, max_input_size=max_input_size)
        self.shape = shape
        self._listener: NativeHttpServer | EmbeddedUvicorn = (
            NativeHttpServer(self.app) if shape == "native" else EmbeddedUvicorn(self.app))

    async def start(self) -> int:
        """Bind and start serving; returns the bound port."""
        if self._listener.running:
            raise RuntimeError("HttpFrontend already started")
        self.port = await self._listener.start(self.address, self.port)
        logger.info("Started HTTPService at %s:%d (%s)", self.address, self.port, self.shape)
        return self.port

    async def stop(self, grace: float | None = None) -> None:
        """Stop accepting connections; requests in flight get ``grace`` seconds."""
        await self._listener.stop(grace)
