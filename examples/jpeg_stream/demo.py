"""The main job in one command: serve the example repository and stream the sample video.

Starts ``tritonlite serve`` on ``examples/jpeg_stream/models`` (free ports), streams the
bundled sample video through ``jpg_model`` with ``tritonlite-stream`` — once with one
unary call per frame (the classic client) and once over the bidirectional gRPC stream with
8 frames in flight — prints frames, fps and latency for each, then stops the server.

    python examples/jpeg_stream/demo.py [--video PATH] [--max-frames N] [--display]
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import subprocess
import sys
import time
from pathlib import Path

import tritonclient.grpc as grpcclient

from tritonlite.client.video import main as stream_main

HERE = Path(__file__).resolve().parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 120.0) -> None:
    client = grpcclient.InferenceServerClient(url)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"tritonlite exited with code {proc.returncode} during start-up")
        with contextlib.suppress(Exception):
            if client.is_server_ready():
                return
        time.sleep(0.1)
    raise SystemExit("tritonlite did not become ready in time")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--video", help="video file or camera index (default: the bundled sample)")
    p.add_argument("--max-frames", type=int, help="stop after N frames")
    p.add_argument("--display", action="store_true", help="show the processed frames")
    args = p.parse_args(argv)
    grpc_port, http_port, metrics_port = _free_port(), _free_port(), _free_port()
    server = subprocess.Popen([
        sys.executable, "-m", "tritonlite", "serve",
        "--model-repository", str(HERE / "models"),
        "--grpc-port", str(grpc_port), "--http-port", str(http_port),
        "--metrics-port", str(metrics_port),
    ])
    url = f"localhost:{grpc_port}"
    try:
        _wait_ready(url, server)
        common = ["--url", url]
        if args.video:
            common += ["--video", args.video]
        if args.max_frames:
            common += ["--max-frames", str(args.max_frames)]
        if args.display:
            common.append("--display")
        print("\n== unary: one ModelInfer per frame ==", flush=True)
        rc = stream_main([*common, "--mode", "unary"])
        if rc == 0:
            print("\n== stream: ModelStreamInfer, 8 frames in flight ==", flush=True)
            rc = stream_main([*common, "--mode", "stream", "--inflight", "8"])
        return rc
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()


if __name__ == "__main__":
    sys.exit(main())
