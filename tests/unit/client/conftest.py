"""Fixtures of the client tests."""

from __future__ import annotations

import pytest
from _client_fakes import FakeTritonClient

import tritonlite.client.sequence as sequence_module


@pytest.fixture
def fake_triton(monkeypatch: pytest.MonkeyPatch) -> FakeTritonClient:
    """A FakeTritonClient that every new SequenceClient connects to."""
    fake = FakeTritonClient()
    monkeypatch.setattr(sequence_module.grpcclient, "InferenceServerClient", lambda url, **kw: fake)
    return fake
