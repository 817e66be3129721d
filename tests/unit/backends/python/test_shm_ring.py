from __future__ import annotations

import random

from tritonlite.backends.python.shm import RingReader, RingWriter


def test_ring_wraps_and_releases_out_of_order() -> None:
    reader = RingReader(capacity=4096)
    writer = RingWriter(reader.name)
    rng = random.Random(1)
    live: list[tuple[int, bytes]] = []
    try:
        for i in range(2000):
            data = bytes([i % 251]) * rng.randint(1, 900)
            pos = writer.write(data)
            while pos is None:  # full: the consumer frees something, in random order
                k = rng.randrange(len(live))
                reader.release(live.pop(k)[0])
                pos = writer.write(data)
            reader.claim(pos, len(data))
            view = reader.view(pos, len(data))
            assert bytes(view) == data
            view.release()
            live.append((pos, data))
    finally:
        writer.close()
        reader.close()


def test_too_big_for_ring_returns_none() -> None:
    reader = RingReader(capacity=1024)
    writer = RingWriter(reader.name)
    try:
        assert writer.write(b"x" * 2048) is None
        assert writer.write(b"") is not None
    finally:
        writer.close()
        reader.close()
