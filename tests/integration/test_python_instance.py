"""PythonInstance with real worker processes (no sockets to clients, no frontends)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from tritonlite.backends.python.instances import InstanceSpec, PythonInstance
from tritonlite.core.errors import ErrorKind, InferenceServerError
from tritonlite.core.stats import ModelStats
from tritonlite.core.tensor import Tensor
from tritonlite.core.types import InferenceRequest, InferenceResponse, ScheduledRequest
from tritonlite.scheduling.default import DefaultScheduler

MODEL = '''
import json, os, time
import numpy as np
import triton_python_backend_utils as pb_utils
from utils import VALUE


class TritonPythonModel:
    def initialize(self, args):
        self.args = args
        if os.environ.get("FAIL_INIT_" + args["model_name"]):
            raise pb_utils.TritonModelException("cannot init: weights missing")

    def execute(self, requests):
        out = []
        for r in requests:
            x = pb_utils.get_input_tensor_by_name(r, "INPUT").as_numpy()
            mode = r.parameters() and json.loads(r.parameters()).get("mode")
            if mode == "crash":
                os.kill(os.getpid(), 9)
            if mode == "raise":
                raise ValueError("boom from execute")
            if mode == "none":
                return None
            if mode == "error":
                out.append(pb_utils.InferenceResponse(
                    error=pb_utils.TritonError("custom error message",
                                               pb_utils.TritonError.NOT_FOUND)))
                continue
            if mode == "sleep":
                time.sleep(0.3)
            meta = np.array([json.dumps({"value": VALUE, "pid": os.getpid(),
                                         "name": self.args["model_instance_name"]})],
                            dtype=np.object_)
            out.append(pb_utils.InferenceResponse([
                pb_utils.Tensor("OUTPUT", x * 2),
                pb_utils.Tensor("META", meta),
            ]))
        return out
'''


def line_of(text: str) -> int:
    return textwrap.dedent(MODEL).splitlines().index(
        next(ln for ln in textwrap.dedent(MODEL).splitlines() if text in ln)) + 1


def make_model(root: Path, name: str, value: int) -> Path:
    d = root / name / "1"
    d.mkdir(parents=True)
    (d / "model.py").write_text(textwrap.dedent(MODEL))
    (d / "utils.py").write_text(f"VALUE = {value}\n")
    return root / name


def spec(model_dir: Path, index: int = 0) -> InstanceSpec:
    name = model_dir.name
    return InstanceSpec(
        name=f"{name}_0_{index}", model_name=name, version=1,
        model_file=str(model_dir / "1" / "model.py"), model_dir=str(model_dir),
        version_dir=str(model_dir / "1"), config_json=json.dumps({"name": name}),
        decoupled=False, ring_bytes=1 << 20)


def scheduled(x: np.ndarray, mode: str = "") -> tuple[ScheduledRequest,
                                                      asyncio.Future[InferenceResponse]]:
    fut: asyncio.Future[InferenceResponse] = asyncio.get_running_loop().create_future()
    req = InferenceRequest("m", [Tensor.from_numpy("INPUT", x)],
                           parameters={"mode": mode} if mode else {})
    job = ScheduledRequest(req, lambda r: fut.done() or fut.set_result(r), list(req.inputs),
                           ("OUTPUT", "META"), 0)
    return job, fut


async def call(sched: DefaultScheduler, x: np.ndarray, mode: str = "") -> InferenceResponse:
    job, fut = scheduled(x, mode)
    sched.enqueue(job)
    return await asyncio.wait_for(fut, 30)


@contextlib.asynccontextmanager
async def running(tmp_path: Path, name: str) -> AsyncIterator[PythonInstance]:
    """A started instance of the test model ``name``, stopped afterwards."""
    inst = PythonInstance(spec(make_model(tmp_path, name, 1)), ModelStats(name, "1"))
    await inst.start()
    try:
        yield inst
    finally:
        await inst.stop()


def meta(resp: InferenceResponse) -> dict[str, object]:
    (m,) = [t for t in resp.outputs if t.name == "META"]
    return json.loads(m.as_numpy()[0])


async def test_execute_roundtrip_large_and_small(tmp_path: Path) -> None:
    async with running(tmp_path, "a") as inst:
        sched = DefaultScheduler([inst])
        for n in (4, 300_000):  # the big one does not fit the 1 MiB ring: goes inline
            x = np.arange(n, dtype=np.float32)
            resp = await call(sched, x)
            (out,) = [t for t in resp.outputs if t.name == "OUTPUT"]
            np.testing.assert_array_equal(out.as_numpy(), x * 2)
        assert meta(resp)["name"] == "a_0_0"
        assert inst.stats.execution_count == 2


async def test_each_channel_carries_one_direction(tmp_path: Path) -> None:
    """Requests go down the main channel and answers come up a channel of their own:
    the worker writes nothing on the socket it reads requests from (on a two-way socket,
    the server reading an answer wakes the worker's main thread for nothing; see ipc)."""
    async with running(tmp_path, "a") as inst:
        sched = DefaultScheduler([inst])
        for _ in range(3):
            await call(sched, np.arange(4, dtype=np.float32))
        assert inst._main is not None and inst._sock is not None
        down = inst._main.sock
        assert inst._sock is not down and inst._sock is not inst._side.sock  # type: ignore[union-attr]
        with pytest.raises(BlockingIOError):
            down.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)


async def test_small_tensors_travel_inline_and_larger_ones_through_the_rings(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Up to ``INLINE_MAX_BYTES`` a tensor is copied into the frame (cheaper than a ring
    region); above it, it goes through the shared-memory rings, both ways."""
    from tritonlite.backends.python import ipc

    sent: list[ipc.ExecuteMsg] = []
    done: list[ipc.BatchDoneMsg] = []
    encode, on_done = ipc.encode, PythonInstance._on_batch_done

    def spy_encode(msg: object) -> bytes:
        if isinstance(msg, ipc.ExecuteMsg):
            sent.append(msg)
        return encode(msg)

    def spy_done(self: PythonInstance, msg: ipc.BatchDoneMsg) -> None:
        done.append(msg)
        on_done(self, msg)

    monkeypatch.setattr(ipc, "encode", spy_encode)
    monkeypatch.setattr(PythonInstance, "_on_batch_done", spy_done)
    async with running(tmp_path, "a") as inst:
        sched = DefaultScheduler([inst])
        limit = ipc.INLINE_MAX_BYTES // 4
        for n, inline in ((4, True), (limit, True), (limit + 1, False), (5000, False)):
            sent.clear()
            done.clear()
            x = np.arange(n, dtype=np.float32)
            resp = await call(sched, x)
            (out,) = [t for t in resp.outputs if t.name == "OUTPUT"]
            np.testing.assert_array_equal(out.as_numpy(), x * 2)
            (ref,) = sent[0].requests[0].inputs
            assert (ref.inline is not None, ref.pos >= 0) == (inline, not inline), (n, ref)
            (out_ref,) = [o for o in done[0].responses[0].outputs if o.name == "OUTPUT"]
            assert (out_ref.inline is not None) == inline, (n, out_ref.pos)
            # META, a small BYTES output (a JSON string), goes inline and decodes
            (meta_ref,) = [o for o in done[0].responses[0].outputs if o.name == "META"]
            assert meta_ref.inline is not None and meta(resp)["name"] == "a_0_0"


async def test_each_model_sees_its_own_utils(tmp_path: Path) -> None:
    a = PythonInstance(spec(make_model(tmp_path, "a", 1)), ModelStats("a", "1"))
    b = PythonInstance(spec(make_model(tmp_path, "b", 2)), ModelStats("b", "1"))
    await asyncio.gather(a.start(), b.start())
    try:
        ra = await call(DefaultScheduler([a]), np.zeros(1, np.float32))
        rb = await call(DefaultScheduler([b]), np.zeros(1, np.float32))
        assert meta(ra)["value"] == 1
        assert meta(rb)["value"] == 2
        assert meta(ra)["pid"] != meta(rb)["pid"] != os.getpid()
    finally:
        await asyncio.gather(a.stop(), b.stop())


async def test_errors_from_the_model(tmp_path: Path) -> None:
    async with running(tmp_path, "raises") as inst:
        sched = DefaultScheduler([inst])
        resp = await call(sched, np.zeros(1, np.float32), "raise")
        assert resp.error is not None and resp.error.kind is ErrorKind.INTERNAL
        assert resp.error.message.startswith(
            "Failed to process the request(s) for model 'raises_0_0', message: ValueError: boom "
            "from execute\n\nAt:\n  ")
        assert resp.error.message.endswith(
            f"model.py({line_of('boom from execute')}): execute\n")
        resp = await call(sched, np.zeros(1, np.float32), "error")
        assert resp.error is not None and resp.error.kind is ErrorKind.NOT_FOUND
        assert resp.error.message == "custom error message"
        resp = await call(sched, np.zeros(1, np.float32), "none")  # Triton hangs here
        assert resp.error is not None and "returned None" in resp.error.message
        assert (await call(sched, np.ones(1, np.float32))).error is None


async def test_crash_fails_request_and_restarts(tmp_path: Path) -> None:
    async with running(tmp_path, "crashy") as inst:
        sched = DefaultScheduler([inst])
        first_pid = inst.pid
        resp = await call(sched, np.zeros(1, np.float32), "crash")
        assert resp.error is not None
        assert "exited unexpectedly while serving (killed by SIGKILL)" in resp.error.message
        assert "is being restarted" in resp.error.message
        resp = await call(sched, np.ones(2, np.float32))  # queued until the restart is done
        assert resp.error is None
        assert meta(resp)["pid"] != first_pid


async def test_a_request_arriving_while_a_dead_worker_is_handled_waits_for_the_restart(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Between the worker's exit and the server learning why (up to 2 s), the instance
    still has the crashed batch on its books; a pipelining scheduler must not give it
    more (it would fail at once), but queue it for the restarted worker."""
    async with running(tmp_path, "crashy") as inst:
        sched = DefaultScheduler([inst], depth=4)
        reason_known = asyncio.Event()
        exit_reason = inst._exit_reason

        async def slow_exit_reason(when: str) -> str:
            await reason_known.wait()
            return await exit_reason(when)

        monkeypatch.setattr(inst, "_exit_reason", slow_exit_reason)
        crash, crashed = scheduled(np.zeros(1, np.float32), "crash")
        sched.enqueue(crash)
        for _ in range(500):  # until the server has seen the worker go
            if inst._main is None:
                break
            await asyncio.sleep(0.01)
        assert inst._main is None and not crashed.done()
        assert inst.outstanding == 0
        later, answered = scheduled(np.ones(2, np.float32))
        sched.enqueue(later)
        assert list(sched.queue) == [later]  # waits instead of failing
        reason_known.set()
        assert (await asyncio.wait_for(crashed, 30)).error is not None
        resp = await asyncio.wait_for(answered, 30)
        assert resp.error is None


async def test_initialize_failure_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAIL_INIT_bad", "1")
    inst = PythonInstance(spec(make_model(tmp_path, "bad", 1)), ModelStats("bad", "1"))
    with pytest.raises(InferenceServerError) as ei:
        await inst.start()
    msg = ei.value.message
    assert msg.startswith("TritonModelException: cannot init: weights missing\n\nAt:\n  ")
    assert msg.endswith(f"model.py({line_of('weights missing')}): initialize\n")


async def test_syntax_error_reason(tmp_path: Path) -> None:
    d = tmp_path / "syn" / "1"
    d.mkdir(parents=True)
    (d / "model.py").write_text("def broken(:\n")
    inst = PythonInstance(spec(tmp_path / "syn"), ModelStats("syn", "1"))
    with pytest.raises(InferenceServerError) as ei:
        await inst.start()
    assert ei.value.message.startswith("SyntaxError: ")
    assert "(model.py, line 1)" in ei.value.message


async def test_killed_during_initialize_is_a_load_failure(tmp_path: Path) -> None:
    d = tmp_path / "dies" / "1"
    d.mkdir(parents=True)
    (d / "model.py").write_text(f"import os\nos.kill(os.getpid(), {int(signal.SIGKILL)})\n")
    inst = PythonInstance(spec(tmp_path / "dies"), ModelStats("dies", "1"))
    with pytest.raises(InferenceServerError, match="exited unexpectedly during initialization"):
        await inst.start()



async def test_pipelined_requests_each_get_their_own_answer(tmp_path: Path) -> None:
    async with running(tmp_path, "piped") as inst:
        sched = DefaultScheduler([inst], depth=4)
        xs = [np.full(3, i, np.float32) for i in range(40)]
        jobs = [scheduled(x) for x in xs]
        for job, _ in jobs:
            sched.enqueue(job)
        assert inst.outstanding == 4  # the rest wait in the scheduler's queue
        for x, (_, fut) in zip(xs, jobs, strict=True):
            resp = await asyncio.wait_for(fut, 30)
            (out,) = [t for t in resp.outputs if t.name == "OUTPUT"]
            np.testing.assert_array_equal(out.as_numpy(), x * 2)
        assert inst.stats.execution_count == 40  # one execute per request
        assert inst.outstanding == 0


async def test_a_request_cancelled_while_held_by_the_worker_is_not_run(tmp_path: Path) -> None:
    async with running(tmp_path, "held") as inst:
        sched = DefaultScheduler([inst], depth=3)
        slow, slow_fut = scheduled(np.zeros(1, np.float32), "sleep")  # runs 0.3 s
        held, held_fut = scheduled(np.ones(1, np.float32))
        last, last_fut = scheduled(np.full(1, 2, np.float32))
        for job in (slow, held, last):
            sched.enqueue(job)
        assert inst.outstanding == 3
        await asyncio.sleep(0.05)  # the slow one is running, the others wait in the worker
        sched.cancel(held)
        resp = await asyncio.wait_for(held_fut, 30)
        assert resp.error is not None and resp.error.kind is ErrorKind.CANCELLED
        assert resp.error.message == "request cancelled"
        assert (await asyncio.wait_for(slow_fut, 30)).error is None
        assert (await asyncio.wait_for(last_fut, 30)).error is None
        assert inst.stats.execution_count == 2  # the cancelled one never ran


async def test_large_outputs_are_borrowed_from_the_ring_until_dropped(tmp_path: Path) -> None:
    import gc
    import threading

    from tritonlite.backends.python.instances import BORROW_MIN_BYTES

    async with running(tmp_path, "big") as inst:
        sched = DefaultScheduler([inst])
        ring = inst._resp_ring
        assert ring is not None
        x = np.arange(BORROW_MIN_BYTES // 4 + 10, dtype=np.float32)
        resp = await call(sched, x)
        (out,) = [t for t in resp.outputs if t.name == "OUTPUT"]
        assert isinstance(out.raw(), memoryview)  # not copied out of the ring
        np.testing.assert_array_equal(out.as_numpy(), x * 2)
        assert ring._live and ring._live[0][0] not in ring._released  # held while it lives
        del resp, out
        gc.collect()
        assert len(ring._live) == 0

        resp = await call(sched, x)  # dropped in another thread: released on the loop
        holder = [resp]
        del resp
        t = threading.Thread(target=holder.clear)
        t.start()
        t.join()
        gc.collect()
        await asyncio.sleep(0.01)
        assert len(ring._live) == 0
        small = await call(sched, np.ones(4, np.float32))
        assert all(isinstance(t.raw(), bytes) for t in small.outputs)  # small: copied
