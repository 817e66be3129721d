"""``tritonlite-stream``: stream a video through a sequence model, frame by frame.

Each frame is read with OpenCV, JPEG-encoded, base64-encoded and sent as one request of
one sequence (START first, END last) to a Triton-compatible server over gRPC; each
answer is decoded back to an image to check it. Prints frames, fps and latency
percentiles at the end. Works with the ``jpg_model`` of ``examples/jpeg_stream``.

OpenCV and tqdm are imported only when the command runs (``pip install tritonlite[video]``).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import sys
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tritonlite.client.errors import (
    ClientError,
    InferenceError,
    ModelUnavailableError,
    ResponseTimeoutError,
    ServerUnreachableError,
    StreamClosedError,
)
from tritonlite.client.latency import LatencySummary
from tritonlite.client.sequence import SequenceClient, parse_sequence_id

__all__ = [
    "EXIT_CODES",
    "EXIT_INFERENCE",
    "EXIT_INTERRUPTED",
    "EXIT_MODEL",
    "EXIT_OK",
    "EXIT_TIMEOUT",
    "EXIT_UNREACHABLE",
    "EXIT_USAGE",
    "EXIT_VIDEO",
    "build_parser",
    "main",
]

PROG = "tritonlite-stream"

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_VIDEO = 3
EXIT_UNREACHABLE = 4
EXIT_MODEL = 5
EXIT_INFERENCE = 6
EXIT_TIMEOUT = 7
EXIT_INTERRUPTED = 130

EXIT_CODES: dict[int, str] = {
    EXIT_OK: "success",
    EXIT_FAILURE: "unexpected error (e.g. OpenCV or tqdm not installed)",
    EXIT_USAGE: "bad command-line arguments",
    EXIT_VIDEO: "the video (or camera) cannot be opened, or --output cannot be written",
    EXIT_UNREACHABLE: "no server answers at --url, or the connection was lost",
    EXIT_MODEL: "the model is missing from the server or not ready",
    EXIT_INFERENCE: "the server returned an error for a frame, the stream broke, "
    "or a returned image does not decode",
    EXIT_TIMEOUT: "no response within --timeout seconds",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C)",
}


class VideoError(Exception):
    """The input video cannot be opened, or the output video cannot be written."""


class OutputError(ClientError):
    """A returned frame is not a base64 JPEG of the sent frame's size."""


# -- arguments --------------------------------------------------------------------------


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def _jpeg_quality(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 100:
        raise argparse.ArgumentTypeError(f"must be within 1..100, got {value}")
    return value


def _sequence_id(text: str) -> int | str:
    try:
        return parse_sequence_id(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``tritonlite-stream``."""
    codes = "\n".join(f"  {code:<4} {text}" for code, text in EXIT_CODES.items())
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Stream a video through a sequence model on a Triton-compatible server "
        "(gRPC): one sequence, START first, one request per frame, END last.",
        epilog=f"exit codes:\n{codes}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--url", default="localhost:8001", help="gRPC host:port (%(default)s)")
    parser.add_argument("--model", default="jpg_model", help="model name (%(default)s)")
    parser.add_argument(
        "--video",
        default=None,
        metavar="PATH|CAMERA_INDEX",
        help="video file, or camera index such as 0 (default: the example's sample video, "
        "generated on first use)",
    )
    parser.add_argument(
        "--mode",
        choices=("unary", "stream"),
        default="stream",
        help="unary: one blocking ModelInfer per frame; stream: one bidirectional "
        "ModelStreamInfer stream with --inflight frames in flight (%(default)s)",
    )
    parser.add_argument(
        "--inflight",
        type=_positive_int,
        default=8,
        metavar="N",
        help="stream mode: frames sent but not yet answered (%(default)s)",
    )
    parser.add_argument(
        "--sequence-id",
        type=_sequence_id,
        default=None,
        metavar="ID",
        help="correlation id: an int or a string (default: a random non-zero int)",
    )
    parser.add_argument(
        "--display", action="store_true", help="show the returned frames (press q to stop)"
    )
    parser.add_argument("--output", metavar="OUT.mp4", help="write the returned frames here")
    parser.add_argument(
        "--max-frames", type=_positive_int, default=None, metavar="N", help="stop after N frames"
    )
    parser.add_argument(
        "--jpeg-quality",
        type=_jpeg_quality,
        default=90,
        metavar="Q",
        help="JPEG quality of the sent frames, 1..100 (%(default)s)",
    )
    parser.add_argument(
        "--timeout",
        type=_positive_float,
        default=60.0,
        metavar="SECONDS",
        help="longest wait for any one response (%(default)s)",
    )
    parser.add_argument("--input-name", default="image", help="model input (%(default)s)")
    parser.add_argument("--output-name", default="output_image", help="model output (%(default)s)")
    parser.add_argument(
        "--quiet",
        action="store_true",
        help="no progress bar or notes; the final summary is still printed",
    )
    return parser


# -- video I/O --------------------------------------------------------------------------


def _import_cv2() -> Any:
    try:
        import cv2
    except ImportError as exc:
        raise ImportError(f"{PROG} needs OpenCV: pip install 'tritonlite[video]' ({exc})") from exc
    return cv2


def _video_source(spec: str | None, *, quiet: bool) -> str | int:
    """A path or camera index for ``cv2.VideoCapture``."""
    if spec is None:
        from tritonlite.client.sample_video import bundled_sample_path

        existing = bundled_sample_path(generate=False)
        if not existing.is_file() and not quiet:
            print(f"{PROG}: generating the sample video ...", file=sys.stderr)
        return str(bundled_sample_path())
    if spec.isdigit() and not Path(spec).exists():
        return int(spec)
    return spec


def open_video(cv2: Any, source: str | int) -> Any:
    """An opened ``cv2.VideoCapture`` that yields at least one frame; VideoError if not."""
    if isinstance(source, str) and not Path(source).is_file():
        raise VideoError(f"cannot open video {source!r}: no such file")
    capture = cv2.VideoCapture(source)
    if not capture.isOpened():
        capture.release()
        raise VideoError(f"cannot open video {source!r}")
    return capture


def _read_frames(capture: Any, max_frames: int | None) -> Iterator[np.ndarray]:
    count = 0
    while max_frames is None or count < max_frames:
        ok, frame = capture.read()
        if not ok or frame is None:
            return
        count += 1
        yield frame


def _encode_frame(cv2: Any, frame: np.ndarray, quality: int) -> bytes:
    ok, buffer = cv2.imencode(".jpg", frame, [int(cv2.IMWRITE_JPEG_QUALITY), quality])
    if not ok:
        raise VideoError("cv2.imencode could not encode a frame as JPEG")
    return base64.b64encode(buffer.tobytes())


def _decode_frame(cv2: Any, data: Any, index: int, expected: tuple[int, ...]) -> np.ndarray:
    if isinstance(data, str):
        data = data.encode("ascii", errors="replace")
    try:
        raw = base64.b64decode(bytes(data), validate=True)
    except (binascii.Error, TypeError, ValueError) as exc:
        raise OutputError(f"frame {index}: the returned image is not base64: {exc}") from exc
    image: np.ndarray | None = cv2.imdecode(np.frombuffer(raw, dtype=np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise OutputError(f"frame {index}: the returned image does not decode as JPEG")
    if image.shape != expected:
        raise OutputError(f"frame {index}: returned {image.shape}, sent {expected}")
    return image


# -- the run ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RunReport:
    """What one run measured."""

    frames: int
    elapsed_s: float
    latency: LatencySummary
    sequence_id: int | str
    empty_control_responses: bool

    @property
    def fps(self) -> float:
        return self.frames / self.elapsed_s if self.elapsed_s > 0 else 0.0


class _Display:
    """A cv2.imshow window; turns itself off where OpenCV has no GUI (headless builds)."""

    def __init__(self, cv2: Any, enabled: bool) -> None:
        self._cv2 = cv2
        self.enabled = enabled

    def show(self, image: np.ndarray) -> bool:
        """Show a frame; False when the user pressed q."""
        if not self.enabled:
            return True
        try:
            self._cv2.imshow(PROG, image)
            key: int = self._cv2.waitKey(1) & 0xFF
        except self._cv2.error as exc:
            print(f"{PROG}: --display is unavailable here: {exc}".strip(), file=sys.stderr)
            self.enabled = False
            return True
        return key != ord("q")

    def close(self) -> None:
        if self.enabled:
            self._cv2.destroyAllWindows()


def run(args: argparse.Namespace) -> RunReport:
    """Stream the video; raises VideoError or a ClientError on failure."""
    cv2 = _import_cv2()
    from tqdm import tqdm

    capture = open_video(cv2, _video_source(args.video, quiet=args.quiet))
    writer = None
    display = _Display(cv2, args.display)
    try:
        fps = capture.get(cv2.CAP_PROP_FPS) or 30.0
        total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) or None
        if args.max_frames is not None:
            total = min(total, args.max_frames) if total else args.max_frames
        if args.output:
            size = (
                int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
                int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)),
            )
            writer = cv2.VideoWriter(args.output, cv2.VideoWriter.fourcc(*"mp4v"), fps, size)
            if not writer.isOpened():
                raise VideoError(f"cannot write the output video {args.output!r}")

        sent_shapes: deque[tuple[int, ...]] = deque()

        def items() -> Iterator[dict[str, np.ndarray]]:
            for frame in _read_frames(capture, args.max_frames):
                sent_shapes.append(frame.shape)
                payload = _encode_frame(cv2, frame, args.jpeg_quality)
                yield {args.input_name: np.array([payload], dtype=np.object_)}

        client = SequenceClient(
            args.url,
            args.model,
            sequence_id=args.sequence_id,
            mode=args.mode,
            inflight=args.inflight,
            timeout=args.timeout,
        )
        latencies: list[float] = []
        with client, tqdm(total=total, unit="frame", disable=args.quiet, file=sys.stderr) as bar:
            started = time.perf_counter()
            for result in client.process(items()):
                data = result.output(args.output_name).reshape(-1)[0]
                image = _decode_frame(cv2, data, result.index, sent_shapes.popleft())
                latencies.append(result.latency_s)
                if writer is not None:
                    writer.write(image)
                bar.update(1)
                if not display.show(image):
                    break
            elapsed = time.perf_counter() - started
        controls = (client.start_result, client.end_result)
        empty = all(r is not None and not r.outputs for r in controls)
        return RunReport(
            frames=len(latencies),
            elapsed_s=elapsed,
            latency=LatencySummary.from_samples(latencies),
            sequence_id=client.sequence_id,
            empty_control_responses=empty,
        )
    finally:
        capture.release()
        if writer is not None:
            writer.release()
        display.close()


def format_report(report: RunReport, args: argparse.Namespace) -> str:
    """The summary printed at the end of a run."""
    inflight = f" inflight={args.inflight}" if args.mode == "stream" else ""
    return (
        f"frames: {report.frames}  elapsed: {report.elapsed_s:.2f} s  fps: {report.fps:.1f}"
        f"  (mode={args.mode}{inflight} model={args.model} sequence_id={report.sequence_id})\n"
        f"latency: {report.latency.format_ms()}"
    )


def _fail(code: int, message: str) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``tritonlite-stream``; returns the exit code (see ``--help``)."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error already printed by argparse
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    try:
        report = run(args)
    except VideoError as exc:
        return _fail(EXIT_VIDEO, str(exc))
    except ServerUnreachableError as exc:
        return _fail(EXIT_UNREACHABLE, str(exc))
    except ModelUnavailableError as exc:
        return _fail(EXIT_MODEL, str(exc))
    except ResponseTimeoutError as exc:
        return _fail(EXIT_TIMEOUT, str(exc))
    except (InferenceError, StreamClosedError, OutputError) as exc:
        return _fail(EXIT_INFERENCE, str(exc))
    except ImportError as exc:
        return _fail(EXIT_FAILURE, str(exc))
    except KeyboardInterrupt:
        return _fail(EXIT_INTERRUPTED, "interrupted")
    print(format_report(report, args))
    if not report.empty_control_responses and not args.quiet:
        print(f"{PROG}: note: START or END got a non-empty response", file=sys.stderr)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
