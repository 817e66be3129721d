"""The sequence batcher: every request of a sequence runs in order on one instance.

Rules (Triton's ``SequenceBatchScheduler``, observed on 2.51):

* A request needs batch size 1, a correlation id (non-zero int or non-empty str) and, for
  the first request of a sequence, START; else INVALID_ARG with Triton's texts. START on a
  live sequence restarts it in place (a warning is logged); START+END in one request is fine.
* A sequence holds a *slot* from START until END or until it idles out. Slots per instance:
  ``direct``: max(1, max_batch_size); ``oldest``: ``max_candidate_sequences`` (0: as
  direct). A new sequence takes the lowest-numbered free slot of any instance; with none
  free it waits in the backlog, first come first served. A backlogged sequence whose
  requests carry a ``timeout`` is rejected when it expires (UNAVAILABLE ``timeout of the
  corresponding sequence has been expired``) and forgotten.
* A slotted sequence with nothing queued or running for ``max_sequence_idle_microseconds``
  (default 1 s) is released silently. Opt-in (model parameter
  ``tritonlite_sequence_idle_notify: "true"``): the model then gets one last request with the
  END flag and the parameter ``tritonlite_sequence_idle_release: true``.
* ``direct``: one ``execute`` per instance carries the next request of every slot that has
  one, in slot order, and a *null request* for each empty slot below the highest one used
  (correlation id 0, flags 0, START=END=READY=CORRID=0, zero-filled data inputs shaped like
  a real request of the batch, no requested outputs; its response is dropped).
  ``direct { max_queue_delay_microseconds, minimum_slot_utilization }`` holds a batch back
  until enough slots are ready or its oldest request waited that long.
* ``oldest``: each instance has a dynamic batcher (``oldest { preferred_batch_size,
  max_queue_delay_microseconds, preserve_ordering }``) fed with one request per sequence
  at a time, in the order the requests became ready: no null requests.
* ``state`` (implicit state): each request gets the state inputs, zero-filled; as with
  Triton's Python backend, the state the model returns is never fed back.

A sequence's life is the table ``TRANSITIONS`` (state, event) -> state:

* BACKLOG --PLACED--> SLOTTED;  BACKLOG --END--> BACKLOG_ENDED --PLACED--> ENDING
* BACKLOG / BACKLOG_ENDED --BACKLOG_TIMEOUT--> DONE (its requests are rejected)
* BACKLOG_ENDED --DRAINED--> DONE (every queued request was cancelled)
* SLOTTED --END or IDLE_TIMEOUT--> ENDING --DRAINED--> DONE (the slot goes to the backlog)
"""

from __future__ import annotations

import collections
import enum
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tritonlite.core.errors import ErrorKind, invalid_arg
from tritonlite.core.interfaces import ModelInstance
from tritonlite.core.tensor import DataType
from tritonlite.core.types import (
    InferenceRequest,
    InferenceResponse,
    ScheduledRequest,
    SequenceInfo,
)
from tritonlite.scheduling.base import (
    Clock,
    InstancePool,
    LoopClock,
    TimerHandle,
    error_response,
    execute,
)
from tritonlite.scheduling.batching import (
    BatchInput,
    ShapeRule,
    null_inputs,
    slots_ready,
    state_inputs,
)
from tritonlite.scheduling.controls import CORRID, SequenceControls
from tritonlite.scheduling.dynamic import DynamicBatcher

log = logging.getLogger(__name__)

DEFAULT_IDLE_US = 1_000_000
IDLE_NOTIFY_PARAMETER = "tritonlite_sequence_idle_notify"
IDLE_RELEASE_PARAMETER = "tritonlite_sequence_idle_release"
BACKLOG_TIMEOUT = "timeout of the corresponding sequence has been expired"


class SeqState(enum.Enum):
    BACKLOG = "waiting for a slot"
    BACKLOG_ENDED = "waiting for a slot, END queued"
    SLOTTED = "holds a slot"
    ENDING = "holds a slot until its queued requests ran"
    DONE = "forgotten"


class SeqEvent(enum.Enum):
    PLACED = "got a slot"
    END = "END request queued"
    IDLE_TIMEOUT = "idle too long"
    BACKLOG_TIMEOUT = "backlog timeout expired"
    DRAINED = "nothing queued or running any more"


S, E = SeqState, SeqEvent
TRANSITIONS: dict[tuple[SeqState, SeqEvent], SeqState] = {
    (S.BACKLOG, E.PLACED): S.SLOTTED,
    (S.BACKLOG, E.END): S.BACKLOG_ENDED,
    (S.BACKLOG_ENDED, E.PLACED): S.ENDING,
    (S.BACKLOG, E.BACKLOG_TIMEOUT): S.DONE,
    (S.BACKLOG_ENDED, E.BACKLOG_TIMEOUT): S.DONE,
    (S.BACKLOG_ENDED, E.DRAINED): S.DONE,
    (S.SLOTTED, E.END): S.ENDING,
    (S.SLOTTED, E.IDLE_TIMEOUT): S.ENDING,
    (S.ENDING, E.DRAINED): S.DONE,
}


@dataclass(eq=False)
class _Sequence:
    cid: int | str
    state: SeqState = SeqState.BACKLOG
    queue: collections.deque[ScheduledRequest] = field(default_factory=collections.deque)
    instance: ModelInstance | None = None  # set while it holds a slot
    slot: int = -1
    running: bool = False  # a request of it is in an execute (or a batcher)
    timer: TimerHandle | None = None  # the idle timer, or the backlog timeout
    deadline_ns: int = 0  # backlog timeout
    idle_since_ns: int | None = None  # slotted with nothing queued or running since

    def move(self, event: SeqEvent) -> None:
        try:
            self.state = TRANSITIONS[(self.state, event)]
        except KeyError:
            raise RuntimeError(f"sequence {self.cid}: no transition from "
                               f"{self.state.name} on {event.name}") from None

    def stop_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None


class SequenceScheduler:
    """The scheduler of a ``sequence_batching`` model: admission, slots, backlog and idle
    release here; how slotted requests become batches is the strategy's (STRATEGIES)."""

    def __init__(
        self,
        *,
        model_name: str,
        instances: Sequence[ModelInstance],
        sequence_batching: Any,
        max_batch_size: int,
        inputs: Sequence[BatchInput] = (),
        clock: Clock | None = None,
        idle_notify: bool = False,
        depth: int = 1,
    ) -> None:
        sb = sequence_batching
        self.model_name = model_name
        self.clock = clock or LoopClock()
        self.max_batch_size = max_batch_size
        self.controls = SequenceControls(sb, max_batch_size)
        self.states = state_inputs(sb, max_batch_size)
        self.shapes = ShapeRule(inputs)
        idle_us = int(sb.max_sequence_idle_microseconds) or DEFAULT_IDLE_US
        self.idle_s = idle_us / 1e6
        self.idle_notify = idle_notify
        self.depth = max(1, depth)  # pipelining; the oldest strategy's batchers use it
        self.instances = list(instances)
        kind = "oldest" if sb.HasField("oldest") else "direct"
        slots = max(1, max_batch_size)
        if kind == "oldest" and sb.oldest.max_candidate_sequences > 0:
            slots = int(sb.oldest.max_candidate_sequences)
        self.slots: dict[int, list[_Sequence | None]] = {
            id(i): [None] * slots for i in self.instances}
        self.live: dict[int | str, _Sequence] = {}  # sequences that take more requests
        self.backlog: collections.deque[_Sequence] = collections.deque()
        self.closed = False
        self.strategy = STRATEGIES[kind](self, sb, inputs)

    # ---- admission ----------------------------------------------------------------------
    def enqueue(self, job: ScheduledRequest) -> None:
        req = job.request
        if job.batch_size > 1:
            raise invalid_arg(f"inference request to model '{self.model_name}' must specify "
                              "batch-size 1 due to requirements of sequence batcher")
        info = req.sequence
        if info is None or not info.has_id:
            raise invalid_arg(
                f"inference request to model '{self.model_name}' must specify a non-zero "
                "or non-empty correlation ID"
            )
        cid = info.correlation_id
        seq = self.live.get(cid)
        if info.start:
            if seq is not None:
                log.warning(
                    "sequence %s for model '%s' has a conflict. The previous sequence did not "
                    "end before this sequence start. Previous sequence will be terminated "
                    "early.", cid, self.model_name)
            else:
                seq = _Sequence(cid)
                self.live[cid] = seq
                self._place(seq)
        elif seq is None:
            raise invalid_arg(
                f"inference request for sequence {cid} to model '{self.model_name}' must "
                "specify the START flag on the first request of the sequence"
            )
        seq.idle_since_ns = None  # the idle clock stops while a request is queued or runs
        if info.end:
            seq.move(SeqEvent.END)
            del self.live[cid]
        job.inputs.extend(self.controls.tensors(
            start=info.start, end=info.end, ready=True, correlation_id=cid))
        job.inputs.extend(self.states)
        self.strategy.arrived(job)
        seq.queue.append(job)
        if seq.instance is None and req.timeout_us:
            self._backlog_deadline(seq, self.clock.now_ns() + req.timeout_us * 1000)
        self.strategy.kick(seq)

    def _place(self, seq: _Sequence) -> None:
        """Give ``seq`` the lowest free slot (then the emptiest instance), or the backlog."""
        best: tuple[tuple[int, int, int], ModelInstance] | None = None
        for order, inst in enumerate(self.instances):
            slots = self.slots[id(inst)]
            if None in slots:
                key = (slots.index(None), -slots.count(None), order)
                if best is None or key < best[0]:
                    best = (key, inst)
        if best is None:
            self.backlog.append(seq)
            return
        (slot, _, _), inst = best
        seq.stop_timer()  # a backlog timeout no longer applies
        seq.move(SeqEvent.PLACED)
        seq.instance, seq.slot = inst, slot
        self.slots[id(inst)][slot] = seq

    def _drained(self, seq: _Sequence) -> None:
        """``seq`` ended and has nothing queued or running: forget it, pass its slot on."""
        seq.move(SeqEvent.DRAINED)
        seq.stop_timer()
        inst = seq.instance
        if inst is None:
            return  # still in the backlog; skipped there
        self.slots[id(inst)][seq.slot] = None
        seq.instance, seq.slot = None, -1
        while self.backlog:
            waiting = self.backlog.popleft()
            if waiting.state is not SeqState.DONE:
                self._place(waiting)
                self.strategy.kick(waiting)
                break

    def _backlog_deadline(self, seq: _Sequence, deadline: int) -> None:
        if seq.deadline_ns and seq.deadline_ns <= deadline:
            return
        seq.deadline_ns = deadline
        seq.stop_timer()
        delay_s = max(0, deadline - self.clock.now_ns()) / 1e9
        seq.timer = self.clock.call_later(delay_s, lambda: self._backlog_expire(seq))

    def _backlog_expire(self, seq: _Sequence) -> None:
        seq.timer = None
        if seq.state not in (SeqState.BACKLOG, SeqState.BACKLOG_ENDED):
            return
        seq.move(SeqEvent.BACKLOG_TIMEOUT)
        if self.live.get(seq.cid) is seq:
            del self.live[seq.cid]
        while seq.queue:
            job = seq.queue.popleft()
            job.sink(error_response(job, ErrorKind.UNAVAILABLE, BACKLOG_TIMEOUT))

    # ---- running requests -----------------------------------------------------------------
    def start_job(self, seq: _Sequence, job: ScheduledRequest) -> ScheduledRequest:
        """Mark ``job`` (the front of its sequence) as running; its final response moves
        the sequence on."""
        seq.running = True
        sink = job.sink

        def done(resp: InferenceResponse) -> None:
            if resp.final:
                seq.running = False
                self._after(seq)
            sink(resp)

        job.sink = done

        def requeue(again: ScheduledRequest) -> None:  # RELEASE_RESCHEDULE: run it next
            seq.running = False
            again.sink = sink
            again.requeue = None
            seq.queue.appendleft(again)
            self.strategy.kick(seq)

        job.requeue = requeue
        return job

    def null_request(self, representative: ScheduledRequest) -> ScheduledRequest:
        """A padding request for an empty direct slot; its responses are dropped."""
        bytes_corrid = any(c.kind == CORRID and c.dtype is DataType.BYTES
                           for c in self.controls.controls)
        skip = self.controls.names | {t.name for t in self.states}
        inputs = null_inputs(representative.inputs, frozenset(skip))
        inputs.extend(self.controls.tensors(start=False, end=False, ready=False,
                                            correlation_id="" if bytes_corrid else 0))
        inputs.extend(self.states)
        req = InferenceRequest(self.model_name, [],
                               model_version=representative.request.model_version)
        return ScheduledRequest(req, lambda resp: None, inputs, (), self.clock.now_ns())

    def _after(self, seq: _Sequence) -> None:
        """A request of ``seq`` finished or was cancelled: run the next, end, or idle."""
        if self.closed:
            return
        if seq.queue or seq.running:
            self.strategy.kick(seq)
        elif seq.state in (SeqState.ENDING, SeqState.BACKLOG_ENDED):
            self._drained(seq)
        elif seq.state is SeqState.SLOTTED:
            seq.idle_since_ns = self.clock.now_ns()
            if seq.timer is None:
                seq.timer = self.clock.call_later(self.idle_s, lambda: self._expire(seq))

    def _expire(self, seq: _Sequence) -> None:
        """The idle timer fired. It is armed once and left running while the sequence
        works (arming and cancelling a loop timer per request cost ~3% of the sequence
        workload's throughput, A/B): if the sequence was busy since, it is re-armed for what
        is left of the idle time counted from its last request, or, while busy, not at
        all (``_after`` arms it when the sequence is idle again)."""
        seq.timer = None
        if (seq.queue or seq.running or seq.state is not SeqState.SLOTTED
                or seq.idle_since_ns is None):
            return
        left_ns = seq.idle_since_ns + int(self.idle_s * 1e9) - self.clock.now_ns()
        if left_ns > 0:
            seq.timer = self.clock.call_later(left_ns / 1e9, lambda: self._expire(seq))
            return
        seq.move(SeqEvent.IDLE_TIMEOUT)
        if self.live.get(seq.cid) is seq:
            del self.live[seq.cid]
        log.info("sequence %s of model '%s' released after %.3f s idle",
                 seq.cid, self.model_name, self.idle_s)
        if not self.idle_notify:
            self._drained(seq)
            return
        # One last request so the model can free its per-sequence state.
        req = InferenceRequest(self.model_name, [], sequence=SequenceInfo(seq.cid, end=True),
                               parameters={IDLE_RELEASE_PARAMETER: True})
        job = ScheduledRequest(req, lambda resp: None, [], (), self.clock.now_ns())
        job.inputs.extend(self.controls.tensors(start=False, end=True, ready=True,
                                                correlation_id=seq.cid))
        job.inputs.extend(self.states)
        seq.queue.append(job)
        self.strategy.kick(seq)

    def _sequences(self) -> list[_Sequence]:
        """Every sequence with a slot or in the backlog."""
        slotted = [s for slots in self.slots.values() for s in slots if s is not None]
        return slotted + [s for s in self.backlog if s.state is not SeqState.DONE]

    def cancel(self, job: ScheduledRequest) -> None:
        job.cancelled = True
        for seq in self._sequences():
            if job in seq.queue:
                seq.queue.remove(job)
                job.sink(error_response(job, ErrorKind.CANCELLED, "request cancelled"))
                self._after(seq)
                return
        self.strategy.cancel(job)

    def close(self) -> None:
        """Stop the timers and fail what is still queued (the instances are going away)."""
        self.closed = True
        for seq in self._sequences():
            seq.stop_timer()
            while seq.queue:
                job = seq.queue.popleft()
                job.sink(error_response(
                    job, ErrorKind.UNAVAILABLE,
                    f"model '{self.model_name}' was unloaded before the request was scheduled"))
        self.strategy.close()


class _Direct:
    """Slots fixed per instance; one batch per instance, null requests for empty slots."""

    def __init__(self, sched: SequenceScheduler, sb: Any, inputs: Sequence[BatchInput]) -> None:
        self.s = sched
        self.capacity = max(1, sched.max_batch_size)
        self.delay_ns = int(sb.direct.max_queue_delay_microseconds) * 1000
        self.min_util = float(sb.direct.minimum_slot_utilization)
        self.pool = InstancePool(sched.instances, self._on_idle)
        self.timers: dict[int, TimerHandle] = {}

    def arrived(self, job: ScheduledRequest) -> None:
        """``max_queue_delay_microseconds`` counts from arrival, as the dynamic
        batcher's does: a request the loop read late (a worker held the core) has waited
        that long already. Read only when a batch may wait (a delay and a minimum slot
        utilization both set; ``slots_ready``)."""
        if self.delay_ns and self.min_util:
            job.arrival_ns = self.s.clock.arrival_ns()

    def kick(self, seq: _Sequence) -> None:
        inst = seq.instance
        if inst is not None and inst in self.pool.idle:
            self.pool.idle.remove(inst)
            self._on_idle(inst)

    def _on_idle(self, inst: ModelInstance, at_ns: int = 0) -> None:
        timer = self.timers.pop(id(inst), None)
        if timer is not None:
            timer.cancel()
        s = self.s
        ready: dict[int, _Sequence] = {}
        for idx, seq in enumerate(s.slots[id(inst)]):
            if seq is not None and seq.queue and not seq.running:
                ready[idx] = seq
        if not ready:
            self.pool.give_back(inst)
            return
        now = max(at_ns, s.clock.now_ns())
        oldest = min(seq.queue[0].arrival_ns or seq.queue[0].enqueue_ns
                     for seq in ready.values())
        wait = slots_ready(ready=len(ready), max_batch_size=self.capacity, oldest_ns=oldest,
                           now_ns=now, max_queue_delay_ns=self.delay_ns,
                           minimum_slot_utilization=self.min_util)
        if wait is not None:
            self.pool.give_back(inst)
            self.timers[id(inst)] = s.clock.call_later(
                max(0, wait - s.clock.now_ns()) / 1e9, lambda: self._retry(inst, wait))
            return
        first = next(iter(ready.values())).queue[0]
        key = s.shapes.key(first.inputs)
        left = s.clock.now_ns()  # when it really leaves (``now`` may be a timer's due time)
        batch: list[ScheduledRequest] = []
        for idx in range(max(ready) + 1):
            seq = ready.get(idx)
            if seq is not None and (not s.shapes.active
                                    or s.shapes.key(seq.queue[0].inputs) == key):
                job = s.start_job(seq, seq.queue.popleft())
                job.queue_ns = max(0, left - job.enqueue_ns)
                batch.append(job)
            else:
                batch.append(s.null_request(first))
        execute(inst, batch)

    def _retry(self, inst: ModelInstance, at_ns: int) -> None:
        self.timers.pop(id(inst), None)
        if inst in self.pool.idle:
            self.pool.idle.remove(inst)
            self._on_idle(inst, at_ns)

    def cancel(self, job: ScheduledRequest) -> None:
        for inst in self.s.instances:
            inst.cancel(job)

    def close(self) -> None:
        for timer in self.timers.values():
            timer.cancel()
        self.timers.clear()


class _Oldest:
    """A dynamic batcher per instance, fed one request per sequence at a time."""

    def __init__(self, sched: SequenceScheduler, sb: Any, inputs: Sequence[BatchInput]) -> None:
        self.s = sched
        o = sb.oldest
        self.batchers = {
            id(inst): DynamicBatcher(
                model_name=sched.model_name, instances=[inst],
                max_batch_size=sched.max_batch_size,
                preferred_batch_size=tuple(o.preferred_batch_size),
                max_queue_delay_microseconds=int(o.max_queue_delay_microseconds),
                preserve_ordering=bool(o.preserve_ordering), inputs=inputs,
                clock=sched.clock, depth=sched.depth)
            for inst in sched.instances}

    def arrived(self, job: ScheduledRequest) -> None:
        """Nothing: its dynamic batcher takes the arrival when the request reaches it."""

    def kick(self, seq: _Sequence) -> None:
        if seq.instance is None or seq.running or not seq.queue:
            return
        job = self.s.start_job(seq, seq.queue.popleft())
        self.batchers[id(seq.instance)].enqueue(job)

    def cancel(self, job: ScheduledRequest) -> None:
        for batcher in self.batchers.values():
            batcher.cancel(job)

    def close(self) -> None:
        for batcher in self.batchers.values():
            batcher.close()


_Strategy = _Direct | _Oldest
STRATEGIES: dict[str, Callable[[SequenceScheduler, Any, Sequence[BatchInput]], _Strategy]] = {
    "direct": _Direct,
    "oldest": _Oldest,
}
