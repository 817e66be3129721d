"""The jpeg_stream example end to end on the reference Triton: model, CLI, sample video.

Runs only with ``TRITONLITE_TARGET=reference``. Starts the reference server
(``../shared/reference-triton/run`` beside the repository, or ``$REFERENCE_TRITON_RUN``) on
``examples/jpeg_stream/models`` and drives ``tritonlite-stream`` against it as a user would.
"""

from __future__ import annotations

import base64
import contextlib
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest
import tritonclient.grpc as grpcclient

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "jpeg_stream"
SAMPLE = EXAMPLE / "sample.mp4"
REFERENCE_RUN = Path(
    os.environ.get("REFERENCE_TRITON_RUN", REPO.parent / "shared" / "reference-triton" / "run")
)

pytestmark = [
    pytest.mark.skipif(
        os.environ.get("TRITONLITE_TARGET") != "reference",
        reason="set TRITONLITE_TARGET=reference to run against the reference Triton",
    ),
    pytest.mark.timeout(300),
]


# -- a reference server, as a subprocess --------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RunningServer:
    process: subprocess.Popen[bytes]
    grpc_url: str
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_server(command: list[str], repository: Path, log_path: Path) -> RunningServer:
    """Start a Triton-compatible server and wait until it is ready over gRPC."""
    http, grpc, metrics = _free_port(), _free_port(), _free_port()
    argv = [
        *command,
        "--model-repository",
        str(repository),
        "--http-port",
        str(http),
        "--grpc-port",
        str(grpc),
        "--metrics-port",
        str(metrics),
    ]
    with log_path.open("wb") as log:
        # A session of its own, so the server and its model stubs can be stopped together.
        process = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = RunningServer(process, f"localhost:{grpc}", log_path)
    client = grpcclient.InferenceServerClient(server.grpc_url)
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"server exited with {process.returncode}:\n{server.log()}")
            try:
                if client.is_server_ready(client_timeout=2):
                    return server
            except Exception:
                pass
            time.sleep(0.25)
        stop_server(server)
        raise RuntimeError(f"server not ready after 120 s:\n{server.log()[-4000:]}")
    finally:
        client.close()


def stop_server(server: RunningServer) -> None:
    """SIGTERM, then SIGKILL the whole session if it does not stop in time."""
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.process.wait(timeout=30)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.process.pid, signal.SIGKILL)  # stray model stubs, if any
    server.process.wait(timeout=10)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    if not REFERENCE_RUN.is_file():
        pytest.skip(f"no reference Triton at {REFERENCE_RUN}")
    log_path = tmp_path_factory.mktemp("reference") / "server.log"
    running = start_server([str(REFERENCE_RUN)], EXAMPLE / "models", log_path)
    try:
        yield running
    finally:
        stop_server(running)


# -- the client CLI ------------------------------------------------------------------------


def run_cli(*args: str, script: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO / "src"), env.get("PYTHONPATH")]))
    entry = [str(script)] if script else ["-m", "tritonlite.client.video"]
    return subprocess.run(
        [sys.executable, *entry, *args], env=env, capture_output=True, text=True, timeout=240
    )


def read_video(path: Path) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    return frames


SUMMARY = re.compile(
    r"frames: (?P<frames>\d+) .*fps: (?P<fps>[\d.]+).*\n"
    r"latency: p50 (?P<p50>[\d.]+) ms  p95 (?P<p95>[\d.]+) ms  p99 (?P<p99>[\d.]+) ms"
)


@pytest.mark.parametrize(
    ("mode", "sequence_id"), [("stream", "4242"), ("unary", "cam-unary"), ("stream", "cam-str")]
)
def test_cli_streams_the_sample_video(
    server: RunningServer, tmp_path: Path, mode: str, sequence_id: str
) -> None:
    out = tmp_path / "out.mp4"
    script = EXAMPLE / "client.py" if sequence_id == "cam-str" else None
    result = run_cli(
        "--url",
        server.grpc_url,
        "--video",
        str(SAMPLE),
        "--mode",
        mode,
        "--inflight",
        "8",
        "--sequence-id",
        sequence_id,
        "--output",
        str(out),
        "--quiet",
        script=script,
    )
    assert result.returncode == 0, result.stderr
    match = SUMMARY.search(result.stdout)
    assert match, result.stdout
    assert int(match["frames"]) == 240
    assert float(match["fps"]) > 0
    assert 0 < float(match["p50"]) <= float(match["p95"]) <= float(match["p99"])
    assert "non-empty response" not in result.stderr  # START and END were answered empty

    frames = read_video(out)
    assert len(frames) == 240
    assert {frame.shape for frame in frames} == {(480, 640, 3)}
    # Re-encoding is lossy but close: compare with the input video.
    original = read_video(SAMPLE)
    diff = np.abs(frames[100].astype(int) - original[100].astype(int)).mean()
    assert diff < 12

    log = server.log()
    assert f"Stream {sequence_id} started" in log
    assert f"Stream {sequence_id} stopped" in log


def test_cli_progress_bar_and_default_video(server: RunningServer) -> None:
    result = run_cli("--url", server.grpc_url, "--max-frames", "30")
    assert result.returncode == 0, result.stderr
    assert "30/30" in result.stderr
    assert SUMMARY.search(result.stdout), result.stdout


def test_cli_missing_model_exits_5(server: RunningServer) -> None:
    result = run_cli("--url", server.grpc_url, "--model", "no_such_model", "--quiet")
    assert result.returncode == 5, result.stderr
    assert "Request for unknown model: 'no_such_model' is not found" in result.stderr


def test_cli_unreadable_video_exits_3(server: RunningServer, tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00" * 1000)
    result = run_cli("--url", server.grpc_url, "--video", str(junk), "--quiet")
    assert result.returncode == 3, result.stderr


def test_stream_answers_arrive_in_order_and_controls_are_empty(server: RunningServer) -> None:
    """What the client relies on, asked of the server directly with 8 requests in flight."""
    frames = [
        base64.b64encode(cv2.imencode(".jpg", frame)[1].tobytes())
        for frame in read_video(SAMPLE)[:200]
    ]

    def image(data: bytes) -> grpcclient.InferInput:
        infer_input = grpcclient.InferInput("image", [1], "BYTES")
        infer_input.set_data_from_numpy(np.array([data], dtype=np.object_))
        return infer_input

    answers: queue.SimpleQueue[tuple[str | None, int, str | None]] = queue.SimpleQueue()

    def on_response(result, error) -> None:
        if error is not None:
            answers.put((None, 0, error.message()))
        else:
            response = result.get_response()
            answers.put((response.id, len(response.outputs), None))

    client = grpcclient.InferenceServerClient(server.grpc_url)
    client.start_stream(callback=on_response)
    received: list[tuple[str | None, int, str | None]] = []
    try:
        send = client.async_stream_infer
        send("jpg_model", [image(b"")], request_id="start", sequence_id=77, sequence_start=True)
        for index, frame in enumerate(frames):
            while index - (len(received) - 1) >= 8:  # keep 8 frames in flight
                received.append(answers.get(timeout=30))
            send("jpg_model", [image(frame)], request_id=str(index), sequence_id=77)
        send("jpg_model", [image(b"")], request_id="end", sequence_id=77, sequence_end=True)
        while len(received) < len(frames) + 2:
            received.append(answers.get(timeout=30))
    finally:
        client.stop_stream()
        client.close()
    assert [r[2] for r in received if r[2]] == []
    assert [r[0] for r in received] == ["start", *map(str, range(len(frames))), "end"]
    assert received[0][1] == 0 and received[-1][1] == 0  # START and END: no outputs
    assert {r[1] for r in received[1:-1]} == {1}
