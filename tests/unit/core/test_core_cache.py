from __future__ import annotations

import numpy as np

from tritonlite.core.cache import ResponseCache, parse_cache_config, request_key
from tritonlite.core.tensor import Tensor
from tritonlite.core.types import InferenceRequest, InferenceResponse


def resp(n: int) -> InferenceResponse:
    return InferenceResponse("m", "1", outputs=[Tensor.from_numpy("Y", np.zeros(n, np.uint8))])


def test_key_depends_on_inputs_and_outputs() -> None:
    a = InferenceRequest("m", [Tensor.from_numpy("X", np.array([1, 2], np.float32))])
    b = InferenceRequest("m", [Tensor.from_numpy("X", np.array([1, 3], np.float32))])
    assert request_key(a, "1", ("Y",)) == request_key(a, "1", ("Y",))
    assert request_key(a, "1", ("Y",)) != request_key(b, "1", ("Y",))
    assert request_key(a, "1", ("Y",)) != request_key(a, "2", ("Y",))
    assert request_key(a, "1", ("Y",)) != request_key(a, "1", ("Z",))


def test_lru_eviction_within_size() -> None:
    cache = ResponseCache(3100)  # three entries of 500 bytes + bookkeeping
    for k in (b"a", b"b", b"c"):
        cache.put(k, resp(500))
    assert len(cache) == 3 and cache.used <= 3100
    assert cache.get(b"a") is not None  # a is now most recent
    cache.put(b"d", resp(500))
    assert cache.get(b"b") is None and cache.get(b"a") is not None
    cache.put(b"huge", resp(10_000))  # larger than the cache: not stored
    assert cache.get(b"huge") is None


def test_parse_cache_config() -> None:
    assert parse_cache_config(()) is None
    cache = parse_cache_config(("local,size=1024",))
    assert cache is not None and cache.capacity == 1024
