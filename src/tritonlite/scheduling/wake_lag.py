"""How long the event loop's thread waited for a CPU before its current run: how long
before the loop read it the first thing it reads in that run had arrived.

Why: the dynamic batcher's ``max_queue_delay_microseconds`` (and the direct sequence
strategy's) counts from a request's arrival. The server reads a request when its loop
thread runs, and on a core shared with a model worker that is not at once: under
``SCHED_BATCH`` (``cpu_policy``) a woken loop waits until the worker blocks, so a
request that arrives while a batch executes is read only when the batch is done.
Counting its delay from then waited up to the whole delay again, with the core idle,
where Triton's frontend threads (which preempt the model) count from arrival. Measured
with a ~1 ms model at concurrency 16 (``bench/``, A/B): 1.11x the requests per second
with the lag counted (1.05x at concurrency 8; the tiny identity with batching within
2%).

Linux counts each thread's run delay (the time it was runnable but not running,
``CONFIG_SCHED_INFO``) and how often it was scheduled in, in
``/proc/thread-self/schedstat``. When exactly one scheduling-in happened since the last
look, the run delay since then is the wait before the current run: the loop became
runnable when its first event came (a request, a worker's answer), that long ago. A
request read in that run arrived then or later, so for the first one looked at the lag
is its wait exactly when it was that first event, and at most its wait plus the lag
otherwise. With no new run (the same run goes on: what it reads now may have arrived
just now) or several (sleeps, preemptions, waits for the GIL: which wait was the last is
unknown) the lag is 0: arrival is when the request is read. Where the file does not
exist it is always 0.

The first look in a run takes the lag: a request that a batcher gets from inside the
server first in that run (an ensemble's next step, a sequence's backlog) takes it, and
a request read from a client later in the same run counts from its read, as before.
Only the queue delay uses it; a queue policy's timeout counts from the enqueue, as
Triton's does.
"""

from __future__ import annotations

import os
import threading

__all__ = ["WakeLag", "wake_lag_ns"]


class WakeLag:
    """The run delay of the calling thread's current run, once per run (see module doc).

    One per thread: ``/proc/thread-self`` names the thread that opened it.
    """

    def __init__(self, path: str = "/proc/thread-self/schedstat") -> None:
        try:
            self._fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            self._fd = -1
        self._runs = -1  # scheduling-ins counted at the last look (-1: none yet)
        self._delay = 0  # run delay counted at the last look, ns

    def __del__(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)

    def lag_ns(self) -> int:
        """How long this run waited for a CPU, if this is the first look since it
        began and exactly one run began since the last look; else 0."""
        if self._fd < 0:
            return 0
        try:
            fields = os.pread(self._fd, 96, 0).split()
            delay, runs = int(fields[1]), int(fields[2])
        except (OSError, IndexError, ValueError):
            return 0
        lag = delay - self._delay if runs == self._runs + 1 else 0
        self._runs, self._delay = runs, delay
        return max(0, lag)


_local = threading.local()


def wake_lag_ns() -> int:
    """:meth:`WakeLag.lag_ns` for the calling thread."""
    lag: WakeLag | None = getattr(_local, "lag", None)
    if lag is None:
        lag = _local.lag = WakeLag()
    return lag.lag_ns()
