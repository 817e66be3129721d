"""Helpers shared by the conformance suite: starting a server, building inputs, errors.

The suite runs against either tritonlite or the reference Triton. Everything
that depends on which server is running lives in :func:`server_command`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import tritonclient.grpc as grpcclient
from tritonclient.grpc import service_pb2_grpc
from tritonclient.utils import InferenceServerException

HERE = Path(__file__).resolve().parent
MODELS = HERE / "models"
EXPECTED = HERE / "expected"
PROJECT_ROOT = HERE.parents[1]
TARGETS = ("tritonlite", "reference")
REFERENCE_RUN = os.environ.get("TRITON_REFERENCE_RUN", "/work/shared/reference-triton/run")
TRITONLITE_PYTHON = os.environ.get("TRITONLITE_PYTHON", sys.executable)
START_TIMEOUT_S = float(os.environ.get("CONFORMANCE_START_TIMEOUT", "60"))
STOP_TIMEOUT_S = 30.0


def copy_repository(destination: Path, source: Path = MODELS) -> Path:
    """A private copy of a model repository, so servers never write into the source tree
    (the reference's stubs leave ``__pycache__`` next to every model.py)."""
    shutil.copytree(source, destination, ignore=shutil.ignore_patterns("__pycache__"))
    return destination


def free_ports(count: int) -> list[int]:
    """Distinct free TCP ports (bound together so they cannot repeat)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def server_command(
    target: str,
    repository: Path,
    grpc_port: int,
    http_port: int,
    metrics_port: int,
    extra_args: Sequence[str] = (),
) -> list[str]:
    """The command line that starts ``target`` on ``repository``."""
    if target == "tritonlite":
        head = [TRITONLITE_PYTHON, "-m", "tritonlite", "serve"]
    elif target == "reference":
        head = [REFERENCE_RUN]
    else:  # pragma: no cover - guarded by the --target choices
        raise ValueError(f"unknown target {target!r}")
    return [
        *head,
        "--model-repository",
        str(repository),
        "--grpc-port",
        str(grpc_port),
        "--http-port",
        str(http_port),
        "--metrics-port",
        str(metrics_port),
        *extra_args,
    ]


def server_env(target: str) -> dict[str, str]:
    env = dict(os.environ)
    if target == "tritonlite":
        src = str(PROJECT_ROOT / "src")
        env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("PYTHONUNBUFFERED", "1")
    # Keep __pycache__ out of the suite's model repository.
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


@dataclass
class ServerProcess:
    """A server started as a subprocess, with its output captured to ``log_path``."""

    target: str
    repository: Path
    command: list[str]
    grpc_port: int
    http_port: int
    metrics_port: int
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    _log_file: Any = field(default=None, repr=False)

    @property
    def grpc_url(self) -> str:
        return f"localhost:{self.grpc_port}"

    @property
    def http_url(self) -> str:
        return f"localhost:{self.http_port}"

    @property
    def metrics_url(self) -> str:
        return f"http://localhost:{self.metrics_port}/metrics"

    def start(self) -> ServerProcess:
        self._log_file = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            self.command,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=server_env(self.target),
            cwd=str(self.log_path.parent),
            start_new_session=True,
        )
        return self

    def log(self) -> str:
        """Everything the server has written to stdout and stderr so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_for_log(self, text: str, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log():
                return True
            time.sleep(0.05)
        return text in self.log()

    def returncode(self) -> int | None:
        assert self.proc is not None
        return self.proc.poll()

    def wait_exit(self, timeout: float) -> int | None:
        assert self.proc is not None
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def _describe(self) -> str:
        return f"{self.target} server ({' '.join(self.command)})\n--- server log ---\n{self.log()}"

    def wait_until(self, check: str = "ready", timeout: float = START_TIMEOUT_S) -> None:
        """Poll gRPC ServerReady (or ServerLive) until true; fail with the log if it dies."""
        deadline = time.monotonic() + timeout
        client = grpcclient.InferenceServerClient(self.grpc_url)
        try:
            while time.monotonic() < deadline:
                if self.returncode() is not None:
                    raise RuntimeError(
                        f"server exited with code {self.returncode()} before it was {check}: "
                        + self._describe()
                    )
                with contextlib.suppress(InferenceServerException):
                    ok = client.is_server_ready() if check == "ready" else client.is_server_live()
                    if ok:
                        return
                time.sleep(0.1)
        finally:
            client.close()
        raise RuntimeError(f"server not {check} after {timeout:.0f} s: " + self._describe())

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> int | None:
        """SIGTERM, wait ``timeout`` s, then SIGKILL the process group started for it."""
        code = None
        if self.proc is not None:
            if self.proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(self.proc.pid, signal.SIGKILL)
                    self.proc.wait(timeout=10)
            code = self.proc.returncode
            # Worker processes left behind in the server's own process group.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        return code


def launch(
    target: str,
    repository: Path,
    log_dir: Path,
    extra_args: Sequence[str] = (),
    name: str = "server",
) -> ServerProcess:
    """Start (but do not wait for) ``target`` serving ``repository`` on free ports."""
    grpc_port, http_port, metrics_port = free_ports(3)
    log_dir.mkdir(parents=True, exist_ok=True)
    command = server_command(target, repository, grpc_port, http_port, metrics_port, extra_args)
    server = ServerProcess(
        target=target,
        repository=repository,
        command=command,
        grpc_port=grpc_port,
        http_port=http_port,
        metrics_port=metrics_port,
        log_path=log_dir / f"{name}.log",
    )
    return server.start()


# --------------------------------------------------------------------------- inputs


def make_input(name: str, array: np.ndarray, datatype: str | None = None) -> grpcclient.InferInput:
    """An InferInput carrying ``array`` in raw_input_contents (what tritonclient sends)."""
    if datatype is None:
        datatype = NP_TO_TRITON[np.dtype(array.dtype)]
    tensor = grpcclient.InferInput(name, list(array.shape), datatype)
    tensor.set_data_from_numpy(array)
    return tensor


NP_TO_TRITON: dict[np.dtype[Any], str] = {
    np.dtype(np.bool_): "BOOL",
    np.dtype(np.uint8): "UINT8",
    np.dtype(np.uint16): "UINT16",
    np.dtype(np.uint32): "UINT32",
    np.dtype(np.uint64): "UINT64",
    np.dtype(np.int8): "INT8",
    np.dtype(np.int16): "INT16",
    np.dtype(np.int32): "INT32",
    np.dtype(np.int64): "INT64",
    np.dtype(np.float16): "FP16",
    np.dtype(np.float32): "FP32",
    np.dtype(np.float64): "FP64",
    np.dtype(object): "BYTES",
}


def seq_input(value: int, batched: bool = False) -> list[grpcclient.InferInput]:
    shape = (1, 1) if batched else (1,)
    return [make_input("INPUT", np.full(shape, value, dtype=np.int32))]


def first(result: grpcclient.InferResult, name: str) -> Any:
    """The first element of output ``name`` (bytes decoded to str)."""
    value = result.as_numpy(name).reshape(-1)[0]
    return value.decode("utf-8") if isinstance(value, bytes) else value.item()


# --------------------------------------------------------------------------- errors


def status_name(error: InferenceServerException) -> str:
    """``StatusCode.INVALID_ARGUMENT`` -> ``INVALID_ARGUMENT``."""
    return str(error.status()).removeprefix("StatusCode.")


def expect_error(call: Callable[..., Any], *args: Any, **kwargs: Any) -> InferenceServerException:
    try:
        call(*args, **kwargs)
    except InferenceServerException as error:
        return error
    raise AssertionError(f"{getattr(call, '__name__', call)} succeeded; an error was expected")


def raw_stub(url: str) -> tuple[grpc.Channel, service_pb2_grpc.GRPCInferenceServiceStub]:
    channel = grpc.insecure_channel(url)
    return channel, service_pb2_grpc.GRPCInferenceServiceStub(channel)


def expect_rpc_error(call: Callable[..., Any], request: Any, timeout: float = 30) -> grpc.RpcError:
    try:
        call(request, timeout=timeout)
    except grpc.RpcError as error:
        return error
    raise AssertionError("the RPC succeeded; an error was expected")
