"""CI-sized run of the in-process CPU measurement (``bench/inproc.py``) so it never rots.

Both protocols, a few thousand requests each (enough for the worker's CPU time, counted in
10 ms ticks, to show): every request must be answered (a stalled run would time out) and
the report must give a rate and CPU figures. No timing is asserted.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINE = re.compile(r"^(http|grpc) c=2: ([\d,]+) req/s, server CPU per request ([\d.]+) us "
                  r"\(main ([\d.]+), worker ([\d.]+)\); median of 1 x 3000 requests$")


def test_inproc_measures_both_protocols() -> None:
    out = subprocess.run(
        [sys.executable, "bench/inproc.py", "--concurrency", "2", "--requests", "3000",
         "--rounds", "1", "--core", "-1"],
        cwd=ROOT, capture_output=True, text=True, timeout=180,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    lines = [line for line in out.stdout.splitlines() if LINE.match(line)]
    assert [LINE.match(line).group(1) for line in lines] == ["http", "grpc"], out.stdout
    for line in lines:
        match = LINE.match(line)
        assert match is not None
        rate = float(match.group(2).replace(",", ""))
        main_us, worker_us = float(match.group(4)), float(match.group(5))
        assert rate > 0 and main_us > 0 and worker_us > 0, line


def test_inproc_drives_a_batching_model() -> None:
    out = subprocess.run(
        [sys.executable, "bench/inproc.py", "--protocol", "grpc", "--model", "identity_fp32_db",
         "--concurrency", "4", "--requests", "2000", "--rounds", "1", "--core", "-1"],
        cwd=ROOT, capture_output=True, text=True, timeout=180,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert re.search(r"^grpc identity_fp32_db c=4: [\d,]+ req/s, server CPU per request ",
                     out.stdout, re.M), out.stdout
