"""CI-sized run of the benchmark (``bench/run.py --quick``) so it never rots.

Runs tritonlite only (the reference Triton is not needed) plus the echo ceiling, with tiny
durations, and checks the JSON report: every workload is there and every answer was right.
No timing is asserted. A workload may be ``unsupported`` only when it is an HTTP one and
the server's HTTP port does not answer.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_quick_benchmark_runs_every_workload_without_errors(tmp_path: Path) -> None:
    listing = subprocess.run(
        [sys.executable, "bench/run.py", "--list"], cwd=ROOT, capture_output=True, text=True,
        timeout=60, check=True,
    ).stdout
    listed = [line.split()[0] for line in listing.splitlines() if line.strip()]
    out = subprocess.run(
        [sys.executable, "bench/run.py", "--quick", "--servers", "tritonlite",
         "--duration", "0.3", "--warmup", "0.1", "--output-dir", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=240,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-5000:]
    report = json.loads((tmp_path / "latest.json").read_text())
    assert report["meta"]["servers"] == ["tritonlite"]
    names = [w["name"] for w in report["workloads"]]
    assert names == listed

    for workload in report["workloads"]:
        for server, result in workload["servers"].items():
            where = f"{workload['name']} on {server}"
            if result["status"] == "unsupported":
                assert workload["transport"] == "http", f"{where}: {result['reason']}"
                continue
            assert result["status"] == "ok", f"{where}: {result}"
            assert result["errors"] == 0, f"{where}: {result['error_samples']}"
            assert result["ok"] > 0, where
            assert result["throughput"] > 0, where
        assert "tritonlite" in workload["servers"]
        assert "ratio" not in workload  # no reference, no ratios
    # Every count2/count1 and dynamic/none pair ran, and has a ratio for tritonlite.
    pairs = {(row["numerator"], row["denominator"]): row for row in report["within_server"]}
    assert len(pairs) == len(report["within_server"]) >= 6
    for (num, den), row in pairs.items():
        assert num in names and den in names, (num, den)
        assert row["servers"]["tritonlite"]["throughput"] > 0, row
    text = (tmp_path / "latest.md").read_text()
    assert text.startswith("# tritonlite benchmark")
    assert "## Scaling and batching (within each server)" in text
