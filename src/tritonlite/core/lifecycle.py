"""Model version states and the transitions between them, as a table.

Rules:
* A version starts LOADING; it becomes READY when every instance initialized, or
  UNAVAILABLE (with a reason) when any failed.
* Only a READY version serves requests. Unloading moves READY -> UNLOADING -> (removed).
* A failed or unloaded model keeps its row in the repository index (UNAVAILABLE + reason).
"""

from __future__ import annotations

import enum


class ModelState(enum.Enum):
    LOADING = "LOADING"
    READY = "READY"
    UNLOADING = "UNLOADING"
    UNAVAILABLE = "UNAVAILABLE"


TRANSITIONS: dict[ModelState, frozenset[ModelState]] = {
    ModelState.LOADING: frozenset({ModelState.READY, ModelState.UNAVAILABLE}),
    ModelState.READY: frozenset({ModelState.UNLOADING, ModelState.LOADING}),
    ModelState.UNLOADING: frozenset({ModelState.UNAVAILABLE, ModelState.LOADING}),
    ModelState.UNAVAILABLE: frozenset({ModelState.LOADING}),
}


def check_transition(old: ModelState, new: ModelState) -> None:
    if new not in TRANSITIONS[old]:
        raise RuntimeError(f"invalid model state transition {old.value} -> {new.value}")
