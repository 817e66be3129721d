"""The jpeg_stream example end to end on the reference Triton: model, CLI, sample video.

Runs only with ``TRITONLITE_TARGET=reference``. Starts the reference server
(``$TRITON_REFERENCE_RUN``, default ``/work/shared/reference-triton/run``, through the
conformance suite's launcher) on
``examples/jpeg_stream/models`` and drives ``tritonlite-stream`` against it as a user would.
"""

from __future__ import annotations

import base64
import os
import queue
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from conformance_utils import REFERENCE_RUN, ServerProcess, launch

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "jpeg_stream"
SAMPLE = EXAMPLE / "sample.mp4"

pytestmark = [
    pytest.mark.skipif(
        os.environ.get("TRITONLITE_TARGET") != "reference",
        reason="set TRITONLITE_TARGET=reference to run against the reference Triton",
    ),
    pytest.mark.timeout(300),
]


# -- a reference server, as a subprocess --------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    if not Path(REFERENCE_RUN).is_file():
        pytest.skip(f"no reference Triton at {REFERENCE_RUN}")
    running = launch("reference", EXAMPLE / "models", tmp_path_factory.mktemp("reference"))
    try:
        running.wait_until("ready")
        yield running
    finally:
        running.stop()


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
    server: ServerProcess, tmp_path: Path, mode: str, sequence_id: str
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


def test_cli_progress_bar_and_default_video(server: ServerProcess) -> None:
    result = run_cli("--url", server.grpc_url, "--max-frames", "30")
    assert result.returncode == 0, result.stderr
    assert "30/30" in result.stderr
    assert SUMMARY.search(result.stdout), result.stdout


def test_cli_missing_model_exits_5(server: ServerProcess) -> None:
    result = run_cli("--url", server.grpc_url, "--model", "no_such_model", "--quiet")
    assert result.returncode == 5, result.stderr
    assert "Request for unknown model: 'no_such_model' is not found" in result.stderr


def test_cli_unreadable_video_exits_3(server: ServerProcess, tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00" * 1000)
    result = run_cli("--url", server.grpc_url, "--video", str(junk), "--quiet")
    assert result.returncode == 3, result.stderr


def test_stream_answers_arrive_in_order_and_controls_are_empty(server: ServerProcess) -> None:
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
