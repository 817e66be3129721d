"""The sample video of the jpeg_stream example: generated, deterministic, small.

``examples/jpeg_stream/make_sample_video.py`` and the video CLI (when the sample is
missing) both call :func:`generate_sample_video`. Every frame is a pure function of its
number: a drifting colour gradient, a bouncing ball, a turning bar and a frame counter.
Needs OpenCV, imported on first use.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "SAMPLE_FPS",
    "SAMPLE_FRAMES",
    "SAMPLE_SIZE",
    "bundled_sample_path",
    "generate_sample_video",
    "render_frame",
]

SAMPLE_FRAMES = 240
SAMPLE_SIZE = (640, 480)  # width, height
SAMPLE_FPS = 30.0

# (suffix, fourcc): mp4v in an .mp4 first; MJPG in an .avi when the build cannot write mp4.
_CONTAINERS = ((".mp4", "mp4v"), (".avi", "MJPG"))

# src/tritonlite/client/sample_video.py -> the repository root, in a source checkout.
_EXAMPLE_DIR = Path(__file__).resolve().parents[3] / "examples" / "jpeg_stream"


def render_frame(index: int, size: tuple[int, int] = SAMPLE_SIZE) -> np.ndarray:
    """Frame ``index`` of the sample as a BGR ``uint8`` image of ``size`` (width, height)."""
    import cv2

    width, height = size
    t = index / SAMPLE_FPS
    # A diagonal gradient whose colours drift with time.
    xs = np.linspace(0.0, 1.0, width, dtype=np.float32)[None, :]
    ys = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None]
    frame = np.empty((height, width, 3), dtype=np.uint8)
    frame[..., 0] = (127 + 100 * np.sin(2 * math.pi * (xs + 0.10 * t))) * (0.6 + 0.4 * ys)
    frame[..., 1] = (127 + 100 * np.sin(2 * math.pi * (ys + 0.07 * t))) * np.ones_like(xs)
    frame[..., 2] = (127 + 100 * np.cos(2 * math.pi * (xs + ys - 0.05 * t))).astype(np.uint8)

    # A ball bouncing off the walls (a triangle wave in x and y).
    radius = max(2, min(width, height) // 12)
    span_x, span_y = max(1, width - 2 * radius), max(1, height - 2 * radius)
    px = abs((index * 7) % (2 * span_x) - span_x) + radius
    py = abs((index * 5) % (2 * span_y) - span_y) + radius
    cv2.circle(frame, (px, py), radius, (0, 0, 255), thickness=-1, lineType=cv2.LINE_AA)

    # A bar turning around the centre.
    angle = 2 * math.pi * index / SAMPLE_FRAMES
    cx, cy, reach = width // 2, height // 2, min(width, height) // 3
    end = (int(cx + reach * math.cos(angle)), int(cy + reach * math.sin(angle)))
    cv2.line(frame, (cx, cy), end, (255, 255, 255), thickness=8, lineType=cv2.LINE_AA)

    label = f"tritonlite {index + 1:03d}/{SAMPLE_FRAMES}"
    cv2.putText(frame, label, (16, 40), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (0, 0, 0), 4, cv2.LINE_AA)
    cv2.putText(
        frame, label, (16, 40), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (255, 255, 255), 2, cv2.LINE_AA
    )
    return frame


def generate_sample_video(
    path: str | os.PathLike[str],
    *,
    frames: int = SAMPLE_FRAMES,
    size: tuple[int, int] = SAMPLE_SIZE,
    fps: float = SAMPLE_FPS,
) -> Path:
    """Write the sample video and return its path.

    Tries mp4v in ``path`` with suffix ``.mp4``; if OpenCV cannot write that, MJPG with
    suffix ``.avi``. Raises RuntimeError when neither works.
    """
    import cv2

    base = Path(path)
    base.parent.mkdir(parents=True, exist_ok=True)
    for suffix, fourcc in _CONTAINERS:
        target = base.with_suffix(suffix)
        writer: Any = cv2.VideoWriter(str(target), cv2.VideoWriter.fourcc(*fourcc), fps, size)
        if not writer.isOpened():
            writer.release()
            target.unlink(missing_ok=True)
            continue
        try:
            for index in range(frames):
                writer.write(render_frame(index, size))
        finally:
            writer.release()
        if target.exists() and target.stat().st_size > 0:
            return target
        target.unlink(missing_ok=True)
    raise RuntimeError(f"OpenCV could not write a video at {base} (tried mp4v and MJPG)")


def _cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "tritonlite"


def bundled_sample_path(*, generate: bool = True) -> Path:
    """The example's sample video, generated first if it is missing.

    In a source checkout this is ``examples/jpeg_stream/sample.mp4``; in an installed
    package (or a read-only checkout) it is cached under ``$XDG_CACHE_HOME/tritonlite``.
    """
    directories = [_EXAMPLE_DIR, _cache_dir()] if _EXAMPLE_DIR.is_dir() else [_cache_dir()]
    for directory in directories:
        for suffix, _ in _CONTAINERS:
            candidate = directory / f"sample{suffix}"
            if candidate.is_file() and candidate.stat().st_size > 0:
                return candidate
    if not generate:
        return directories[0] / "sample.mp4"
    try:
        return generate_sample_video(directories[0] / "sample.mp4")
    except OSError:
        return generate_sample_video(_cache_dir() / "sample.mp4")
