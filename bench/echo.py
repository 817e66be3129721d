"""The echo ceiling server: ``python bench/echo.py --grpc-port P --http-port P2``.

Runs the bare gRPC echo (its own threads) and the bare HTTP echo (the main thread's event
loop) in one process, so the benchmark can start, pin and measure it like the real
servers. Only one of the two is driven at a time.
"""

from __future__ import annotations

import argparse
import asyncio
import signal

from bench import echo_grpc, echo_http


async def main_async(grpc_port: int, http_port: int) -> None:
    grpc_server = echo_grpc.serve(grpc_port)
    http_server = await echo_http.serve(http_port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    http_server.close()
    grpc_server.stop(0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--grpc-port", type=int, required=True)
    parser.add_argument("--http-port", type=int, required=True)
    args = parser.parse_args()
    try:
        import uvloop
    except ImportError:
        asyncio.run(main_async(args.grpc_port, args.http_port))
    else:
        uvloop.run(main_async(args.grpc_port, args.http_port))


if __name__ == "__main__":
    main()
