"""In-order release of out-of-order completions: the pure core of the streaming client.

Rules:

* Requests enter with :meth:`InOrderWindow.add` in send order; each id at most once.
* A completion for a known id marks that request done; a completion for an unknown or
  already-completed id is ignored (a late answer to an abandoned request).
* A completion with no id (tritonclient reports in-band stream errors without their
  request id) is given to the oldest request that is not done yet. Triton runs the
  requests of one sequence in order, so that is the request that failed.
* :meth:`InOrderWindow.pop_ready` releases done requests from the front only: a result
  never overtakes an earlier one.
* ``len(window)`` counts requests sent and not yet released, done or not. Bounding it
  bounds both the requests in flight and the results held back for ordering.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, TypeVar

__all__ = ["InOrderWindow"]

P = TypeVar("P")  # what the caller keeps about a sent request
C = TypeVar("C")  # the completion


class _Slot(Generic[P, C]):
    __slots__ = ("completion", "done", "payload")

    def __init__(self, payload: P) -> None:
        self.payload = payload
        self.completion: C | None = None
        self.done = False


class InOrderWindow(Generic[P, C]):
    """Requests in send order; completions in any order; release in send order."""

    def __init__(self) -> None:
        self._slots: OrderedDict[str, _Slot[P, C]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._slots)

    def __contains__(self, request_id: object) -> bool:
        return request_id in self._slots

    def add(self, request_id: str, payload: P) -> None:
        """Record a request that was just sent."""
        if request_id in self._slots:
            raise ValueError(f"request id {request_id!r} is already in flight")
        self._slots[request_id] = _Slot(payload)

    def complete(self, request_id: str | None, completion: C) -> bool:
        """Mark a request done; False when the completion matched no waiting request."""
        if request_id is None:
            slot = next((s for s in self._slots.values() if not s.done), None)
        else:
            slot = self._slots.get(request_id)
        if slot is None or slot.done:
            return False
        slot.completion = completion
        slot.done = True
        return True

    def head_done(self) -> bool:
        """True when the oldest request is done (False for an empty window)."""
        if not self._slots:
            return False
        return next(iter(self._slots.values())).done

    def pop_ready(self) -> list[tuple[P, C]]:
        """Remove and return the done requests at the front, oldest first."""
        ready: list[tuple[P, C]] = []
        while self._slots:
            request_id, slot = next(iter(self._slots.items()))
            if not slot.done:
                break
            del self._slots[request_id]
            ready.append((slot.payload, slot.completion))  # type: ignore[arg-type]
        return ready
