"""SequenceScheduler against fake instances and a fake clock (no processes, no sockets)."""

from __future__ import annotations

import pytest
from fakes import FakeClock, FakeInstance, control_values, job
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

from tritonlite.core.errors import ErrorKind, InferenceServerError
from tritonlite.scheduling.sequence import IDLE_RELEASE_PARAMETER, SequenceScheduler

SEQ = """
max_sequence_idle_microseconds: 2000000
control_input [
  { name: "START" control [ { kind: CONTROL_SEQUENCE_START int32_false_true: [ 0, 1 ] } ] },
  { name: "READY" control [ { kind: CONTROL_SEQUENCE_READY int32_false_true: [ 0, 1 ] } ] },
  { name: "END" control [ { kind: CONTROL_SEQUENCE_END int32_false_true: [ 0, 1 ] } ] },
  { name: "CORRID" control [ { kind: CONTROL_SEQUENCE_CORRID data_type: TYPE_UINT64 } ] }
]
"""


def make(n_instances: int = 1, extra: str = "", mbs: int = 0, notify: bool = False):
    sb = text_format.Parse(SEQ + extra, model_config_pb2.ModelSequenceBatching())
    clock = FakeClock()
    insts = [FakeInstance(f"m_0_{i}") for i in range(n_instances)]
    s = SequenceScheduler(model_name="m", instances=insts, sequence_batching=sb,
                          max_batch_size=mbs, clock=clock, idle_notify=notify)
    return s, insts, clock


def test_requires_correlation_id() -> None:
    s, _, _ = make()
    for j in (job(0, start=True), job("", start=True), job(seq=False)):
        with pytest.raises(InferenceServerError) as ei:
            s.enqueue(j)
        assert ei.value.kind is ErrorKind.INVALID_ARG
        assert ei.value.message == ("inference request to model 'm' must specify a non-zero "
                                    "or non-empty correlation ID")


def test_requires_start_for_unknown_sequence() -> None:
    s, _, _ = make()
    with pytest.raises(InferenceServerError) as ei:
        s.enqueue(job(123456))
    assert ei.value.message == ("inference request for sequence 123456 to model 'm' must "
                                "specify the START flag on the first request of the sequence")


def test_control_tensors_and_order() -> None:
    s, (inst,), _ = make()
    s.enqueue(job(7, start=True))
    s.enqueue(job(7))
    s.enqueue(job(7, end=True))
    assert control_values(inst.finish()[0]) == {"START": 1, "READY": 1, "END": 0, "CORRID": 7}
    assert control_values(inst.finish()[0]) == {"START": 0, "READY": 1, "END": 0, "CORRID": 7}
    assert control_values(inst.finish()[0]) == {"START": 0, "READY": 1, "END": 1, "CORRID": 7}
    assert inst.running is None
    with pytest.raises(InferenceServerError):  # forgotten after END
        s.enqueue(job(7))


def test_one_slot_backlog_waits_for_end() -> None:
    s, (inst,), _ = make()
    s.enqueue(job(1, start=True, rid="a1"))
    s.enqueue(job(2, start=True, rid="b1"))  # no free slot: backlog
    assert [j.request.id for j in inst.finish()] == ["a1"]
    assert inst.running is None  # b waits although the instance is idle
    s.enqueue(job(1, end=True, rid="a2"))
    assert [j.request.id for j in inst.finish()] == ["a2"]
    assert [j.request.id for j in inst.finish()] == ["b1"]


def test_idle_release_frees_slot_for_backlog() -> None:
    s, (inst,), clock = make()
    s.enqueue(job(1, start=True, rid="a1"))
    inst.finish()
    s.enqueue(job(2, start=True, rid="b1"))
    clock.advance(1.9)
    assert inst.running is None
    clock.advance(0.2)  # sequence 1 idles out after 2 s
    assert [j.request.id for j in inst.finish()] == ["b1"]
    with pytest.raises(InferenceServerError, match="must specify the START flag"):
        s.enqueue(job(1))


def test_idle_timer_does_not_run_while_requests_are_queued() -> None:
    s, (inst,), clock = make()
    s.enqueue(job(1, start=True))
    clock.advance(5.0)  # still running: no idle release
    inst.finish()
    s.enqueue(job(1, rid="later"))
    assert [j.request.id for j in inst.finish()] == ["later"]


def test_idle_clock_counts_from_the_last_request_and_is_not_rearmed_per_request() -> None:
    s, (inst,), clock = make()  # idle release after 2 s
    armed: list[float] = []
    call_later = clock.call_later
    clock.call_later = lambda delay, fn: (armed.append(delay), call_later(delay, fn))[1]
    s.enqueue(job(1, start=True))
    inst.finish()
    for _ in range(20):  # busy for 2 s: a request every 0.1 s
        clock.advance(0.1)
        s.enqueue(job(1))
        inst.finish()
    assert len(armed) <= 2  # not one timer per request
    clock.advance(1.9)
    s.enqueue(job(1, rid="still live"))  # 1.9 s after its last request: not released
    inst.finish()
    clock.advance(2.1)
    with pytest.raises(InferenceServerError, match="must specify the START flag"):
        s.enqueue(job(1))


def test_idle_notify_sends_synthetic_end() -> None:
    s, (inst,), clock = make(notify=True)
    s.enqueue(job(9, start=True))
    inst.finish()
    clock.advance(2.1)
    (synthetic,) = inst.finish()
    assert synthetic.request.parameters == {IDLE_RELEASE_PARAMETER: True}
    assert control_values(synthetic)["END"] == 1
    assert synthetic.request.flags == 2


def test_start_on_live_sequence_keeps_slot(caplog: pytest.LogCaptureFixture) -> None:
    s, (inst,), _ = make()
    s.enqueue(job(5, start=True))
    inst.finish()
    s.enqueue(job(5, start=True))
    assert "has a conflict" in caplog.text
    assert control_values(inst.finish()[0])["START"] == 1


def test_direct_two_instances_route_each_sequence_to_its_instance() -> None:
    s, insts, _ = make(n_instances=2)
    s.enqueue(job(1, start=True, rid="a"))
    s.enqueue(job(2, start=True, rid="b"))
    assert {i.running[0].request.id for i in insts if i.running} == {"a", "b"}
    owner = {i.running[0].request.correlation_id: i for i in insts if i.running}
    for i in insts:
        i.finish()
    for k in range(3):
        s.enqueue(job(1, rid=f"a{k}"))
        s.enqueue(job(2, rid=f"b{k}"))
        for cid, inst in owner.items():
            assert inst.running is not None
            assert inst.running[0].request.correlation_id == cid
            inst.finish()


def test_oldest_binds_many_sequences_per_instance() -> None:
    s, insts, _ = make(n_instances=2, extra="oldest { max_candidate_sequences: 4 }")
    for cid in range(1, 9):
        s.enqueue(job(cid, start=True))
    seen: dict[int, str] = {}
    for _ in range(8):
        for inst in insts:
            if inst.running:
                (j,) = inst.finish()
                seen.setdefault(j.request.correlation_id, inst.name)
    assert len(seen) == 8
    for rounds in range(2):
        for cid in range(1, 9):
            s.enqueue(job(cid, rid=str(rounds)))
        for _ in range(8):
            for inst in insts:
                if inst.running:
                    (j,) = inst.finish()
                    assert seen[j.request.correlation_id] == inst.name


def test_batches_take_one_request_per_sequence_up_to_max_batch() -> None:
    s, (inst,), _ = make(mbs=2, extra="oldest { max_candidate_sequences: 4 }")
    for cid in (1, 2, 3):
        s.enqueue(job(cid, start=True))
    first = inst.finish()
    assert len(first) == 1  # the first START ran alone (the instance was idle)
    second = inst.finish()
    assert len(second) == 2
    assert len({j.request.correlation_id for j in second}) == 2


def test_cancel_queued_request() -> None:
    got = []
    s, (inst,), _ = make()
    s.enqueue(job(1, start=True))
    j2 = job(1, sink=got.append)
    s.enqueue(j2)
    s.cancel(j2)
    assert got and got[0].error is not None and got[0].error.kind is ErrorKind.CANCELLED
    inst.finish()
    assert inst.running is None
