"""scheduling.timers: short scheduler delays to the microsecond, on uvloop and asyncio.

The bug this guards against: the loops count milliseconds, so a 400 us timer ran at the
next loop iteration (uvloop rounds to the nearest millisecond) and a dynamic batcher's
``max_queue_delay_microseconds`` was not waited. Only lower bounds are asserted (a timer
must never run early); how late it may run depends on the machine.
"""

from __future__ import annotations

import asyncio
import gc
import os
import time
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
import uvloop

from tritonlite.scheduling import timers

needs_timerfd = pytest.mark.skipif(timers._NATIVE is None, reason="no timerfd here")


def run_on(kind: str, main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    loop = uvloop.new_event_loop() if kind == "uvloop" else asyncio.new_event_loop()
    try:
        loop.run_until_complete(main())
    finally:
        loop.close()


LOOPS = pytest.mark.parametrize("kind", ["uvloop", "asyncio"])


@needs_timerfd
@LOOPS
def test_a_short_timer_never_runs_early(kind: str) -> None:
    async def main() -> None:
        for delay_us in (1, 150, 400, 600, 900, 2500):
            done = asyncio.get_running_loop().create_future()
            start = time.monotonic_ns()
            timers.call_later(delay_us / 1e6, lambda d=done: d.set_result(time.monotonic_ns()))
            fired = await asyncio.wait_for(done, 5)
            assert fired - start >= delay_us * 1000, (delay_us, fired - start)

    run_on(kind, main)


@needs_timerfd
@LOOPS
def test_timers_run_in_time_order_and_cancel(kind: str) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        ran: list[str] = []
        done = loop.create_future()
        timers.call_later(0.030, lambda: ran.append("c"))
        timers.call_later(0.005, lambda: ran.append("a"))
        cancelled = timers.call_later(0.015, lambda: ran.append("never"))
        timers.call_later(0.020, lambda: ran.append("b"))
        # A timer armed from a timer's callback, earlier than the ones pending.
        timers.call_later(0.010, lambda: timers.call_later(0.001, lambda: ran.append("a2")))
        timers.call_later(0.040, lambda: done.set_result(None))
        cancelled.cancel()
        await asyncio.wait_for(done, 5)
        assert ran == ["a", "a2", "b", "c"]

    run_on(kind, main)


@needs_timerfd
def test_the_fd_stays_armed_for_the_earliest_timer() -> None:
    """A callback that adds a later timer must not leave an earlier one waiting for it."""
    async def main() -> None:
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        fd = None

        def first() -> None:
            nonlocal fd
            fd = timers._TIMERS[loop]
            timers.call_later(0.040, lambda: done.set_result(None))  # later than "second"

        timers.call_later(0.001, first)
        second = timers.call_later(0.003, lambda: None)
        await asyncio.sleep(0.002)
        while fd is None:  # "first" has run (the loop may be late)
            await asyncio.sleep(0.001)
        assert fd._armed == min(e[0] for e in fd._heap if e[2] is not None)
        second.cancel()
        await asyncio.wait_for(done, 5)

    run_on("uvloop", main)


@needs_timerfd
def test_a_failing_callback_is_reported_and_the_others_still_run() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        reported: list[dict[str, Any]] = []
        loop.set_exception_handler(lambda _loop, context: reported.append(context))
        done = loop.create_future()

        def boom() -> None:
            raise RuntimeError("boom")

        timers.call_later(0.0005, boom)
        timers.call_later(0.0005, lambda: done.set_result(None))
        await asyncio.wait_for(done, 5)
        assert isinstance(reported[0]["exception"], RuntimeError)

    run_on("uvloop", main)


def test_long_delays_and_platforms_without_timerfd_use_the_loops_timers(
        monkeypatch: pytest.MonkeyPatch) -> None:
    async def main() -> None:
        handle = timers.call_later(timers.SHORT_S, lambda: None)
        assert not isinstance(handle, timers._Handle)
        handle.cancel()
        monkeypatch.setattr(timers, "_NATIVE", None)
        handle = timers.call_later(0.0001, lambda: None)
        assert not isinstance(handle, timers._Handle)
        handle.cancel()

    run_on("uvloop", main)


@needs_timerfd
def test_a_closed_loop_and_its_fd_are_let_go() -> None:
    fds: list[int] = []

    async def main() -> None:
        done = asyncio.get_running_loop().create_future()
        timers.call_later(0.0002, lambda: None)
        timers.call_later(0.0003, lambda: done.set_result(None))
        await done
        fds.append(timers._TIMERS[asyncio.get_running_loop()]._fd)

    for _ in range(3):
        run_on("uvloop", main)
    assert len(set(fds)) <= 3
    gc.collect()
    assert not any(fd in fds for fd in _open_timer_fds())


def _open_timer_fds() -> list[int]:
    out = []
    for name in os.listdir("/proc/self/fd"):
        try:
            if "timerfd" in os.readlink(f"/proc/self/fd/{name}"):
                out.append(int(name))
        except OSError:
            pass
    return out
