"""Conformance suite fixtures: one shared server of the chosen target, plus extra servers.

Choose the target with ``--target=tritonlite|reference`` or the environment
variable ``TRITONLITE_TARGET`` (default ``tritonlite``). Tests marked
``tritonlite_only`` (deliberate, documented differences) are skipped against
the reference; every other test gets the ``reference_ok`` marker.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import grpc
import pytest
import tritonclient.grpc as grpcclient
from conformance_utils import TARGETS, ServerProcess, copy_repository, launch, raw_stub
from tritonclient.grpc import service_pb2_grpc

HERE = Path(__file__).resolve().parent


def pytest_addoption(parser: pytest.Parser) -> None:
    # Registered only when this conftest is an initial one (pytest tests/conformance ...);
    # TRITONLITE_TARGET works in every case.
    with contextlib.suppress(ValueError):
        parser.addoption(
            "--target",
            choices=TARGETS,
            default=None,
            help="server the conformance suite runs against (env TRITONLITE_TARGET; "
            "default tritonlite)",
        )


def _target(config: pytest.Config) -> str:
    chosen = config.getoption("--target", default=None) or os.environ.get(
        "TRITONLITE_TARGET", "tritonlite"
    )
    if chosen not in TARGETS:
        raise pytest.UsageError(f"unknown conformance target {chosen!r}; use one of {TARGETS}")
    return chosen


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    target = _target(config)
    for item in items:
        if HERE not in Path(str(item.path)).resolve().parents:
            continue
        marker = item.get_closest_marker("tritonlite_only")
        if marker is None:
            item.add_marker(pytest.mark.reference_ok)
        elif target == "reference":
            reason = marker.kwargs.get("reason") or (marker.args[0] if marker.args else "")
            item.add_marker(
                pytest.mark.skip(
                    reason=f"tritonlite_only (deliberate difference from Triton): {reason}"
                )
            )


def pytest_report_header(config: pytest.Config) -> str:
    return f"conformance target: {_target(config)}"


@pytest.fixture(scope="session")
def target(pytestconfig: pytest.Config) -> str:
    return _target(pytestconfig)


@pytest.fixture(scope="session")
def server(target: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """The shared server of the chosen target, serving a copy of ``tests/conformance/models``.

    Has ``grpc_url``, ``http_url``, ``metrics_url``, ``target``, ``repository`` (the copy
    it serves) and ``log()``.
    """
    work = tmp_path_factory.mktemp("conformance-server")
    repository = copy_repository(work / "models")
    proc = launch(target, repository, work, name=target)
    try:
        try:
            proc.wait_until("ready")
        except RuntimeError as error:
            pytest.fail(str(error), pytrace=False)
        yield proc
    finally:
        proc.stop()


ServerFactory = Callable[..., ServerProcess]


@pytest.fixture
def server_factory(target: str, tmp_path: Path) -> Iterator[ServerFactory]:
    """Start an extra server of the chosen target on another repository.

    ``factory(repository, extra_args=(), wait="ready"|"live"|None, stop_timeout=30)``;
    the servers are stopped (SIGTERM, then SIGKILL after ``stop_timeout`` s) when the
    test ends.
    """
    started: list[tuple[ServerProcess, float]] = []

    def factory(
        repository: Path,
        extra_args: Sequence[str] = (),
        wait: str | None = "ready",
        stop_timeout: float = 30.0,
    ) -> ServerProcess:
        proc = launch(
            target, repository, tmp_path / "logs", extra_args, name=f"extra{len(started)}"
        )
        started.append((proc, stop_timeout))
        if wait is not None:
            try:
                proc.wait_until(wait)
            except RuntimeError as error:
                pytest.fail(str(error), pytrace=False)
        return proc

    try:
        yield factory
    finally:
        for proc, stop_timeout in started:
            proc.stop(stop_timeout)


@pytest.fixture(scope="session")
def client(server: ServerProcess) -> Iterator[grpcclient.InferenceServerClient]:
    """A sync tritonclient.grpc client of the shared server."""
    triton = grpcclient.InferenceServerClient(server.grpc_url)
    try:
        yield triton
    finally:
        triton.close()


@pytest.fixture(scope="session")
def stub(server: ServerProcess) -> Iterator[service_pb2_grpc.GRPCInferenceServiceStub]:
    """A raw GRPCInferenceService stub of the shared server."""
    channel, raw = raw_stub(server.grpc_url)
    try:
        yield raw
    finally:
        channel.close()


@pytest.fixture(scope="session")
def channel(server: ServerProcess) -> Iterator[grpc.Channel]:
    chan = grpc.insecure_channel(server.grpc_url)
    try:
        yield chan
    finally:
        chan.close()
