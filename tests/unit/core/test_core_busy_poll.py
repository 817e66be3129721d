"""BusyPoll keeps the loop iterating (never sleeping) for its window while the server is
idle, lets ready callbacks run between its steps, stops at once when a request is in
flight, and backs off (haltpoll-like) while its polls run out."""

from __future__ import annotations

import asyncio
import time

from tritonlite.core.busy_poll import FIRST_BACKOFF, MAX_BACKOFF, BusyPoll


async def _until_done(poll: BusyPoll) -> None:
    while poll.polling:
        await asyncio.sleep(0.002)


async def test_polls_for_the_window_and_lets_other_callbacks_run() -> None:
    poll = BusyPoll(300_000, lambda: True)  # 0.3 s
    ran: list[float] = []
    loop = asyncio.get_running_loop()
    t0 = time.perf_counter()
    poll.start()
    loop.call_soon(lambda: ran.append(time.perf_counter()))
    assert poll.polling
    await asyncio.sleep(0.01)
    assert ran and ran[0] - t0 < 0.15  # a ready callback did not wait for the window
    await _until_done(poll)
    assert time.perf_counter() - t0 >= 0.3


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
    idle[0] = True
    poll.start()  # it paid: the next idle period is polled for
    assert poll.polling
    idle[0] = False
    await _until_done(poll)


async def test_one_poller_at_a_time() -> None:
    steps = [0]

    def idle() -> bool:
        steps[0] += 1
        return True

    poll = BusyPoll(10_000_000, idle)
    poll.start()
    poll.start()  # idle again while polling (a cache hit): extends, no second poller
    iterations = 0
    while iterations < 200:
        iterations += 1
        await asyncio.sleep(0)
    assert steps[0] <= iterations + 2
    poll._until = 0.0  # end it
    await _until_done(poll)


async def test_backs_off_while_polls_run_out_and_recovers_on_a_hit() -> None:
    idle = [True]
    poll = BusyPoll(1_000, lambda: idle[0])  # 1 ms

    async def idle_period(request_comes: bool) -> bool:
        """One idle period: returns whether it was polled for."""
        poll.start()
        polled = poll.polling
        if request_comes:
            idle[0] = False  # a request arrives while polling
            await asyncio.sleep(0)
            await asyncio.sleep(0)
            idle[0] = True
        await _until_done(poll)
        return polled

    assert await idle_period(False)  # polled, nobody came: ran out
    assert await idle_period(False)  # one miss is forgiven; a second one in a row...
    skipped = [await idle_period(False) for _ in range(FIRST_BACKOFF)]
    assert skipped == [False] * FIRST_BACKOFF  # ... backs off
    assert await idle_period(False)  # the probe: polled, ran out again
    skipped = [await idle_period(False) for _ in range(2 * FIRST_BACKOFF)]
    assert skipped == [False] * (2 * FIRST_BACKOFF)
    assert await idle_period(True)  # the next probe hits: polling pays again
    assert await idle_period(True)
    # A client that is late now and then: each lone miss is forgiven.
    for _ in range(3):
        assert await idle_period(False)
        assert await idle_period(True)
    assert await idle_period(False)  # two misses start the back-off from the first step
    assert await idle_period(False)
    assert not any([await idle_period(False) for _ in range(FIRST_BACKOFF)])
    assert await idle_period(False)
    assert MAX_BACKOFF >= 2 * FIRST_BACKOFF


async def test_a_cache_hit_while_polling_counts_as_a_hit() -> None:
    """A request answered while polling (a cache hit: never in flight) means the poll
    paid, so a miss before it is not one of two misses in a row."""
    poll = BusyPoll(1_000, lambda: True)
    poll.start()
    await _until_done(poll)  # ran out: one miss
    poll.start()
    assert poll.polling
    poll.start()  # answered while polling
    await _until_done(poll)  # then ran out
    poll.start()
    assert poll.polling  # not backed off
    await _until_done(poll)


async def test_a_new_loop_after_the_old_one_stopped_mid_poll() -> None:
    poll = BusyPoll(10_000_000, lambda: True)

    def on_another_loop() -> None:
        async def main() -> None:
            poll.start()
            assert poll.polling
        asyncio.run(main())  # closes that loop with the poll still "running"

    await asyncio.get_running_loop().run_in_executor(None, on_another_loop)
    poll.start()  # on this loop: polls again
    await asyncio.sleep(0)
    assert poll.polling
    poll._until = 0.0
    await _until_done(poll)


def test_start_outside_a_running_loop_does_nothing() -> None:
    poll = BusyPoll(1_000, lambda: True)
    poll.start()
    assert not poll.polling
