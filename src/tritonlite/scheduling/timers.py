"""Timers with microsecond precision on the event loop, for the schedulers' short delays.

The event loops count time in whole milliseconds: uvloop (libuv) rounds a timer's delay
to the nearest millisecond, so ``call_later(0.0004)`` runs at the next loop iteration and
``call_later(0.0006)`` a millisecond later; asyncio's own loop rounds its poll timeout up
to the millisecond. Triton waits a dynamic batcher's ``max_queue_delay_microseconds`` to
the microsecond. Measured before this module: a batch due in 390 us went out after 36 us,
before the requests it was meant to wait for had come, and a busy model at concurrency 8
settled into batches of 7 and 1 where Triton forms batches of 8.

So a delay shorter than :data:`SHORT_S` runs on a ``timerfd`` (Linux: a file descriptor
the kernel makes readable at an absolute ``CLOCK_MONOTONIC`` time, the clock of
``time.monotonic_ns``), one per event loop, watched by the loop like a socket and armed
for the earliest pending timer. Longer delays (a sequence's idle timeout) use the loop's
own timers, whose rounding does not matter there. Without ``timerfd`` (another OS), every
delay uses the loop's timers.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import heapq
import itertools
import os
import sys
import time
import weakref
from collections.abc import Callable
from typing import Any

__all__ = ["SHORT_S", "call_later"]

#: Delays shorter than this run on the precise timer.
SHORT_S = 0.05


class _Native:
    """``timerfd_create`` / ``timerfd_settime``: the os module's (Python 3.13+) or libc's."""

    def __init__(self) -> None:
        self.create: Callable[[], int]
        self.arm: Callable[[int, int], None]  # (fd, absolute CLOCK_MONOTONIC ns)
        if hasattr(os, "timerfd_create"):
            self.create = lambda: os.timerfd_create(  # type: ignore[attr-defined]
                time.CLOCK_MONOTONIC,
                flags=os.TFD_NONBLOCK | os.TFD_CLOEXEC)  # type: ignore[attr-defined]
            self.arm = lambda fd, when_ns: os.timerfd_settime_ns(  # type: ignore[attr-defined]
                fd, flags=os.TFD_TIMER_ABSTIME, initial=when_ns)  # type: ignore[attr-defined]
            return
        libc = ctypes.CDLL(None, use_errno=True)
        create, settime = libc.timerfd_create, libc.timerfd_settime  # AttributeError: none

        class Timespec(ctypes.Structure):
            _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]

        class Itimerspec(ctypes.Structure):
            _fields_ = [("it_interval", Timespec), ("it_value", Timespec)]

        clock_monotonic, nonblock, cloexec, abstime = 1, 0o4000, 0o2000000, 1

        def create_fd() -> int:
            fd = int(create(clock_monotonic, nonblock | cloexec))
            if fd < 0:
                raise OSError(ctypes.get_errno(), "timerfd_create failed")
            return fd

        def arm(fd: int, when_ns: int) -> None:
            spec = Itimerspec(Timespec(0, 0), Timespec(*divmod(when_ns, 1_000_000_000)))
            if settime(fd, abstime, ctypes.byref(spec), None) != 0:
                raise OSError(ctypes.get_errno(), "timerfd_settime failed")

        self.create, self.arm = create_fd, arm


def _native() -> _Native | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        native = _Native()
        os.close(native.create())  # it works here (a sandbox may refuse it)
    except (AttributeError, OSError):
        return None
    return native


_NATIVE = _native()


class _Handle:
    __slots__ = ("_entry",)

    def __init__(self, entry: list[Any]) -> None:
        self._entry = entry

    def cancel(self) -> None:
        self._entry[2] = None  # left in the heap; skipped when it comes up


class _TimerFd:
    """The precise timers of one event loop: a heap of [when_ns, seq, fn], and a timerfd
    kept armed for the earliest timer not cancelled. It holds no reference to its loop
    (the per-loop registry is weak), and its fd is closed when the loop is collected."""

    def __init__(self, loop: asyncio.AbstractEventLoop, native: _Native) -> None:
        self._native = native
        self._fd = native.create()
        self._heap: list[list[Any]] = []
        self._seq = itertools.count()
        self._armed = 0  # the time the fd is armed for (0: not armed)
        loop.add_reader(self._fd, self._fired)
        weakref.finalize(loop, os.close, self._fd)

    def call_at(self, when_ns: int, fn: Callable[[], None]) -> _Handle:
        when_ns = max(1, when_ns)  # 0 would disarm the fd
        entry: list[Any] = [when_ns, next(self._seq), fn]
        heapq.heappush(self._heap, entry)
        if self._armed == 0 or when_ns < self._armed:
            self._arm(when_ns)
        return _Handle(entry)

    def _arm(self, when_ns: int) -> None:
        self._native.arm(self._fd, when_ns)
        self._armed = when_ns

    def _fired(self) -> None:
        with contextlib.suppress(BlockingIOError):
            os.read(self._fd, 8)
        self._armed = 0
        heap = self._heap
        try:
            now = time.monotonic_ns()
            while heap and (heap[0][2] is None or heap[0][0] <= now):
                fn = heapq.heappop(heap)[2]
                if fn is None:
                    continue
                try:
                    fn()
                except Exception as exc:  # as the loop reports a failing callback
                    asyncio.get_running_loop().call_exception_handler(
                        {"message": "Exception in a scheduler timer callback",
                         "exception": exc})
        finally:
            self._rearm()

    def _rearm(self) -> None:
        """Arm the fd for the earliest live timer (a callback may have armed it for a
        later one it added, while an earlier one waits)."""
        heap = self._heap
        while heap and heap[0][2] is None:
            heapq.heappop(heap)
        if heap and heap[0][0] != self._armed:
            self._arm(heap[0][0])


_TIMERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _TimerFd] = (
    weakref.WeakKeyDictionary())


def call_later(delay_s: float, fn: Callable[[], None]) -> asyncio.TimerHandle | _Handle:
    """``fn`` after ``delay_s`` on the running loop: to the microsecond if the delay is
    short and the platform has ``timerfd``, else on the loop's own timers."""
    loop = asyncio.get_running_loop()
    if delay_s >= SHORT_S or _NATIVE is None:
        return loop.call_later(delay_s, fn)
    timers = _TIMERS.get(loop)
    if timers is None:
        timers = _TIMERS[loop] = _TimerFd(loop, _NATIVE)
    return timers.call_at(time.monotonic_ns() + max(0, int(delay_s * 1e9)), fn)
