"""parse_bool: the one reading of a boolean setting (flags, --metrics-config, parameters)."""

from __future__ import annotations

import pytest

from tritonlite.core.settings import parse_bool


@pytest.mark.parametrize("text", ["true", "TRUE", " 1 ", "yes", "On"])
def test_true_words(text: str) -> None:
    assert parse_bool(text) is True


@pytest.mark.parametrize("text", ["false", "0", "No", "off "])
def test_false_words(text: str) -> None:
    assert parse_bool(text) is False


@pytest.mark.parametrize("text", ["", "2", "truthy", "y"])
def test_anything_else_is_none(text: str) -> None:
    assert parse_bool(text) is None
