"""The dynamic batcher's queue: priority levels, each with its own queue policy.

Rules (Triton's ``PriorityQueue`` in core/src/scheduler_utils.cc, and observed on 2.51):

* Lower level number = higher priority. Without ``priority_levels`` there is one level.
  A request's priority 0, or one above ``priority_levels``, means ``default_priority_level``.
* Each level uses ``priority_queue_policy[level]`` if given, else ``default_queue_policy``.
* ``max_queue_size`` (0 = unlimited) counts the requests waiting at that level; a request
  that finds it full is refused at once: UNAVAILABLE
  ``[request id: <id>] Exceeds maximum queue size`` (not counted in the statistics).
* Timeout: ``default_timeout_microseconds``; with ``allow_timeout_override`` the request's
  own ``timeout`` replaces it only when non-zero and *smaller* (so with a default of 0 a
  request timeout never applies). Triton measures it from the arrival in the queue.
* An expired request is rejected (``REJECT``: UNAVAILABLE ``Request timeout expired``) or
  moved behind the unexpired requests of its level (``DELAY``) where it waits with no
  further timeout.
"""

from __future__ import annotations

import collections
from collections.abc import Hashable, Iterator
from dataclasses import dataclass
from typing import Any

from tritonlite.core.errors import ErrorKind, InferenceServerError, request_prefix
from tritonlite.core.types import ScheduledRequest

QUEUE_FULL = "Exceeds maximum queue size"
TIMEOUT_EXPIRED = "Request timeout expired"


@dataclass(frozen=True, slots=True)
class QueuePolicy:
    """``ModelQueuePolicy`` as plain data."""

    reject: bool = True  # timeout_action REJECT (the default) or DELAY
    default_timeout_us: int = 0
    allow_timeout_override: bool = False
    max_queue_size: int = 0

    @classmethod
    def from_proto(cls, policy: Any) -> QueuePolicy:
        return cls(
            reject=type(policy).TimeoutAction.Name(policy.timeout_action) != "DELAY",
            default_timeout_us=int(policy.default_timeout_microseconds),
            allow_timeout_override=bool(policy.allow_timeout_override),
            max_queue_size=int(policy.max_queue_size),
        )

    def deadline_ns(self, arrival_ns: int, request_timeout_us: int) -> int:
        """When a request arriving at ``arrival_ns`` expires; 0 = never."""
        timeout_us = self.default_timeout_us
        if self.allow_timeout_override and 0 < request_timeout_us < timeout_us:
            timeout_us = request_timeout_us
        return arrival_ns + timeout_us * 1000 if timeout_us else 0


@dataclass(slots=True, eq=False)
class Entry:
    job: ScheduledRequest
    arrival_ns: int
    deadline_ns: int  # 0 = none
    shape_key: Hashable = None  # batching.ShapeRule key


class _Level:
    __slots__ = ("delayed", "policy", "waiting")

    def __init__(self, policy: QueuePolicy) -> None:
        self.policy = policy
        self.waiting: collections.deque[Entry] = collections.deque()
        self.delayed: collections.deque[Entry] = collections.deque()

    def __len__(self) -> int:
        return len(self.waiting) + len(self.delayed)


class PriorityQueue:
    """Queued requests by priority level; iteration order is the batching order."""

    def __init__(self, *, priority_levels: int = 0, default_priority_level: int = 0,
                 default_policy: QueuePolicy | None = None,
                 level_policies: dict[int, QueuePolicy] | None = None) -> None:
        self.priority_levels = priority_levels
        self.default_level = default_priority_level if priority_levels else 0
        self.default_policy = default_policy or QueuePolicy()
        self.level_policies = dict(level_policies or {})
        self.levels: dict[int, _Level] = {}
        self._size = 0  # entries in every level: the batcher asks per batch

    @classmethod
    def from_config(cls, dynamic_batching: Any) -> PriorityQueue:
        db = dynamic_batching
        return cls(
            priority_levels=int(db.priority_levels),
            default_priority_level=int(db.default_priority_level),
            default_policy=QueuePolicy.from_proto(db.default_queue_policy),
            level_policies={int(k): QueuePolicy.from_proto(v)
                            for k, v in db.priority_queue_policy.items()},
        )

    def level_of(self, priority: int) -> int:
        if not self.priority_levels or priority == 0 or priority > self.priority_levels:
            return self.default_level
        return priority

    def __len__(self) -> int:
        return self._size

    def push(self, job: ScheduledRequest, arrival_ns: int, shape_key: Hashable = None,
             now_ns: int | None = None) -> Entry:
        """Queue ``job`` (its entry is returned) or raise UNAVAILABLE when its level is
        full. ``arrival_ns`` is when it arrived (its queue delay counts from then); its
        timeout counts from ``now_ns`` (default: ``arrival_ns``), as Triton's counts from
        its enqueue."""
        n = self.level_of(job.request.priority)
        level = self.levels.get(n)
        if level is None:
            level = self.levels[n] = _Level(self.level_policies.get(n, self.default_policy))
            self.levels = dict(sorted(self.levels.items()))
        policy = level.policy
        if policy.max_queue_size and len(level) >= policy.max_queue_size:
            raise InferenceServerError(
                ErrorKind.UNAVAILABLE,
                f"{request_prefix(job.request.id)}{QUEUE_FULL}")
        deadline = policy.deadline_ns(arrival_ns if now_ns is None else now_ns,
                                      job.request.timeout_us)
        entry = Entry(job, arrival_ns, deadline, shape_key)
        level.waiting.append(entry)
        self._size += 1
        return entry

    def expire(self, now_ns: int) -> list[ScheduledRequest]:
        """Apply the timeouts: return the rejected jobs (removed), move delayed ones."""
        rejected: list[ScheduledRequest] = []
        for level in self.levels.values():
            if not level.policy.default_timeout_us or not any(
                    e.deadline_ns and now_ns > e.deadline_ns for e in level.waiting):
                continue
            keep: collections.deque[Entry] = collections.deque()
            for e in level.waiting:
                if e.deadline_ns and now_ns > e.deadline_ns:
                    if level.policy.reject:
                        rejected.append(e.job)
                    else:
                        e.deadline_ns = 0
                        level.delayed.append(e)
                else:
                    keep.append(e)
            level.waiting = keep
        self._size -= len(rejected)
        return rejected

    def entries(self) -> Iterator[Entry]:
        """Queued entries in batching order: by level, unexpired before delayed."""
        for level in self.levels.values():
            yield from level.waiting
            yield from level.delayed

    def pop(self, count: int) -> list[Entry]:
        """Remove and return the first ``count`` entries in batching order."""
        out: list[Entry] = []
        for level in self.levels.values():
            for q in (level.waiting, level.delayed):
                while q and len(out) < count:
                    out.append(q.popleft())
        self._size -= len(out)
        return out

    def remove(self, job: ScheduledRequest) -> bool:
        for level in self.levels.values():
            for q in (level.waiting, level.delayed):
                for e in q:
                    if e.job is job:
                        q.remove(e)
                        self._size -= 1
                        return True
        return False

    def next_deadline(self) -> int | None:
        """The earliest pending timeout, for the caller's timer."""
        deadlines = [e.deadline_ns for level in self.levels.values()
                     if level.policy.default_timeout_us
                     for e in level.waiting if e.deadline_ns]
        return min(deadlines) if deadlines else None
