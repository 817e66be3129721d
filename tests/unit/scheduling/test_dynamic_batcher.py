"""DynamicBatcher against fake instances and a fake clock (no processes, no sockets)."""

from __future__ import annotations

import numpy as np
import pytest
from fakes import FakeClock, FakeInstance, PipelinedFakeInstance, ids, job
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

from tritonlite.core.errors import ErrorKind, InferenceServerError
from tritonlite.core.tensor import DataType, Tensor
from tritonlite.core.types import InferenceResponse
from tritonlite.scheduling.batching import BatchInput
from tritonlite.scheduling.dynamic import DynamicBatcher


def make(config: str = "", *, mbs: int = 4, n_instances: int = 1,
         inputs: tuple[BatchInput, ...] = ()):
    db = text_format.Parse(config, model_config_pb2.ModelDynamicBatching())
    if not db.preferred_batch_size:  # as the served config fills it in
        db.preferred_batch_size.append(mbs)
    clock = FakeClock()
    insts = [FakeInstance(f"m_0_{i}") for i in range(n_instances)]
    b = DynamicBatcher.from_config(model_name="m", instances=insts, dynamic_batching=db,
                                   max_batch_size=mbs, inputs=inputs, clock=clock)
    return b, insts, clock


def rq(rid: str, got: list[InferenceResponse] | None = None, **kw):
    return job(rid=rid, seq=False, sink=got.append if got is not None else None, **kw)


def test_idle_instance_takes_first_request_then_queue_batches() -> None:
    b, (inst,), _ = make()
    b.enqueue(rq("a"))
    assert ids(inst.running) == ["a"]  # delay 0: send what is there
    for r in "bcd":
        b.enqueue(rq(r))
    assert ids(inst.finish()) == ["a"]
    assert ids(inst.running) == ["b", "c", "d"]


def test_batch_sizes_sum_to_at_most_max_batch_size() -> None:
    b, (inst,), _ = make(mbs=8)
    b.enqueue(rq("blocker"))
    for r in "xyz":
        b.enqueue(rq(r, batch_size=3))
    inst.finish()
    assert ids(inst.running) == ["x", "y"]  # 3 + 3; the third does not fit and is not skipped
    inst.finish()
    assert ids(inst.running) == ["z"]


def test_delay_waits_for_preferred_size() -> None:
    b, (inst,), clock = make("max_queue_delay_microseconds: 100000")
    b.enqueue(rq("a"))
    b.enqueue(rq("b"))
    assert inst.running is None
    clock.advance(0.05)
    b.enqueue(rq("c"))
    assert inst.running is None
    b.enqueue(rq("d"))  # preferred size 4 reached: sent at once
    assert ids(inst.running) == ["a", "b", "c", "d"]


def test_delay_expiry_sends_what_is_there() -> None:
    b, (inst,), clock = make("max_queue_delay_microseconds: 100000")
    b.enqueue(rq("a", at=0))
    clock.advance(0.06)
    b.enqueue(rq("b"))
    clock.advance(0.039)
    assert inst.running is None
    clock.advance(0.002)  # the oldest request waited 100 ms
    assert ids(inst.running) == ["a", "b"]


def test_delay_counts_from_arrival_when_the_loop_read_late() -> None:
    """A request read after the loop waited for a CPU (a worker had it) waited that long
    already: its delay counts from arrival, not from the read (``wake_lag``)."""
    b, (inst,), clock = make("max_queue_delay_microseconds: 100000")
    b.enqueue(rq("blocker"))
    clock.advance(0.2)
    assert ids(inst.running) == ["blocker"]
    clock.lag = 70_000_000  # read 70 ms after it arrived
    b.enqueue(rq("a"))
    b.enqueue(rq("b"))  # same run: read as it arrives
    inst.finish()
    assert inst.running is None
    clock.advance(0.029)
    assert inst.running is None
    clock.advance(0.002)  # "a" arrived 101 ms ago; without the lag it would wait 69 ms more
    assert ids(inst.running) == ["a", "b"]


# A request that joins a batch waiting for its delay skips the batcher's pass unless it
# could change the decision (``DynamicBatcher._joins``); these cover each way it could.
WAITING = "max_queue_delay_microseconds: 100000"


def test_requests_that_only_grow_a_waiting_batch_skip_the_pass(monkeypatch) -> None:
    from tritonlite.scheduling import dynamic

    calls = []
    real = dynamic.form_batch
    monkeypatch.setattr(dynamic, "form_batch", lambda *a, **kw: calls.append(1) or real(*a, **kw))
    b, (inst,), clock = make(WAITING, mbs=8)
    b.enqueue(rq("a"))
    assert len(calls) == 1 and inst.running is None
    for r in "bcdef":
        b.enqueue(rq(r))
    assert len(calls) == 1  # nothing to decide: the batch still waits for "a"'s delay
    clock.advance(0.1)
    assert ids(inst.running) == ["a", "b", "c", "d", "e", "f"]


def test_a_waiting_batch_goes_when_a_request_makes_a_preferred_size() -> None:
    b, (inst,), _ = make("preferred_batch_size: [3, 6] " + WAITING, mbs=8)
    b.enqueue(rq("a"))
    b.enqueue(rq("b"))
    assert inst.running is None
    b.enqueue(rq("c"))  # 3: a preferred size below the largest
    assert ids(inst.running) == ["a", "b", "c"]


def test_a_waiting_batch_goes_when_a_request_would_overfill_it() -> None:
    b, (inst,), _ = make(WAITING, mbs=4)
    b.enqueue(rq("a", batch_size=2))
    assert inst.running is None
    b.enqueue(rq("b", batch_size=3))  # 5 > 4: "a" goes as it is, "b" waits its turn
    assert ids(inst.running) == ["a"]


def test_a_waiting_batch_goes_when_a_request_of_another_shape_arrives() -> None:
    spec = (BatchInput("INPUT", DataType.FP32, (-1,)),)
    b, (inst,), clock = make(WAITING, mbs=8, inputs=spec)
    b.enqueue(rq("a", shape=(1, 2)))
    b.enqueue(rq("b", shape=(1, 2)))
    assert inst.running is None
    b.enqueue(rq("c", shape=(1, 3)))  # Triton sends the pending batch as it is
    assert ids(inst.running) == ["a", "b"]
    inst.finish()
    assert inst.running is None  # "c" waits for its own delay
    clock.advance(0.1)
    assert ids(inst.running) == ["c"]


def test_a_request_that_arrived_before_a_waiting_batch_brings_it_forward() -> None:
    b, (inst,), clock = make(WAITING, mbs=8)
    b.enqueue(rq("a"))  # due at 100 ms
    clock.advance(0.05)
    clock.lag = 80_000_000  # "b" arrived at -30 ms, read late: the batch is due at 70 ms
    b.enqueue(rq("b"))
    clock.advance(0.019)
    assert inst.running is None
    clock.advance(0.002)
    assert ids(inst.running) == ["a", "b"]


def test_a_higher_priority_request_leads_a_waiting_batch() -> None:
    b, (inst,), _ = make("preferred_batch_size: [2, 6] priority_levels: 2 "
                         "default_priority_level: 2 " + WAITING, mbs=8)
    b.enqueue(rq("low1"))
    b.enqueue(rq("low2", batch_size=2))  # 3: not a preferred size, the batch waits
    assert inst.running is None
    b.enqueue(rq("high", priority=1))  # in front: high + low1 make 2, a preferred size
    assert ids(inst.running) == ["high", "low1"]


def test_a_request_read_before_the_due_timer_ran_sends_the_batch() -> None:
    """On a loop, requests read in the same turn can come before the timer's callback:
    the batch's delay has run out, and the first of them goes with it, as a pass at
    that moment decides; the next one waits for its own delay."""
    b, (inst,), clock = make(WAITING, mbs=8)
    b.enqueue(rq("a"))  # due at 100 ms
    clock.now += 150_000_000  # the timer is due but has not run
    b.enqueue(rq("b"))
    b.enqueue(rq("c"))
    assert ids(inst.running) == ["a", "b"]
    inst.finish()
    clock.advance(0)
    assert inst.running is None  # "c" waits for its own delay
    clock.advance(0.1)
    assert ids(inst.running) == ["c"]


def test_a_request_read_before_a_due_timeout_ran_is_not_counted_in_the_batch() -> None:
    got: list[InferenceResponse] = []
    b, (inst,), clock = make(
        "preferred_batch_size: [2, 6] default_queue_policy { timeout_action: REJECT "
        "default_timeout_microseconds: 500000 allow_timeout_override: true } "
        "max_queue_delay_microseconds: 1000000", mbs=8)
    b.enqueue(rq("short", got, timeout_us=50_000))
    b.enqueue(rq("x", got, batch_size=2))  # 3: waits for the delay
    clock.now += 60_000_000  # "short" expired; its timer has not run
    b.enqueue(rq("y", got, batch_size=4))  # x + y make 6 once "short" is gone
    assert [r.id for r in got] == ["short"]
    assert ids(inst.running) == ["x", "y"]


def test_a_request_with_a_timeout_is_timed_while_a_batch_waits() -> None:
    got: list[InferenceResponse] = []
    b, (inst,), clock = make(
        "default_queue_policy { timeout_action: REJECT default_timeout_microseconds: 300000 "
        "allow_timeout_override: true } max_queue_delay_microseconds: 500000", mbs=8)
    b.enqueue(rq("a", got))
    clock.advance(0.01)
    b.enqueue(rq("short", got, timeout_us=50_000))  # expires long before the batch is due
    clock.advance(0.049)
    assert got == []
    clock.advance(0.002)
    assert [r.id for r in got] == ["short"]
    assert inst.running is None


def test_requests_queued_behind_busy_instances_skip_the_pass(monkeypatch) -> None:
    b, insts, _ = make(mbs=8, n_instances=2)
    b.enqueue(rq("x"))
    b.enqueue(rq("y"))
    passes = []
    real = b._pass
    monkeypatch.setattr(b, "_pass", lambda now: passes.append(now) or real(now))
    b.enqueue(rq("a"))  # the first one queued behind them looks
    for r in "bc":
        b.enqueue(rq(r))
    assert len(passes) == 1
    assert [ids(i.running) for i in insts] == [["x"], ["y"]]
    insts[1].finish()  # a freed instance runs a pass
    assert len(passes) == 2
    assert ids(insts[1].running) == ["a", "b", "c"]


def test_largest_reachable_preferred_size_goes_first() -> None:
    b, (inst,), clock = make("preferred_batch_size: [2, 4] max_queue_delay_microseconds: 100000",
                             mbs=8)
    b.enqueue(rq("blocker"))
    clock.advance(0.2)
    assert ids(inst.running) == ["blocker"]
    for r in "abcde":
        b.enqueue(rq(r, at=clock.now))
    inst.finish()
    assert ids(inst.running) == ["a", "b", "c", "d"]
    inst.finish()
    assert inst.running is None  # "e" alone waits for more
    clock.advance(0.2)
    assert ids(inst.running) == ["e"]


def test_expired_delay_sends_past_preferred_up_to_max_batch() -> None:
    b, (inst,), clock = make("preferred_batch_size: [2] max_queue_delay_microseconds: 1000",
                             mbs=8)
    b.enqueue(rq("blocker"))
    clock.advance(0.01)
    assert ids(inst.running) == ["blocker"]
    for r in "abcde":
        b.enqueue(rq(r))
    clock.advance(0.01)
    inst.finish()
    assert ids(inst.running) == ["a", "b", "c", "d", "e"]


def test_each_idle_instance_gets_its_own_batch() -> None:
    b, insts, _ = make(mbs=2, n_instances=2)
    for r in "abcde":
        b.enqueue(rq(r))
    assert [ids(i.running) for i in insts] == [["a"], ["b"]]
    insts[1].finish()  # a busy instance does not hold up the idle one
    assert ids(insts[1].running) == ["c", "d"]
    insts[0].finish()
    assert ids(insts[0].running) == ["e"]


def test_variable_shapes_do_not_share_a_batch() -> None:
    spec = (BatchInput("INPUT", DataType.FP32, (-1,)),)
    b, (inst,), _ = make(mbs=8, inputs=spec)
    b.enqueue(rq("blocker", shape=(1, 2)))
    b.enqueue(rq("a", shape=(1, 2)))
    b.enqueue(rq("b", shape=(1, 2)))
    b.enqueue(rq("c", shape=(1, 3)))
    b.enqueue(rq("d", shape=(1, 2)))
    inst.finish()
    assert ids(inst.running) == ["a", "b"]
    inst.finish()
    assert ids(inst.running) == ["c"]
    inst.finish()
    assert ids(inst.running) == ["d"]


def test_optional_inputs_batch_only_with_the_same_input_set() -> None:
    spec = (BatchInput("INPUT", DataType.FP32, (1,)),
            BatchInput("EXTRA", DataType.FP32, (1,), optional=True))
    b, (inst,), _ = make(mbs=8, inputs=spec)
    b.enqueue(rq("blocker"))
    b.enqueue(rq("a"))
    with_extra = rq("b")
    with_extra.inputs.append(Tensor.from_numpy("EXTRA", np.zeros((1, 1), np.float32)))
    b.enqueue(with_extra)
    inst.finish()
    assert ids(inst.running) == ["a"]
    inst.finish()
    assert ids(inst.running) == ["b"]


def test_preserve_ordering_holds_later_batches() -> None:
    got: list[InferenceResponse] = []
    b, insts, _ = make("preserve_ordering: true", mbs=2, n_instances=2)
    for r in "abcd":
        b.enqueue(rq(r, got))
    assert [ids(i.running) for i in insts] == [["a"], ["b"]]
    insts[1].finish()  # "b" is done before "a": held back
    assert got == []
    assert ids(insts[1].running) == ["c", "d"]
    insts[1].finish_in([1, 0])
    assert got == []
    insts[0].finish()
    assert [r.id for r in got] == ["a", "b", "c", "d"]


def test_without_preserve_ordering_responses_go_out_at_once() -> None:
    got: list[InferenceResponse] = []
    b, insts, _ = make(mbs=2, n_instances=2)
    b.enqueue(rq("a", got))
    b.enqueue(rq("b", got))
    insts[1].finish()
    assert [r.id for r in got] == ["b"]


def test_priority_levels_reorder_the_queue() -> None:
    b, (inst,), _ = make("priority_levels: 2 default_priority_level: 2", mbs=1)
    b.enqueue(rq("blocker"))
    for rid, prio in [("p0", 0), ("p2", 2), ("p1a", 1), ("p7", 7), ("p1b", 1)]:
        b.enqueue(rq(rid, priority=prio))
    order = []
    for _ in range(6):
        order += ids(inst.finish())
    assert order == ["blocker", "p1a", "p1b", "p0", "p2", "p7"]


def test_max_queue_size_refuses_with_tritons_text() -> None:
    b, (inst,), _ = make("default_queue_policy { max_queue_size: 2 }", mbs=1)
    b.enqueue(rq("running"))
    b.enqueue(rq("q1"))
    b.enqueue(rq("q2"))
    for rid, prefix in (("", "<id_unknown>"), ("r7", "r7")):
        with pytest.raises(InferenceServerError) as ei:
            b.enqueue(rq(rid))
        assert ei.value.kind is ErrorKind.UNAVAILABLE
        assert ei.value.message == f"[request id: {prefix}] Exceeds maximum queue size"
    assert ids(inst.finish()) == ["running"]
    b.enqueue(rq("q3"))  # room again
    assert [ids(inst.finish()) for _ in range(3)] == [["q1"], ["q2"], ["q3"]]


def test_max_queue_size_is_per_priority_level() -> None:
    b, _, _ = make("priority_levels: 2 default_priority_level: 2 "
                         "priority_queue_policy { key: 1 value { max_queue_size: 1 } }", mbs=1)
    b.enqueue(rq("running"))
    b.enqueue(rq("high", priority=1))
    with pytest.raises(InferenceServerError):
        b.enqueue(rq("high2", priority=1))
    b.enqueue(rq("low"))  # level 2 uses the default policy: unlimited


def test_timeout_reject() -> None:
    got: list[InferenceResponse] = []
    b, (inst,), clock = make(
        "default_queue_policy { timeout_action: REJECT default_timeout_microseconds: 100000 "
        "allow_timeout_override: true }", mbs=1)
    b.enqueue(rq("running"))
    b.enqueue(rq("default", got))
    b.enqueue(rq("shorter", got, timeout_us=50000))
    b.enqueue(rq("longer", got, timeout_us=900000))  # an override may only shorten
    clock.advance(0.05)
    assert got == []
    clock.advance(0.001)
    assert [r.id for r in got] == ["shorter"]
    clock.advance(0.05)
    assert [r.id for r in got] == ["shorter", "default", "longer"]
    for r in got:
        assert r.error is not None and r.error.kind is ErrorKind.UNAVAILABLE
        assert r.error.message == "Request timeout expired"
    inst.finish()
    assert inst.running is None


def test_a_late_read_does_not_shorten_a_timeout() -> None:
    """The queue delay counts from arrival (the loop's wait for a CPU taken off), a
    timeout from the enqueue, as Triton's does."""
    got: list[InferenceResponse] = []
    b, _, clock = make(
        "default_queue_policy { timeout_action: REJECT default_timeout_microseconds: 100000 }",
        mbs=1)
    b.enqueue(rq("running"))
    clock.lag = 150_000_000  # read 150 ms after it arrived: more than its timeout
    b.enqueue(rq("late", got))
    clock.advance(0.099)
    assert got == []
    clock.advance(0.002)
    assert [r.id for r in got] == ["late"]


def test_request_timeout_needs_a_default_timeout() -> None:
    got: list[InferenceResponse] = []
    b, (inst,), clock = make("default_queue_policy { allow_timeout_override: true }", mbs=1)
    b.enqueue(rq("running"))
    b.enqueue(rq("a", got, timeout_us=1000))
    clock.advance(1.0)
    assert got == []
    inst.finish()
    assert ids(inst.running) == ["a"]


def test_timeout_delay_moves_behind_unexpired_requests() -> None:
    got: list[InferenceResponse] = []
    b, (inst,), clock = make(
        "default_queue_policy { timeout_action: DELAY default_timeout_microseconds: 100000 }",
        mbs=1)
    b.enqueue(rq("running"))
    b.enqueue(rq("old"))
    clock.advance(0.2)  # "old" expired: delayed, not rejected
    b.enqueue(rq("new"))
    assert got == []
    order = []
    for _ in range(3):
        order += ids(inst.finish())
    assert order == ["running", "new", "old"]


def test_cancel_queued_and_running() -> None:
    got: list[InferenceResponse] = []
    b, (inst,), _ = make(mbs=1)
    running = rq("running", got)
    queued = rq("queued", got)
    b.enqueue(running)
    b.enqueue(queued)
    b.cancel(queued)
    assert got[0].id == "queued" and got[0].error is not None
    assert got[0].error.kind is ErrorKind.CANCELLED
    b.cancel(running)
    assert inst.cancelled == [running]
    inst.finish()
    assert inst.running is None


def test_close_fails_queued_requests() -> None:
    got: list[InferenceResponse] = []
    b, (inst,), clock = make("max_queue_delay_microseconds: 100000")
    b.enqueue(rq("a", got))
    b.close()
    assert got[0].error is not None and got[0].error.kind is ErrorKind.UNAVAILABLE
    clock.advance(1.0)
    assert inst.running is None


def test_queue_time_is_recorded() -> None:
    b, (inst,), clock = make("max_queue_delay_microseconds: 100000")
    b.enqueue(rq("a"))
    clock.advance(0.2)
    (a,) = inst.running
    assert a.queue_ns == int(0.2 * 1e9)


def test_an_instance_that_cannot_execute_fails_the_batch() -> None:
    got: list[InferenceResponse] = []
    b, (inst,), _ = make(mbs=2)

    def broken(batch) -> None:
        raise OSError("worker channel is closed")

    inst.execute = broken  # type: ignore[method-assign]
    b.enqueue(rq("a", got))
    assert got[0].error is not None and got[0].error.kind is ErrorKind.INTERNAL
    assert "worker channel is closed" in got[0].error.message
    b.enqueue(rq("b", got))  # the instance is not handed back until it restarts
    assert len(got) == 1


def test_closed_batcher_refuses_new_requests() -> None:
    b, _, _ = make()
    b.close()
    with pytest.raises(InferenceServerError) as ei:
        b.enqueue(rq("late"))
    assert ei.value.kind is ErrorKind.UNAVAILABLE
    assert ei.value.message == ("[request id: late] Server is stopping, scheduler for model "
                                "has stopped accepting new inference requests")


# ---- pipelining ------------------------------------------------------------------------------
def _pipelined(mbs: int, depth: int, n_instances: int = 1):
    insts = [PipelinedFakeInstance(f"m_0_{i}") for i in range(n_instances)]
    b = DynamicBatcher(model_name="m", instances=insts, max_batch_size=mbs, clock=FakeClock(),
                       depth=depth)
    return b, insts


def test_single_request_batches_are_pipelined_up_to_depth() -> None:
    b, (inst,) = _pipelined(mbs=1, depth=3)
    for r in "abcde":
        b.enqueue(rq(r))
    assert [ids(batch) for batch in inst.held] == [["a"], ["b"], ["c"]]
    assert len(b.queue) == 2
    inst.finish()
    assert [ids(batch) for batch in inst.held] == [["b"], ["c"], ["d"]]
    inst.finish()
    inst.finish()
    inst.finish()
    assert [ids(batch) for batch in inst.held] == [["e"]]
    inst.finish()
    assert b.pool.idle == [inst]  # given back only once it holds nothing


def test_pipelining_prefers_an_idle_instance() -> None:
    b, (x, y) = _pipelined(mbs=1, depth=4, n_instances=2)
    for r in "abc":
        b.enqueue(rq(r))
    assert [ids(batch) for batch in x.held] == [["a"], ["c"]]
    assert [ids(batch) for batch in y.held] == [["b"]]


def test_real_batching_is_never_pipelined() -> None:
    b, (inst,) = _pipelined(mbs=4, depth=4)
    assert b.depth == 1
    b.enqueue(rq("a"))
    for r in "bcd":
        b.enqueue(rq(r))
    assert [ids(batch) for batch in inst.held] == [["a"]]  # b, c, d wait to go together
    inst.finish()
    assert [ids(batch) for batch in inst.held] == [["b", "c", "d"]]
