"""``--grpc-server``: auto picks the thread-pool server on one CPU and grpc.aio on more;
explicit choices win; anything else is refused at the command line."""

from __future__ import annotations

import os

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
