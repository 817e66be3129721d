"""``--grpc-server``: auto picks the thread-pool server on one CPU and grpc.aio on more;
explicit choices win; anything else is refused at the command line."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tritonlite.cli import parse_options
from tritonlite.cpu_policy import available_cpus
from tritonlite.runner import grpc_thread_pool


@pytest.mark.parametrize(("shape", "cpus", "thread_pool"), [
    ("auto", 1, True), ("auto", 1.5, True), ("auto", 2, False), ("auto", 0.5, True),
    ("threaded", 8, True), ("aio", 1, False),
])
def test_choice(shape: str, cpus: float, thread_pool: bool) -> None:
    assert grpc_thread_pool(shape, cpus) is thread_pool


def test_auto_follows_this_process_cpus() -> None:
    assert grpc_thread_pool("auto") is (available_cpus() <= 1.5)


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity"), reason="CPU affinity")
def test_available_cpus_is_within_the_affinity_mask() -> None:
    assert 0 < available_cpus() <= len(os.sched_getaffinity(0))


def test_flag_default_and_validation(capsys: pytest.CaptureFixture[str]) -> None:
    assert parse_options(["--model-repository", "r"]).grpc_server == "auto"
    assert parse_options(["--model-repository", "r", "--grpc-server", "aio"]).grpc_server == "aio"
    with pytest.raises(SystemExit):
        parse_options(["--model-repository", "r", "--grpc-server", "fast"])
    assert "invalid choice: 'fast'" in capsys.readouterr().err


def _tree(tmp_path: Path, cgroup: str, files: dict[str, str]) -> tuple[str, str]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "proc").write_text(cgroup)
    root = tmp_path / "cg"
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return str(tmp_path / "proc"), str(root)


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity"), reason="CPU affinity")
def test_cgroup_quotas_cap_the_affinity(tmp_path: Path) -> None:
    mask = len(os.sched_getaffinity(0))
    # v2: the tightest of the process's cgroup and its parents
    proc, root = _tree(tmp_path, "0::/pod/app\n", {
        "pod/cpu.max": "50000 100000\n", "pod/app/cpu.max": "max 100000\n"})
    assert available_cpus(proc, root) == min(mask, 0.5)
    # v1: cpu,cpuacct controller with a CFS quota; -1 means none
    proc, root = _tree(tmp_path / "v1", "3:memory:/x\n2:cpu,cpuacct:/x\n", {
        "cpu,cpuacct/x/cpu.cfs_quota_us": "150000\n",
        "cpu,cpuacct/x/cpu.cfs_period_us": "100000\n"})
    assert available_cpus(proc, root) == min(mask, 1.5)
    proc, root = _tree(tmp_path / "none", "1:cpu:/\n0::/\n", {
        "cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n",
        "cpu.max": "max 100000\n"})
    assert available_cpus(proc, root) == mask
