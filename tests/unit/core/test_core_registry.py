from __future__ import annotations

import pytest

from tritonlite.core.errors import ErrorKind, InferenceServerError
from tritonlite.core.lifecycle import ModelState
from tritonlite.core.registry import Registry, parse_version


def test_parse_version() -> None:
    assert parse_version("") == -1
    assert parse_version("3") == 3
    assert parse_version("0") == 0  # parses; then no such version is found (404)
    with pytest.raises(InferenceServerError) as ei:
        parse_version("abc")
    assert ei.value.message == ("failed to get model version from specified version string "
                                "'abc' (details: stol), version should be an integral value > 0")


def test_lookup_errors_and_index() -> None:
    reg = Registry()
    reg.set_state("broken", 1, ModelState.LOADING)
    reg.set_state("broken", 1, ModelState.UNAVAILABLE, reason="Internal: boom")
    reg.set_failed("badcfg", "Internal: bad config")
    cases = {
        ("nope", ""): "Request for unknown model: 'nope' is not found",
        ("broken", ""): "Request for unknown model: 'broken' has no available versions",
        ("badcfg", ""): "Request for unknown model: 'badcfg' has no available versions",
        ("broken", "7"): "Request for unknown model: 'broken' version 7 is not found",
    }
    for (name, version), text in cases.items():
        with pytest.raises(InferenceServerError) as ei:
            reg.resolve(name, version)
        assert ei.value.kind is ErrorKind.NOT_FOUND
        assert ei.value.message == text
    rows = {(r.name, r.version, r.state, r.reason) for r in reg.index()}
    assert rows == {("badcfg", "", "UNAVAILABLE", "Internal: bad config"),
                    ("broken", "1", "UNAVAILABLE", "Internal: boom")}
    assert reg.index(ready_only=True) == []
    assert not reg.all_ready()


def test_invalid_transition() -> None:
    reg = Registry()
    reg.set_state("m", 1, ModelState.LOADING)
    with pytest.raises(RuntimeError):
        reg.set_state("m", 1, ModelState.UNLOADING)


def test_latest_version_follows_every_state_change() -> None:
    """resolve("") keeps the latest ready version between lookups; any state change of
    the model (a newer version ready, it unloading, the model removed) is seen at once."""
    reg = Registry()
    v1, v2 = object(), object()
    reg.set_state("m", 1, ModelState.LOADING)
    reg.set_state("m", 1, ModelState.READY, model=v1)  # type: ignore[arg-type]
    assert reg.resolve("m") is v1
    assert reg.resolve("m") is v1  # from what the first lookup kept
    reg.set_state("m", 2, ModelState.LOADING)
    assert reg.resolve("m") is v1  # loading is not ready
    reg.set_state("m", 2, ModelState.READY, model=v2)  # type: ignore[arg-type]
    assert reg.resolve("m") is v2
    assert reg.resolve("m", "1") is v1
    reg.set_state("m", 2, ModelState.UNLOADING)
    assert reg.resolve("m") is v1
    reg.set_state("m", 1, ModelState.UNLOADING)
    with pytest.raises(InferenceServerError, match="has no available versions"):
        reg.resolve("m")
    reg.set_state("m", 1, ModelState.UNAVAILABLE)
    reg.set_state("m", 1, ModelState.LOADING)
    reg.set_state("m", 1, ModelState.READY, model=v1)  # type: ignore[arg-type]
    assert reg.resolve("m") is v1
    reg.remove("m")
    with pytest.raises(InferenceServerError, match="is not found"):
        reg.resolve("m")
