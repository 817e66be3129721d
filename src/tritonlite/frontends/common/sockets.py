"""The listening socket every HTTP listener (native or uvicorn) binds, and its policy."""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable

__all__ = ["KEEP_ALIVE_S", "bind_socket", "serve_on"]

KEEP_ALIVE_S = 600  # Triton keeps idle connections open; clients pool them


def bind_socket(address: str, port: int) -> socket.socket:
    """A listening TCP socket on ``address:port`` (IPv4 or IPv6; port 0 = any free one).

    Raises ``OSError`` with Triton's text (``Socket '0.0.0.0:8000' already in use``).

    The protocol is named (``IPPROTO_TCP``, not 0): accepted sockets inherit it, and
    asyncio's own loop turns Nagle's algorithm off only on sockets that say they are TCP
    (uvloop does it regardless); with it on, a reply written in parts waits for the
    client's delayed ACK."""
    host = address.strip("[]")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(1024)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        raise OSError(exc.errno, f"Socket '{address}:{port}' already in use ") from exc
    return sock


async def serve_on(address: str, port: int,
                   start: Callable[[socket.socket], Awaitable[object]]) -> socket.socket:
    """Bind ``address:port`` (:func:`bind_socket`) and hand the socket to ``start``, which
    begins serving on it; the socket is closed if that fails. Returns the socket (its
    ``getsockname()`` has the bound port)."""
    sock = bind_socket(address, port)
    try:
        await start(sock)
    except BaseException:
        sock.close()
        raise
    return sock
