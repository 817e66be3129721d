"""InOrderWindow: completions in any order, release in send order."""

from __future__ import annotations

import itertools
import random

import pytest

from tritonlite.client.window import InOrderWindow


def test_empty_window() -> None:
    window: InOrderWindow[int, str] = InOrderWindow()
    assert len(window) == 0
    assert not window.head_done()
    assert window.pop_ready() == []


def test_releases_only_from_the_front() -> None:
    window: InOrderWindow[int, str] = InOrderWindow()
    for n in range(3):
        window.add(str(n), n)
    assert window.complete("2", "c2")
    assert window.complete("1", "c1")
    assert not window.head_done()
    assert window.pop_ready() == []
    assert len(window) == 3
    assert window.complete("0", "c0")
    assert window.pop_ready() == [(0, "c0"), (1, "c1"), (2, "c2")]
    assert len(window) == 0


@pytest.mark.parametrize("order", list(itertools.permutations(range(4))))
def test_every_completion_order_releases_in_send_order(order: tuple[int, ...]) -> None:
    window: InOrderWindow[int, int] = InOrderWindow()
    for n in range(4):
        window.add(str(n), n)
    released: list[int] = []
    for n in order:
        window.complete(str(n), n * 10)
        released += [payload for payload, _ in window.pop_ready()]
    assert released == [0, 1, 2, 3]


def test_completion_without_id_goes_to_the_oldest_unfinished() -> None:
    window: InOrderWindow[int, str] = InOrderWindow()
    for n in range(3):
        window.add(str(n), n)
    window.complete("0", "ok")
    assert window.complete(None, "error")  # tritonclient drops ids of in-band errors
    assert window.pop_ready() == [(0, "ok"), (1, "error")]


def test_unknown_and_repeated_completions_are_ignored() -> None:
    window: InOrderWindow[int, str] = InOrderWindow()
    window.add("a", 1)
    assert not window.complete("zzz", "late")
    assert window.complete("a", "first")
    assert not window.complete("a", "second")
    assert not window.complete(None, "nobody waits")
    assert window.pop_ready() == [(1, "first")]


def test_duplicate_request_id_is_rejected() -> None:
    window: InOrderWindow[int, str] = InOrderWindow()
    window.add("a", 1)
    with pytest.raises(ValueError, match="already in flight"):
        window.add("a", 2)
    assert "a" in window


def test_random_interleaving_keeps_order() -> None:
    rng = random.Random(1234)
    window: InOrderWindow[int, int] = InOrderWindow()
    outstanding: list[int] = []
    released: list[int] = []
    for n in range(500):
        window.add(str(n), n)
        outstanding.append(n)
        while outstanding and (len(window) >= 8 or rng.random() < 0.5):
            done = outstanding.pop(rng.randrange(len(outstanding)))
            window.complete(str(done), done)
            released += [payload for payload, _ in window.pop_ready()]
        assert len(window) <= 8
    for done in outstanding:
        window.complete(str(done), done)
    released += [payload for payload, _ in window.pop_ready()]
    assert released == list(range(500))
