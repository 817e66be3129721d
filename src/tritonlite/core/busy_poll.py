"""Busy polling: the event loop keeps polling for a short while after the server has
answered its last request in flight, instead of sleeping at once.

Why: a client that sends one request at a time sends its next one within tens to a few
hundred microseconds of its answer. If the server's core goes idle in between, the next
request first has to wake it (on a virtual machine the idle vCPU halts, and waking it goes
through the hypervisor) and then runs on cold caches. Polling through that gap costs a few
syscalls and keeps the core awake. Measured with tiny requests at concurrency 1, server on
one core (``bench/``, A/B, 300 us against off): HTTP 1.31x requests per second at 0.91x
the server CPU per request (the cold wake-up cost as much as the polling), gRPC 1.23x
(p50 0.31 -> 0.25 ms) at 1.6x the CPU (its client takes ~180 us to send the next call,
polled through); the video stream (~2 ms a frame) within 1%. The same idea as Linux's
``busy_poll`` socket option.

What it may hold up, and what not:

* It polls only while no request is in flight, and stops at the first loop iteration
  after one arrives, so a model worker running a request never waits for it.
* Each polling step is one loop iteration (``call_soon``): the loop's own callbacks and
  I/O run in between, undelayed.
* Other threads and processes that want this core do wait, up to one window: the server
  runs under SCHED_BATCH (see ``cpu_policy``), where a woken thread does not preempt the
  running one. That is why the runner turns polling off when a frontend runs on grpcio's
  threads (``--grpc-server threaded|aio``), and why the window is short: a worker's work
  that no request in flight covers (a sequence's idle release, a model loading, a
  decoupled model's own thread after its final response) may start up to one window late.

What it costs is CPU while the server is otherwise idle: at most a window after each
moment the last request in flight is answered, and only while it pays. Like Linux's
haltpoll governor it backs off: when two polls in a row run out before the next request
comes, the next 8 idle periods are not polled for, then one is tried again (16, 32, up to
64 after further misses; a hit resets this). One miss after a hit is forgiven: a client
that is fast but now and then late (a pause of its own) would otherwise pay the wake-up
on its next 8 requests too, which made up its p99. A client slower than the window (the
video stream's) or one that stopped costs about one window in 65 idle periods.
``--busy-poll-us 0`` turns it off.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

__all__ = ["BusyPoll"]

FIRST_BACKOFF = 8  # idle periods not polled for after a poll that ran out
MAX_BACKOFF = 64


class BusyPoll:
    """Keeps the running loop polling for ``window_us`` after :meth:`start` (the server
    became idle), while ``idle()`` stays true; backs off after polls that run out."""

    def __init__(self, window_us: int, idle: Callable[[], bool]) -> None:
        self.window_s = window_us / 1e6
        self._idle = idle
        self._until = 0.0
        self._polling = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._backoff = 0  # idle periods to skip after the next miss (0: polling pays)
        self._skip = 0  # idle periods left to skip
        self._missed = False  # the last poll ran out

    @property
    def polling(self) -> bool:
        return self._polling

    def start(self) -> None:
        """The server has just become idle: poll for the next window, unless backing
        off (from the running loop's thread; elsewhere this does nothing)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        if self._polling and self._loop is loop:
            # Idle again while polling: a request came and went without being in flight
            # (a cache hit). The poll paid; extend it.
            self._backoff = 0
            self._missed = False
            self._until = time.perf_counter() + self.window_s
            return
        if self._skip:
            self._skip -= 1
            return
        self._until = time.perf_counter() + self.window_s
        self._loop = loop
        self._polling = True
        loop.call_soon(self._step)

    def _step(self) -> None:
        if not self._idle():  # a request came: polling paid
            self._polling = False
            self._backoff = 0
            self._missed = False
        elif time.perf_counter() >= self._until:  # nobody came
            self._polling = False
            if self._missed:  # twice in a row: back off
                self._backoff = min(max(2 * self._backoff, FIRST_BACKOFF), MAX_BACKOFF)
                self._skip = self._backoff
            self._missed = True
        else:
            assert self._loop is not None
            self._loop.call_soon(self._step)
