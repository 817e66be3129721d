"""A worker gives its core away (``sched_yield``) once it has spent GIVE_WAY_NS on batches
since it last did, right after sending the batch that crossed it: on a core it shares with
the server, a finished batch's answers then reach the server while later pipelined batches
wait, instead of after them. Short batches give way only once their time adds up, counted
from when the worker last gave way or waited for work.

Drives a Stub through its real execute path (``stub_harness``), with a stand-in clock (each
reading advances by a fixed step, so a batch "takes" a known time) and a recording stand-in
for ``sched_yield``.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from stub_harness import run_probe

MODEL = textwrap.dedent("""
    import numpy as np
    import triton_python_backend_utils as pb_utils

    class TritonPythonModel:
        def execute(self, requests):
            return [pb_utils.InferenceResponse(
                [pb_utils.Tensor("OUTPUT", np.zeros(1, dtype=np.float32))]) for _ in requests]
""")

PROBE = """
    import time
    from tritonlite.backends.python import stub as stub_module

    step_ns, wait_after = int(sys.argv[2]), int(sys.argv[3])

    class Clock:  # execute reads the clock four times: a batch "takes" 3 steps
        now = 0

        def perf_counter_ns(self):
            Clock.now += step_ns
            return Clock.now

        def __getattr__(self, name):
            return getattr(time, name)

    stub_module.time = Clock()
    w = loaded_stub(sys.argv[1])
    w.up.setblocking(False)
    parser = ipc.FrameParser()
    sent = []  # batch ids the server has been sent, in order

    def drain():
        try:
            sent.extend(m.batch_id for m in parser.feed(w.up.recv(1 << 20)))
        except BlockingIOError:
            pass

    gave_way = []  # for each sched_yield: the batches sent before it

    def fake_yield():
        drain()
        gave_way.append(list(sent))

    stub_module._sched_yield = fake_yield
    ref = ipc.TensorRef("INPUT", "FP32", (1,), 4, inline=b"\\0" * 4)
    parser_in = ipc.FrameParser()
    buf = bytearray(1 << 16)
    for batch_id in range(1, 7):
        w.stub.execute(ipc.ExecuteMsg(batch_id, (
            ipc.RequestMsg(batch_id, "", 0, 0, "{}", ("OUTPUT",), 0, (ref,)),)))
        if batch_id == wait_after:  # the worker waits for work (the clock: one step)
            w.main.sendall(ipc.encode(ipc.ShutdownMsg()))
            w.stub.receive(parser_in, buf, memoryview(buf))
    drain()
    print(json.dumps({"gave_way": gave_way, "sent": sent, "limit": stub_module.GIVE_WAY_NS}))
"""


def _run(tmp_path: Path, step_ns: int, wait_after: int = 0) -> dict:
    return run_probe(tmp_path, MODEL, PROBE, str(step_ns), str(wait_after))


def test_a_long_batch_gives_way_after_its_answers_are_sent(tmp_path: Path) -> None:
    got = _run(tmp_path, step_ns=400_000)  # 1.2 ms a batch: over the limit every time
    assert got["limit"] <= 1_200_000
    assert got["sent"] == [1, 2, 3, 4, 5, 6]
    assert got["gave_way"] == [[1], [1, 2], [1, 2, 3], [1, 2, 3, 4], [1, 2, 3, 4, 5],
                               [1, 2, 3, 4, 5, 6]]


def test_short_batches_give_way_once_their_time_adds_up(tmp_path: Path) -> None:
    got = _run(tmp_path, step_ns=60_000)  # 180 us a batch: the limit is crossed every 3rd
    assert 360_000 < got["limit"] <= 540_000
    assert got["sent"] == [1, 2, 3, 4, 5, 6]
    assert got["gave_way"] == [[1, 2, 3], [1, 2, 3, 4, 5, 6]]


def test_waiting_for_work_counts_as_giving_way(tmp_path: Path) -> None:
    # 180 us a batch; after batch 2 the worker waits for work (a receive that takes one
    # 60 us clock step, more than BLOCKED_NS): the count starts again from batch 3.
    got = _run(tmp_path, step_ns=60_000, wait_after=2)
    assert got["sent"] == [1, 2, 3, 4, 5, 6]
    assert got["gave_way"] == [[1, 2, 3, 4, 5]]
