"""BusyPoll keeps the loop iterating (never sleeping) for its window while the server is
idle, lets ready callbacks run between its steps, and stops at once when a request is in
flight."""

from __future__ import annotations

import asyncio
import time

from tritonlite.core.busy_poll import BusyPoll


async def test_polls_for_the_window_and_lets_other_callbacks_run() -> None:
    poll = BusyPoll(50_000, lambda: True)  # 50 ms
    ran: list[float] = []
    loop = asyncio.get_running_loop()
    t0 = time.perf_counter()
    poll.start()
    loop.call_soon(lambda: ran.append(time.perf_counter()))
    assert poll.polling
    await asyncio.sleep(0.02)
    assert poll.polling  # still inside the window
    assert ran and ran[0] - t0 < 0.01  # a ready callback was not held up
    while poll.polling:
        await asyncio.sleep(0.005)
    assert time.perf_counter() - t0 >= 0.05


async def test_stops_when_a_request_is_in_flight() -> None:
    idle = [True]
    poll = BusyPoll(10_000_000, lambda: idle[0])  # 10 s: only idle() can stop it
    poll.start()
    await asyncio.sleep(0)
    assert poll.polling
    idle[0] = False
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert not poll.polling


async def test_start_again_extends_the_window_without_a_second_poller() -> None:
    steps = [0]
    poll = BusyPoll(30_000, lambda: steps.__setitem__(0, steps[0] + 1) or True)
    poll.start()
    await asyncio.sleep(0.02)
    poll.start()  # the server became idle again: 30 ms from now
    t1 = time.perf_counter()
    while poll.polling:
        await asyncio.sleep(0.002)
    assert time.perf_counter() - t1 >= 0.03
    # One poller: each loop iteration runs one step (a second poller would double them).
    loop_iterations = [0]

    def count() -> None:
        loop_iterations[0] += 1
        if loop_iterations[0] < 200:
            asyncio.get_running_loop().call_soon(count)

    steps[0] = 0
    poll.start()
    poll.start()
    asyncio.get_running_loop().call_soon(count)
    while loop_iterations[0] < 200:
        await asyncio.sleep(0)
    assert steps[0] <= loop_iterations[0] + 2


def test_start_outside_a_running_loop_does_nothing() -> None:
    poll = BusyPoll(1_000, lambda: True)
    poll.start()
    assert not poll.polling


async def test_adapts_to_how_soon_the_next_request_comes() -> None:
    poll = BusyPoll(30_000, lambda: True)  # 30 ms
    poll.start()
    await asyncio.sleep(0)
    assert poll.polling
    while poll.polling:  # nobody comes within the window: the poll runs out...
        await asyncio.sleep(0.005)
    await asyncio.sleep(0.01)
    poll.stop()
    poll.start()  # ...so the next idle period is not polled for
    await asyncio.sleep(0)
    assert not poll.polling
    await asyncio.sleep(0.06)  # a gap of 60 ms (> 1.2 x 30): still not worth it
    poll.stop()
    poll.start()
    await asyncio.sleep(0)
    assert not poll.polling
    poll.stop()  # the next request came at once (unpolled gap within 1.2 x the window)
    poll.start()
    await asyncio.sleep(0)
    assert poll.polling  # polling pays again
    poll.stop()  # ...and came at once again, while polling: keep polling
    poll.start()
    await asyncio.sleep(0)
    assert poll.polling
