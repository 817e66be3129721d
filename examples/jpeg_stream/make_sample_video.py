"""Regenerate ``sample.mp4`` (240 frames, 640x480, 30 fps) beside this file.

The frames are a pure function of their number, so the video is the same every time (up to
the bytes of OpenCV's encoder). Falls back to MJPG in ``sample.avi`` where OpenCV cannot
write mp4. The client generates the same video on first use when it is missing.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tritonlite.client.sample_video import SAMPLE_FRAMES, generate_sample_video


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=Path(__file__).with_name("sample.mp4"))
    parser.add_argument("--frames", type=int, default=SAMPLE_FRAMES)
    args = parser.parse_args()
    path = generate_sample_video(args.output, frames=args.frames)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB, {args.frames} frames)")


if __name__ == "__main__":
    main()
