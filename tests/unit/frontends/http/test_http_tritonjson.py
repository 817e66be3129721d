"""JSON parsing with rapidjson's error messages and offsets, and TritonJson's accessors."""

from __future__ import annotations

import math

import pytest

from tritonlite.core.errors import ErrorKind
from tritonlite.frontends.http import tritonjson as tj


@pytest.mark.parametrize(
    ("text", "message", "offset"),
    [
        (b"", "The document is empty.", 0),
        (b"  \n", "The document is empty.", 3),
        (b"{bad", "Missing a name for object member.", 1),
        (b'{"inputs":[}', "Invalid value.", 11),
        (b"[1,2", "Missing a comma or ']' after an array element.", 4),
        (b'{"a":1}x', "The document root must not be followed by other values.", 7),
        (b'{"a" 1}', "Missing a colon after a name of object member.", 5),
        (b'{"a":1 "b"}', "Missing a comma or '}' after an object member.", 7),
        (b'"abc', "Missing a closing quotation mark in string.", 4),
        (b'["\\q"]', "Invalid escape character in string.", 2),
        (b'["\\u12G4"]', "Incorrect hex digit after \\u escape in string.", 2),
        (b'["\\ud800x"]', "The surrogate pair in string is invalid.", 2),
        (b'["a\x01"]', "Invalid encoding in string.", 3),
        (b"[1.]", "Miss fraction part in number.", 3),
        (b"[1e]", "Miss exponent in number.", 3),
        (b"[tru]", "Invalid value.", 4),
        (b"[-]", "Invalid value.", 2),
    ],
)
def test_parse_errors_as_rapidjson_reports_them(text: bytes, message: str, offset: int) -> None:
    with pytest.raises(tj.JsonError) as info:
        tj.parse(text)
    assert info.value.kind is ErrorKind.INTERNAL
    assert info.value.message == f"failed to parse the request JSON buffer: {message} at {offset}"


def test_parse_accepts_what_rapidjson_accepts() -> None:
    nan, inf, minf = tj.parse(b"[NaN, Infinity, -Infinity]")
    assert math.isnan(nan) and inf == math.inf and minf == -math.inf
    assert tj.parse(b"[18446744073709551616]") == [2.0**64]  # beyond uint64: a double
    assert tj.parse(memoryview(b'{"a": [1]}')) == {"a": [1]}
    assert tj.parse(b'["\xff"]') == ["\udcff"]  # not UTF-8: the byte survives


def test_accessors() -> None:
    assert tj.as_uint(2**64 - 1) == 2**64 - 1
    assert tj.is_uint(True) is False and tj.is_int(2**63) is False
    assert tj.is_number(1) and tj.is_number(1.5) and not tj.is_number(True)
    with pytest.raises(tj.JsonError, match=r"^Unable to parse 'x': attempt to access JSON "
                                           r"non-string as string$"):
        tj.as_string(1, "Unable to parse 'x'")
    with pytest.raises(tj.JsonError, match="attempt to access non-existing object member 'n'"):
        tj.member([], "n")
    with pytest.raises(tj.JsonError, match="attempt to access JSON non-array as array"):
        tj.member_array({"n": {}}, "n")
    with pytest.raises(tj.JsonError, match="attempt to get members for non-object"):
        tj.members([])
