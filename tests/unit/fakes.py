"""Fakes at the scheduler/instance seam: a manual clock and instances that record batches."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from tritonlite.core.tensor import Tensor
from tritonlite.core.types import (
    InferenceRequest,
    InferenceResponse,
    ScheduledRequest,
    SequenceInfo,
)


class FakeTimer:
    def __init__(self, clock: FakeClock, at: int, fn: Callable[[], None]) -> None:
        self.clock, self.at, self.fn, self.cancelled = clock, at, fn, False

    def cancel(self) -> None:
        self.cancelled = True


class FakeClock:
    def __init__(self) -> None:
        self.now = 0
        self.lag = 0  # what arrival_ns() takes off now (the loop's wait for a CPU)
        self.timers: list[FakeTimer] = []

    def now_ns(self) -> int:
        return self.now

    def arrival_ns(self) -> int:
        lag, self.lag = self.lag, 0  # as the real one: once per run
        return self.now - lag

    def call_later(self, delay_s: float, fn: Callable[[], None]) -> FakeTimer:
        t = FakeTimer(self, self.now + int(delay_s * 1e9), fn)
        self.timers.append(t)
        return t

    def advance(self, seconds: float) -> None:
        self.now += int(seconds * 1e9)
        due = [t for t in self.timers if t.at <= self.now and not t.cancelled]
        self.timers = [t for t in self.timers if t not in due]
        for t in sorted(due, key=lambda t: t.at):
            t.fn()


class FakeInstance:
    """Records each execute() batch; ``finish()`` answers the oldest running batch."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.on_idle: Callable[[FakeInstance], None] = lambda inst: None
        self.batches: list[list[ScheduledRequest]] = []
        self.running: list[ScheduledRequest] | None = None
        self.cancelled: list[ScheduledRequest] = []

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    def execute(self, batch: Sequence[ScheduledRequest]) -> None:
        assert self.running is None, "instance got a batch while busy"
        self.running = list(batch)
        self.batches.append(list(batch))

    @property
    def outstanding(self) -> int:
        return 0 if self.running is None else 1

    def cancel(self, job: ScheduledRequest) -> None:
        self.cancelled.append(job)

    def finish(self) -> list[ScheduledRequest]:
        batch, self.running = self.running, None
        assert batch is not None
        for job in batch:
            r = job.request
            job.sink(InferenceResponse(r.model_name, "1", r.id))
        self.on_idle(self)
        return batch

    def finish_in(self, order: Sequence[int]) -> list[ScheduledRequest]:
        """Answer the running batch's requests in the given index order, then go idle."""
        batch, self.running = self.running, None
        assert batch is not None
        for i in order:
            r = batch[i].request
            batch[i].sink(InferenceResponse(r.model_name, "1", r.id))
        self.on_idle(self)
        return batch


def job(cid: int | str = 0, *, start: bool = False, end: bool = False, rid: str = "",
        sink: Callable[[InferenceResponse], None] | None = None, seq: bool = True,
        batch_size: int = 1, priority: int = 0, timeout_us: int = 0, at: int = 0,
        shape: tuple[int, ...] | None = None) -> ScheduledRequest:
    """A scheduled request. ``shape`` defaults to [1] (or [batch_size, 1] when batched);
    ``at`` is its enqueue time in ns."""
    if shape is None:
        shape = (1,) if batch_size == 1 else (batch_size, 1)
    t = Tensor.from_numpy("INPUT", np.zeros(shape, np.float32))
    req = InferenceRequest("m", [t], id=rid,
                           sequence=SequenceInfo(cid, start, end) if seq else None,
                           priority=priority, timeout_us=timeout_us)
    return ScheduledRequest(req, sink or (lambda r: None), list(req.inputs), ("OUTPUT",), at,
                            batch_size=batch_size)


def ids(batch: Sequence[ScheduledRequest]) -> list[str]:
    return [j.request.id for j in batch]


def control_values(j: ScheduledRequest) -> dict[str, object]:
    return {t.name: t.as_numpy().reshape(-1)[0] for t in j.inputs if t.name != "INPUT"}


class PipelinedFakeInstance:
    """Accepts batches while busy (a pipelining scheduler's instance); ``finish()``
    answers the oldest held batch, as the worker runs them in order."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.on_idle: Callable[[PipelinedFakeInstance], None] = lambda inst: None
        self.held: list[list[ScheduledRequest]] = []
        self.batches: list[list[ScheduledRequest]] = []
        self.cancelled: list[ScheduledRequest] = []

    @property
    def outstanding(self) -> int:
        return len(self.held)

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    def execute(self, batch: Sequence[ScheduledRequest]) -> None:
        self.held.append(list(batch))
        self.batches.append(list(batch))

    def cancel(self, job: ScheduledRequest) -> None:
        self.cancelled.append(job)

    def finish(self) -> list[ScheduledRequest]:
        batch = self.held.pop(0)
        for job in batch:
            r = job.request
            job.sink(InferenceResponse(r.model_name, "1", r.id))
        self.on_idle(self)
        return batch

    def crash(self) -> None:
        """The worker died: everything held failed (the instance restarts later)."""
        self.held.clear()

    def restarted(self) -> None:
        self.on_idle(self)
