"""The default scheduler: one request per ``execute``, to whichever instance is idle.

Triton's default scheduler for a model with neither ``dynamic_batching`` nor
``sequence_batching``. Requests wait in one FIFO queue while every instance is busy, so a
busy instance never holds up an idle one.

Pipelining (``depth`` > 1): when every instance is busy, a busy instance may still take
up to ``depth`` requests, so it starts the next one as soon as the last finished instead of
waiting a round trip for the scheduler (for a worker process: two process wake-ups per
request saved under load). Each request still gets an ``execute`` call of its own, in
arrival order; an idle instance is always preferred, and the least loaded busy one next.
"""

from __future__ import annotations

import collections
from collections.abc import Sequence

from tritonlite.core.errors import ErrorKind
from tritonlite.core.interfaces import ModelInstance
from tritonlite.core.types import ScheduledRequest
from tritonlite.scheduling.base import Clock, InstancePool, LoopClock, error_response, execute


class DefaultScheduler:
    def __init__(self, instances: Sequence[ModelInstance], clock: Clock | None = None,
                 depth: int = 1) -> None:
        self.clock = clock or LoopClock()
        self.depth = max(1, depth)
        self.queue: collections.deque[ScheduledRequest] = collections.deque()
        self.pool = InstancePool(instances, self._on_idle)

    def enqueue(self, job: ScheduledRequest) -> None:
        # pipelining only with nothing queued: queued requests go first, in order
        inst = self.pool.take(1 if self.queue else self.depth)
        if inst is None:
            self.queue.append(job)
        else:
            self._dispatch(inst, job)

    def _dispatch(self, inst: ModelInstance, job: ScheduledRequest) -> None:
        job.queue_ns = self.clock.now_ns() - job.enqueue_ns
        job.requeue = self._requeue
        execute(inst, [job])

    def _requeue(self, job: ScheduledRequest) -> None:
        """The model asked to run ``job`` again (RELEASE_RESCHEDULE): it goes first."""
        job.enqueue_ns = self.clock.now_ns()
        self.queue.appendleft(job)

    def _on_idle(self, inst: ModelInstance) -> None:
        queue = self.queue
        while queue and inst.outstanding < self.depth:
            job = queue.popleft()
            if job.cancelled:  # cancelled while it ran, then rescheduled by the model
                job.sink(error_response(job, ErrorKind.CANCELLED, "request cancelled"))
            else:
                self._dispatch(inst, job)
        self.pool.give_back(inst)

    def cancel(self, job: ScheduledRequest) -> None:
        job.cancelled = True
        try:
            self.queue.remove(job)
        except ValueError:  # an instance holds it (or it is done): the one holding it hears
            for inst in self.pool.instances:
                inst.cancel(job)
            return
        job.sink(error_response(job, ErrorKind.CANCELLED, "request cancelled"))

    def close(self) -> None:
        pass
