"""End-to-end fixtures: ``tritonlite serve`` as a real process on free ports.

Reuses the conformance suite's process launcher (``tests/conformance/conformance_utils``).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "conformance"))

from conformance_utils import ServerProcess, launch  # noqa: E402

EXAMPLE_MODELS = ROOT / "examples" / "jpeg_stream" / "models"

ServerFactory = Callable[..., ServerProcess]


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[ServerFactory]:
    """Start tritonlite on ``repository`` with extra flags; stopped after the test."""
    started: list[ServerProcess] = []

    def start(repository: Path, extra_args: Sequence[str] = (), wait: str = "ready",
              ) -> ServerProcess:
        server = launch("tritonlite", repository, tmp_path / "logs", extra_args,
                        name=f"server{len(started)}")
        started.append(server)
        if wait != "none":
            server.wait_until(wait)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="module")
def example_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """tritonlite serving the example's model repository, unchanged."""
    server = launch("tritonlite", EXAMPLE_MODELS, tmp_path_factory.mktemp("example-logs"),
                    name="example")
    server.wait_until("ready")
    yield server
    server.stop()
