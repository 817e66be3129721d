"""DefaultScheduler against fake instances: one request per execute, FIFO, pipelining."""

from __future__ import annotations

import pytest
from fakes import FakeClock, FakeInstance, PipelinedFakeInstance, job
from tritonclient.grpc import model_config_pb2

from tritonlite.core.errors import ErrorKind, InferenceServerError
from tritonlite.core.types import InferenceResponse
from tritonlite.model_factory import DEFAULT_PIPELINE_DEPTH, SCHEDULERS
from tritonlite.scheduling.default import DefaultScheduler


def rq(rid: str, got: list[InferenceResponse] | None = None):
    return job(rid=rid, seq=False, sink=got.append if got is not None else None)


def held_ids(inst: PipelinedFakeInstance) -> list[str]:
    return [b[0].request.id for b in inst.held]


def test_without_pipelining_a_busy_instance_gets_nothing_more() -> None:
    inst = FakeInstance("m_0_0")  # asserts if it gets a batch while busy
    s = DefaultScheduler([inst], clock=FakeClock())
    for r in "abc":
        s.enqueue(rq(r))
    assert [j.request.id for j in inst.running] == ["a"]
    assert [j.request.id for j in s.queue] == ["b", "c"]
    assert [j.request.id for j in inst.finish()] == ["a"]
    assert [j.request.id for j in inst.running] == ["b"]


def test_a_busy_instance_holds_up_to_depth_requests_in_arrival_order() -> None:
    inst = PipelinedFakeInstance("m_0_0")
    s = DefaultScheduler([inst], clock=FakeClock(), depth=3)
    for r in "abcde":
        s.enqueue(rq(r))
    assert held_ids(inst) == ["a", "b", "c"]  # one request per execute
    assert [j.request.id for j in s.queue] == ["d", "e"]
    inst.finish()
    assert held_ids(inst) == ["b", "c", "d"]  # refilled after each finished execute
    inst.finish()
    inst.finish()
    assert held_ids(inst) == ["d", "e"]
    assert not s.queue


def test_depth_one_is_the_classic_behaviour() -> None:
    inst = PipelinedFakeInstance("m_0_0")
    s = DefaultScheduler([inst], clock=FakeClock(), depth=1)
    for r in "ab":
        s.enqueue(rq(r))
    assert held_ids(inst) == ["a"]
    inst.finish()
    assert held_ids(inst) == ["b"]


def test_an_idle_instance_is_preferred_then_the_least_loaded() -> None:
    a, b = PipelinedFakeInstance("m_0_0"), PipelinedFakeInstance("m_0_1")
    s = DefaultScheduler([a, b], clock=FakeClock(), depth=4)
    for r in "pqrs":
        s.enqueue(rq(r))
    assert held_ids(a) == ["p", "r"]
    assert held_ids(b) == ["q", "s"]
    a.finish()
    s.enqueue(rq("t"))
    assert held_ids(a) == ["r", "t"]  # a held fewer than b


def test_an_instance_that_finished_everything_goes_back_to_the_pool() -> None:
    a, b = PipelinedFakeInstance("m_0_0"), PipelinedFakeInstance("m_0_1")
    s = DefaultScheduler([a, b], clock=FakeClock(), depth=2)
    s.enqueue(rq("x"))
    a.finish()
    s.enqueue(rq("y"))
    s.enqueue(rq("z"))
    assert held_ids(b) == ["y"]  # the pool rotates: b had not worked yet
    assert held_ids(a) == ["z"]


def test_a_restarting_instance_is_not_given_requests_until_it_is_back() -> None:
    inst = PipelinedFakeInstance("m_0_0")
    s = DefaultScheduler([inst], clock=FakeClock(), depth=2)
    s.enqueue(rq("a"))
    inst.crash()  # holds nothing now, but is not back yet
    s.enqueue(rq("b"))
    assert inst.held == [] and [j.request.id for j in s.queue] == ["b"]
    inst.restarted()
    assert held_ids(inst) == ["b"]


def test_cancel_a_queued_request_answers_it_and_skips_it() -> None:
    inst = PipelinedFakeInstance("m_0_0")
    s = DefaultScheduler([inst], clock=FakeClock(), depth=1)
    got: list[InferenceResponse] = []
    s.enqueue(rq("a"))
    queued = rq("b", got)
    s.enqueue(queued)
    s.enqueue(rq("c"))
    s.cancel(queued)
    assert got[0].error is not None and got[0].error.kind is ErrorKind.CANCELLED
    inst.finish()
    assert held_ids(inst) == ["c"]


def test_cancel_a_held_request_tells_its_instance() -> None:
    inst = PipelinedFakeInstance("m_0_0")
    s = DefaultScheduler([inst], clock=FakeClock(), depth=2)
    s.enqueue(rq("a"))
    held = rq("b")
    s.enqueue(held)
    s.cancel(held)
    assert inst.cancelled == [held]


def _config(depth: str | None) -> model_config_pb2.ModelConfig:
    config = model_config_pb2.ModelConfig(name="m")
    if depth is not None:
        config.parameters["tritonlite_pipeline_depth"].string_value = depth
    return config


def test_pipeline_depth_comes_from_the_model_parameter() -> None:
    make = SCHEDULERS[None]
    inst = [PipelinedFakeInstance("m_0_0")]
    assert make(_config(None), inst).depth == DEFAULT_PIPELINE_DEPTH > 1
    assert make(_config("1"), inst).depth == 1
    assert make(_config(" 7 "), inst).depth == 7
    for bad in ("0", "-2", "two", ""):
        with pytest.raises(InferenceServerError, match="tritonlite_pipeline_depth must be a "
                                                       "positive integer"):
            make(_config(bad), inst)


def test_a_request_cancelled_then_rescheduled_by_the_model_is_answered() -> None:
    inst = PipelinedFakeInstance("m_0_0")
    s = DefaultScheduler([inst], clock=FakeClock(), depth=1)
    got: list[InferenceResponse] = []
    running = rq("a", got)
    s.enqueue(running)
    s.enqueue(rq("b"))
    s.cancel(running)  # told to the instance; the model sees is_cancelled()
    assert inst.cancelled == [running]
    inst.held.pop(0)
    assert running.requeue is not None
    running.requeue(running)  # the model set RELEASE_RESCHEDULE instead of answering
    inst.on_idle(inst)
    assert len(got) == 1 and got[0].final
    assert got[0].error is not None and got[0].error.kind is ErrorKind.CANCELLED
    assert held_ids(inst) == ["b"]


class _GoneInstance(PipelinedFakeInstance):
    def execute(self, batch) -> None:  # type: ignore[no-untyped-def]
        raise OSError("worker channel is closed")


def test_an_instance_that_cannot_take_a_request_fails_it_at_once() -> None:
    inst = _GoneInstance("m_0_0")
    s = DefaultScheduler([inst], clock=FakeClock(), depth=2)
    got: list[InferenceResponse] = []
    s.enqueue(rq("a", got))
    assert got[0].error is not None and got[0].error.kind is ErrorKind.INTERNAL
    assert "model instance 'm_0_0' is not available: worker channel is closed" in (
        got[0].error.message)


def test_the_oldest_sequence_strategy_gets_the_pipeline_depth_a_dynamic_batcher_not() -> None:
    seq = _config("2")
    seq.sequence_batching.oldest.max_candidate_sequences = 4
    inst = [PipelinedFakeInstance("m_0_0")]
    sched = SCHEDULERS["sequence_batching"](seq, inst)
    assert sched.depth == 2
    assert sched.strategy.batchers[id(inst[0])].depth == 2  # mbs 0: single-request batches
    with pytest.raises(InferenceServerError, match="tritonlite_pipeline_depth"):
        SCHEDULERS["sequence_batching"](_config("0"), inst)
    # never a dynamic_batching model, even one whose batches are single requests: its
    # queue policies (max_queue_size, priorities, timeouts) need requests to wait there
    dyn = _config("4")
    dyn.max_batch_size = 1
    dyn.dynamic_batching.SetInParent()
    assert SCHEDULERS["dynamic_batching"](dyn, inst).depth == 1
