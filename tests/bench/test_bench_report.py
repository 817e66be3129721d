"""The benchmark report's goal summary: the issue's workloads apart from the extra ones,
with every row that missed named."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench import report

X = report.TIMES  # the ratio sign


def _row(name: str, group: str, throughput: float, p99: float) -> dict:
    return {"name": name, "group": group, "meets_goal": throughput >= 1 and p99 <= 1,
            "ratio": {"throughput": throughput, "p99": p99}}


def test_goal_lines_count_issue_and_extra_workloads_apart() -> None:
    lines = report._goal_lines({"workloads": [
        _row("small_grpc_c1", "3 tiny identity", 1.2, 0.8),
        _row("large_http_c4", "4 4 MiB identity", 0.99, 0.5),
        _row("batch_busy_dyn_c16", "8 dynamic batching", 1.1, 1.2),
        _row("scale_busy_x2_c8", "9 instance scaling with work", 1.1, 0.9),
        {"name": "echo_only", "group": "3 tiny identity"},  # no reference: no goal
    ]})
    assert lines == [
        "- Goal met on 1 of the 2 workloads the issue names (groups 1-7); missed: "
        f"`large_http_c4` (throughput 0.99{X}, p99 0.50{X}).",
        "- Goal met on 1 of the 2 extra workloads (added after it); missed: "
        f"`batch_busy_dyn_c16` (throughput 1.10{X}, p99 1.20{X}).",
        "",
    ]


def test_no_goal_lines_without_ratios() -> None:
    assert report._goal_lines({"workloads": [{"name": "x", "group": "3 tiny"}]}) == []
