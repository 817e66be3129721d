"""The server's writer to a worker (instances._Outbox): at once, or held to the end of the
loop's turn for a server on one CPU (its worker cannot run before the loop yields)."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Callable, Iterator

import pytest

from tritonlite.backends.python import instances
from tritonlite.backends.python.instances import _Outbox, on_one_cpu


@pytest.fixture
def channel() -> Iterator[Callable[[bool], tuple[_Outbox, socket.socket]]]:
    """Opens an outbox (``turn`` or not) on the running loop and the worker's end of its
    socket; closes both after the test."""
    opened: list[tuple[_Outbox, socket.socket]] = []

    def open_box(turn: bool) -> tuple[_Outbox, socket.socket]:
        a, b = socket.socketpair()
        a.setblocking(False)
        b.setblocking(False)
        opened.append((_Outbox(a, asyncio.get_running_loop(), turn=turn), b))
        return opened[-1]

    yield open_box
    for box, peer in opened:
        box.close()
        peer.close()


def _pending(sock: socket.socket) -> bytes:
    try:
        return sock.recv(1 << 16)
    except BlockingIOError:
        return b""


async def test_frames_go_at_once_by_default(channel) -> None:
    box, worker = channel(False)
    box.write(b"one")
    assert _pending(worker) == b"one"


async def test_a_turn_holds_frames_until_the_loop_turn_ends_then_sends_them_together(
        channel) -> None:
    box, worker = channel(True)
    box.write(b"one")
    box.write(b"two")
    assert _pending(worker) == b""  # held: the worker could not run before the turn ends
    await asyncio.sleep(0)
    assert _pending(worker) == b"onetwo"
    box.write(b"three")  # the next turn holds its own
    assert _pending(worker) == b""
    await asyncio.sleep(0)
    assert _pending(worker) == b"three"


async def test_a_held_frame_for_a_closed_channel_is_dropped_quietly(channel) -> None:
    box, _ = channel(True)
    box.write(b"one")
    box.close()  # the worker went away before the turn ended
    await asyncio.sleep(0)
    assert not box.buf


@pytest.mark.parametrize(("cpus", "one"), [({0}, True), ({0, 1}, False), ({3}, True)])
def test_on_one_cpu_reads_the_affinity(monkeypatch: pytest.MonkeyPatch, cpus: set[int],
                                       one: bool) -> None:
    monkeypatch.setattr(instances.os, "sched_getaffinity", lambda pid: cpus)
    assert on_one_cpu() is one


def test_on_one_cpu_without_affinity_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(os, "sched_getaffinity")
    assert on_one_cpu() is False
