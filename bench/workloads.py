"""The workloads: what the client sends, how every answer is checked, what is counted.

Each workload is one closed loop (a fixed number of callers, each sending its next request
as soon as its last answer arrived) run for a given time against one server. A
:class:`Recorder` counts correct answers (with their latency and their units: frames,
requests, bytes or responses), wrong answers and failed calls (errors: never throughput),
and the server's and the client's CPU time over the timed window. Opening a sequence or a
stream and closing it happen outside that window.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import struct
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import grpc
import numpy as np
from tritonclient.grpc import service_pb2

from bench import clients
from bench.frames import check_frame

MAX_ERRORS = 200  # a measurement stops early once this many answers were wrong
MB = 1e6

_correlation_ids = itertools.count(1 + (time.time_ns() // 1000) % 10**9 * 1000)


def next_correlation_id() -> int:
    return next(_correlation_ids)


@dataclass
class Recorder:
    """Counts of one measurement; ``cpu`` reads the server's CPU seconds."""

    cpu: Callable[[], float]
    ok: int = 0
    errors: int = 0
    units: float = 0.0
    latencies_ns: list[int] = field(default_factory=list)
    error_samples: list[str] = field(default_factory=list)
    elapsed: float = 0.0
    server_cpu_s: float = 0.0
    client_cpu_s: float = 0.0
    _t0: float = 0.0
    _cpu0: float = 0.0
    _client0: float = 0.0

    def begin(self) -> float:
        """Start the timed window; returns its deadline base (perf_counter seconds)."""
        self._cpu0 = self.cpu()
        self._client0 = time.process_time()
        self._t0 = time.perf_counter()
        return self._t0

    def end(self) -> None:
        self.elapsed = time.perf_counter() - self._t0
        self.client_cpu_s = time.process_time() - self._client0
        self.server_cpu_s = self.cpu() - self._cpu0

    def success(self, latency_ns: int, units: float = 1.0) -> None:
        self.ok += 1
        self.units += units
        self.latencies_ns.append(latency_ns)

    def failure(self, message: str) -> None:
        self.errors += 1
        if len(self.error_samples) < 5 and message not in self.error_samples:
            self.error_samples.append(message)

    @property
    def started(self) -> bool:
        return self._t0 > 0

    @property
    def aborted(self) -> bool:
        return self.errors >= MAX_ERRORS


Target = object  # bench.servers.Server: .grpc_url, .http_port
Runner = Callable[[Target, Recorder, float], Awaitable[None]]


@dataclass(frozen=True)
class Workload:
    name: str
    group: str  # the workload number and name
    title: str
    unit: str
    transport: str  # "grpc" | "http"
    run: Runner
    echo: bool = False  # also measured against the echo ceiling server
    unit_per_request: str = "request"  # what the CPU-per-request column divides by
    # "pinned": the server stays on its core (--server-cores, default core 0); "all": the
    # server may use every core for this workload (instance scaling: one core hides it).
    server_cores: str = "pinned"


def _rpc_error(exc: grpc.aio.AioRpcError) -> str:
    return f"{exc.code().name}: {exc.details()}"


async def _gather_workers(concurrency: int, worker: Callable[[int], Awaitable[None]]) -> None:
    await asyncio.gather(*(worker(i) for i in range(concurrency)))


# --------------------------------------------------------------------------- identity
def _fp32_variants(size: int, caller: int, count: int) -> list[np.ndarray]:
    """Distinct inputs per caller and per call, so a mixed-up answer is caught."""
    base = np.arange(size, dtype=np.float32)
    return [base + np.float32(caller * 1000 + k * 100_000 + 0.25) for k in range(count)]


def grpc_identity(model: str, size: int, concurrency: int, units_per_req: float,
                  shape: list[int] | None = None) -> Runner:
    """``shape`` of INPUT0 (and of the expected OUTPUT0); default flat ``[size]``. A model
    with ``max_batch_size > 0`` takes ``[1, dims...]``."""
    variants_per_caller = 2 if size > 1024 else 4

    @functools.cache
    def prepare() -> list[list[tuple[bytes, bytes]]]:
        return [[(clients.fp32_request(model, data, f"{c}-{k}", shape), data.tobytes())
                 for k, data in enumerate(_fp32_variants(size, c, variants_per_caller))]
                for c in range(concurrency)]

    async def run(target: Target, rec: Recorder, duration: float) -> None:
        prepared = prepare()
        async with clients.grpc_channel(target.grpc_url) as channel:  # type: ignore[attr-defined]
            await channel.channel_ready()
            call = clients.model_infer(channel)

            async def caller(index: int) -> None:
                mine = itertools.cycle(prepared[index])
                while time.perf_counter() < deadline and not rec.aborted:
                    request, expected = next(mine)
                    t0 = time.perf_counter_ns()
                    try:
                        reply = await call(request)
                    except grpc.aio.AioRpcError as exc:
                        rec.failure(_rpc_error(exc))
                        continue
                    latency = time.perf_counter_ns() - t0
                    problem = clients.check_fp32_identity(reply, expected, size, shape)
                    if problem:
                        rec.failure(problem)
                    else:
                        rec.success(latency, units_per_req)

            deadline = rec.begin() + duration
            await _gather_workers(concurrency, caller)
            rec.end()

    return run


def http_identity(model: str, size: int, concurrency: int, units_per_req: float) -> Runner:
    variants_per_caller = 2 if size > 1024 else 4

    @functools.cache
    def prepare() -> list[list[tuple[list[bytes], bytes]]]:
        return [[(clients.http_fp32_request(model, data), data.tobytes())
                 for data in _fp32_variants(size, c, variants_per_caller)]
                for c in range(concurrency)]

    async def run(target: Target, rec: Recorder, duration: float) -> None:
        prepared = prepare()
        port = target.http_port  # type: ignore[attr-defined]
        connections = [await clients.HttpConnection.open("127.0.0.1", port)
                       for _ in range(concurrency)]

        async def caller(index: int) -> None:
            mine = itertools.cycle(prepared[index])
            connection = connections[index]
            while time.perf_counter() < deadline and not rec.aborted:
                parts, expected = next(mine)
                t0 = time.perf_counter_ns()
                try:
                    reply = await connection.request(parts)
                except (OSError, clients.HttpError) as exc:
                    rec.failure(f"HTTP connection: {exc!r}")
                    connection.close()
                    connection = connections[index] = await clients.HttpConnection.open(
                        "127.0.0.1", port)
                    continue
                latency = time.perf_counter_ns() - t0
                problem = clients.check_http_fp32_identity(reply, expected, size)
                if problem:
                    rec.failure(problem)
                else:
                    rec.success(latency, units_per_req)

        try:
            deadline = rec.begin() + duration
            await _gather_workers(concurrency, caller)
            rec.end()
        finally:
            for connection in connections:
                connection.close()

    return run


# --------------------------------------------------------------------------- seed (JPEG)
JPG_MODEL = "jpg_model"
FULL_DECODE_EVERY = 16


def _frame_request(frame: bytes, request_id: str, cid: int, start: bool = False,
                   end: bool = False) -> bytes:
    inputs = [("image", "BYTES", [1], clients.bytes_element(frame))]
    return clients.infer_request(JPG_MODEL, inputs, request_id=request_id, sequence_id=cid,
                                 start=start, end=end).SerializeToString()


def _check_jpeg_reply(reply: service_pb2.ModelInferResponse, count: int) -> str | None:
    if len(reply.outputs) != 1 or reply.outputs[0].name != "output_image":
        return f"expected output_image, got {[o.name for o in reply.outputs]}"
    raw = reply.raw_output_contents[0] if reply.raw_output_contents else b""
    if len(raw) < 4:
        return "empty output_image"
    (length,) = struct.unpack_from("<I", raw)
    if length != len(raw) - 4:
        return f"output_image holds more than one element ({length} of {len(raw) - 4} bytes)"
    return check_frame(raw[4:], full=count % FULL_DECODE_EVERY == 0)


def seed_unary(frames: Callable[[], list[bytes]]) -> Runner:
    """One sequence, one unary ModelInfer per frame, one frame in flight."""

    async def run(target: Target, rec: Recorder, duration: float) -> None:
        cid = next_correlation_id()
        requests = [_frame_request(f, str(i), cid) for i, f in enumerate(frames())]
        async with clients.grpc_channel(target.grpc_url) as channel:  # type: ignore[attr-defined]
            call = clients.model_infer(channel)
            await call(_frame_request(b"", "start", cid, start=True))
            count = 0
            deadline = rec.begin() + duration
            while time.perf_counter() < deadline and not rec.aborted:
                t0 = time.perf_counter_ns()
                try:
                    reply = await call(requests[count % len(requests)])
                except grpc.aio.AioRpcError as exc:
                    rec.failure(_rpc_error(exc))
                    count += 1
                    continue
                latency = time.perf_counter_ns() - t0
                problem = _check_jpeg_reply(reply, count)
                if problem is None and reply.id != str(count % len(requests)):
                    problem = f"reply id {reply.id!r} for request {count % len(requests)}"
                if problem:
                    rec.failure(problem)
                else:
                    rec.success(latency)
                count += 1
            rec.end()
            await call(_frame_request(b"", "end", cid, end=True))

    return run


def seed_stream(frames: Callable[[], list[bytes]], window: int) -> Runner:
    """One sequence over one ModelStreamInfer stream, ``window`` frames in flight."""

    async def run(target: Target, rec: Recorder, duration: float) -> None:
        cid = next_correlation_id()
        requests = [_frame_request(f, str(i), cid) for i, f in enumerate(frames())]
        async with clients.grpc_channel(target.grpc_url) as channel:  # type: ignore[attr-defined]
            stream = clients.model_stream_infer(channel)()
            await stream.write(_frame_request(b"", "start", cid, start=True))
            opened = await stream.read()
            if opened is grpc.aio.EOF or opened.error_message:
                rec.begin()
                rec.failure(f"START failed: {getattr(opened, 'error_message', 'EOF')}")
                rec.end()
                return
            pending: deque[tuple[int, int]] = deque()  # (sent at ns, count)
            slots = asyncio.Semaphore(window)
            wake = asyncio.Event()
            sending_done = False

            async def reader() -> None:
                while True:
                    while not pending:
                        if sending_done:
                            return
                        wake.clear()
                        await wake.wait()
                    message = await stream.read()
                    if message is grpc.aio.EOF:
                        rec.failure("stream ended early")
                        return
                    t0, count = pending.popleft()
                    latency = time.perf_counter_ns() - t0
                    slots.release()
                    if message.error_message:
                        rec.failure(message.error_message)
                        continue
                    reply = message.infer_response
                    problem = _check_jpeg_reply(reply, count)
                    if problem is None and reply.id != str(count % len(requests)):
                        problem = f"reply id {reply.id!r} for request {count % len(requests)}"
                    if problem:
                        rec.failure(problem)
                    else:
                        rec.success(latency)

            deadline = rec.begin() + duration
            reading = asyncio.create_task(reader())
            count = 0
            while time.perf_counter() < deadline and not rec.aborted and not reading.done():
                await slots.acquire()
                pending.append((time.perf_counter_ns(), count))
                wake.set()
                await stream.write(requests[count % len(requests)])
                count += 1
            sending_done = True
            wake.set()
            await reading
            rec.end()
            await stream.write(_frame_request(b"", "end", cid, end=True))
            await stream.read()
            await stream.done_writing()
            while await stream.read() is not grpc.aio.EOF:
                pass

    return run


# --------------------------------------------------------------------------- sequences
ACCUMULATOR = "accumulator"


def sequences(count: int, steps: int) -> Runner:
    """``count`` concurrent sequences of ``steps`` unary calls each, repeated until the
    time is up (at least once); OUTPUT must be the exact running sum."""

    async def one_sequence(call: grpc.aio.UnaryUnaryMultiCallable, rec: Recorder) -> None:
        cid = next_correlation_id()
        total = 0
        for step in range(steps):
            value = (cid * 7 + step * 13) % 1000 + 1
            total += value
            request = clients.infer_request(
                ACCUMULATOR, [("INPUT", "INT32", [1], struct.pack("<i", value))],
                sequence_id=cid, start=step == 0, end=step == steps - 1,
            ).SerializeToString()
            t0 = time.perf_counter_ns()
            try:
                reply = await call(request)
            except grpc.aio.AioRpcError as exc:
                rec.failure(_rpc_error(exc))
                return  # the rest of this sequence cannot be right
            latency = time.perf_counter_ns() - t0
            expected = struct.pack("<i", total)
            if (len(reply.outputs) != 1 or reply.outputs[0].name != "OUTPUT"
                    or list(reply.outputs[0].shape) != [1]
                    or reply.raw_output_contents[0] != expected):
                got = reply.raw_output_contents[0] if reply.raw_output_contents else b""
                rec.failure(f"sequence sum: expected {total}, got {got!r}")
            else:
                rec.success(latency)

    async def run(target: Target, rec: Recorder, duration: float) -> None:
        async with clients.grpc_channel(target.grpc_url) as channel:  # type: ignore[attr-defined]
            await channel.channel_ready()
            call = clients.model_infer(channel)
            deadline = rec.begin() + duration
            while True:
                await asyncio.gather(*(one_sequence(call, rec) for _ in range(count)))
                if time.perf_counter() >= deadline or rec.aborted:
                    break
            rec.end()

    return run


# --------------------------------------------------------------------------- decoupled
DECOUPLED = "decoupled_repeat"


def decoupled(responses: int, in_flight: int) -> Runner:
    """Requests for ``responses`` responses each over one stream, ``in_flight`` at a time.
    Every response must be OUT = its index, then the flag-only final response."""

    async def run(target: Target, rec: Recorder, duration: float) -> None:
        async with clients.grpc_channel(target.grpc_url) as channel:  # type: ignore[attr-defined]
            await channel.channel_ready()
            stream = clients.model_stream_infer(channel)()
            pending: dict[str, list[int]] = {}  # id -> [sent at ns, responses seen]
            slots = asyncio.Semaphore(in_flight)
            wake = asyncio.Event()
            sending_done = False
            expected = [struct.pack("<i", i) for i in range(responses)]

            async def reader() -> None:
                while True:
                    while not pending:
                        if sending_done:
                            return
                        wake.clear()
                        await wake.wait()
                    message = await stream.read()
                    if message is grpc.aio.EOF:
                        rec.failure("stream ended early")
                        return
                    reply = message.infer_response
                    state = pending.get(reply.id)
                    if state is None:
                        rec.failure(f"response for unknown id {reply.id!r}: "
                                    f"{message.error_message}")
                        return  # cannot tell which request it belongs to: stop
                    if message.error_message:
                        rec.failure(message.error_message)
                        del pending[reply.id]
                        slots.release()
                        continue
                    if clients.is_final(reply):
                        del pending[reply.id]
                        slots.release()
                        if state[1] != responses or reply.outputs:
                            rec.failure(f"final after {state[1]} responses")
                        else:
                            rec.success(time.perf_counter_ns() - state[0], responses)
                        continue
                    seen = state[1]
                    if (seen >= responses or len(reply.outputs) != 1
                            or reply.raw_output_contents[0] != expected[seen]):
                        rec.failure(f"response {seen} is wrong")
                    state[1] = seen + 1

            deadline = rec.begin() + duration
            reading = asyncio.create_task(reader())
            request_n = struct.pack("<i", responses)
            count = 0
            while time.perf_counter() < deadline and not rec.aborted and not reading.done():
                await slots.acquire()
                request_id = f"d{count}"
                request = clients.infer_request(
                    DECOUPLED, [("N", "INT32", [1], request_n)], request_id=request_id,
                    empty_final=True).SerializeToString()
                pending[request_id] = [time.perf_counter_ns(), 0]
                wake.set()
                await stream.write(request)
                count += 1
            sending_done = True
            wake.set()
            await reading
            rec.end()
            await stream.done_writing()

    return run


# --------------------------------------------------------------------------- the list
SMALL = 16
LARGE = 1 << 20  # 4 MiB of FP32


def all_workloads(frames: Callable[[], list[bytes]]) -> list[Workload]:
    large_mb = LARGE * 4 / MB
    out = [
        Workload("seed_unary", "1 seed pattern", "640x480 JPEG re-encode, 1 sequence, "
                 "unary gRPC, 1 in flight", "fps", "grpc", seed_unary(frames),
                 unit_per_request="frame"),
        Workload("seed_stream8", "2 seed over a stream", "same frames, bidi gRPC stream, "
                 "8 in flight", "fps", "grpc", seed_stream(frames, 8),
                 unit_per_request="frame"),
    ]
    for c in (1, 8, 32):
        out.append(Workload(f"small_grpc_c{c}", "3 tiny identity", f"16 FP32, gRPC, c={c}",
                            "req/s", "grpc", grpc_identity("identity_fp32", SMALL, c, 1.0),
                            echo=True))
    for c in (1, 8):
        out.append(Workload(f"small_http_c{c}", "3 tiny identity",
                            f"16 FP32, HTTP binary, c={c}", "req/s", "http",
                            http_identity("identity_fp32", SMALL, c, 1.0), echo=True))
    for c in (1, 4):
        out.append(Workload(f"large_grpc_c{c}", "4 4 MiB identity", f"4 MiB FP32, gRPC, c={c}",
                            "MB/s", "grpc", grpc_identity("identity_fp32", LARGE, c, large_mb)))
    for c in (1, 4):
        out.append(Workload(f"large_http_c{c}", "4 4 MiB identity",
                            f"4 MiB FP32, HTTP binary, c={c}", "MB/s", "http",
                            http_identity("identity_fp32", LARGE, c, large_mb)))
    out.append(Workload("sequence_64x50", "5 sequences", "accumulator, 64 concurrent "
                        "sequences x 50 steps, unary gRPC", "req/s", "grpc", sequences(64, 50)))
    for c in (1, 4):
        out.append(Workload(f"decoupled_c{c}", "6 decoupled", f"100 responses/request, "
                            f"gRPC stream, {c} request(s) in flight", "responses/s", "grpc",
                            decoupled(100, c), unit_per_request="request (100 responses)"))
    out.append(Workload("small_grpc_x2_c8", "7 instance scaling", "16 FP32, 2 instances, "
                        "gRPC, c=8", "req/s", "grpc",
                        grpc_identity("identity_fp32_x2", SMALL, 8, 1.0)))
    out += scaling_and_batching()
    return out


#: (name of the numerator workload, of the denominator, what the ratio shows): the report's
#: "Scaling and batching (within each server)" section, each ratio measured on one server.
WITHIN_SERVER = [
    ("small_grpc_x2_c8", "small_grpc_c8",
     "count 2 / count 1, tiny identity, c=8 (server on 1 core)"),
    ("scale_busy_x2_c8", "scale_busy_x1_c8",
     "count 2 / count 1, ~2 ms numpy per request, c=8 (server on all cores)"),
    ("batch_tiny_dyn_c8", "batch_tiny_none_c8", "dynamic / none, tiny identity, c=8"),
    ("batch_tiny_dyn_c16", "batch_tiny_none_c16", "dynamic / none, tiny identity, c=16"),
    ("batch_busy_dyn_c8", "batch_busy_none_c8",
     "dynamic / none, ~1 ms numpy per execute, c=8"),
    ("batch_busy_dyn_c16", "batch_busy_none_c16",
     "dynamic / none, ~1 ms numpy per execute, c=16"),
]


def scaling_and_batching() -> list[Workload]:
    """Workloads that only make sense as pairs on the same server (``WITHIN_SERVER``)."""
    out: list[Workload] = []
    batch1 = [1, SMALL]  # a max_batch_size > 0 model: each request carries batch 1
    for c in (8, 16):
        out.append(Workload(f"batch_tiny_none_c{c}", "8 dynamic batching", f"identity_fp32 "
                            f"(no batching), 16 FP32, gRPC, c={c}", "req/s", "grpc",
                            grpc_identity("identity_fp32", SMALL, c, 1.0)))
        out.append(Workload(f"batch_tiny_dyn_c{c}", "8 dynamic batching", f"identity_fp32_db "
                            f"(dynamic batching, max 32, 500 us delay), [1,16] FP32, gRPC, "
                            f"c={c}", "req/s", "grpc",
                            grpc_identity("identity_fp32_db", SMALL, c, 1.0, batch1)))
    for c in (8, 16):
        out.append(Workload(f"batch_busy_none_c{c}", "8 dynamic batching", f"busy_exec_1ms "
                            f"(~1 ms numpy per execute, no batching), [1,16] FP32, gRPC, c={c}",
                            "req/s", "grpc",
                            grpc_identity("busy_exec_1ms", SMALL, c, 1.0, batch1)))
        out.append(Workload(f"batch_busy_dyn_c{c}", "8 dynamic batching", f"busy_exec_1ms_db "
                            f"(~1 ms numpy per execute, dynamic batching, max 32, 500 us "
                            f"delay), [1,16] FP32, gRPC, c={c}", "req/s", "grpc",
                            grpc_identity("busy_exec_1ms_db", SMALL, c, 1.0, batch1)))
    for n, model in ((1, "busy_req_2ms"), (2, "busy_req_2ms_x2")):
        out.append(Workload(f"scale_busy_x{n}_c8", "9 instance scaling with work",
                            f"{model} (~2 ms numpy per request, count {n}), 16 FP32, gRPC, "
                            "c=8, server on all cores", "req/s", "grpc",
                            grpc_identity(model, SMALL, 8, 1.0), server_cores="all"))
    return out
