"""The server's writer to a worker (instances._Outbox): at once, or held to the end of the
loop's turn for a server on one CPU (its worker cannot run before the loop yields)."""

from __future__ import annotations

import asyncio
import os
import socket

import pytest

from tritonlite.backends.python import instances
from tritonlite.backends.python.instances import _Outbox, on_one_cpu


def _pair() -> tuple[socket.socket, socket.socket]:
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)
    return a, b


def _pending(sock: socket.socket) -> bytes:
    try:
        return sock.recv(1 << 16)
    except BlockingIOError:
        return b""


async def test_frames_go_at_once_by_default() -> None:
    a, b = _pair()
    box = _Outbox(a, asyncio.get_running_loop())
    box.write(b"one")
    assert _pending(b) == b"one"
    box.close()
    b.close()


async def test_a_turn_holds_frames_until_the_loop_turn_ends_then_sends_them_together() -> None:
    a, b = _pair()
    box = _Outbox(a, asyncio.get_running_loop(), turn=True)
    box.write(b"one")
    box.write(b"two")
    assert _pending(b) == b""  # held: the worker could not run before the turn ends
    await asyncio.sleep(0)
    assert _pending(b) == b"onetwo"
    box.write(b"three")  # the next turn holds its own
    assert _pending(b) == b""
    await asyncio.sleep(0)
    assert _pending(b) == b"three"
    box.close()
    b.close()


async def test_a_held_frame_for_a_closed_channel_is_dropped_quietly() -> None:
    a, b = _pair()
    box = _Outbox(a, asyncio.get_running_loop(), turn=True)
    box.write(b"one")
    box.close()  # the worker went away before the turn ended
    await asyncio.sleep(0)
    assert not box.buf
    b.close()


@pytest.mark.parametrize(("cpus", "one"), [({0}, True), ({0, 1}, False), ({3}, True)])
def test_on_one_cpu_reads_the_affinity(monkeypatch: pytest.MonkeyPatch, cpus: set[int],
                                       one: bool) -> None:
    monkeypatch.setattr(instances.os, "sched_getaffinity", lambda pid: cpus)
    assert on_one_cpu() is one


def test_on_one_cpu_without_affinity_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(os, "sched_getaffinity")
    assert on_one_cpu() is False
