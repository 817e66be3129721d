"""JSON in, as Triton's HTTP frontend reads it (``triton::common::TritonJson`` over
rapidjson), with its error texts.

* :func:`parse` accepts what rapidjson accepts with ``kParseNanAndInfFlag`` (``NaN``,
  ``Infinity``, ``-Infinity``) and reports malformed input the way rapidjson does:
  ``failed to parse the request JSON buffer: Invalid value. at 11`` (INTERNAL, so HTTP
  500). orjson parses; only when it refuses does the slow path run (the stdlib parser
  for NaN/Infinity, then :class:`_Locator` to find rapidjson's message and offset).
* The accessors (``as_string``, ``member_uint``, ...) check a value's type as rapidjson's
  ``IsString``/``IsUint64``/``IsInt64``/``IsBool``/``IsNumber`` do and raise
  TritonJson's texts (``attempt to access JSON non-string as string``), optionally
  prefixed the way Triton's ``RETURN_MSG_IF_ERR`` does (``Unable to parse 'id': ...``).

Parsing does no I/O; values are plain Python objects (dict, list, str, int, float, bool,
None). Integers beyond 64 bits count as doubles, as in rapidjson.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

from tritonlite.core.errors import ErrorKind, InferenceServerError

__all__ = [
    "INT64_MAX",
    "UINT64_MAX",
    "JsonError",
    "as_bool",
    "as_string",
    "as_uint",
    "is_int",
    "is_number",
    "is_uint",
    "member",
    "member_array",
    "members",
    "parse",
]

UINT64_MAX = (1 << 64) - 1
INT64_MAX = (1 << 63) - 1
INT64_MIN = -(1 << 63)

NOT_STRING = "attempt to access JSON non-string as string"
NOT_BOOL = "attempt to access JSON non-boolean as boolean"
NOT_INT = "attempt to access JSON non-signed-integer as signed-integer"
NOT_UINT = "attempt to access JSON non-unsigned-integer as unsigned-integer"
NOT_DOUBLE = "attempt to access JSON non-number as double"
NOT_ARRAY = "attempt to access JSON non-array as array"
NOT_OBJECT_MEMBERS = "attempt to get members for non-object"


class JsonError(InferenceServerError):
    """A TritonJson error (kind INTERNAL: HTTP 500, as Triton answers)."""

    def __init__(self, message: str) -> None:
        super().__init__(ErrorKind.INTERNAL, message)


def _fail(message: str, context: str | None) -> JsonError:
    return JsonError(f"{context}: {message}" if context else message)


# ------------------------------------------------------------------------ type checks


def is_uint(value: Any) -> bool:
    return type(value) is int and 0 <= value <= UINT64_MAX


def is_int(value: Any) -> bool:
    return type(value) is int and INT64_MIN <= value <= INT64_MAX


def is_number(value: Any) -> bool:
    return type(value) is int or type(value) is float


def as_string(value: Any, context: str | None = None) -> str:
    if type(value) is not str:
        raise _fail(NOT_STRING, context)
    return value


def as_bool(value: Any, context: str | None = None) -> bool:
    if type(value) is not bool:
        raise _fail(NOT_BOOL, context)
    return value


def as_uint(value: Any, context: str | None = None) -> int:
    if not is_uint(value):
        raise _fail(NOT_UINT, context)
    return int(value)


def member(obj: Any, name: str, context: str | None = None) -> Any:
    """``obj[name]``; TritonJson's error if ``obj`` is not an object or lacks it."""
    if type(obj) is not dict or name not in obj:
        raise _fail(f"attempt to access non-existing object member '{name}'", context)
    return obj[name]


def member_array(obj: Any, name: str, context: str | None = None) -> list[Any]:
    value = member(obj, name, context)
    if type(value) is not list:
        raise _fail(NOT_ARRAY, context)
    return value


def members(obj: Any, context: str | None = None) -> dict[str, Any]:
    if type(obj) is not dict:
        raise _fail(NOT_OBJECT_MEMBERS, context)
    return obj


# ----------------------------------------------------------------------------- parse


def parse(data: bytes | bytearray | memoryview) -> Any:
    """Parse a JSON document; raises :class:`JsonError` with rapidjson's message."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        pass
    return _parse_slow(bytes(data))


def _parse_slow(data: bytes) -> Any:
    located = _Locator(data).locate()
    if located is not None:
        message, offset = located
        raise JsonError(f"failed to parse the request JSON buffer: {message} at {offset}")
    # rapidjson accepts it: NaN/Infinity, huge integers, or bytes that are not UTF-8
    # (rapidjson does not validate encoding; such bytes survive as surrogates).
    text = data.decode("utf-8", "surrogateescape")
    try:
        return json.loads(text, parse_constant=_constant)
    except ValueError as exc:  # accepted by rapidjson, not by Python (e.g. "Inf")
        raise JsonError(f"failed to parse the request JSON buffer: {exc}") from exc


def _constant(name: str) -> float:
    return float({"NaN": "nan", "Infinity": "inf", "-Infinity": "-inf"}.get(name, name))


_HEX = frozenset("0123456789abcdefABCDEF")


class _Locator:
    """Finds the first error rapidjson's ``GenericReader::Parse`` reports, and where.

    Mirrors rapidjson's recursive descent (with ``kParseNanAndInfFlag``), including the
    offsets it reports (``is.Tell()`` at the failing character). Returns None for input
    rapidjson accepts.
    """

    _ESCAPES = frozenset(b'"\\/bfnrt')
    _WS = frozenset(b" \n\r\t")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def locate(self) -> tuple[str, int] | None:
        try:
            self._ws()
            if self._peek() is None:
                return ("The document is empty.", self.pos)
            self._value()
            self._ws()
            if self._peek() is not None:
                return ("The document root must not be followed by other values.", self.pos)
        except _Found as found:
            return (found.message, found.offset)
        except RecursionError:
            return None
        return None

    def _peek(self) -> int | None:
        # rapidjson's stream reports '\0' at the end, and a NUL byte looks the same.
        if self.pos >= len(self.data) or self.data[self.pos] == 0:
            return None
        return self.data[self.pos]

    def _ws(self) -> None:
        while self._peek() in self._WS:
            self.pos += 1

    def _consume(self, char: str) -> bool:
        if self._peek() == ord(char):
            self.pos += 1
            return True
        return False

    def _value(self) -> None:
        c = self._peek()
        if c == ord("n"):
            self._literal("null")
        elif c == ord("t"):
            self._literal("true")
        elif c == ord("f"):
            self._literal("false")
        elif c == ord('"'):
            self._string()
        elif c == ord("{"):
            self._object()
        elif c == ord("["):
            self._array()
        else:
            self._number()

    def _literal(self, word: str) -> None:
        self.pos += 1
        for char in word[1:]:
            if not self._consume(char):
                raise _Found("Invalid value.", self.pos)

    def _object(self) -> None:
        self.pos += 1
        self._ws()
        if self._consume("}"):
            return
        while True:
            if self._peek() != ord('"'):
                raise _Found("Missing a name for object member.", self.pos)
            self._string()
            self._ws()
            if not self._consume(":"):
                raise _Found("Missing a colon after a name of object member.", self.pos)
            self._ws()
            self._value()
            self._ws()
            if self._consume(","):
                self._ws()
            elif self._consume("}"):
                return
            else:
                raise _Found("Missing a comma or '}' after an object member.", self.pos)

    def _array(self) -> None:
        self.pos += 1
        self._ws()
        if self._consume("]"):
            return
        while True:
            self._value()
            self._ws()
            if self._consume(","):
                self._ws()
            elif self._consume("]"):
                return
            else:
                raise _Found("Missing a comma or ']' after an array element.", self.pos)

    def _hex4(self, escape_offset: int) -> int:
        value = 0
        for _ in range(4):
            c = self._peek()
            if c is None or chr(c) not in _HEX:
                raise _Found("Incorrect hex digit after \\u escape in string.", escape_offset)
            value = value * 16 + int(chr(c), 16)
            self.pos += 1
        return value

    def _string(self) -> None:
        self.pos += 1
        while True:
            c = self._peek()
            if c == ord("\\"):
                escape_offset = self.pos
                self.pos += 1
                e = self._peek()
                if e is not None and e in self._ESCAPES:
                    self.pos += 1
                elif e == ord("u"):
                    self.pos += 1
                    code = self._hex4(escape_offset)
                    if 0xD800 <= code <= 0xDBFF:
                        if not (self._consume("\\") and self._consume("u")):
                            raise _Found("The surrogate pair in string is invalid.", escape_offset)
                        low = self._hex4(escape_offset)
                        if not 0xDC00 <= low <= 0xDFFF:
                            raise _Found("The surrogate pair in string is invalid.", escape_offset)
                else:
                    raise _Found("Invalid escape character in string.", escape_offset)
            elif c == ord('"'):
                self.pos += 1
                return
            elif c is None:
                raise _Found("Missing a closing quotation mark in string.", self.pos)
            elif c < 0x20:
                raise _Found("Invalid encoding in string.", self.pos)
            else:
                self.pos += 1

    def _digits(self) -> int:
        start = self.pos
        while (c := self._peek()) is not None and 0x30 <= c <= 0x39:
            self.pos += 1
        return self.pos - start

    def _number(self) -> None:
        self._consume("-")
        c = self._peek()
        if c == ord("N"):
            self._nan_inf("NaN")
            return
        if c == ord("I"):
            self._nan_inf("Inf")
            if self._peek() == ord("i"):
                self._nan_inf("inity")
            return
        if c is None or not 0x30 <= c <= 0x39:
            raise _Found("Invalid value.", self.pos)
        if c == 0x30:
            self.pos += 1
        else:
            self._digits()
        if self._consume(".") and self._digits() == 0:
            raise _Found("Miss fraction part in number.", self.pos)
        if self._consume("e") or self._consume("E"):
            if not self._consume("+"):
                self._consume("-")
            if self._digits() == 0:
                raise _Found("Miss exponent in number.", self.pos)

    def _nan_inf(self, word: str) -> None:
        for char in word:
            if not self._consume(char):
                raise _Found("Invalid value.", self.pos)


class _Found(Exception):
    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset
