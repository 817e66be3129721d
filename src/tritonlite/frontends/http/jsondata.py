"""Tensor data as JSON: the ``data`` arrays of HTTP requests and responses.

In: :func:`json_to_wire` reads a (flat or nested) JSON array into a tensor's wire bytes
with Triton's ``ReadDataFromJson`` rules: leaves are counted against the shape (nesting
is not checked), each leaf must have the JSON type of the datatype (BOOL: boolean,
unsigned types: unsigned integer, signed: integer, FP32/FP64: any number, BYTES:
string), integers keep their low bytes in narrower types. FP16/BF16 and unknown
datatypes are refused.

Out: :func:`wire_to_json` writes a tensor as the flat array Triton's ``WriteDataToJson``
writes, byte for byte: doubles in rapidjson's notation (``1e-7``, ``0.00001``,
``10000000000000000.0``, ``NaN``, ``Infinity``), BYTES elements as strings holding the
raw bytes. Fast paths use orjson's numpy support; the exact notation is applied only to
arrays that need it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import orjson

from tritonlite.core.errors import invalid_arg
from tritonlite.core.tensor import DataType, Tensor
from tritonlite.frontends.common.tensors import (
    bools_to_wire,
    floats_to_wire,
    integers_to_wire,
    strings_to_wire,
)
from tritonlite.frontends.http import tritonjson as tj

__all__ = ["bytes_byte_size", "json_leaves", "json_to_wire", "wire_to_json"]

_SHAPE_MISMATCH = "Unable to parse 'data': Shape does not match true shape of 'data' field"
_UINT_TYPES = frozenset(
    (DataType.UINT8, DataType.UINT16, DataType.UINT32, DataType.UINT64)
)
_INT_TYPES = frozenset((DataType.INT8, DataType.INT16, DataType.INT32, DataType.INT64))
_FLOAT_TYPES = frozenset((DataType.FP32, DataType.FP64))


def json_leaves(data: Any) -> list[Any]:
    """The leaves of a JSON value, depth first (a scalar is its own single leaf)."""
    if type(data) is not list:
        return [data]
    if list not in set(map(type, data)):
        return data
    out: list[Any] = []
    stack = [iter(data)]
    while stack:
        for item in stack[-1]:
            if type(item) is list:
                stack.append(iter(item))
                break
            out.append(item)
        else:
            stack.pop()
    return out


def bytes_byte_size(data: Any) -> int:
    """Triton's ``JsonBytesArrayByteSize``: sum of (length + 4) over string leaves."""
    total = 0
    for leaf in json_leaves(data):
        if type(leaf) is not str:
            raise tj.JsonError(f"Unable to parse JSON bytes array: {tj.NOT_STRING}")
        total += len(leaf.encode("utf-8", "surrogateescape")) + 4
    return total


def _element_error(leaf: Any, datatype: DataType) -> tj.JsonError:
    if datatype is DataType.BOOL:
        message = tj.NOT_BOOL
    elif datatype in _UINT_TYPES:
        message = tj.NOT_UINT
    elif datatype in _INT_TYPES:
        message = tj.NOT_INT
    elif datatype is DataType.BYTES:
        message = tj.NOT_STRING
    else:
        message = tj.NOT_DOUBLE
    return tj.JsonError(f"Unable to parse 'data': {message}")


def _check_leaves(leaves: Sequence[Any], datatype: DataType) -> None:
    """Raise the error of the first leaf that is not of the datatype's JSON type."""
    types = set(map(type, leaves))
    if datatype is DataType.BOOL:
        ok = types <= {bool}
    elif datatype in _FLOAT_TYPES:
        ok = types <= {int, float}
    elif datatype is DataType.BYTES:
        ok = types <= {str}
    elif types <= {int}:
        low, high = (0, tj.UINT64_MAX) if datatype in _UINT_TYPES else (tj.INT64_MIN, tj.INT64_MAX)
        ok = not leaves or (min(leaves) >= low and max(leaves) <= high)
    else:
        ok = False
    if ok:
        return
    check = {
        DataType.BOOL: lambda v: type(v) is bool,
        DataType.BYTES: lambda v: type(v) is str,
    }.get(datatype)
    if check is None:
        if datatype in _FLOAT_TYPES:
            check = tj.is_number
        elif datatype in _UINT_TYPES:
            check = tj.is_uint
        else:
            check = tj.is_int
    for leaf in leaves:
        if not check(leaf):
            raise _element_error(leaf, datatype)


def json_to_wire(name: str, datatype: DataType | None, data: Any, expected: int) -> bytes:
    """A JSON ``data`` value -> wire bytes. ``expected`` is the element count from the
    shape (for BYTES: the byte size from :func:`bytes_byte_size`, as Triton counts)."""
    if datatype is DataType.FP16 or datatype is DataType.BF16:
        raise invalid_arg(
            f"receiving {datatype.value} data via JSON is not supported. Please use the "
            f"binary data format for input {name}"
        )
    if datatype is None:
        raise invalid_arg(f"invalid datatype for input {name}")
    leaves = json_leaves(data)
    if datatype is DataType.BYTES:
        return strings_to_wire(leaves)  # types and size were checked by bytes_byte_size
    head = leaves if len(leaves) <= expected else leaves[:expected]
    _check_leaves(head, datatype)
    if len(leaves) != expected:
        raise tj.JsonError(_SHAPE_MISMATCH)
    if datatype is DataType.BOOL:
        return bools_to_wire(leaves)
    if datatype in _FLOAT_TYPES:
        return floats_to_wire(leaves, datatype)
    return integers_to_wire(leaves, datatype)


# ------------------------------------------------------------------------------- out


def _rapidjson_double(value: float) -> str:
    """A double as rapidjson's ``Writer`` prints it (Grisu2 digits, ``Prettify``)."""
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "-0.0" if str(value).startswith("-") else "0.0"
    text = repr(value)
    sign = "-" if text.startswith("-") else ""
    text = text.lstrip("-")
    mantissa, _, exponent = text.partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = (whole + fraction).lstrip("0")
    k = (int(exponent) if exponent else 0) - len(fraction)
    stripped = digits.rstrip("0")
    k += len(digits) - len(stripped)
    digits = stripped
    length = len(digits)
    kk = length + k
    if k >= 0 and kk <= 21:
        out = digits + "0" * k + ".0"
    elif 0 < kk <= 21:
        out = digits[:kk] + "." + digits[kk:]
    elif -6 < kk <= 0:
        out = "0." + "0" * -kk + digits
    elif length == 1:
        out = f"{digits}e{kk - 1}"
    else:
        out = f"{digits[0]}.{digits[1:]}e{kk - 1}"
    return sign + out


def _json_string(item: bytes) -> bytes:
    """A BYTES element as a JSON string holding its bytes (rapidjson does not validate
    UTF-8, so neither do we: invalid sequences are written as they are)."""
    try:
        return orjson.dumps(item.decode("utf-8"))
    except UnicodeDecodeError:
        pass
    out = bytearray(b'"')
    for byte in item:
        if byte == 0x22:
            out += b'\\"'
        elif byte == 0x5C:
            out += b"\\\\"
        elif byte < 0x20:
            out += _CONTROL[byte]
        else:
            out.append(byte)
    out += b'"'
    return bytes(out)


_SHORT = {0x08: b"\\b", 0x09: b"\\t", 0x0A: b"\\n", 0x0C: b"\\f", 0x0D: b"\\r"}
_CONTROL = [_SHORT.get(b, b"\\u%04X" % b) for b in range(0x20)]


def wire_to_json(tensor: Tensor) -> bytes:
    """The flat JSON array Triton writes for ``tensor`` (FP16/BF16 refused)."""
    datatype = tensor.datatype
    if datatype is DataType.FP16 or datatype is DataType.BF16:
        raise invalid_arg(
            f"sending {datatype.value} data via JSON is not supported. Please use the binary "
            "data format for output"
        )
    array = tensor.as_numpy().reshape(-1)
    if datatype is DataType.BYTES:
        items = [bytes(v) if not isinstance(v, str) else v.encode("utf-8") for v in array]
        try:
            return orjson.dumps([item.decode("utf-8") for item in items])
        except UnicodeDecodeError:
            return b"[" + b",".join(_json_string(item) for item in items) + b"]"
    if datatype is DataType.BOOL:
        array = array.astype(np.bool_, copy=False)
    elif datatype is DataType.FP32:
        array = array.astype(np.float64)
    if not array.flags.c_contiguous:
        array = np.ascontiguousarray(array)
    text = orjson.dumps(array, option=orjson.OPT_SERIALIZE_NUMPY)
    if datatype in _FLOAT_TYPES and (b"e" in text or not np.isfinite(array).all()):
        text = ("[" + ",".join(map(_rapidjson_double, array.tolist())) + "]").encode()
    return text
