"""Which model versions exist, their states, and the lookup every request goes through.

Lookup errors are Triton's, verbatim: unknown model / version, a version string that is
not a number, a model with no ready version.
"""

from __future__ import annotations

from dataclasses import dataclass

from tritonlite.core.errors import invalid_arg, not_found
from tritonlite.core.lifecycle import ModelState, check_transition
from tritonlite.core.model import ModelVersion
from tritonlite.core.types import ModelIndexEntry

UNLOADED = "unloaded"  # the index reason of a version unloaded on request


@dataclass(eq=False)
class VersionEntry:
    version: int
    state: ModelState
    reason: str = ""
    model: ModelVersion | None = None


def parse_version(version: str) -> int:
    """"" -> -1 (latest); "3" -> 3; a string that is not an integer is Triton's INVALID_ARG
    (0 and negative numbers parse, and then are simply not found)."""
    if version == "" or version == "-1":
        return -1
    try:
        return int(version.strip())
    except ValueError:
        raise invalid_arg(
            f"failed to get model version from specified version string '{version}' "
            "(details: stol), version should be an integral value > 0") from None


class Registry:
    def __init__(self) -> None:
        self.models: dict[str, dict[int, VersionEntry]] = {}
        self.failures: dict[str, str] = {}  # models that failed before any version existed
        self.known: set[str] = set()  # every model found in the repositories (index rows)
        # The latest ready version of each model, as resolve("") found it: every request
        # that names no version looks it up, and it only changes with a state change.
        self._latest: dict[str, ModelVersion] = {}

    # ---- state changes ------------------------------------------------------------------
    def set_state(self, name: str, version: int, state: ModelState, *, reason: str = "",
                  model: ModelVersion | None = None) -> VersionEntry:
        self._latest.pop(name, None)
        versions = self.models.setdefault(name, {})
        entry = versions.get(version)
        if entry is None:
            entry = versions[version] = VersionEntry(version, state)
        elif entry.state is not state:
            check_transition(entry.state, state)
        entry.state, entry.reason = state, reason
        entry.model = model if state is ModelState.READY else (model or entry.model)
        if state is ModelState.UNAVAILABLE:
            entry.model = None
        self.failures.pop(name, None)
        return entry

    def set_failed(self, name: str, reason: str) -> None:
        """A model that could not even be read (bad config): no versions to show."""
        self.failures[name] = reason

    def remove(self, name: str) -> None:
        self._latest.pop(name, None)
        self.models.pop(name, None)
        self.failures.pop(name, None)

    # ---- lookups ------------------------------------------------------------------------
    def resolve(self, name: str, version: str = "") -> ModelVersion:
        if not version:
            latest = self._latest.get(name)
            if latest is not None:
                return latest
        v = parse_version(version)
        versions = self.models.get(name)
        if versions is None:
            if name in self.failures:
                raise not_found(f"Request for unknown model: '{name}' has no available versions")
            raise not_found(f"Request for unknown model: '{name}' is not found")
        if v == -1:
            ready = [e for e in versions.values() if e.state is ModelState.READY]
            if not ready:
                raise not_found(f"Request for unknown model: '{name}' has no available versions")
            best = max(ready, key=lambda e: e.version)
            assert best.model is not None
            self._latest[name] = best.model
            return best.model
        entry = versions.get(v)
        if entry is None:
            raise not_found(f"Request for unknown model: '{name}' version {v} is not found")
        if entry.state is not ModelState.READY or entry.model is None:
            raise not_found(
                f"Request for unknown model: '{name}' version {v} is not at ready state")
        return entry.model

    def is_ready(self, name: str, version: str = "") -> bool:
        try:
            self.resolve(name, version)
        except Exception:
            return False
        return True

    def ready_models(self) -> list[ModelVersion]:
        return [e.model for vs in self.models.values() for e in vs.values()
                if e.state is ModelState.READY and e.model is not None]

    def all_ready(self) -> bool:
        """Strict readiness: no model failed or is still loading (unloaded ones are fine)."""
        if self.failures:
            return False
        return not any(
            e.state is ModelState.LOADING
            or (e.state is ModelState.UNAVAILABLE and e.reason != UNLOADED)
            for vs in self.models.values() for e in vs.values())

    def index(self, ready_only: bool = False) -> list[ModelIndexEntry]:
        rows: list[ModelIndexEntry] = []
        names = sorted(set(self.models) | set(self.failures) | self.known)
        for name in names:
            if name not in self.models and name not in self.failures:
                if not ready_only:  # found on disk, never loaded (explicit mode)
                    rows.append(ModelIndexEntry(name, "", "", ""))
                continue
            if name in self.failures and name not in self.models:
                if not ready_only:
                    rows.append(ModelIndexEntry(name, "", ModelState.UNAVAILABLE.value,
                                                self.failures[name]))
                continue
            for v in sorted(self.models[name]):
                e = self.models[name][v]
                if ready_only and e.state is not ModelState.READY:
                    continue
                rows.append(ModelIndexEntry(name, str(v), e.state.value, e.reason))
        return rows
