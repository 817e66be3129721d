"""An ASGI application served by uvicorn (httptools parser) inside the server's running
event loop: what the metrics frontend listens with, and the HTTP frontend under
``--http-server uvicorn`` (its default is its own protocol, ``frontends/http/native.py``).

uvicorn is embedded, not run: :meth:`EmbeddedUvicorn.start` binds our own listening
socket (so ``port=0`` works and a busy port is reported in Triton's words) and calls
``Server.startup``; :meth:`EmbeddedUvicorn.stop` calls ``Server.shutdown``. uvicorn's
``serve()`` is not used: it installs its own signal handlers and polls a main loop, and
the runner owns signals and shutdown.
"""

from __future__ import annotations

import math
import socket
from typing import Any

import uvicorn

from tritonlite.frontends.common.sockets import KEEP_ALIVE_S, serve_on

__all__ = ["EmbeddedUvicorn"]



class EmbeddedUvicorn:
    """One uvicorn server for ``app`` on the running loop."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self._server: uvicorn.Server | None = None
        self._socket: socket.socket | None = None

    @property
    def running(self) -> bool:
        return self._server is not None

    async def start(self, address: str, port: int) -> int:
        """Bind and start serving; returns the bound port."""
        if self._server is not None:
            raise RuntimeError("already started")
        config = uvicorn.Config(
            self.app,
            http="httptools",
            lifespan="off",
            access_log=False,
            log_config=None,
            server_header=False,
            date_header=False,
            proxy_headers=False,  # its middleware cost ~10% of a small request; unused here
            timeout_keep_alive=KEEP_ALIVE_S,
        )
        config.load()
        server = uvicorn.Server(config)
        server.lifespan = config.lifespan_class(config)  # what serve() would set up
        sock = await serve_on(address, port, lambda sock: server.startup(sockets=[sock]))
        self._server, self._socket = server, sock
        bound: int = sock.getsockname()[1]
        return bound

    async def stop(self, grace: float | None = None) -> None:
        """Close the listener at once; requests in flight get ``grace`` seconds."""
        server, self._server = self._server, None
        sock, self._socket = self._socket, None
        if server is None:
            return
        server.config.timeout_graceful_shutdown = None if grace is None else math.ceil(grace)
        await server.shutdown(sockets=[sock] if sock is not None else None)
