"""Model instances as worker processes: the server side of the stub protocol.

:class:`PythonInstance` implements ``core.interfaces.ModelInstance``. It spawns
``python -m tritonlite.backends.python.stub`` with one end of a socket pair, writes input
tensors into its request ring (shared memory), and reads responses (their tensors from the
response ring) on the event loop without blocking it. If the worker dies, every request it
held fails with a clear error, and the instance restarts itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tritonlite.backends.python import ipc
from tritonlite.backends.python.ipc import make_msg
from tritonlite.backends.python.shm import RingReader, RingWriter
from tritonlite.core.errors import DecoupledNotSupported, ErrorKind, InferenceServerError
from tritonlite.core.interfaces import ModelInstance, ServerApi
from tritonlite.core.stats import ModelStats
from tritonlite.core.tensor import DataType, Tensor
from tritonlite.core.types import (
    FLAG_SEQUENCE_END,
    FLAG_SEQUENCE_START,
    InferenceRequest,
    InferenceResponse,
    RequestedOutput,
    ScheduledRequest,
    SequenceInfo,
)

log = logging.getLogger(__name__)

_keys = itertools.count(1)
#: Outputs at least this large are borrowed from the response ring, not copied out of it.
BORROW_MIN_BYTES = 64 << 10
_STARTUP_TIMEOUT_S = 300.0


@dataclass(frozen=True, slots=True)
class InstanceSpec:
    """Everything needed to start one instance of a Python-backend model."""

    name: str  # "<model>_<group>_<i>", Triton's instance name
    model_name: str
    version: int
    model_file: str
    model_dir: str
    version_dir: str
    config_json: str
    decoupled: bool
    kind: str = "CPU"  # args['model_instance_kind']
    device_id: int = 0
    ring_bytes: int = 64 << 20
    log_verbose: int = 0

    def args(self) -> dict[str, str]:
        """Triton's ``initialize(args)`` dict: every value a string."""
        return {
            "model_config": self.config_json,
            "model_instance_kind": self.kind,
            "model_instance_name": self.name,
            "model_instance_device_id": str(self.device_id),
            "model_repository": self.model_dir,
            "model_version": str(self.version),
            "model_name": self.model_name,
        }


def on_one_cpu() -> bool:
    """Whether this process (and so its workers, which inherit it) may run on one CPU
    only (``taskset -c 0``, a one-CPU cpuset)."""
    try:
        return len(os.sched_getaffinity(0)) == 1
    except (AttributeError, OSError):  # not Linux
        return False


class _Outbox:
    """Writes frames to one socket from the event loop without blocking it: what the
    socket does not take now is kept and written, in order, when it is writable. While
    *corked*, frames are only collected; ``flush`` sends them in one syscall.

    With ``turn`` set, a frame is held until the end of the loop's turn, with whatever
    else this turn writes to the same worker. For a server on one CPU: its worker cannot
    run before the loop gives the CPU up anyway (under SCHED_BATCH a woken worker does not
    preempt it; see ``cpu_policy``), so holding costs it nothing, and the requests parsed
    from one client read reach each worker in one write and one wake-up, not one each.
    Measured (``bench/``, A/B, server on one core): two instances of the tiny identity at
    c8 1.04-1.09x requests per second at 0.92-0.97x server CPU, the video stream 1.03x,
    the other workloads within noise (two runs of +-3-7% each way). On
    more CPUs the worker could start on the first request while the loop still parses
    the next ones, so frames go at once there."""

    __slots__ = ("_watching", "buf", "corked", "loop", "sock", "turn")

    def __init__(self, sock: socket.socket, loop: asyncio.AbstractEventLoop,
                 turn: bool = False) -> None:
        self.sock = sock
        self.loop = loop
        self.buf = bytearray()
        self.corked = False
        self.turn = turn
        self._watching = False

    def write(self, frame: bytes) -> None:
        if self.buf or self.corked:
            self.buf += frame
            return
        if self.turn:
            self.buf += frame
            self.corked = True
            self.loop.call_soon(self.flush)
            return
        try:
            n = self.sock.send(frame)
        except BlockingIOError:
            n = 0
        if n < len(frame):
            self.buf += frame[n:]
            self._watch()

    def flush(self) -> None:
        self.corked = False
        if self.buf and not self._watching:
            self._on_writable()

    def _watch(self) -> None:
        if not self._watching:
            self._watching = True
            self.loop.add_writer(self.sock.fileno(), self._on_writable)

    def _on_writable(self) -> None:
        try:
            n = self.sock.send(self.buf)
        except BlockingIOError:
            n = 0
        except OSError:
            n = len(self.buf)  # the worker is gone; the main channel's reader handles it
        del self.buf[:n]
        if self.buf:
            self._watch()
        elif self._watching:
            self._watching = False
            self.loop.remove_writer(self.sock.fileno())

    def close(self) -> None:
        if self._watching:
            self._watching = False
            self.loop.remove_writer(self.sock.fileno())
        self.sock.close()


class PythonInstance:
    """One worker process running one instance of a model."""

    def __init__(self, spec: InstanceSpec, stats: ModelStats,
                 server: ServerApi | None = None) -> None:
        self.spec = spec
        self.server = server  # for BLS and model control from the model
        self.name = spec.name
        self.stats = stats
        self.on_idle: Callable[[ModelInstance], None] = lambda inst: None
        self.pid = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._sock: socket.socket | None = None  # the up channel, read (see ipc)
        self._main: _Outbox | None = None
        self._side: _Outbox | None = None
        self._parser = ipc.FrameParser()
        self._rbuf = bytearray(1 << 18)  # reused for every recv: no per-message allocation
        self._rview = memoryview(self._rbuf)
        self._req_ring: RingWriter | None = None
        self._reply_ring: RingWriter | None = None
        self._resp_ring: RingReader | None = None
        self._version = str(spec.version)  # of every response
        self._pending: dict[int, ScheduledRequest] = {}  # by request key
        self._batches: dict[int, list[ScheduledRequest]] = {}  # by batch id
        self._batch_ids = itertools.count(1)
        self._ready: asyncio.Future[ipc.ReadyMsg] | None = None
        self._stopping = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread = 0
        self._restart_task: asyncio.Task[None] | None = None
        self._start_failed = False
        self._bls_tasks: dict[int, asyncio.Task[None]] = {}

    # ---- lifecycle ------------------------------------------------------------------------
    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._start_failed = False
        self._req_ring = RingWriter(capacity=self.spec.ring_bytes)
        self._reply_ring = RingWriter(capacity=self.spec.ring_bytes)
        self._resp_ring = RingReader(capacity=self.spec.ring_bytes)
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        side_parent, side_child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        up_parent, up_child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        env = dict(os.environ)
        env.setdefault("PYTHONUNBUFFERED", "1")
        # glibc would return big (image-sized) buffers to the OS after every request and
        # page-fault them back in on the next; keeping them costs memory, saves ~1/3 CPU.
        env.setdefault("MALLOC_TRIM_THRESHOLD_", str(256 << 20))
        env.setdefault("MALLOC_MMAP_THRESHOLD_", str(256 << 20))
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "tritonlite.backends.python.stub", str(child.fileno()),
                 str(side_child.fileno()), str(up_child.fileno())],
                pass_fds=(child.fileno(), side_child.fileno(), up_child.fileno()),
                env=env,
                start_new_session=False,
            )
        finally:
            child.close()
            side_child.close()
            up_child.close()
        for sock in (parent, side_parent, up_parent):
            sock.setblocking(False)
        self._sock = up_parent
        self._main = _Outbox(parent, self._loop, turn=on_one_cpu())
        self._side = _Outbox(side_parent, self._loop)
        self._parser = ipc.FrameParser()
        self._loop.add_reader(up_parent.fileno(), self._on_readable)
        self._ready = self._loop.create_future()
        self._send(
            ipc.InitMsg(
                model_file=self.spec.model_file,
                model_dir=self.spec.model_dir,
                version_dir=self.spec.version_dir,
                args=self.spec.args(),
                request_ring=self._req_ring.name,
                response_ring=self._resp_ring.name,
                decoupled=self.spec.decoupled,
                log_verbose=self.spec.log_verbose,
                reply_ring=self._reply_ring.name,
            )
        )
        try:
            ready = await asyncio.wait_for(self._ready, _STARTUP_TIMEOUT_S)
        except TimeoutError:
            self._start_failed = True  # its worker's exit is not a crash to restart from
            await self._teardown()
            raise InferenceServerError(
                ErrorKind.INTERNAL, f"instance '{self.name}' did not initialize in time"
            ) from None
        if ready.error is not None:
            self._start_failed = True  # its worker's exit is not a crash to restart from
            await self._teardown()
            raise InferenceServerError(ErrorKind.INTERNAL, ready.error)
        self.pid = ready.pid
        log.debug("instance %s ready (pid %d)", self.name, self.pid)

    async def stop(self) -> None:
        self._stopping = True
        task, self._restart_task = self._restart_task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._sock is not None and self._proc is not None and self._proc.poll() is None:
            with contextlib.suppress(OSError):
                self._send(ipc.ShutdownMsg())
        await self._teardown(graceful=True)
        self._fail_all(ErrorKind.UNAVAILABLE, f"model instance '{self.name}' was unloaded")

    async def _teardown(self, graceful: bool = False) -> None:
        proc = self._proc
        if proc is not None:
            loop = asyncio.get_running_loop()
            try:
                await asyncio.wait_for(loop.run_in_executor(None, proc.wait),
                                       30.0 if graceful else 0.5)
            except TimeoutError:
                proc.kill()
                await loop.run_in_executor(None, proc.wait)
        self._close_channel()
        for ring in (self._req_ring, self._reply_ring, self._resp_ring):
            if ring is not None:
                ring.close()
        self._req_ring = self._reply_ring = self._resp_ring = None

    def _close_channel(self) -> None:
        if self._sock is not None:
            if self._loop is not None:
                self._loop.remove_reader(self._sock.fileno())
            self._sock.close()
            self._sock = None
        for box in (self._main, self._side):
            if box is not None:
                box.close()
        self._main = self._side = None

    # ---- requests ---------------------------------------------------------------------------
    @property
    def outstanding(self) -> int:
        # A worker that has gone holds nothing it will run: its batches are about to fail
        # (once its exit reason is known), and a pipelining scheduler must not add more.
        return len(self._batches) if self._main is not None else 0

    def execute(self, batch: Sequence[ScheduledRequest]) -> None:
        if self._main is None:  # the worker is gone and not restarted yet: hold nothing
            raise OSError("worker channel is closed")
        pending, ring_ref = self._pending, self._ring_ref
        msgs = []
        for job in batch:
            key = next(_keys)
            r = job.request
            params = r.parameters
            # Positional, through tuple.__new__: the NamedTuple's keyword constructor
            # costs more than the rest of this loop (once per request).
            msgs.append(make_msg(ipc.RequestMsg, (
                key, r.id, r.correlation_id, r.flags,
                json.dumps(params, separators=(",", ":")) if params else "{}",
                job.output_names, r.timeout_us, tuple([ring_ref(t) for t in job.inputs]))))
            pending[key] = job
        batch_id = next(self._batch_ids)
        self._batches[batch_id] = list(batch)
        self._send(make_msg(ipc.ExecuteMsg, (batch_id, tuple(msgs))))

    def cancel(self, job: ScheduledRequest) -> None:
        for key, held in self._pending.items():
            if held is job:
                self._send(ipc.CancelMsg((key,)))
                return

    # ---- channel ------------------------------------------------------------------------------
    def _send(self, msg: object) -> None:
        box = self._main if isinstance(msg, ipc.MAIN_CHANNEL) else self._side
        if box is None:
            raise OSError("worker channel is closed")
        box.write(ipc.encode(msg))

    def _on_readable(self) -> None:
        sock = self._sock
        if sock is None:
            return
        try:
            n = sock.recv_into(self._rbuf)
        except BlockingIOError:
            return
        except OSError:
            n = 0
        if not n:
            self._on_worker_exit()
            return
        # Whatever these messages cause to be sent (e.g. the next requests of a pipelining
        # scheduler) goes out in one write at the end.
        box = self._main
        if box is not None:
            box.corked = True
        try:
            self._dispatch_messages(n)
        finally:
            if box is not None:
                box.flush()

    def _dispatch_messages(self, n: int) -> None:
        for msg in self._parser.feed(self._rview[:n]):
            if isinstance(msg, ipc.BatchDoneMsg):
                self._on_batch_done(msg)
            elif isinstance(msg, ipc.ResponseMsg):
                self._deliver(msg)
            elif isinstance(msg, ipc.BlsRequestMsg):
                inputs = [self._tensor(ref) for ref in msg.inputs]  # drain the ring now
                self._spawn(msg.call_id, self._bls(msg, inputs))
            elif isinstance(msg, ipc.BlsCancelMsg):
                task = self._bls_tasks.get(msg.call_id)
                if task is not None:
                    task.cancel()
            elif isinstance(msg, ipc.MetricMsg):
                self._metric(msg)
            elif isinstance(msg, ipc.ControlMsg):
                self._spawn(msg.call_id, self._control(msg))
            elif (isinstance(msg, ipc.ReadyMsg) and self._ready is not None
                  and not self._ready.done()):
                self._ready.set_result(msg)

    # ---- BLS and model control from the model ------------------------------------------------
    def _spawn(self, call_id: int, coro: Coroutine[Any, Any, None]) -> None:
        assert self._loop is not None
        task = self._loop.create_task(coro)
        self._bls_tasks[call_id] = task
        task.add_done_callback(lambda t: self._bls_tasks.pop(call_id, None))

    def _ring_ref(self, t: Tensor, ring: RingWriter | None = None) -> ipc.TensorRef:
        ring = ring or self._req_ring
        assert ring is not None
        raw = t.raw()
        nbytes = len(raw) if isinstance(raw, bytes) else raw.nbytes
        if nbytes <= ipc.INLINE_MAX_BYTES:
            pos = None if nbytes else 0
        else:
            pos = ring.write(raw)
        # ``_value_`` is the member's name ("FP32"); ``.value`` is a Python-level property.
        if pos is None:
            return ipc.inline_ref(t.name, t.datatype._value_, t.shape, bytes(raw))
        return ipc.ring_ref(t.name, t.datatype._value_, t.shape, nbytes, pos)

    def _reply(self, msg: object) -> None:
        with contextlib.suppress(OSError):  # the worker died meanwhile
            self._send(msg)

    async def _bls(self, msg: ipc.BlsRequestMsg, inputs: list[Tensor]) -> None:
        cid = msg.correlation_id
        seq = None
        if cid not in (0, "") or msg.flags:
            seq = SequenceInfo(cid, bool(msg.flags & FLAG_SEQUENCE_START),
                               bool(msg.flags & FLAG_SEQUENCE_END))
        request = InferenceRequest(
            model_name=msg.model_name, inputs=inputs, model_version=msg.model_version,
            id=msg.request_id, parameters=msg.parameters, sequence=seq,
            requested_outputs=[RequestedOutput(n) for n in msg.requested_output_names],
            timeout_us=msg.timeout_us)
        if self.server is None:
            self._reply(ipc.BlsResponseMsg(msg.call_id, error_code=int(ErrorKind.INTERNAL),
                                           error_message="BLS is not available"))
            return
        try:
            # The Python backend's own checks and texts (INTERNAL), before any other.
            if not self.server.model_ready(msg.model_name, msg.model_version):
                raise InferenceServerError(
                    ErrorKind.INTERNAL,
                    f"Model {msg.model_name} - Error when running inference: Failed for "
                    f"execute the inference request. Model '{msg.model_name}' is not ready.")
            if not msg.decoupled:
                try:
                    resp = await self.server.infer(request)
                except DecoupledNotSupported:
                    raise InferenceServerError(
                        ErrorKind.INTERNAL,
                        f"Model {msg.model_name} - Error when running inference: Model "
                        f"{msg.model_name} is using the decoupled. The current BLS request "
                        "call doesn't support models using the decoupled transaction "
                        "policy. Please use 'decoupled=True' argument to the 'exec' or "
                        "'async_exec' calls for decoupled models.'") from None
                self._reply(self._bls_response(msg.call_id, resp, final=True))
                return
            async for resp in self.server.infer_stream(request):
                empty = resp.final and not resp.outputs and resp.error is None
                self._reply(self._bls_response(msg.call_id, resp, final=resp.final,
                                               empty_final=empty))
        except InferenceServerError as exc:
            self._reply(ipc.BlsResponseMsg(msg.call_id, error_code=int(exc.kind),
                                           error_message=exc.message))
        except asyncio.CancelledError:
            self._reply(ipc.BlsResponseMsg(msg.call_id, error_code=int(ErrorKind.CANCELLED),
                                           error_message="BLS request cancelled"))

    def _bls_response(self, call_id: int, resp: InferenceResponse, *, final: bool,
                      empty_final: bool = False) -> ipc.BlsResponseMsg:
        if resp.error is not None:
            return ipc.BlsResponseMsg(call_id, error_code=int(resp.error.kind),
                                      error_message=resp.error.message, final=final)
        return ipc.BlsResponseMsg(call_id, tuple(self._ring_ref(t, self._reply_ring)
                                                 for t in resp.outputs),
                                  final=final, parameters=dict(resp.parameters),
                                  empty_final=empty_final)

    def _metric(self, msg: ipc.MetricMsg) -> None:
        metrics = self.server.custom_metrics if self.server is not None else None
        if metrics is None:
            return
        if msg.op == "family":
            metrics.family(msg.family, msg.description, msg.kind)
        elif msg.op == "metric":
            metrics.metric(msg.family, msg.labels, msg.buckets)
        else:
            metrics.update(msg.family, msg.labels, msg.op, msg.value)

    async def _control(self, msg: ipc.ControlMsg) -> None:
        try:
            if self.server is None:
                raise InferenceServerError(ErrorKind.UNAVAILABLE, "no server")
            if msg.op == "load":
                params: dict[str, object] = dict(msg.files)
                if msg.config:
                    params["config"] = msg.config
                await self.server.load_model(msg.name, params or None)
                self._reply(ipc.ControlReplyMsg(msg.call_id))
            elif msg.op == "unload":
                await self.server.unload_model(msg.name, msg.unload_dependents)
                self._reply(ipc.ControlReplyMsg(msg.call_id))
            else:
                version = "" if msg.version < 0 else str(msg.version)
                ready = self.server.model_ready(msg.name, version)
                self._reply(ipc.ControlReplyMsg(msg.call_id, result=ready))
        except InferenceServerError as exc:
            self._reply(ipc.ControlReplyMsg(msg.call_id, error_code=int(exc.kind),
                                            error_message=exc.message))

    # ---- responses --------------------------------------------------------------------------
    def _tensor(self, ref: ipc.TensorRef, borrow: bool = False) -> Tensor:
        """The tensor a worker wrote to the response ring. A large one is *borrowed* when
        ``borrow``: its bytes stay in the ring, and the region is released once the last
        reference to them is gone (the frontend has encoded the response), which saves
        copying every large output once more."""
        raw: bytes | memoryview
        if ref.inline is not None:
            raw = ref.inline
        elif ref.nbytes == 0:
            raw = b""
        else:
            ring = self._resp_ring
            assert ring is not None
            ring.claim(ref.pos, ref.nbytes)
            view = ring.view(ref.pos, ref.nbytes)
            if borrow and ref.nbytes >= BORROW_MIN_BYTES:
                arr = np.frombuffer(view, dtype=np.uint8)
                weakref.finalize(arr, self._give_back, ring, ref.pos)
                raw = arr.data  # a memoryview that keeps ``arr`` alive
            else:
                raw = bytes(view)
                view.release()
                ring.release(ref.pos)
        return Tensor(ref.name, DataType.from_name(ref.datatype), ref.shape, raw=raw)

    def _give_back(self, ring: RingReader, pos: int) -> None:
        """Release a borrowed region (from any thread: the last reference may die in a
        frontend's thread)."""
        if ring is not self._resp_ring:  # the worker was restarted: that ring is closed
            return
        loop = self._loop
        if loop is not None and threading.get_ident() != self._loop_thread:
            with contextlib.suppress(RuntimeError):  # the loop is closed: nothing to keep
                loop.call_soon_threadsafe(self._give_back, ring, pos)
            return
        ring.release(pos)

    def _deliver(self, msg: ipc.ResponseMsg) -> None:
        # always drain the ring
        outputs = [self._tensor(ref, borrow=True) for ref in msg.outputs]
        job = self._pending.get(msg.key)
        if job is None:
            return  # e.g. a decoupled response for a request already failed/cancelled
        if msg.final:
            del self._pending[msg.key]
        r = job.request
        if msg.error_code >= 0:
            resp = InferenceResponse(r.model_name, self._version, r.id, final=msg.final)
            resp.error = InferenceServerError(ErrorKind(msg.error_code), msg.error_message)
            resp.error_is_response = msg.from_model
        else:
            resp = InferenceResponse(r.model_name, self._version, r.id, outputs,
                                     dict(msg.parameters) if msg.parameters else {},
                                     None, msg.final)
        try:
            job.sink(resp)
        except Exception:
            # A failing frontend must not take the rest of the read down with it: the
            # other responses of the batch, and the instance going idle again.
            log.exception("instance %s: delivering the response to request %r failed",
                          self.name, r.id)

    def _on_batch_done(self, msg: ipc.BatchDoneMsg) -> None:
        entries = self._batches.pop(msg.batch_id, [])
        timing = (msg.input_ns, msg.infer_ns, msg.output_ns)
        for job in entries:
            job.compute_ns = timing
        for r in msg.responses:
            self._deliver(r)
        for key in msg.rescheduled:
            self._reschedule(key)
        if entries and msg.ran:
            self.stats.record_execution(sum([job.batch_size for job in entries]), *timing)
        self.on_idle(self)

    def _reschedule(self, key: int) -> None:
        """The model set RELEASE_RESCHEDULE: the request goes back to its scheduler."""
        job = self._pending.pop(key, None)
        if job is None:
            return
        if job.requeue is None:
            r = job.request
            job.sink(InferenceResponse(
                r.model_name, self._version, r.id, error=InferenceServerError(
                    ErrorKind.UNSUPPORTED,
                    "request rescheduling (TRITONSERVER_REQUEST_RELEASE_RESCHEDULE) is "
                    "supported with the default and the sequence schedulers only")))
            return
        job.requeue(job)

    def _fail_all(self, kind: ErrorKind, message: str) -> None:
        pending, self._pending = self._pending, {}
        self._batches.clear()
        for job in pending.values():
            r = job.request
            job.sink(InferenceResponse(r.model_name, self._version, r.id,
                                       error=InferenceServerError(kind, message)))

    def _on_worker_exit(self) -> None:
        self._close_channel()
        assert self._loop is not None
        self._loop.create_task(self._handle_exit())

    async def _handle_exit(self) -> None:
        reason = await self._exit_reason(
            "during initialization" if self._ready is not None and not self._ready.done()
            else "while serving")
        if self._ready is not None and not self._ready.done():
            self._ready.set_result(ipc.ReadyMsg(error=reason))
            return
        if self._stopping or self._start_failed:
            return
        log.error("%s; restarting it", reason)
        self._fail_all(
            ErrorKind.INTERNAL,
            f"Failed to process the request(s) for model '{self.name}', "
            f"message: {reason}. The instance is being restarted.",
        )
        self._restart_task = asyncio.get_running_loop().create_task(self._restart())

    async def _exit_reason(self, when: str) -> str:
        code: int | None = None
        proc = self._proc
        if proc is not None:
            loop = asyncio.get_running_loop()
            try:
                code = await asyncio.wait_for(loop.run_in_executor(None, proc.wait), 2.0)
            except TimeoutError:
                code = None
        if code is not None and code < 0:
            how = f"killed by {signal.Signals(-code).name}"
        else:
            how = f"exit code {code}"
        return (f"Stub process '{self.name}' is not healthy: the worker process "
                f"(pid {self.pid or (proc.pid if proc else 0)}) exited unexpectedly {when} "
                f"({how})")

    async def _restart(self) -> None:
        delay = 0.1
        while not self._stopping:
            await self._teardown()
            started = time.monotonic()
            try:
                await self.start()
            except InferenceServerError as exc:
                log.error("restarting instance %s failed: %s", self.name, exc.message)
                await asyncio.sleep(max(0.0, delay - (time.monotonic() - started)))
                delay = min(delay * 2, 10.0)
                continue
            log.warning("instance %s restarted (pid %d)", self.name, self.pid)
            self.on_idle(self)
            return
