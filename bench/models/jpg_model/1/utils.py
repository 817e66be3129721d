"""JPEG helpers for jpg_model: base64 JPEG bytes <-> OpenCV BGR images.

Kept free of ``triton_python_backend_utils`` so it can be unit-tested without a server.
"""

from __future__ import annotations

import base64
import binascii

import cv2
import numpy as np

DEFAULT_JPEG_QUALITY = 90


class FrameError(ValueError):
    """A frame that is not a base64-encoded JPEG (or PNG, BMP, ...) image."""


def decode_b64_image(data: bytes | str) -> np.ndarray:
    """Decode base64 text holding an encoded image into a BGR ``uint8`` array."""
    if isinstance(data, str):
        data = data.encode("ascii", errors="replace")
    if not data:
        raise FrameError("empty frame")
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise FrameError(f"frame is not valid base64: {exc}") from exc
    image = cv2.imdecode(np.frombuffer(raw, dtype=np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise FrameError(f"frame of {len(raw)} bytes is not a decodable image")
    return image


def encode_b64_jpeg(image: np.ndarray, quality: int = DEFAULT_JPEG_QUALITY) -> bytes:
    """Encode a BGR image as JPEG and return it base64-encoded (ASCII bytes)."""
    ok, buf = cv2.imencode(".jpg", image, [int(cv2.IMWRITE_JPEG_QUALITY), int(quality)])
    if not ok:
        raise FrameError("cv2.imencode failed to encode the frame as JPEG")
    return base64.b64encode(buf.tobytes())
