"""Sequence (correlation) ids: an int within the wire's int64, or a non-empty str."""

from __future__ import annotations

import secrets

__all__ = ["MAX_SEQUENCE_ID", "check_sequence_id", "parse_sequence_id", "random_sequence_id"]

#: tritonclient sends an int sequence id as the ``int64_param`` of the request.
MAX_SEQUENCE_ID = 2**63 - 1


def random_sequence_id() -> int:
    """A random non-zero sequence id that fits the wire's int64."""
    return secrets.randbelow(MAX_SEQUENCE_ID) + 1


def parse_sequence_id(text: str) -> int | str:
    """``"42"`` -> 42, ``"cam-1"`` -> ``"cam-1"``; ValueError for 0, "" or out of range."""
    text = text.strip()
    if not text:
        raise ValueError("a sequence id must not be empty")
    if text.isdigit():
        return check_sequence_id(int(text))
    return text


def check_sequence_id(sequence_id: int | str) -> int | str:
    """Return ``sequence_id`` if it is valid; TypeError or ValueError if not."""
    if isinstance(sequence_id, bool) or not isinstance(sequence_id, int | str):
        raise TypeError(f"a sequence id is an int or a str, not {type(sequence_id).__name__}")
    if isinstance(sequence_id, int) and not 1 <= sequence_id <= MAX_SEQUENCE_ID:
        raise ValueError(f"an int sequence id must be within 1..{MAX_SEQUENCE_ID}")
    if sequence_id == "":
        raise ValueError("a sequence id must not be empty")
    return sequence_id
