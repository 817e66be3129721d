"""PriorityQueue keeps its size itself (the batcher asks once per batch): it must match
the entries it holds after every kind of change."""

from __future__ import annotations

from fakes import job

from tritonlite.scheduling.queue import PriorityQueue, QueuePolicy


def held(q: PriorityQueue) -> int:
    return sum(1 for _ in q.entries())


def test_size_follows_push_pop_remove_and_expiry() -> None:
    q = PriorityQueue(priority_levels=2, default_priority_level=2, level_policies={
        1: QueuePolicy(reject=True, default_timeout_us=10),  # expires: rejected
        2: QueuePolicy(reject=False, default_timeout_us=10),  # expires: delayed, kept
    })
    assert len(q) == 0 and not q
    jobs = [job(rid=str(i), seq=False, priority=1 + i % 2) for i in range(6)]
    for j in jobs:
        q.push(j, arrival_ns=0)
    assert len(q) == held(q) == 6 and q
    assert q.remove(jobs[0]) and len(q) == held(q) == 5
    assert not q.remove(jobs[0]) and len(q) == 5
    rejected = q.expire(now_ns=10_001)
    assert [j.request.id for j in rejected] == ["2", "4"]  # priority 1 rejects
    assert len(q) == held(q) == 3  # priority 2 moved to "delayed", still held
    assert len(q.pop(2)) == 2 and len(q) == held(q) == 1
    assert len(q.pop(5)) == 1 and len(q) == held(q) == 0 and not q
