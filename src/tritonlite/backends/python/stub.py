"""The worker process ("stub") that runs one model instance, like Triton's python stub.

Started by :mod:`instances` as ``python -m tritonlite.backends.python.stub FD SIDE_FD`` with
one end of each of two socket pairs (see :mod:`ipc`). It imports the model file the way
Triton does (the version directory and the model directory on ``sys.path``, module name
``<version>.model``), calls ``initialize(args)``, then runs ``execute`` for each batch the
server sends, on the main thread (so ``breakpoint()`` in model.py works when the server runs
in a terminal). The main thread reads its requests from the main channel itself: a request
wakes the thread that runs it, nothing else. A helper thread reads the side channel, so
cancellations and BLS replies arrive while ``execute`` runs.

Imports no frontend and nothing of the server's core beyond dtype helpers: a worker starts
fast and knows no wire format.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import gc
import importlib.util
import inspect
import json
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from types import ModuleType, TracebackType
from typing import Any

import numpy as np

from tritonlite.backends.python import ipc, pb_utils
from tritonlite.backends.python.bls import StubMetricsHandler, StubServerHandler
from tritonlite.backends.python.ipc import make_msg
from tritonlite.backends.python.shm import RingReader, RingWriter
from tritonlite.core.tensor import DataType, deserialize_bytes, serialize_bytes

_INTERNAL = 1
_CANCELLED = 7  # ErrorKind.CANCELLED (stub imports nothing of the core's errors)
HOLD_S = 0.0005  # longest a decoupled response waits to share a write
# A worker gives its core away (sched_yield) once it has spent this long on batches since
# it last did or last waited for work. Why: the server forwards a finished batch's answers
# only when it gets a core, and a worker that shares its core with the server and has
# pipelined batches waiting does not block between them; the scheduler (SCHED_BATCH, see
# cpu_policy) may then let it run several batches (measured: up to four ~0.8 ms batches,
# 3 ms) before the server gets to answer the first. Giving way bounds that wait. Short
# batches rarely give way, so the server still forwards many of their answers per wake-up
# (each wake-up costs it tens of us). Measured with a ~0.8 ms model at concurrency 8 on one
# core: p99 8.5 -> 7.9 ms, throughput 0.96x.
GIVE_WAY_NS = 500_000
BLOCKED_NS = 20_000  # a receive that took longer has waited (the worker gave way then)
_sched_yield = getattr(os, "sched_yield", lambda: None)
_BF16_WIRE = np.dtype("<u2")


def _model_frames(tb: TracebackType | None) -> list[tuple[str, int, str]]:
    frames = []
    while tb is not None:
        code = tb.tb_frame.f_code
        if code.co_filename != __file__ and not code.co_filename.startswith("<frozen"):
            frames.append((code.co_filename, tb.tb_lineno, code.co_name))
        tb = tb.tb_next
    return frames


def format_exception(exc: BaseException) -> str:
    """Triton's (pybind11's) rendering: ``Type: msg\\n\\nAt:\\n  file(line): func\\n``,
    innermost frame first, frames of the stub itself left out."""
    text = f"{type(exc).__name__}: {exc}"
    frames = _model_frames(exc.__traceback__)
    if frames:
        text += "\n\nAt:\n" + "".join(f"  {f}({ln}): {fn}\n" for f, ln, fn in reversed(frames))
    return text


class Stub:
    def __init__(self, sock: socket.socket, side: socket.socket,
                 out: socket.socket | None = None) -> None:
        self.sock = sock  # the main channel, read
        self.side = side
        self.out = out if out is not None else sock  # the up channel (see ipc)
        self.send_lock = threading.Lock()
        # Messages read from the main channel and not handled yet (main thread only).
        self.inbox: collections.deque[Any] = collections.deque()
        # Keys of running or held requests the server cancelled (added by the side reader,
        # removed once the request is finished, so a long run does not accumulate them).
        self.cancelled: set[int] = set()
        self.model: Any = None
        self.init: ipc.InitMsg | None = None
        self.req_ring: RingReader | None = None
        self.reply_ring: RingReader | None = None
        self.resp_ring: RingWriter | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        # Serializes use of the response ring: decoupled models send from any thread.
        self.out_lock = threading.RLock()
        self.handler: StubServerHandler | None = None
        self.executing = False
        self.model_name = ""
        self.model_version = -1
        self._held = bytearray()  # decoupled responses not sent yet
        self._held_since = 0.0
        self._flush_soon = threading.Event()  # a hold started: see flusher
        self._ran_ns = 0  # time on batches since this worker last gave way or waited

    # ---- transport ----------------------------------------------------------------------
    def send(self, msg: object) -> None:
        frame = ipc.encode(msg)
        with self.send_lock:
            self._emit(frame)

    def _emit(self, frame: bytes) -> None:
        """Write ``frame`` after whatever was held, in one syscall (send_lock held)."""
        if self._held:  # keep the order: what was held goes first
            frame = bytes(self._held) + frame
            self._held.clear()
        self.out.sendall(frame)

    def send_response(self, msg: ipc.ResponseMsg) -> None:
        """A response sent through a decoupled response sender. Non-final ones are held
        for up to :data:`HOLD_S` so a burst (a model streaming many responses from one
        ``execute``) goes in a few writes, not one write and one server wake-up each
        (measured: 1.02-1.05x responses per second, 0.95-0.99x server CPU). A final
        response goes at once, with what was held before it, so the request ends without
        delay; the flusher thread sends a hold that nothing else sends in time (a model
        that computes between responses sees each response leave within ``HOLD_S``, plus
        up to a GIL switch interval while its Python code runs; see :meth:`flusher`).

        Only these are held. A finished batch goes at once (:meth:`send`), even when the
        next pipelined batch already waits: holding it needed the flusher thread as its
        deadline, and waking that thread for every batch cost more than the writes it
        saved (measured in-process, small requests at concurrency 8: worker CPU per
        request 31.5 -> 25.7 us). On one core the server cannot run before this worker
        blocks anyway, so it still reads several finished batches at once."""
        frame = ipc.encode(msg)
        started = False
        with self.send_lock:
            if not msg.final:
                now = time.perf_counter()
                if not self._held:
                    self._held_since = now
                    started = True
                if now - self._held_since < HOLD_S:  # else it goes now, with the others
                    self._held += frame
                    frame = b""
            if frame:
                self._emit(frame)
        if started:
            self._flush_soon.set()

    def flush(self) -> None:
        with self.send_lock:
            if self._held:
                self._emit(b"")

    def flusher(self) -> None:
        """Helper thread: sends the decoupled responses held for :data:`HOLD_S` when no
        other write takes them along first (the model may compute for long between
        two responses, or send its last one from another thread later). While a model's
        Python code runs, this thread needs the GIL too, so a hold can last up to one GIL
        switch interval (5 ms) longer."""
        while True:
            self._flush_soon.wait()
            self._flush_soon.clear()
            while True:
                with self.send_lock:
                    if not self._held:
                        break
                    wait = self._held_since + HOLD_S - time.perf_counter()
                    if wait <= 0:
                        self._emit(b"")
                        break
                time.sleep(wait)

    def side_reader(self) -> None:
        """The helper thread: cancellations, BLS and control replies (side channel)."""
        parser = ipc.FrameParser()
        buf = bytearray(1 << 16)
        view = memoryview(buf)
        while True:
            n = _recv_or_exit(self.side, buf)
            for msg in parser.feed(view[:n]):
                if isinstance(msg, ipc.CancelMsg):
                    self.cancelled.update(msg.keys)
                elif self.handler is not None:
                    self.handler.on_message(msg)

    def receive(self, parser: ipc.FrameParser, buf: bytearray, view: memoryview) -> None:
        """Block until the main channel brings messages; queue them in the inbox."""
        t0 = time.perf_counter_ns()
        n = _recv_or_exit(self.sock, buf)
        if time.perf_counter_ns() - t0 > BLOCKED_NS:  # it waited: the core went elsewhere
            self._ran_ns = 0
        for msg in parser.feed(view[:n]):
            if isinstance(msg, ipc.ExecuteMsg) and self.req_ring is not None:
                for ref in _in_ring(msg.requests):  # claimed in the order they were written
                    self.req_ring.claim(ref.pos, ref.nbytes)
            self.inbox.append(msg)

    # ---- model loading ------------------------------------------------------------------
    def load(self, init: ipc.InitMsg) -> None:
        self.init = init
        self.model_name = init.args["model_name"]
        self.model_version = int(init.args["model_version"])
        pb_utils._configure_logging(verbose_level=init.log_verbose)
        pb_utils._set_model_dir(init.version_dir)
        self.req_ring = RingReader(init.request_ring)
        self.reply_ring = RingReader(init.reply_ring)
        self.resp_ring = RingWriter(init.response_ring)
        self.handler = StubServerHandler(
            send=self.send,
            write_tensor=self._write_locked,
            req_ring=self.reply_ring,
            may_call=lambda: self.executing or (self.init is not None and self.init.decoupled),
        )
        pb_utils._set_server_handler(self.handler)
        pb_utils._set_metrics_handler(StubMetricsHandler(self.send))
        for p in (init.model_dir, init.version_dir):  # searched first: the model's own helpers
            if p in sys.path:
                sys.path.remove(p)
            sys.path.insert(0, p)
        module = _import_model(init.model_file, Path(init.version_dir).name)
        cls = getattr(module, "TritonPythonModel", None)
        if cls is None:
            raise AttributeError(f"{init.model_file} defines no class TritonPythonModel")
        self.model = cls()
        if hasattr(self.model, "initialize"):
            res = self.model.initialize(dict(init.args))
            if inspect.isawaitable(res):
                self._run_async(res)

    def _run_async(self, awaitable: Any) -> Any:
        if self.loop is None:
            self.loop = asyncio.new_event_loop()
        return self.loop.run_until_complete(awaitable)

    # ---- execution ----------------------------------------------------------------------
    def _input(self, ref: ipc.TensorRef) -> pb_utils.Tensor:
        assert self.req_ring is not None
        if ref.inline is not None:
            buf: Any = bytearray(ref.inline)
        else:
            buf = self.req_ring.view(ref.pos, ref.nbytes) if ref.pos >= 0 else b""
        dt = DataType.from_name(ref.datatype)
        if dt is DataType.BYTES:
            arr = deserialize_bytes(buf).reshape(ref.shape)
        elif dt is DataType.BF16:
            arr = np.frombuffer(buf, dtype="<u2").reshape(ref.shape)
        else:
            arr = np.frombuffer(buf, dtype=dt.numpy_dtype).reshape(ref.shape)
        return pb_utils.Tensor._from_array(ref.name, arr, dt.code)

    def _output(self, tensor: Any) -> ipc.TensorRef:
        assert self.resp_ring is not None
        arr = tensor._data()
        dt = DataType.from_code(tensor.triton_dtype())
        shape = arr.shape  # a tuple of ints already
        # This runs per output; ``_value_`` is the type's name without Enum's property.
        name, type_name = tensor.name(), dt._value_
        if dt is DataType.BYTES:
            data = serialize_bytes(arr)
            pos = self.resp_ring.write(data) if len(data) > ipc.INLINE_MAX_BYTES else None
            if pos is None:
                return ipc.inline_ref(name, type_name, shape, data)
            return ipc.ring_ref(name, type_name, shape, len(data), pos)
        want = _BF16_WIRE if dt is DataType.BF16 else dt.numpy_dtype
        nbytes = arr.size * want.itemsize
        got = self.resp_ring.alloc(nbytes) if nbytes > ipc.INLINE_MAX_BYTES else None
        if got is None:
            # tobytes() is C order whatever the layout; only another dtype, or a subclass
            # (a masked array's tobytes() fills masked items), needs a plain copy first
            if type(arr) is not np.ndarray or arr.dtype != want:
                arr = np.ascontiguousarray(arr, dtype=want)
            return ipc.inline_ref(name, type_name, shape, arr.tobytes())
        pos, view = got
        if nbytes:
            np.copyto(np.frombuffer(view, dtype=want).reshape(shape), arr, casting="unsafe")
        return ipc.ring_ref(name, type_name, shape, nbytes, pos)

    def _write_locked(self, tensor: Any) -> ipc.TensorRef:
        with self.out_lock:
            return self._output(tensor)

    def _response(
        self, key: int, resp: Any, wanted: tuple[str, ...], final: bool = True
    ) -> ipc.ResponseMsg:
        if resp is None:
            return ipc.ResponseMsg(key, final=final)
        if not isinstance(resp, pb_utils.InferenceResponse):
            return ipc.ResponseMsg(
                key,
                error_code=_INTERNAL,
                error_message=self._failure(
                    f"expected an InferenceResponse, got {type(resp).__name__}"
                ),
                final=final,
            )
        if resp.has_error():
            err = resp.error()
            assert err is not None  # has_error() says so
            return ipc.ResponseMsg(key, error_code=int(err.code()), error_message=err.message(),
                                   final=final, from_model=True)
        outputs = tuple([self._output(t) for t in resp.output_tensors() if t.name() in wanted])
        text = resp.parameters()
        params = json.loads(text) if text and text != "{}" else {}
        # Positionally (key, outputs, error_code, error_message, final, parameters,
        # from_model): once per response.
        return make_msg(ipc.ResponseMsg, (key, outputs, -1, "", final, params, False))

    def _failure(self, message: str) -> str:
        assert self.init is not None
        return (
            "Failed to process the request(s) for model "
            f"'{self.init.args['model_instance_name']}', message: {message}"
        )

    def execute(self, msg: ipc.ExecuteMsg) -> None:
        assert self.init is not None and self.req_ring is not None
        t0 = time.perf_counter_ns()
        decoupled = self.init.decoupled
        model_name, model_version = self.model_name, self.model_version
        requests = []
        finals: list[list[bool]] = []
        for r in msg.requests:
            inputs = [self._input(ref) for ref in r.inputs]
            key = r.key
            final_flag = [False]
            finals.append(final_flag)
            is_cancelled = self._is_cancelled_fn(key)
            requests.append(
                pb_utils.InferenceRequest._from_server(
                    inputs=inputs,
                    request_id=r.request_id,
                    correlation_id=r.correlation_id,
                    flags=r.flags,
                    parameters_json=r.parameters_json,
                    requested_output_names=list(r.requested_output_names),
                    timeout=r.timeout_us,
                    model_name=model_name,
                    model_version=model_version,
                    is_cancelled=is_cancelled,
                    sender_factory=functools.partial(
                        self._sender, key, r.requested_output_names, final_flag,
                        is_cancelled, decoupled),
                )
            )
        t1 = time.perf_counter_ns()
        error: str | None = None
        result: Any = None
        given = tuple(requests)  # the model may change its list; the bookkeeping may not
        self.executing = True
        try:
            result = self.model.execute(requests)
            if inspect.isawaitable(result):
                result = self._run_async(result)
        except BaseException as exc:  # the model's failure is the requests' failure
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            error = self._failure(format_exception(exc))
            sys.stderr.write(_log_line("E", error))
        finally:
            self.executing = False
        t2 = time.perf_counter_ns()
        with self.out_lock:
            # Requests answered through their sender (done), and those the model asked
            # to RELEASE_RESCHEDULE (again: back to the scheduler, no response now).
            done: set[int] = set()
            rescheduled: list[int] = []
            for r, f, req in zip(msg.requests, finals, given, strict=True):
                if f[0]:
                    done.add(r.key)
                elif (error is None and req._release_flags
                      & pb_utils.TRITONSERVER_REQUEST_RELEASE_RESCHEDULE):
                    rescheduled.append(r.key)
            again = tuple(rescheduled)
            responses = self._collect(msg, result, error, decoupled,
                                      done.union(again) if again else done)
            if self.cancelled:
                # Finished requests need their cancel marks no more, nor do rescheduled
                # ones (the server sends them again under a new key).
                if error is not None or not decoupled:
                    self.cancelled.difference_update(r.key for r in msg.requests)
                elif again:
                    self.cancelled.difference_update(again)
            t3 = time.perf_counter_ns()
            for ref in _in_ring(msg.requests):
                self.req_ring.release(ref.pos)
            self.send(make_msg(ipc.BatchDoneMsg, (msg.batch_id, responses, t1 - t0, t2 - t1,
                                              t3 - t2, again, True)))
        ran = self._ran_ns + t3 - t0  # see GIVE_WAY_NS
        if ran >= GIVE_WAY_NS:
            ran = 0
            _sched_yield()
        self._ran_ns = ran

    def _skip_cancelled(self, msg: ipc.ExecuteMsg) -> ipc.ExecuteMsg:
        """Requests cancelled while they waited here (a pipelined batch) are not run: they
        are answered CANCELLED, as the scheduler answers those cancelled in its queue."""
        keys = self.cancelled
        if not keys or not any(r.key in keys for r in msg.requests):
            return msg
        assert self.req_ring is not None
        dropped = [r for r in msg.requests if r.key in keys]
        kept = tuple(r for r in msg.requests if r.key not in keys)
        keys.difference_update(r.key for r in dropped)  # answered below: finished
        for ref in _in_ring(dropped):
            self.req_ring.release(ref.pos)
        answers = tuple(ipc.ResponseMsg(r.key, error_code=_CANCELLED,
                                        error_message="request cancelled") for r in dropped)
        if kept:
            for answer in answers:
                self.send(answer)
        else:  # nothing left to run: the batch is done
            self.send(ipc.BatchDoneMsg(msg.batch_id, answers, 0, 0, 0, ran=False))
        return ipc.ExecuteMsg(msg.batch_id, kept)

    def _is_cancelled_fn(self, key: int) -> Callable[[], bool]:
        keys = self.cancelled
        return lambda: key in keys

    def _sender(self, key: int, wanted: tuple[str, ...], final_flag: list[bool],
                is_cancelled: Callable[[], bool],
                decoupled: bool) -> pb_utils.InferenceResponseSender:
        """The response sender of request ``key``, made when the model first asks."""

        def send(response: Any, flags: int) -> None:
            final = bool(flags & pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL)
            with self.out_lock:
                if final:
                    final_flag[0] = True
                    self.cancelled.discard(key)
                self.send_response(self._response(key, response, wanted, final=final))

        return pb_utils.InferenceResponseSender(send, is_cancelled, decoupled=decoupled)

    def _collect(
        self,
        msg: ipc.ExecuteMsg,
        result: Any,
        error: str | None,
        decoupled: bool,
        done: set[int],
    ) -> tuple[ipc.ResponseMsg, ...]:
        pending = [r for r in msg.requests if r.key not in done]
        if error is not None:
            return tuple(ipc.ResponseMsg(r.key, error_code=_INTERNAL, error_message=error)
                         for r in pending)
        if decoupled:
            # Responses flow through the sender, possibly from other threads after execute
            # returned; the server keeps the requests open until their FINAL flag arrives.
            return ()
        if result is None:
            if not pending:
                return ()
            text = self._failure(
                "execute() returned None for a model that is not decoupled; return a list "
                "with one InferenceResponse per request (or send a final response through "
                "request.get_response_sender() before execute returns)"
            )
            return tuple(ipc.ResponseMsg(r.key, error_code=_INTERNAL, error_message=text)
                         for r in pending)
        if not isinstance(result, (list, tuple)) or len(result) != len(msg.requests):
            got = len(result) if isinstance(result, (list, tuple)) else 1
            text = self._failure(
                "Number of InferenceResponse objects do not match the number of "
                "InferenceRequest objects. InferenceRequest(s) size is:"
                f"{len(msg.requests)}, and InferenceResponse(s) size is:{got}\n"
            )
            return tuple(ipc.ResponseMsg(r.key, error_code=_INTERNAL, error_message=text)
                         for r in pending)
        out = []
        for r, resp in zip(msg.requests, result, strict=True):
            if r.key in done:
                continue
            if resp is None:
                out.append(ipc.ResponseMsg(
                    r.key, error_code=_INTERNAL,
                    error_message=self._failure("execute() returned None for a request"),
                ))
            else:
                out.append(self._response(r.key, resp, r.requested_output_names))
        return tuple(out)

    def finalize(self) -> None:
        if self.model is not None and hasattr(self.model, "finalize"):
            try:
                res = self.model.finalize()
                if inspect.isawaitable(res):
                    self._run_async(res)
            except Exception as exc:
                sys.stderr.write(_log_line("E", f"finalize failed: {format_exception(exc)}"))

    def serve(self) -> None:
        gc.freeze()  # the imports so far are long-lived: keep them out of every collection
        gc.set_threshold(10_000, 50, 50)
        threading.Thread(target=self.side_reader, name="tritonlite-stub-side",
                         daemon=True).start()
        threading.Thread(target=self.flusher, name="tritonlite-stub-flush",
                         daemon=True).start()
        parser = ipc.FrameParser()
        buf = bytearray(1 << 18)  # reused for every recv: no per-message allocation
        view = memoryview(buf)
        inbox = self.inbox
        while True:
            if not inbox:
                self.flush()
                self.receive(parser, buf, view)
                continue
            msg = inbox.popleft()
            if isinstance(msg, ipc.ExecuteMsg):
                msg = self._skip_cancelled(msg)
                if msg.requests:
                    self.execute(msg)
            elif isinstance(msg, ipc.InitMsg):
                try:
                    self.load(msg)
                except BaseException as exc:
                    self.send(ipc.ReadyMsg(error=format_exception(exc), pid=os.getpid()))
                    return
                self.send(ipc.ReadyMsg(pid=os.getpid()))
            elif isinstance(msg, ipc.ShutdownMsg):
                self.finalize()
                self.flush()  # what a decoupled model sent from finalize or its threads
                return


def _in_ring(requests: Iterable[ipc.RequestMsg]) -> Iterator[ipc.TensorRef]:
    """The inputs of ``requests`` whose bytes are in the request ring."""
    for r in requests:
        for ref in r.inputs:
            if ref.inline is None and ref.nbytes:
                yield ref


def _recv_or_exit(sock: socket.socket, buf: bytearray) -> int:
    """Block for the next bytes; the worker exits when the server is gone (EOF)."""
    try:
        n = sock.recv_into(buf)
    except OSError:
        n = 0
    if not n:  # nothing left to serve
        os._exit(0)
    return n


def _import_model(path: str, version: str) -> ModuleType:
    name = f"{version}.model"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import model file {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _log_line(level: str, message: str) -> str:
    now = time.time()
    lt = time.localtime(now)
    us = int((now % 1) * 1_000_000)
    return (f"{level}{lt.tm_mon:02d}{lt.tm_mday:02d} {lt.tm_hour:02d}:{lt.tm_min:02d}:"
            f"{lt.tm_sec:02d}.{us:06d} {os.getpid()} stub.py] {message}\n")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    # The server handles Ctrl-C and tells us to shut down; don't die mid-execute on SIGINT.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sock = socket.socket(fileno=int(args[0]))
    side = socket.socket(fileno=int(args[1]))
    out = socket.socket(fileno=int(args[2]))
    stub = Stub(sock, side, out)
    try:
        stub.serve()
    finally:
        sys.stderr.flush()
        sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
