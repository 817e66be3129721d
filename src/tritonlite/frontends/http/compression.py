"""``Content-Encoding`` / ``Accept-Encoding`` for inference requests and replies.

Requests: ``gzip`` and ``deflate`` bodies are inflated (zlib detects either header),
bounded by ``--http-max-input-size``; any other encoding is refused with Triton's
``Unsupported compression type`` (501). An empty or corrupt compressed body is an
INVALID_ARG error (Triton 2.51 silently inflates garbage to nothing and then fails on
the empty body; the clear message is a deliberate difference).

Replies: the encoding is chosen from ``Accept-Encoding`` exactly as Triton's
``CompressionTypeUsed`` chooses it (q-values, ``identity``/``gzip``/``deflate`` only).
Triton compresses every reply that asks, which costs ~100 ms of CPU per 4 MiB of tensor
bytes -- and ``tritonclient.http.aio`` asks on every request, because aiohttp sends
``Accept-Encoding: gzip, deflate`` by default. tritonlite therefore:

* compresses replies up to :data:`INLINE_LIMIT` bytes on the event loop (well under a
  millisecond), as Triton does;
* for larger replies, first compresses a :data:`SAMPLE_SIZE` sample of the biggest part;
  if it does not shrink by at least :data:`MIN_SAVING`, the reply goes out uncompressed
  (``identity`` is always acceptable in HTTP, and every client reads
  ``Content-Encoding``), otherwise it is compressed at level 1 in a worker thread, so the
  event loop never blocks.

Float tensor bytes are close to noise for deflate (measured: random FP32 4 MiB, 93 ms at
level 1 for a 10% saving), so large binary replies are normally sent as they are, while
zeros, masks and images still shrink.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Sequence

from tritonlite.core.errors import ErrorKind, InferenceServerError, invalid_arg

__all__ = [
    "INLINE_LIMIT",
    "MIN_SAVING",
    "SAMPLE_SIZE",
    "compress",
    "decompress",
    "request_encoding",
    "response_encoding",
]

INLINE_LIMIT = 64 * 1024
SAMPLE_SIZE = 64 * 1024
MIN_SAVING = 0.10
_THREAD_LIMIT = 256 * 1024  # inflate bodies larger than this in a worker thread
_WBITS = {"gzip": 31, "deflate": 15}
UNSUPPORTED_TEXT = "Unsupported compression type"


def request_encoding(header: str | None) -> str | None:
    """The request body's encoding (None: identity); raises for one Triton lacks."""
    if header is None or header in ("", "identity"):
        return None
    if header in _WBITS:
        return header
    raise InferenceServerError(ErrorKind.UNSUPPORTED, UNSUPPORTED_TEXT)


def response_encoding(accept: str | None) -> str | None:
    """Triton's ``CompressionTypeUsed``: the highest-weighted of identity/gzip/deflate."""
    if not accept:
        return None
    chosen, weight = "identity", 0.0
    for encoding in accept.split(","):
        start = len(encoding) - len(encoding.lstrip(" "))
        if start == len(encoding):
            continue
        name, sep, q = encoding[start:].partition(";q=")
        value = 1.0
        if sep:
            try:
                value = float(q)
            except ValueError:
                continue
        if name in ("identity", "gzip", "deflate") and value > weight:
            chosen, weight = name, value
    return None if chosen == "identity" else chosen


def _inflate(body: bytes | memoryview, limit: int) -> bytes:
    if len(body) == 0:
        raise invalid_arg("nothing to be decompressed")
    inflater = zlib.decompressobj(47)  # 32 + 15: gzip or zlib header, detected
    try:
        data = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise invalid_arg(f"unable to decompress the request body: {exc}") from exc
    if len(data) > limit or inflater.unconsumed_tail:
        raise invalid_arg(
            f"Decompressed data size exceeds the maximum allowed value of {limit} bytes. "
            "Use --http-max-input-size to increase the limit."
        )
    return data


async def decompress(body: bytes | memoryview, encoding: str, limit: int) -> bytes:
    """The inflated body (``encoding`` from :func:`request_encoding`)."""
    if len(body) > _THREAD_LIMIT:
        return await asyncio.to_thread(_inflate, body, limit)
    return _inflate(body, limit)


def _deflate(parts: Sequence[bytes | memoryview], encoding: str, level: int) -> bytes:
    compressor = zlib.compressobj(level, zlib.DEFLATED, _WBITS[encoding])
    out = [compressor.compress(part) for part in parts]
    out.append(compressor.flush())
    return b"".join(out)


async def compress(parts: Sequence[bytes | memoryview], encoding: str) -> bytes | None:
    """The compressed reply body, or None when it is not worth it (send as is)."""
    size = sum(len(p) for p in parts)
    if size <= INLINE_LIMIT:
        return _deflate(parts, encoding, zlib.Z_DEFAULT_COMPRESSION)
    biggest = max(parts, key=len)
    sample = memoryview(biggest)[:SAMPLE_SIZE]
    if len(zlib.compress(sample, 1)) > len(sample) * (1.0 - MIN_SAVING):
        return None
    return await asyncio.to_thread(_deflate, parts, encoding, 1)
