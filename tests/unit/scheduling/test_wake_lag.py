"""WakeLag: the loop's wait for a CPU before its current run, from a schedstat file."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from tritonlite.scheduling.wake_lag import WakeLag, wake_lag_ns


def _stat(path: Path, delay_ns: int, runs: int) -> None:
    path.write_text(f"123456 {delay_ns} {runs}\n")


def test_the_wait_before_the_one_run_since_the_last_look(tmp_path: Path) -> None:
    f = tmp_path / "schedstat"
    _stat(f, 1_000, 10)
    lag = WakeLag(str(f))
    assert lag.lag_ns() == 0  # first look: no earlier count to compare with
    _stat(f, 651_000, 11)  # slept, woke, waited 650 us for the CPU
    assert lag.lag_ns() == 650_000
    assert lag.lag_ns() == 0  # same run: what it reads now arrived just now
    _stat(f, 700_000, 12)  # the next run waited 49 us
    assert lag.lag_ns() == 49_000
    _stat(f, 900_000, 14)  # two runs: which wait was the last one is unknown
    assert lag.lag_ns() == 0
    _stat(f, 900_000, 15)  # one run without a wait
    assert lag.lag_ns() == 0


@pytest.mark.parametrize("content", ["", "garbage\n", "1 x 3\n"])
def test_unreadable_counts_give_no_lag(tmp_path: Path, content: str) -> None:
    f = tmp_path / "schedstat"
    f.write_text(content)
    lag = WakeLag(str(f))
    assert lag.lag_ns() == 0
    assert lag.lag_ns() == 0


def test_without_schedstat_there_is_no_lag(tmp_path: Path) -> None:
    assert WakeLag(str(tmp_path / "missing")).lag_ns() == 0


@pytest.mark.skipif(not os.path.exists("/proc/thread-self/schedstat"),
                    reason="Linux schedstat only")
def test_the_real_file_is_the_calling_threads() -> None:
    """Linux's file parses, it is the thread's own (its run count is the one in
    /proc/self/task/<tid>), and a look right after another in the same run gives 0
    (two looks in a row can straddle a preemption: a few tries)."""
    got: list[int] = []
    same: list[bool] = []

    def look() -> None:
        own = f"/proc/self/task/{threading.get_native_id()}/schedstat"
        lag = WakeLag()
        for _ in range(20):
            lag.lag_ns()
            runs = int(open(own).read().split()[2])  # noqa: SIM115
            same.append(runs == lag._runs)
            got.append(lag.lag_ns())

    t = threading.Thread(target=look)
    t.start()
    t.join()
    assert min(got) == 0 and all(v >= 0 for v in got)
    assert any(same)
    assert wake_lag_ns() >= 0  # the per-thread one of this thread
