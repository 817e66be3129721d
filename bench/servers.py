"""The servers under test: start one pinned to cores, wait until ready, read its CPU time.

Every server runs in its own session (process group) with stdout+stderr in a log file, and
is stopped with SIGTERM then SIGKILL of that group. CPU time is ``utime + stime`` of the
server process and of every live descendant (tritonlite's model workers, Triton's Python
stubs), read from ``/proc`` through psutil.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import psutil
from tritonclient.grpc import service_pb2, service_pb2_grpc

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
MODELS = BENCH / "models"
REFERENCE_RUN = Path(os.environ.get("TRITON_REFERENCE_RUN", "/work/shared/reference-triton/run"))

#: Display names, in report order.
LABELS = {"tritonlite": "tritonlite", "reference": "Triton 2.51", "echo": "echo ceiling"}


_GIVEN: set[int] = set()  # ports handed out by this process (servers bind them later)


def free_ports(count: int) -> list[int]:
    """Distinct free TCP ports, none handed out before by this process (the servers bind
    them only once started, so a later call could otherwise get one again)."""
    out: list[int] = []
    while len(out) < count:
        sockets = [socket.socket() for _ in range(count - len(out))]
        try:
            for sock in sockets:
                sock.bind(("127.0.0.1", 0))
            ports = [int(sock.getsockname()[1]) for sock in sockets]
        finally:
            for sock in sockets:
                sock.close()
        out += [p for p in ports if p not in _GIVEN]
        _GIVEN.update(ports)
    return out


@dataclass
class Server:
    """A running server process: its ports, its pid, its log."""

    name: str  # "tritonlite" | "reference" | "echo"
    command: list[str]
    log_path: Path
    grpc_port: int
    http_port: int
    env: dict[str, str] | None = None
    proc: subprocess.Popen[bytes] | None = None
    http_ok: bool | None = None  # None: not probed yet
    _procs: dict[int, psutil.Process] = field(default_factory=dict)

    @property
    def grpc_url(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "wb")  # noqa: SIM115 - owned by the child from here on
        try:
            self.proc = subprocess.Popen(
                self.command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=self.env, start_new_session=True, cwd=str(ROOT),
            )
        finally:
            log.close()

    def wait_ready(self, timeout: float = 180.0) -> None:
        """Poll gRPC ServerReady until true; raise with the log's tail if the process dies."""
        deadline = time.monotonic() + timeout
        channel = grpc.insecure_channel(self.grpc_url)
        stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
        try:
            while True:
                if self.proc is not None and self.proc.poll() is not None:
                    raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n"
                                       f"{self.log_tail()}")
                with contextlib.suppress(grpc.RpcError):
                    if stub.ServerReady(service_pb2.ServerReadyRequest(), timeout=1).ready:
                        return
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{self.name} not ready after {timeout:.0f} s:\n"
                                       f"{self.log_tail()}")
                time.sleep(0.2)
        finally:
            channel.close()

    def probe_http(self) -> bool:
        """True if GET /v2/health/ready answers 200 (cached)."""
        if self.http_ok is None:
            url = f"http://127.0.0.1:{self.http_port}/v2/health/ready"
            try:
                with urllib.request.urlopen(url, timeout=3) as reply:
                    self.http_ok = reply.status == 200
            except (OSError, urllib.error.URLError):
                self.http_ok = False
        return self.http_ok

    def cpu_seconds(self) -> float:
        """User+system CPU seconds of the server and its live descendants so far."""
        assert self.proc is not None
        try:
            root = self._procs.get(self.pid) or psutil.Process(self.pid)
            self._procs[self.pid] = root
            tree = [root, *root.children(recursive=True)]
        except psutil.Error:
            return float("nan")
        total = 0.0
        for proc in tree:
            # Reuse Process objects so psutil's pid-reuse check stays cheap.
            proc = self._procs.setdefault(proc.pid, proc)
            with contextlib.suppress(psutil.Error):
                times = proc.cpu_times()
                total += times.user + times.system
        return total

    def process_count(self) -> int:
        try:
            return 1 + len(psutil.Process(self.pid).children(recursive=True))
        except psutil.Error:
            return 0

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return "\n".join(text[-lines:])

    def stop(self, timeout: float = 20.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)
        # Workers that outlived their parent (they share its process group).
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)


def _pin(cmd: list[str], cores: set[int] | None) -> list[str]:
    if cores is None:
        return cmd
    taskset = shutil.which("taskset")
    if taskset is None:
        raise RuntimeError("taskset not found; run with --no-pin")
    return [taskset, "-c", ",".join(map(str, sorted(cores))), *cmd]


def make_server(name: str, logs: Path, cores: set[int] | None,
                models: Path = MODELS, log_name: str | None = None) -> Server:
    grpc_port, http_port, metrics_port = free_ports(3)
    ports = ["--grpc-port", str(grpc_port), "--http-port", str(http_port),
             "--metrics-port", str(metrics_port)]
    env = None
    if name == "tritonlite":
        exe = Path(sys.executable).with_name("tritonlite")
        base = [str(exe), "serve"] if exe.exists() else [sys.executable, "-m", "tritonlite",
                                                         "serve"]
        # Extra tritonlite flags for experiments, e.g. TRITONLITE_BENCH_ARGS="--grpc-server aio"
        extra = shlex.split(os.environ.get("TRITONLITE_BENCH_ARGS", ""))
        cmd = [*base, "--model-repository", str(models), *ports, *extra]
    elif name == "reference":
        if not REFERENCE_RUN.exists():
            raise RuntimeError(f"reference launcher not found: {REFERENCE_RUN}")
        cmd = [str(REFERENCE_RUN), "--model-repository", str(models), *ports]
    elif name == "echo":
        cmd = [sys.executable, str(BENCH / "echo.py"), "--grpc-port", str(grpc_port),
               "--http-port", str(http_port)]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
    else:
        raise ValueError(f"unknown server {name!r}")
    return Server(name, _pin(cmd, cores), logs / f"{log_name or name}.log", grpc_port,
                  http_port, env=env)
