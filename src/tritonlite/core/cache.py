"""The response cache (``response_cache { enable: true }`` + ``--cache-config local,size=N``).

Like Triton's local cache: responses are looked up by a hash of the model name, version
and input tensors (name, data type, shape, bytes) -- tritonlite also hashes the requested
output names, so a request never gets outputs it did not ask for. Entries are evicted
least-recently-used to stay within ``size`` bytes; a response larger than the cache is
not stored. Only models without the sequence batcher and not decoupled are cached.
Pure data structure; the server records the hit/miss statistics.
"""

from __future__ import annotations

import collections
import hashlib
from dataclasses import dataclass

from tritonlite.core.tensor import Tensor
from tritonlite.core.types import InferenceRequest, InferenceResponse

_OVERHEAD = 256  # bytes charged per entry and per tensor for bookkeeping


@dataclass(frozen=True, slots=True)
class CachedResponse:
    outputs: tuple[Tensor, ...]
    parameters: dict[str, object]
    size: int


def request_key(request: InferenceRequest, version: str, outputs: tuple[str, ...]) -> bytes:
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{request.model_name}\0{version}\0".encode())
    for t in sorted(request.inputs, key=lambda t: t.name):
        h.update(f"{t.name}\0{t.datatype.value}\0{t.shape}\0".encode())
        h.update(t.raw())
    h.update("\0".join(outputs).encode())
    return h.digest()


class ResponseCache:
    def __init__(self, size_bytes: int) -> None:
        self.capacity = size_bytes
        self.used = 0
        self._entries: collections.OrderedDict[bytes, CachedResponse] = (
            collections.OrderedDict())

    def get(self, key: bytes) -> CachedResponse | None:
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
        return entry

    def put(self, key: bytes, response: InferenceResponse) -> None:
        outputs = tuple(Tensor(t.name, t.datatype, t.shape, raw=bytes(t.raw()))
                        for t in response.outputs)
        size = _OVERHEAD + sum(_OVERHEAD + len(t.raw()) for t in outputs)
        if size > self.capacity or key in self._entries:
            return
        while self.used + size > self.capacity and self._entries:
            _, old = self._entries.popitem(last=False)
            self.used -= old.size
        self._entries[key] = CachedResponse(outputs, dict(response.parameters), size)
        self.used += size

    def __len__(self) -> int:
        return len(self._entries)


def parse_cache_config(items: tuple[str, ...]) -> ResponseCache | None:
    """``("local,size=1048576",)`` -> a cache; None when no local cache is configured."""
    size = 0
    for item in items:
        name, _, kv = item.partition(",")
        key, _, value = kv.partition("=")
        if name == "local" and key == "size":
            size = int(value)
    return ResponseCache(size) if size > 0 else None
