"""Sequence batching across slots and instances: null requests, direct delays, oldest
batching, backlog timeouts, implicit state (fake instances, fake clock)."""

from __future__ import annotations

import pytest
from fakes import FakeClock, FakeInstance, PipelinedFakeInstance, control_values, ids, job
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

from tritonlite.core.errors import ErrorKind, InferenceServerError
from tritonlite.core.tensor import DataType
from tritonlite.core.types import InferenceResponse
from tritonlite.scheduling.batching import BatchInput
from tritonlite.scheduling.sequence import SequenceScheduler

CONTROLS = """
max_sequence_idle_microseconds: 2000000
control_input [
  { name: "START" control [ { kind: CONTROL_SEQUENCE_START int32_false_true: [ 0, 1 ] } ] },
  { name: "READY" control [ { kind: CONTROL_SEQUENCE_READY int32_false_true: [ 0, 1 ] } ] },
  { name: "END" control [ { kind: CONTROL_SEQUENCE_END int32_false_true: [ 0, 1 ] } ] },
  { name: "CORRID" control [ { kind: CONTROL_SEQUENCE_CORRID data_type: TYPE_UINT64 } ] }
]
"""


def make(extra: str = "", *, mbs: int = 2, n_instances: int = 1,
         inputs: tuple[BatchInput, ...] = ()):
    sb = text_format.Parse(CONTROLS + extra, model_config_pb2.ModelSequenceBatching())
    clock = FakeClock()
    insts = [FakeInstance(f"m_0_{i}") for i in range(n_instances)]
    s = SequenceScheduler(model_name="m", instances=insts, sequence_batching=sb,
                          max_batch_size=mbs, inputs=inputs, clock=clock)
    return s, insts, clock


def sj(cid: int, rid: str = "", **kw):
    """A batched ([1, 1]) sequence request."""
    return job(cid, rid=rid, shape=(1, 1), **kw)


def is_null(j) -> bool:
    return j.request.sequence is None and j.output_names == ()


# ---- direct ---------------------------------------------------------------------------------
def test_direct_null_request_pads_lower_empty_slot() -> None:
    got: list[InferenceResponse] = []
    s, (inst,), _ = make()
    s.enqueue(sj(1, "a1", start=True))
    assert ids(inst.finish()) == ["a1"]  # slot 0
    s.enqueue(sj(2, "b1", start=True, sink=got.append))  # slot 1, slot 0 has nothing
    null, b1 = inst.running
    assert b1.request.id == "b1"
    assert is_null(null)
    assert null.request.correlation_id == 0 and null.request.flags == 0
    assert control_values(null) == {"START": 0, "READY": 0, "END": 0, "CORRID": 0}
    (data,) = [t for t in null.inputs if t.name == "INPUT"]
    assert data.shape == (1, 1) and data.datatype is DataType.FP32
    assert data.as_numpy().tolist() == [[0.0]]
    assert null.inputs[0].shape == b1.inputs[0].shape
    inst.finish()
    assert [r.id for r in got] == ["b1"]  # the null request's response is dropped


def test_direct_batch_carries_one_request_per_ready_slot() -> None:
    s, (inst,), _ = make()
    s.enqueue(sj(1, "a1", start=True))
    s.enqueue(sj(2, "b1", start=True))
    s.enqueue(sj(1, "a2"))
    s.enqueue(sj(1, "a3"))
    assert ids(inst.finish()) == ["a1"]
    assert ids(inst.running) == ["a2", "b1"]
    inst.finish()
    assert ids(inst.running) == ["a3"]  # slot 0 only: no padding above it


def test_direct_slots_spread_over_instances() -> None:
    s, insts, _ = make(n_instances=2)
    s.enqueue(sj(1, "a", start=True))
    s.enqueue(sj(2, "b", start=True))
    s.enqueue(sj(3, "c", start=True))
    assert [ids(i.running) for i in insts] == [["a"], ["b"]]
    insts[0].finish()
    assert ids(insts[0].running)[-1] == "c"  # slot 1 of the first instance
    assert is_null(insts[0].running[0])


def test_direct_backlog_takes_the_released_slot() -> None:
    s, (inst,), _ = make()
    for cid, rid in ((1, "a"), (2, "b"), (3, "c")):
        s.enqueue(sj(cid, rid, start=True))
    inst.finish()
    assert ids(inst.running)[-1] == "b"
    inst.finish()
    assert inst.running is None  # "c" waits in the backlog
    s.enqueue(sj(1, "a-end", end=True))
    assert ids(inst.finish()) == ["a-end"]
    assert ids(inst.running) == ["c"]  # slot 0 again


def test_direct_minimum_slot_utilization_and_delay() -> None:
    s, (inst,), clock = make(
        "direct { max_queue_delay_microseconds: 100000 minimum_slot_utilization: 1.0 }")
    s.enqueue(sj(1, "a", start=True))
    assert inst.running is None  # 1 of 2 slots ready: held back
    clock.advance(0.1)
    assert inst.running is None
    clock.advance(0.001)
    assert ids(inst.running) == ["a"]
    inst.finish()
    s.enqueue(sj(1, "a2", at=clock.now))
    assert inst.running is None
    s.enqueue(sj(2, "b", start=True, at=clock.now))  # both slots ready: at once
    assert ids(inst.running) == ["a2", "b"]


def test_direct_delay_counts_from_arrival_when_the_loop_read_late() -> None:
    """As the dynamic batcher's: a request read after the loop waited for a CPU has
    waited that long already (``wake_lag``)."""
    s, (inst,), clock = make(
        "direct { max_queue_delay_microseconds: 100000 minimum_slot_utilization: 1.0 }")
    clock.lag = 60_000_000  # read 60 ms after it arrived
    s.enqueue(sj(1, "a", start=True))
    clock.advance(0.039)
    assert inst.running is None
    clock.advance(0.002)  # 100 ms after its arrival
    assert [j.request.id for j in inst.running if not is_null(j)] == ["a"]


def test_direct_queue_time_is_measured_when_the_batch_leaves() -> None:
    """A delay timer's due time is not the time the batch leaves (a timer may run a little
    early or late): the reported queue time is the real one."""
    s, (inst,), clock = make(
        "direct { max_queue_delay_microseconds: 100000 minimum_slot_utilization: 1.0 }")
    s.enqueue(sj(1, "a", start=True))
    clock.now = 99_000_000  # the timer runs 1 ms early
    s.strategy._retry(inst, 100_000_001)  # due just past the delay
    (a,) = [j for j in inst.running if not is_null(j)]
    assert a.queue_ns == 99_000_000


def test_direct_different_shapes_become_null_requests() -> None:
    spec = (BatchInput("INPUT", DataType.FP32, (-1,)),)
    s, (inst,), _ = make(inputs=spec)
    s.enqueue(job(1, rid="a", start=True, shape=(1, 2)))
    inst.finish()
    s.enqueue(job(2, rid="b", start=True, shape=(1, 3)))
    s.enqueue(job(1, rid="a2", shape=(1, 2)))
    s.enqueue(job(2, rid="b2", shape=(1, 3)))
    assert ids(inst.finish())[-1] == "b"
    a2, null = inst.running
    assert a2.request.id == "a2" and is_null(null)
    assert null.inputs[0].shape == (1, 2)
    inst.finish()
    assert ids(inst.running)[-1] == "b2"


def test_batch_size_must_be_one() -> None:
    s, _, _ = make()
    with pytest.raises(InferenceServerError) as ei:
        s.enqueue(job(0, batch_size=2))  # checked before the correlation id
    assert ei.value.message == ("inference request to model 'm' must specify batch-size 1 due "
                                "to requirements of sequence batcher")


def test_backlog_timeout_rejects_the_waiting_sequence() -> None:
    got: list[InferenceResponse] = []
    s, (inst,), clock = make(mbs=0)
    s.enqueue(job(1, start=True))
    inst.finish()
    s.enqueue(job(2, rid="c1", start=True, timeout_us=200000, sink=got.append))
    s.enqueue(job(2, rid="c2", sink=got.append))
    clock.advance(0.199)
    assert got == []
    clock.advance(0.001)  # Triton's reaper: expired once the deadline is reached
    assert [r.id for r in got] == ["c1", "c2"]
    for r in got:
        assert r.error is not None and r.error.kind is ErrorKind.UNAVAILABLE
        assert r.error.message == "timeout of the corresponding sequence has been expired"
    with pytest.raises(InferenceServerError, match="must specify the START flag"):
        s.enqueue(job(2))


def test_idle_instance_picks_up_request_queued_after_late_final_response() -> None:
    # A decoupled model may send its final response after execute returned.
    s, (inst,), _ = make(mbs=0)
    s.enqueue(job(1, rid="a1", start=True))
    (a1,) = inst.running
    inst.running = None
    inst.on_idle(inst)  # execute returned, the response is still to come
    s.enqueue(job(1, rid="a2"))
    assert inst.running is None  # a2 waits for a1's final response
    a1.sink(InferenceResponse("m", "1", "a1"))
    assert ids(inst.running) == ["a2"]


def test_cancelling_a_queued_end_releases_nothing_early() -> None:
    got: list[InferenceResponse] = []
    s, (inst,), _ = make(mbs=0)
    s.enqueue(job(1, start=True))
    end = job(1, rid="end", end=True, sink=got.append)
    s.enqueue(end)
    s.cancel(end)
    assert got[0].error is not None and got[0].error.kind is ErrorKind.CANCELLED
    inst.finish()
    s.enqueue(job(2, rid="b", start=True))
    assert ids(inst.running) == ["b"]  # the ended sequence gave its slot back


# ---- oldest ---------------------------------------------------------------------------------
def test_oldest_batches_sequences_with_preferred_size_and_delay() -> None:
    s, (inst,), clock = make("oldest { max_candidate_sequences: 8 preferred_batch_size: [4] "
                             "max_queue_delay_microseconds: 100000 }", mbs=4)
    for cid in (1, 2, 3):
        s.enqueue(sj(cid, str(cid), start=True))
    assert inst.running is None
    s.enqueue(sj(4, "4", start=True))
    assert ids(inst.running) == ["1", "2", "3", "4"]
    assert all(control_values(j)["READY"] == 1 for j in inst.running)
    inst.finish()
    s.enqueue(sj(5, "5", start=True))
    s.enqueue(sj(6, "6", start=True))
    clock.advance(0.11)
    assert ids(inst.running) == ["5", "6"]


def test_oldest_one_request_per_sequence_in_flight() -> None:
    s, (inst,), _ = make("oldest { max_candidate_sequences: 4 }", mbs=4)
    s.enqueue(sj(1, "a1", start=True))
    s.enqueue(sj(1, "a2"))
    s.enqueue(sj(2, "b1", start=True))
    assert ids(inst.finish()) == ["a1"]
    assert ids(inst.running) == ["b1", "a2"]  # in the order they became ready


def test_oldest_slots_default_to_max_batch_size() -> None:
    s, (inst,), _ = make("oldest { }", mbs=2)
    for cid in (1, 2, 3):
        s.enqueue(sj(cid, str(cid), start=True))
    inst.finish()
    inst.finish()
    assert inst.running is None  # sequence 3 waits in the backlog: 2 slots
    s.enqueue(sj(1, "1-end", end=True))
    inst.finish()
    assert ids(inst.running) == ["3"]


def test_oldest_rotates_over_busy_sequences() -> None:
    s, (inst,), _ = make("oldest { max_candidate_sequences: 3 }", mbs=0)
    for cid in (1, 2, 3):
        s.enqueue(job(cid, rid=f"{cid}-0", start=True))
        for k in (1, 2):
            s.enqueue(job(cid, rid=f"{cid}-{k}"))
    order = [ids(inst.finish())[0] for _ in range(9)]
    assert order == ["1-0", "2-0", "3-0", "1-1", "2-1", "3-1", "1-2", "2-2", "3-2"]


# ---- implicit state ---------------------------------------------------------------------------
def test_state_inputs_are_zero_and_never_updated() -> None:
    s, (inst,), _ = make(
        'state [ { input_name: "INPUT_STATE" output_name: "OUTPUT_STATE" '
        "data_type: TYPE_INT32 dims: [ 2, -1 ] } ]")
    s.enqueue(sj(1, "a", start=True))
    inst.finish()
    s.enqueue(sj(2, "b", start=True))
    null, b = inst.running
    for j in (null, b):
        (st,) = [t for t in j.inputs if t.name == "INPUT_STATE"]
        assert st.shape == (1, 2, 1) and st.datatype is DataType.INT32
        assert st.as_numpy().tolist() == [[[0], [0]]]


def test_state_initial_state_dims() -> None:
    s, (inst,), _ = make(
        'state [ { input_name: "S" output_name: "S_OUT" data_type: TYPE_FP32 dims: [ -1 ] '
        'initial_state { name: "z" data_type: TYPE_FP32 dims: [ 3 ] zero_data: true } } ]',
        mbs=0)
    s.enqueue(job(1, start=True))
    (st,) = [t for t in inst.running[0].inputs if t.name == "S"]
    assert st.shape == (3,) and st.as_numpy().tolist() == [0.0, 0.0, 0.0]


def test_many_more_sequences_than_slots_wait_first_come_first_served() -> None:
    s, insts, _ = make(n_instances=2)  # 2 instances x 2 slots
    for cid in range(1, 9):
        s.enqueue(sj(cid, f"{cid}-start", start=True))
    started: list[str] = []
    for _ in range(4):
        for inst in insts:
            if inst.running:
                started += [i for i in ids(inst.finish()) if i]
    assert sorted(started) == ["1-start", "2-start", "3-start", "4-start"]
    for cid in range(1, 5):  # each ending sequence hands its slot to the oldest waiting one
        s.enqueue(sj(cid, f"{cid}-end", end=True))
        for _ in range(3):
            for inst in insts:
                if inst.running:
                    started += [i for i in ids(inst.finish()) if i.endswith("start")]
    assert started[4:] == ["5-start", "6-start", "7-start", "8-start"]


def test_oldest_without_batching_pipelines_other_sequences_never_one_twice() -> None:
    sb = text_format.Parse(CONTROLS + "oldest { max_candidate_sequences: 4 }",
                           model_config_pb2.ModelSequenceBatching())
    inst = PipelinedFakeInstance("m_0_0")
    s = SequenceScheduler(model_name="m", instances=[inst], sequence_batching=sb,
                          max_batch_size=0, clock=FakeClock(), depth=4)
    for cid in (1, 2):
        s.enqueue(job(cid, rid=f"{cid}-0", start=True))
        s.enqueue(job(cid, rid=f"{cid}-1"))
    s.enqueue(job(3, rid="3-0", start=True))
    # one request per sequence held at a time; up to 4 held in all
    assert [ids(batch) for batch in inst.held] == [["1-0"], ["2-0"], ["3-0"]]
    inst.finish()
    assert [ids(batch) for batch in inst.held] == [["2-0"], ["3-0"], ["1-1"]]
    inst.finish()
    assert [ids(batch) for batch in inst.held] == [["3-0"], ["1-1"], ["2-1"]]
