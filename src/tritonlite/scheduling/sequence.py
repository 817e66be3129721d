"""The sequence batcher: every request of a sequence runs in order on one instance.

Rules (Triton's, observed on 2.51):

* A request needs a correlation id (non-zero int or non-empty str), else INVALID_ARG.
* The first request of a sequence must carry START, else INVALID_ARG; START on a live
  sequence restarts it in place (a warning is logged), START+END in one request is fine.
* ``direct``: a sequence holds a *slot* (instance count x max(1, max_batch_size) of them)
  from START until END or until it idles out; ``oldest``: a sequence is bound to one
  instance, each instance takes up to ``max_candidate_sequences`` sequences. A sequence
  that finds no free slot waits in the backlog, oldest first.
* A sequence with nothing queued or running for ``max_sequence_idle_microseconds``
  (default 1 s) is released silently. Opt-in (model parameter
  ``tritonlite_sequence_idle_notify: "true"``): the model then gets one last request with the
  END flag and the parameter ``tritonlite_sequence_idle_release: true`` so it can free
  per-sequence state.
* Each ``execute`` takes at most one request per sequence, up to max(1, max_batch_size)
  requests, rotating over the instance's sequences so none starves.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from tritonlite.core.errors import ErrorKind, InferenceServerError, invalid_arg
from tritonlite.core.interfaces import ModelInstance
from tritonlite.core.types import (
    InferenceRequest,
    InferenceResponse,
    ScheduledRequest,
    SequenceInfo,
)
from tritonlite.scheduling.base import Clock, InstancePool, LoopClock, TimerHandle
from tritonlite.scheduling.controls import SequenceControls

log = logging.getLogger(__name__)

DEFAULT_IDLE_US = 1_000_000
IDLE_NOTIFY_PARAMETER = "tritonlite_sequence_idle_notify"
IDLE_RELEASE_PARAMETER = "tritonlite_sequence_idle_release"


@dataclass(eq=False)
class _Sequence:
    cid: int | str
    queue: collections.deque[ScheduledRequest] = field(default_factory=collections.deque)
    instance: ModelInstance | None = None  # None while in the backlog
    running: bool = False
    ended: bool = False  # END seen (or idled out): release once drained
    timer: TimerHandle | None = None
    synthetic_end: bool = False


class SequenceScheduler:
    def __init__(
        self,
        *,
        model_name: str,
        instances: Sequence[ModelInstance],
        sequence_batching: object,
        max_batch_size: int,
        clock: Clock | None = None,
        idle_notify: bool = False,
    ) -> None:
        sb = sequence_batching
        self.model_name = model_name
        self.clock = clock or LoopClock()
        self.controls = SequenceControls(sb, max_batch_size)
        self.max_batch = max(1, max_batch_size)
        idle_us = int(getattr(sb, "max_sequence_idle_microseconds", 0)) or DEFAULT_IDLE_US
        self.idle_s = idle_us / 1e6
        self.idle_notify = idle_notify
        oldest = sb.HasField("oldest")  # type: ignore[attr-defined]
        if oldest:
            per_instance = max(1, int(sb.oldest.max_candidate_sequences))  # type: ignore[attr-defined]
        else:
            per_instance = self.max_batch
        self.capacity = {id(i): per_instance for i in instances}
        self.bound: dict[int, list[_Sequence]] = {id(i): [] for i in instances}
        self.rotation: dict[int, int] = {id(i): 0 for i in instances}
        self.pool = InstancePool(instances, self._on_idle)
        self.live: dict[int | str, _Sequence] = {}
        self.backlog: collections.deque[_Sequence] = collections.deque()

    # ---- admission ----------------------------------------------------------------------
    def enqueue(self, job: ScheduledRequest) -> None:
        req = job.request
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
        if seq.timer is not None:
            seq.timer.cancel()
            seq.timer = None
        if info.end:
            seq.ended = True
            del self.live[cid]
        job.inputs.extend(self.controls.tensors(
            start=info.start, end=info.end, ready=True, correlation_id=cid))
        seq.queue.append(job)
        self._kick(seq)

    def _place(self, seq: _Sequence) -> None:
        """Give ``seq`` an instance with a free slot (least loaded) or put it in the backlog."""
        best = None
        for inst in self.pool.instances:
            free = self.capacity[id(inst)] - len(self.bound[id(inst)])
            if free > 0 and (best is None or free > best[0]):
                best = (free, inst)
        if best is None:
            self.backlog.append(seq)
            return
        seq.instance = best[1]
        self.bound[id(best[1])].append(seq)

    def _release(self, seq: _Sequence) -> None:
        inst = seq.instance
        if seq.timer is not None:
            seq.timer.cancel()
            seq.timer = None
        if inst is None:
            return
        self.bound[id(inst)].remove(seq)
        seq.instance = None
        while self.backlog:
            waiting = self.backlog.popleft()
            if waiting.queue or not waiting.ended:
                self._place(waiting)
                self._kick(waiting)
                break

    # ---- dispatch ---------------------------------------------------------------------------
    def _kick(self, seq: _Sequence) -> None:
        inst = seq.instance
        if inst is not None and inst in self.pool.idle:
            self.pool.idle.remove(inst)
            self._on_idle(inst)

    def _on_idle(self, inst: ModelInstance) -> None:
        seqs = self.bound.get(id(inst), [])
        n = len(seqs)
        batch: list[ScheduledRequest] = []
        if n:
            start = self.rotation[id(inst)] % n
            for i in range(n):
                seq = seqs[(start + i) % n]
                if seq.running:
                    continue
                while seq.queue and seq.queue[0].cancelled:
                    seq.queue.popleft()
                if not seq.queue:
                    continue
                batch.append(self._start_job(seq, seq.queue.popleft()))
                if len(batch) >= self.max_batch:
                    break
            self.rotation[id(inst)] = start + 1
        if not batch:
            self.pool.give_back(inst)
            return
        now = self.clock.now_ns()
        for job in batch:
            job.queue_ns = now - job.enqueue_ns
        inst.execute(batch)

    def _start_job(self, seq: _Sequence, job: ScheduledRequest) -> ScheduledRequest:
        seq.running = True
        sink = job.sink

        def done(resp: InferenceResponse) -> None:
            if resp.final:
                seq.running = False
                self._after(seq)
            sink(resp)

        job.sink = done
        return job

    def _after(self, seq: _Sequence) -> None:
        if seq.queue:
            return  # the instance's on_idle picks the next request
        if seq.ended:
            self._release(seq)
        elif seq.instance is not None:
            seq.timer = self.clock.call_later(self.idle_s, lambda: self._expire(seq))

    def _expire(self, seq: _Sequence) -> None:
        seq.timer = None
        if seq.queue or seq.running or seq.ended:
            return
        if self.live.get(seq.cid) is seq:
            del self.live[seq.cid]
        seq.ended = True
        log.info("sequence %s of model '%s' released after %.3f s idle",
                 seq.cid, self.model_name, self.idle_s)
        if not self.idle_notify:
            self._release(seq)
            return
        # One last request so the model can free its per-sequence state.
        req = InferenceRequest(self.model_name, [], sequence=SequenceInfo(seq.cid, end=True),
                               parameters={IDLE_RELEASE_PARAMETER: True})
        job = ScheduledRequest(req, lambda resp: None, [], (), self.clock.now_ns())
        job.inputs.extend(self.controls.tensors(start=False, end=True, ready=True,
                                                correlation_id=seq.cid))
        seq.synthetic_end = True
        seq.queue.append(job)
        self._kick(seq)

    def cancel(self, job: ScheduledRequest) -> None:
        job.cancelled = True
        for seq in [*self.live.values(), *self.backlog]:
            if job in seq.queue:
                seq.queue.remove(job)
                r = job.request
                job.sink(InferenceResponse(r.model_name, r.model_version, r.id,
                                           error=InferenceServerError(ErrorKind.CANCELLED,
                                                                      "request cancelled")))
                return
        for inst in self.pool.instances:
            inst.cancel(job)

    def close(self) -> None:
        for seqs in self.bound.values():
            for seq in seqs:
                if seq.timer is not None:
                    seq.timer.cancel()
