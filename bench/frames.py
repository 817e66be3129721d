"""The seed workload's frames: 640x480 JPEGs as base64 text, and the check of a reply.

Frames come from the jpeg_stream example's sample video (or, if it is missing, from the
same deterministic renderer that made it), JPEG-encoded at quality 90 like the example
client. A reply is checked cheaply on every frame (valid base64, JPEG start and end
markers, a SOF header saying 640x480, 3 components) and fully (``cv2.imdecode`` to a
480x640x3 image) on every ``full_every``-th frame, so that checking does not eat the
client's core.
"""

from __future__ import annotations

import base64
import binascii
import struct
from pathlib import Path

import numpy as np

WIDTH, HEIGHT = 640, 480
SAMPLE = Path(__file__).resolve().parent.parent / "examples" / "jpeg_stream" / "sample.mp4"


def load_frames(count: int = 32, quality: int = 90) -> list[bytes]:
    """``count`` distinct frames as base64-encoded JPEG bytes."""
    import cv2

    images: list[np.ndarray] = []
    if SAMPLE.exists():
        capture = cv2.VideoCapture(str(SAMPLE))
        while len(images) < count:
            ok, image = capture.read()
            if not ok:
                break
            images.append(image)
        capture.release()
    if len(images) < count:
        from tritonlite.client.sample_video import render_frame

        images += [render_frame(i) for i in range(len(images), count)]
    frames = []
    for image in images:
        if image.shape[:2] != (HEIGHT, WIDTH):
            image = cv2.resize(image, (WIDTH, HEIGHT))
        ok, buf = cv2.imencode(".jpg", image, [int(cv2.IMWRITE_JPEG_QUALITY), quality])
        assert ok
        frames.append(base64.b64encode(buf.tobytes()))
    return frames


_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def jpeg_size(data: bytes) -> tuple[int, int, int]:
    """(width, height, components) from a JPEG's SOF segment; ValueError if none."""
    if data[:2] != b"\xff\xd8":
        raise ValueError("no JPEG SOI marker")
    if data.rstrip(b"\x00")[-2:] != b"\xff\xd9":
        raise ValueError("no JPEG EOI marker")
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            raise ValueError(f"bad JPEG segment at {pos}")
        marker = data[pos + 1]
        if marker == 0xFF:
            pos += 1
            continue
        length = struct.unpack_from(">H", data, pos + 2)[0]
        if marker in _SOF:
            height, width = struct.unpack_from(">HH", data, pos + 5)
            return width, height, data[pos + 9]
        pos += 2 + length
    raise ValueError("no JPEG SOF segment")


def check_frame(b64: bytes, full: bool) -> str | None:
    """None if ``b64`` is base64 of a 640x480 colour JPEG, else what is wrong."""
    try:
        raw = base64.b64decode(b64, validate=True)
        size = jpeg_size(raw)
    except (binascii.Error, ValueError, struct.error, IndexError) as exc:
        return f"reply is not a JPEG: {exc}"
    if size != (WIDTH, HEIGHT, 3):
        return f"JPEG is {size[0]}x{size[1]}x{size[2]}, not {WIDTH}x{HEIGHT}x3"
    if full:
        import cv2

        image = cv2.imdecode(np.frombuffer(raw, dtype=np.uint8), cv2.IMREAD_COLOR)
        if image is None or image.shape != (HEIGHT, WIDTH, 3):
            return "JPEG does not decode to 480x640x3"
    return None
