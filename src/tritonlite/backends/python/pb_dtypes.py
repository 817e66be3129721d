"""Data-type maps and the BYTES tensor codec of ``triton_python_backend_utils``.

Triton's ``TRITONSERVER_DataType`` integer codes (``TYPE_BOOL`` = 1 ... ``TYPE_BF16`` = 14)
are what ``Tensor.triton_dtype()``, ``triton_to_numpy_type`` and ``numpy_to_triton_type``
speak. The BYTES wire form is a 4-byte little-endian length before each element.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tritonlite.backends.python.pb_errors import TritonModelException
from tritonlite.core.tensor import DataType, deserialize_bytes, serialize_bytes

__all__ = [
    "TRITON_STRING_TO_NUMPY",
    "deserialize_bytes_tensor",
    "numpy_to_triton_type",
    "serialize_byte_tensor",
    "triton_string_to_numpy",
    "triton_to_numpy_type",
]

# Config-file type names -> numpy types; the values are the same objects Triton's module
# uses (note ``bool`` and ``np.object_``), since models compare against them.
TRITON_STRING_TO_NUMPY: dict[str, type] = {
    "TYPE_BOOL": bool,
    "TYPE_UINT8": np.uint8,
    "TYPE_UINT16": np.uint16,
    "TYPE_UINT32": np.uint32,
    "TYPE_UINT64": np.uint64,
    "TYPE_INT8": np.int8,
    "TYPE_INT16": np.int16,
    "TYPE_INT32": np.int32,
    "TYPE_INT64": np.int64,
    "TYPE_FP16": np.float16,
    "TYPE_FP32": np.float32,
    "TYPE_FP64": np.float64,
    "TYPE_STRING": np.object_,
}

# TRITONSERVER_DataType codes.
TYPE_INVALID = 0
TYPE_BYTES = 13
TYPE_BF16 = 14

_CODE_TO_NUMPY: dict[int, type] = {
    1: np.bool_,
    2: np.uint8,
    3: np.uint16,
    4: np.uint32,
    5: np.uint64,
    6: np.int8,
    7: np.int16,
    8: np.int32,
    9: np.int64,
    10: np.float16,
    11: np.float32,
    12: np.float64,
    13: np.object_,
}
# Exact (native byte order) numpy dtypes -> codes; BYTES is handled by kind below.
_NUMPY_TO_CODE: dict[np.dtype[Any], int] = {
    np.dtype(t): code for code, t in _CODE_TO_NUMPY.items() if code != TYPE_BYTES
}

_CODE_TO_DATATYPE: dict[int, DataType] = {dt.code: dt for dt in DataType}


def triton_to_numpy_type(data_type: int) -> type | None:
    """Numpy type for a Triton type code (``11`` -> ``np.float32``, ``13`` -> ``np.object_``).

    Returns None for codes without a numpy type (0 = INVALID, 14 = BF16, unknown codes).
    """
    return _CODE_TO_NUMPY.get(data_type)


def numpy_to_triton_type(data_type: Any) -> int | None:
    """Triton type code for a numpy type or dtype (``np.float32`` -> ``11``).

    Object and bytes (``S``) dtypes map to 13 (BYTES). Returns None for types Triton
    does not support (e.g. ``np.str_``, complex, non-native byte order).
    """
    try:
        dt = np.dtype(data_type)
    except TypeError:
        return None
    return _code_of(dt)


def triton_string_to_numpy(triton_type_string: str) -> type:
    """Numpy type for a config type name: ``"TYPE_FP32"`` -> ``np.float32``.

    Raises KeyError for names not in ``TRITON_STRING_TO_NUMPY`` (e.g. ``TYPE_BF16``).
    """
    return TRITON_STRING_TO_NUMPY[triton_type_string]


def serialize_byte_tensor(input_tensor: np.ndarray) -> bytes | tuple[()] | None:
    """Serialize a BYTES tensor (object or ``S`` dtype) to Triton's length-prefixed form.

    Elements are taken in C order; each becomes a 4-byte little-endian length followed
    by its bytes. ``bytes`` elements are used as is; ``str`` (and any other object) is
    converted with ``str()`` and UTF-8 encoded.

    Returns ``bytes`` (as Triton's function does, despite its docstring), ``()`` for an
    empty array and None when the dtype is neither object nor bytes.

    Difference from Triton: bytes-like elements (``bytearray``, ``memoryview``, numpy
    ``bytes_`` scalars) are sent as their bytes; Triton would send their ``str()``
    representation (``"bytearray(b'...')"``), which no client can use.
    """
    if input_tensor.size == 0:
        return ()
    if input_tensor.dtype == np.object_ or input_tensor.dtype.type == np.bytes_:
        return serialize_bytes(input_tensor)
    return None


def deserialize_bytes_tensor(
    encoded_tensor: bytes | bytearray | memoryview,
) -> np.ndarray:
    """Decode Triton's length-prefixed BYTES form into a 1-D object array of ``bytes``.

    Accepts any contiguous buffer (bytes, bytearray, memoryview, uint8 array). Raises
    ValueError when the buffer is truncated.
    """
    if isinstance(encoded_tensor, bytes):
        return deserialize_bytes(encoded_tensor)
    return deserialize_bytes(memoryview(encoded_tensor))


def _code_of(dt: np.dtype[Any]) -> int | None:
    if dt.kind == "O" or dt.kind == "S":
        return TYPE_BYTES
    return _NUMPY_TO_CODE.get(dt)


def _dtype_code(dt: np.dtype[Any]) -> int:
    """Code for an array dtype a Tensor may hold; raises as Triton's Tensor constructor does."""
    code = _code_of(dt)
    if code is None:
        raise TritonModelException("NumPy dtype is not supported.")
    return code
