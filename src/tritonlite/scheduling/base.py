"""What every scheduler shares: the Scheduler protocol, a clock seam and the idle pool.

Schedulers run on the event loop thread only, so they need no locks. Time comes from a
:class:`Clock`, so unit tests drive them with a fake clock and fake instances.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from tritonlite.core.errors import ErrorKind, InferenceServerError
from tritonlite.core.interfaces import ModelInstance
from tritonlite.core.types import InferenceResponse, ScheduledRequest
from tritonlite.scheduling import timers
from tritonlite.scheduling.wake_lag import wake_lag_ns

log = logging.getLogger(__name__)


class TimerHandle(Protocol):
    def cancel(self) -> None: ...


class Clock(Protocol):
    def now_ns(self) -> int: ...

    def arrival_ns(self) -> int:
        """When what the loop is reading now arrived, as best known: ``now_ns`` less the
        time the loop waited for a CPU before this run (``wake_lag``)."""
        ...

    def call_later(self, delay_s: float, fn: Callable[[], None]) -> TimerHandle: ...


class LoopClock:
    """The real clock: monotonic nanoseconds and timers on the running event loop, short
    ones to the microsecond (``scheduling.timers``: the loop's own count milliseconds)."""

    def now_ns(self) -> int:
        return time.monotonic_ns()

    def arrival_ns(self) -> int:
        return time.monotonic_ns() - wake_lag_ns()

    def call_later(self, delay_s: float, fn: Callable[[], None]) -> TimerHandle:
        return timers.call_later(delay_s, fn)


class Scheduler(Protocol):
    """Takes admitted requests and decides which instance runs them, when, in which batch."""

    def enqueue(self, job: ScheduledRequest) -> None:
        """Queue ``job``; raises InferenceServerError if it is rejected (e.g. a sequence
        request without START for an unknown sequence)."""
        ...

    def cancel(self, job: ScheduledRequest) -> None:
        """Drop a queued job (its sink gets a CANCELLED error) or tell its instance."""
        ...

    def close(self) -> None:
        """Stop timers. The unload path first waits for the model's in-flight requests;
        schedulers that can still hold queued requests fail them here (UNAVAILABLE)."""
        ...


class InstancePool:
    """Idle/busy bookkeeping for a scheduler's instances, first idle first."""

    def __init__(self, instances: Sequence[ModelInstance],
                 on_idle: Callable[[ModelInstance], None]) -> None:
        self.instances = list(instances)
        self.idle: list[ModelInstance] = list(self.instances)
        for inst in self.instances:
            inst.on_idle = on_idle

    def take(self, depth: int = 1) -> ModelInstance | None:
        """The first idle instance; with none idle and pipelining (``depth`` > 1), the
        least loaded busy one that has room."""
        return self.idle.pop(0) if self.idle else self.least_loaded(depth)

    def give_back(self, inst: ModelInstance) -> None:
        """``inst`` finished a batch: it is idle again once it holds nothing more (a
        pipelined instance may still hold the next ones)."""
        if inst.outstanding == 0 and inst not in self.idle:
            self.idle.append(inst)

    def least_loaded(self, depth: int) -> ModelInstance | None:
        """For pipelining, when no instance is idle: the busy one holding the fewest
        batches, if it holds fewer than ``depth`` (an instance that is restarting holds
        none and is not a candidate). None when ``depth`` is 1 (no pipelining)."""
        if depth <= 1:
            return None
        best, load = None, depth
        for inst in self.instances:
            n = inst.outstanding
            if 0 < n < load:
                best, load = inst, n
        return best


def error_response(job: ScheduledRequest, kind: ErrorKind, message: str) -> InferenceResponse:
    r = job.request
    return InferenceResponse(r.model_name, r.model_version, r.id,
                             error=InferenceServerError(kind, message))


def execute(inst: ModelInstance, jobs: list[ScheduledRequest]) -> None:
    """``inst.execute(jobs)``; if the instance cannot take the batch (its worker is gone)
    the batch fails at once instead of hanging. The instance is not handed back: its
    restart calls ``on_idle`` again."""
    try:
        inst.execute(jobs)
    except Exception as exc:
        log.error("instance %s could not take a batch: %s", inst.name, exc)
        for job in jobs:
            job.sink(error_response(job, ErrorKind.INTERNAL,
                                    f"model instance '{inst.name}' is not available: {exc}"))
