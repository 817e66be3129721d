"""A single-producer/single-consumer byte ring in POSIX shared memory.

Tensor bytes cross between the server and a worker process through two of these per
instance (one each way), so only small metadata travels over the socket. The producer
allocates contiguous regions (never split across the wrap point) at monotonically growing
*positions*; the consumer releases them, in any order, and publishes the released
position ("tail") in the segment's header, which the producer reads to know how much room
is free. No locks: each side writes only its own counters.

Layout: a 64-byte header (uint64 tail at offset 0) followed by ``capacity`` data bytes.
"""

from __future__ import annotations

import collections
import contextlib
import os
import secrets
import struct
import sys
from multiprocessing import resource_tracker, shared_memory

HEADER = 64
ALIGN = 64
_U64 = struct.Struct("<Q")


def _align(n: int) -> int:
    return (n + ALIGN - 1) & ~(ALIGN - 1)


def _attach(name: str) -> shared_memory.SharedMemory:
    """Attach without letting this process's resource tracker unlink the creator's segment."""
    if sys.version_info >= (3, 13):
        return shared_memory.SharedMemory(name=name, create=False, track=False)
    shm = shared_memory.SharedMemory(name=name, create=False)
    if not name.startswith(f"tritonlite_{os.getpid()}_"):  # created by another process
        resource_tracker.unregister(shm._name, "shared_memory")  # type: ignore[attr-defined]
    return shm


class _Segment:
    """Owns (or attaches to) the shared memory segment."""

    def __init__(self, name: str | None, capacity: int) -> None:
        if name is None:
            name = f"tritonlite_{os.getpid()}_{secrets.token_hex(6)}"
            self.shm = shared_memory.SharedMemory(name=name, create=True, size=HEADER + capacity)
            self.owner = True
        else:
            self.shm = _attach(name)
            self.owner = False
        self.name = name
        self.capacity = self.shm.size - HEADER
        buf = self.shm.buf
        assert buf is not None
        self.buf: memoryview = buf

    def close(self) -> None:
        self.buf.release()
        try:
            self.shm.close()
        except BufferError:
            # A view is still alive (e.g. a borrowed output not encoded yet): the mapping
            # stays until that view is gone or the process ends; don't retry at collection.
            self.shm.close = lambda: None  # type: ignore[method-assign]
        if self.owner:
            with contextlib.suppress(FileNotFoundError):
                self.shm.unlink()


class RingWriter:
    """The producer end: ``alloc`` returns a position and a writable view, or None if full."""

    def __init__(self, name: str | None = None, capacity: int = 64 << 20) -> None:
        self._seg = _Segment(name, capacity)
        self.name = self._seg.name
        self.capacity = self._seg.capacity
        self._head = 0

    def _tail(self) -> int:
        return int(_U64.unpack_from(self._seg.buf, 0)[0])

    def alloc(self, nbytes: int) -> tuple[int, memoryview] | None:
        if nbytes == 0:
            return (self._head, memoryview(b""))
        cap = self.capacity
        size = _align(nbytes)
        if size > cap:
            return None
        start = self._head
        off = start % cap
        if off + size > cap:  # never split a region across the wrap point
            start += cap - off
            off = 0
        if start + size - self._tail() > cap:
            return None
        self._head = start + size
        base = HEADER + off
        return start, self._seg.buf[base : base + nbytes]

    def write(self, data: bytes | memoryview) -> int | None:
        """Copy ``data`` into the ring; returns its position or None if it does not fit."""
        mv = memoryview(data).cast("B") if not isinstance(data, bytes) else data
        if len(mv) == 0:
            return self._head
        got = self.alloc(len(mv))
        if got is None:
            return None
        pos, view = got
        view[:] = mv
        return pos

    def close(self) -> None:
        self._seg.close()


class RingReader:
    """The consumer end: ``view`` reads a region, ``release`` frees it (any order)."""

    def __init__(self, name: str | None = None, capacity: int = 64 << 20) -> None:
        self._seg = _Segment(name, capacity)
        self.name = self._seg.name
        self.capacity = self._seg.capacity
        # (start, end) of regions handed to us, in allocation order, plus released starts.
        self._live: collections.deque[tuple[int, int]] = collections.deque()
        self._released: set[int] = set()

    def claim(self, pos: int, nbytes: int) -> None:
        """Register a region as live. Must be called in the order the producer allocated
        (i.e. message arrival order), before any later region is released."""
        if nbytes:
            self._live.append((pos, pos + _align(nbytes)))

    def view(self, pos: int, nbytes: int) -> memoryview:
        """A view of a claimed region the producer wrote at ``pos``."""
        if nbytes == 0:
            return memoryview(b"")
        base = HEADER + pos % self.capacity
        return self._seg.buf[base : base + nbytes]

    def release(self, pos: int) -> None:
        """Free the region at ``pos``; the published tail advances over released prefixes."""
        self._released.add(pos)
        live, released = self._live, self._released
        tail = -1
        while live and live[0][0] in released:
            start, end = live.popleft()
            released.discard(start)
            tail = end
        if tail >= 0:
            _U64.pack_into(self._seg.buf, 0, tail)

    def close(self) -> None:
        self._seg.close()
