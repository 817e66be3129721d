"""Server CPU per request, measured in-process: ``python -m bench.inproc``.

The side-by-side benchmark (``bench/run.py``) is the proof, but its A/B ratios between two
server processes move by a few percent from one pair of processes to the next, which hides
the one-microsecond steps that small-request speed is made of. This tool takes the client
and the sockets out: one process runs tritonlite's core with the tiny identity model
(``bench/models/identity_fp32``, a real worker process; ``--model`` picks another of the
benchmark's 16-float models, such as the batching ``identity_fp32_db``) and feeds a
frontend connection (the native HTTP/1.1 one or the native gRPC one) with whole requests
through a stand-in transport, ``concurrency`` connections each with one request in flight;
a reply written to a connection sends its next request (from the loop, as a socket read
would). It reports the main process's and the worker's CPU time per request, which usually
repeat within about 1 µs from run to run (a busy machine shows as an outlier of a few µs:
run it twice).

What it leaves out: the kernel's TCP work (about 15 µs per small request here) and the
client. Use it to compare two trees (``PYTHONPATH=other/src python -m bench.inproc``:
the worker process follows the same path), then confirm with ``bench/run.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import struct
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
if __package__ in (None, ""):  # run as a script: make ``bench`` importable
    sys.path.insert(0, str(ROOT))

from bench import clients  # noqa: E402

#: The models it can drive (16 FP32 in, the same out), with their request shapes.
MODELS = {"identity_fp32": [16], "identity_fp32_db": [1, 16],
          "busy_exec_1ms": [1, 16], "busy_exec_1ms_db": [1, 16]}
MODEL = "identity_fp32"


def _http_request(model: str) -> bytes:
    data = np.arange(16, dtype=np.float32).reshape(MODELS[model])
    head, raw = clients.http_fp32_request(model, data)
    return bytes(head) + bytes(raw)


def _frame(ftype: int, flags: int, stream_id: int, payload: bytes) -> bytes:
    return (struct.pack(">I", len(payload))[1:] + bytes((ftype, flags))
            + struct.pack(">I", stream_id) + payload)


_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
_DATA, _HEADERS, _SETTINGS, _WINDOW_UPDATE = 0, 1, 4, 8
_END_STREAM, _END_HEADERS = 0x1, 0x4
_GRPC_HEADERS = [(":method", "POST"), (":scheme", "http"),
                 (":path", "/inference.GRPCInferenceService/ModelInfer"),
                 (":authority", "bench"), ("content-type", "application/grpc"),
                 ("te", "trailers")]


def _grpc_message(model: str) -> bytes:
    from tritonclient.grpc import service_pb2

    request = service_pb2.ModelInferRequest(model_name=model)
    tensor = request.inputs.add()
    tensor.name, tensor.datatype = "INPUT0", "FP32"
    tensor.shape.extend(MODELS[model])
    request.raw_input_contents.append(np.arange(16, dtype=np.float32).tobytes())
    request.outputs.add().name = "OUTPUT0"
    body = request.SerializeToString()
    return b"\x00" + struct.pack(">I", len(body)) + body


class _Transport(asyncio.Transport):
    """Stands in for a socket: counts the replies written to it and, for each, sends the
    connection's next request from the loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, replies: Callable[[bytes], int],
                 next_request: Callable[[], bytes], on_reply: Callable[[], bool]) -> None:
        super().__init__()
        self.loop = loop
        self.protocol: Any = None
        self._replies = replies  # how many replies end in the bytes written
        self._next = next_request
        self._on_reply = on_reply  # True while more requests should follow

    def feed(self) -> None:
        self.protocol.data_received(self._next())

    def write(self, data: Any) -> None:
        for _ in range(self._replies(bytes(data))):
            if self._on_reply():
                self.loop.call_soon(self.feed)

    def writelines(self, list_of_data: Any) -> None:
        self.write(b"".join(bytes(d) for d in list_of_data))

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default


class _GrpcReplies:
    """Counts finished calls (trailers: a HEADERS frame with END_STREAM) in what the
    server writes, across writes."""

    def __init__(self) -> None:
        self._buf = b""

    def __call__(self, data: bytes) -> int:
        buf, pos, ended = self._buf + data, 0, 0
        while len(buf) - pos >= 9:
            length = int.from_bytes(buf[pos:pos + 3], "big")
            if len(buf) - pos < 9 + length:
                break
            if buf[pos + 3] == _HEADERS and buf[pos + 4] & _END_STREAM:
                ended += 1
            pos += 9 + length
        self._buf = buf[pos:]
        return ended


class _GrpcRequests:
    """One connection's calls: the preface first, then a new stream per call. The header
    block is the one a client sends when it repeats a call (table indexes only)."""

    def __init__(self, model: str) -> None:
        import hpack

        self._encoder = hpack.Encoder()
        self._block = b""
        self._stream = 1
        self._message = _grpc_message(model)
        self.preface = (_PREFACE + _frame(_SETTINGS, 0, 0, b"")
                        + _frame(_WINDOW_UPDATE, 0, 0, struct.pack(">I", 1 << 30)))

    def __call__(self) -> bytes:
        stream, self._stream = self._stream, self._stream + 2
        if stream <= 3:  # the first call fills the HPACK table; the second is all indexes
            self._block = self._encoder.encode(_GRPC_HEADERS)
        return (_frame(_HEADERS, _END_HEADERS, stream, self._block)
                + _frame(_DATA, _END_STREAM, stream, self._message)
                + _frame(_WINDOW_UPDATE, 0, 0, struct.pack(">I", 256)))


async def _measure(protocol: str, concurrency: int, requests: int, rounds: int,
                   model: str = MODEL) -> list[tuple[float, float, float]]:
    """(requests/s, main µs/request, worker µs/request) per round."""
    import psutil

    from tritonlite.cpu_policy import no_wakeup_preemption
    from tritonlite.frontends.grpc.native import NativeGrpcServer
    from tritonlite.frontends.grpc.server import GrpcFrontend
    from tritonlite.frontends.http import native
    from tritonlite.frontends.http.server import HttpFrontend
    from tritonlite.options import ServerOptions
    from tritonlite.runner import Runner

    opts = ServerOptions(model_repository=[str(BENCH / "models")],
                         model_control_mode="explicit", load_model=[model])
    runner = Runner(opts)
    no_wakeup_preemption()  # as the server runs (``Runner.run``); the worker inherits it
    if not await runner.load_repository():
        raise SystemExit(f"could not load {model}")
    gc.freeze()
    gc.set_threshold(10_000, 50, 50)
    loop = asyncio.get_running_loop()
    left = 0
    done: asyncio.Future[None] = loop.create_future()

    def on_reply() -> bool:
        nonlocal left
        left -= 1
        if left <= 0 and not done.done():
            done.set_result(None)
        return left > 0

    transports = []
    try:
        if protocol == "http":
            http_app = HttpFrontend(runner.server).app
            http_server = native.NativeHttpServer(http_app)
            request = _http_request(model)
            for _ in range(concurrency):
                t = _Transport(loop, lambda data: 1, lambda: request, on_reply)
                t.protocol = native.HttpConnection(http_server)
                t.protocol.connection_made(t)
                transports.append(t)
        else:
            frontend = GrpcFrontend(runner.server)
            grpc_server = NativeGrpcServer(frontend.server, frontend.servicer, frontend.health)
            for _ in range(concurrency):
                calls = _GrpcRequests(model)
                t = _Transport(loop, _GrpcReplies(), calls, on_reply)
                t.protocol = grpc_server._connection()
                t.protocol.connection_made(t)
                t.protocol.data_received(calls.preface)
                transports.append(t)

        async def run(n: int) -> None:
            nonlocal left, done
            left, done = n, loop.create_future()
            for t in transports:
                t.feed()
            await done
            await asyncio.sleep(0.01)  # the last replies' bookkeeping

        await run(max(2000, requests // 10))  # warm-up
        workers = psutil.Process().children(recursive=True)
        results = []
        for _ in range(rounds):
            w0 = sum(sum(p.cpu_times()[:2]) for p in workers)
            c0, t0 = time.process_time(), time.perf_counter()
            await run(requests)
            c1, t1 = time.process_time(), time.perf_counter()
            w1 = sum(sum(p.cpu_times()[:2]) for p in workers)
            results.append((requests / (t1 - t0), (c1 - c0) / requests * 1e6,
                            (w1 - w0) / requests * 1e6))
        return results
    finally:
        await runner.control.unload_all()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--protocol", choices=("http", "grpc", "both"), default="both")
    parser.add_argument("--model", choices=sorted(MODELS), default=MODEL)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--requests", type=int, default=40_000, help="per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--core", type=int, default=0,
                        help="the one core this process and its worker run on (-1: any)")
    args = parser.parse_args(argv)
    if args.core >= 0 and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.core})
    import uvloop

    for protocol in ("http", "grpc") if args.protocol == "both" else (args.protocol,):
        rounds = uvloop.run(_measure(protocol, args.concurrency, args.requests, args.rounds,
                                     args.model))
        rate, main_us, worker_us = (statistics.median(r[i] for r in rounds) for i in range(3))
        named = "" if args.model == MODEL else f" {args.model}"
        print(f"{protocol}{named} c={args.concurrency}: {rate:,.0f} req/s, server CPU per request "
              f"{main_us + worker_us:.1f} us (main {main_us:.1f}, worker {worker_us:.1f}); "
              f"median of {args.rounds} x {args.requests} requests", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
