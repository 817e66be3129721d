"""cpu_policy: every thread of the process, later threads and child processes run under
SCHED_BATCH (checked in a fresh interpreter, so this test process keeps its policy)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from tritonlite.cpu_policy import batch_policy_available

PROBE = textwrap.dedent("""
    import json, os, subprocess, sys, threading
    from tritonlite.cpu_policy import no_wakeup_preemption

    def policies():
        return {int(t): os.sched_getscheduler(int(t)) for t in os.listdir("/proc/self/task")}

    stop = threading.Event()
    before = threading.Thread(target=stop.wait)  # a thread that was already running
    before.start()
    normal = set(policies().values())
    no_wakeup_preemption()
    after = threading.Thread(target=stop.wait)  # one started later
    after.start()
    now = set(policies().values())
    child = subprocess.run([sys.executable, "-c", "import os; print(os.sched_getscheduler(0))"],
                           capture_output=True, text=True, check=True).stdout.strip()
    stop.set()
    print(json.dumps({"normal": sorted(normal), "now": sorted(now), "child": int(child),
                      "threads": threading.active_count(), "batch": os.SCHED_BATCH}))
""")


@pytest.mark.skipif(not batch_policy_available(), reason="Linux scheduling policy")
def test_all_threads_later_threads_and_children_get_sched_batch() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                         timeout=60, check=True)
    got = json.loads(out.stdout)
    assert got["normal"] == [0]  # SCHED_OTHER before the call
    assert got["threads"] >= 3
    assert got["now"] == [got["batch"]]
    assert got["child"] == got["batch"]
