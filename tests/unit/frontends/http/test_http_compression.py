"""Content-Encoding and Accept-Encoding handling."""

from __future__ import annotations

import gzip
import os
import zlib

import pytest

from tritonlite.core.errors import ErrorKind, InferenceServerError
from tritonlite.frontends.http import compression


@pytest.mark.parametrize(
    ("accept", "chosen"),
    [(None, None), ("", None), ("gzip", "gzip"), ("deflate", "deflate"), ("br", None),
     ("gzip, deflate", "gzip"), ("gzip;q=0.5, deflate;q=0.8", "deflate"),
     ("identity;q=1, gzip;q=0.9", None), ("gzip;q=abc, deflate", "deflate"),
     ("gzip ;q=0.9", None), ("  gzip", "gzip")],
)
def test_response_encoding_as_triton_chooses(accept: str | None, chosen: str | None) -> None:
    assert compression.response_encoding(accept) == chosen


def test_request_encoding() -> None:
    assert compression.request_encoding(None) is None
    assert compression.request_encoding("identity") is None
    assert compression.request_encoding("gzip") == "gzip"
    with pytest.raises(InferenceServerError) as info:
        compression.request_encoding("br")
    assert (info.value.kind, info.value.message) == (ErrorKind.UNSUPPORTED,
                                                     "Unsupported compression type")


async def test_decompress_both_formats_and_big_bodies_in_a_thread() -> None:
    data = os.urandom(300_000)
    assert await compression.decompress(gzip.compress(data), "gzip", 1 << 20) == data
    assert await compression.decompress(zlib.compress(data), "deflate", 1 << 20) == data
    with pytest.raises(InferenceServerError, match="exceeds the maximum allowed value of 1000"):
        await compression.decompress(gzip.compress(b"x" * 5000), "gzip", 1000)


async def test_compress_small_always_large_only_when_worth_it() -> None:
    small = await compression.compress([b'{"a":', b"1}"], "gzip")
    assert small is not None and gzip.decompress(small) == b'{"a":1}'
    noise = os.urandom(256 * 1024)
    assert await compression.compress([b"{}", noise], "gzip") is None
    zeros = bytes(256 * 1024)
    packed = await compression.compress([b"{}", memoryview(zeros)], "deflate")
    assert packed is not None and zlib.decompress(packed) == b"{}" + zeros
