"""The seed example end to end: tritonlite serving examples/jpeg_stream, driven by the
example client (both modes, 240 frames) and by the official tritonclient."""

from __future__ import annotations

import asyncio
import base64
import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.grpc.aio as grpcaio

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "examples" / "jpeg_stream" / "sample.mp4"


def _frames(path: Path) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    out = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        out.append(frame)
    cap.release()
    return out


@pytest.mark.parametrize("mode", ["unary", "stream"])
def test_example_client_streams_the_sample_video(example_server, tmp_path: Path,
                                                 mode: str) -> None:
    out_video = tmp_path / f"{mode}.mp4"
    proc = subprocess.run(
        [sys.executable, "-m", "tritonlite.client.video", "--url", example_server.grpc_url,
         "--mode", mode, "--inflight", "8", "--output", str(out_video), "--quiet"],
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    text = proc.stdout + proc.stderr
    assert re.search(r"frames: 240\b", text), text
    for label in ("fps:", "p50", "p95", "p99"):
        assert label in text, text
    frames = _frames(out_video)
    assert len(frames) == 240
    assert all(f.shape == (480, 640, 3) for f in frames)
    # The model re-encodes each JPEG: the output must still look like the input frame.
    source = _frames(SAMPLE)
    diff = np.abs(frames[100].astype(int) - source[100].astype(int)).mean()
    assert diff < 12, diff
    log = example_server.log()
    assert re.search(r'"Stream \d+ started"', log) and re.search(r'"Stream \d+ stopped"', log)


def test_demo_script_runs_the_main_job() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "jpeg_stream" / "demo.py"), "--max-frames",
         "40"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("fps:") == 2, proc.stdout


def _jpeg_b64(i: int) -> bytes:
    img = np.full((48, 64, 3), i % 255, np.uint8)
    ok, buf = cv2.imencode(".jpg", img)
    assert ok
    return base64.b64encode(buf.tobytes())


def _image(data: bytes) -> grpcclient.InferInput:
    t = grpcclient.InferInput("image", [1], "BYTES")
    t.set_data_from_numpy(np.array([data], dtype=np.object_))
    return t


def test_tritonclient_sequence_raw_and_contents(example_server) -> None:
    client = grpcclient.InferenceServerClient(example_server.grpc_url)
    start = client.infer("jpg_model", [_image(b"")], sequence_id=77, sequence_start=True)
    assert start.as_numpy("output_image") is None  # empty response on START
    for i in range(5):
        r = client.infer("jpg_model", [_image(_jpeg_b64(i))], sequence_id=77)
        (out,) = r.as_numpy("output_image")
        img = cv2.imdecode(np.frombuffer(base64.b64decode(out), np.uint8), cv2.IMREAD_COLOR)
        assert img.shape == (48, 64, 3)
    client.infer("jpg_model", [_image(b"")], sequence_id=77, sequence_end=True)
    with pytest.raises(Exception, match="must specify the START flag"):
        client.infer("jpg_model", [_image(_jpeg_b64(0))], sequence_id=77)
    with pytest.raises(Exception, match="non-zero or non-empty correlation ID"):
        client.infer("jpg_model", [_image(_jpeg_b64(0))])


def test_two_streams_share_one_slot_in_order(example_server) -> None:
    """One instance, max_batch_size 0: one slot. The second sequence waits in the backlog
    until the first ENDs, then proceeds; both complete correctly."""

    async def run() -> list[str]:
        client = grpcaio.InferenceServerClient(example_server.grpc_url)
        events: list[str] = []

        async def stream(cid: int, delay: float) -> None:
            await asyncio.sleep(delay)
            await client.infer("jpg_model", [_image(b"")], sequence_id=cid, sequence_start=True)
            events.append(f"{cid} started")
            for i in range(3):
                await client.infer("jpg_model", [_image(_jpeg_b64(i))], sequence_id=cid)
            await asyncio.sleep(0.3)
            await client.infer("jpg_model", [_image(b"")], sequence_id=cid, sequence_end=True)
            events.append(f"{cid} ended")

        await asyncio.gather(stream(501, 0), stream(502, 0.1))
        await client.close()
        return events

    assert asyncio.run(run()) == ["501 started", "501 ended", "502 started", "502 ended"]
