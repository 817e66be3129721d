"""The one internal tensor type, Triton data types and the BYTES wire encoding.

A :class:`Tensor` holds either a numpy array or its *wire form* (raw little-endian element
bytes; BYTES elements as 4-byte little-endian length + bytes, as Triton's protocols carry
them) and converts lazily, so bytes that arrive from a socket can travel to a worker's
shared memory and back without ever being turned into Python objects. Pure: no I/O.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Sequence
from typing import Any

import numpy as np

_LEN = struct.Struct("<I")


class DataType(enum.Enum):
    """Triton data types by their protocol names (``"FP32"``); ``.config_name`` is ``TYPE_FP32``.

    Declared in the order of ``model_config.proto``'s DataType enum: ``.code`` is a member's
    number there (TYPE_BOOL = 1 ... TYPE_BF16 = 14), which the Python backend's
    ``TRITONSERVER_DataType`` codes share."""

    BOOL = "BOOL"
    UINT8 = "UINT8"
    UINT16 = "UINT16"
    UINT32 = "UINT32"
    UINT64 = "UINT64"
    INT8 = "INT8"
    INT16 = "INT16"
    INT32 = "INT32"
    INT64 = "INT64"
    FP16 = "FP16"
    FP32 = "FP32"
    FP64 = "FP64"
    BYTES = "BYTES"
    BF16 = "BF16"

    # Per-member facts, set once below: read per tensor on the hot path, where a dict
    # keyed by the member would call Enum's Python-level __hash__ each time.
    _np: np.dtype[Any] | None
    _code: int
    _itemsize: int

    @property
    def config_name(self) -> str:
        """The ``model_config.proto`` enum name (BYTES is ``TYPE_STRING``)."""
        return "TYPE_STRING" if self is DataType.BYTES else f"TYPE_{self.value}"

    @property
    def itemsize(self) -> int:
        """Bytes per element on the wire; 0 for BYTES (variable)."""
        return self._itemsize

    @property
    def numpy_dtype(self) -> np.dtype[Any]:
        if self._np is None:
            raise TypeError("BF16 has no numpy dtype; use the raw bytes or DLPack")
        return self._np

    @classmethod
    def from_name(cls, name: str) -> DataType:
        """``"FP32"`` -> FP32, as ``DataType(name)`` but without Enum's lookup machinery
        (the worker channel names a type per tensor). ValueError for an unknown name."""
        try:
            return _BY_NAME[name]
        except KeyError:
            raise ValueError(f"{name!r} is not a valid DataType") from None

    @classmethod
    def from_config_name(cls, name: str) -> DataType:
        """``TYPE_FP32`` -> FP32; ``TYPE_STRING`` -> BYTES. Raises KeyError for TYPE_INVALID."""
        if name == "TYPE_STRING":
            return cls.BYTES
        try:
            return cls(name[5:]) if name.startswith("TYPE_") else cls[""]
        except (ValueError, KeyError):
            raise KeyError(name) from None

    @property
    def code(self) -> int:
        return self._code

    @classmethod
    def from_code(cls, code: int) -> DataType:
        """The type with this number (ValueError for one no type has)."""
        try:
            return _BY_CODE[code]
        except KeyError:
            raise ValueError(f"no Triton data type has the number {code}") from None

    @classmethod
    def from_config(cls, data_type: int) -> DataType:
        """A ModelConfig ``data_type`` enum value -> DataType (KeyError for TYPE_INVALID,
        ValueError for a number the schema does not define)."""
        if data_type == 0:
            raise KeyError("TYPE_INVALID")
        return cls.from_code(data_type)

    @classmethod
    def from_numpy(cls, dtype: np.dtype[Any] | type) -> DataType:
        dt = np.dtype(dtype)
        if dt.kind in ("O", "S", "U"):
            return cls.BYTES
        try:
            return _FROM_NUMPY[dt.newbyteorder("=") if dt.byteorder == "<" else dt]
        except KeyError:
            raise TypeError(f"unsupported numpy dtype {dt}") from None


_NUMPY: dict[DataType, np.dtype[Any]] = {
    DataType.BOOL: np.dtype(np.bool_),
    DataType.UINT8: np.dtype("<u1"),
    DataType.UINT16: np.dtype("<u2"),
    DataType.UINT32: np.dtype("<u4"),
    DataType.UINT64: np.dtype("<u8"),
    DataType.INT8: np.dtype("<i1"),
    DataType.INT16: np.dtype("<i2"),
    DataType.INT32: np.dtype("<i4"),
    DataType.INT64: np.dtype("<i8"),
    DataType.FP16: np.dtype("<f2"),
    DataType.FP32: np.dtype("<f4"),
    DataType.FP64: np.dtype("<f8"),
    DataType.BYTES: np.dtype(np.object_),
}
_FROM_NUMPY: dict[np.dtype[Any], DataType] = {v: k for k, v in _NUMPY.items()}
for _code, _dt in enumerate(DataType, 1):
    _dt._np = _NUMPY.get(_dt)
    _dt._code = _code
    _dt._itemsize = (0 if _dt is DataType.BYTES else 2 if _dt is DataType.BF16
                     else _NUMPY[_dt].itemsize)
del _code, _dt
_BY_CODE: dict[int, DataType] = {dt.code: dt for dt in DataType}
_BY_NAME: dict[str, DataType] = {dt.value: dt for dt in DataType}


def element_count(shape: Sequence[int]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def serialize_bytes(array: np.ndarray) -> bytes:
    """Object/bytes/str array -> Triton's BYTES wire form (row-major, 4-byte LE lengths)."""
    parts: list[bytes] = []
    for item in array.reshape(-1, order="C"):
        if isinstance(item, str):
            b = item.encode("utf-8")
        elif isinstance(item, (bytes, bytearray, memoryview, np.bytes_)):
            b = bytes(item)
        else:
            b = str(item).encode("utf-8")
        parts.append(_LEN.pack(len(b)))
        parts.append(b)
    return b"".join(parts)


def deserialize_bytes(buf: bytes | memoryview, count: int | None = None) -> np.ndarray:
    """BYTES wire form -> 1-D object array of ``bytes``.

    Raises ValueError if the buffer is truncated or (when ``count`` is given) holds a
    different number of elements.
    """
    mv = memoryview(buf).cast("B") if not isinstance(buf, bytes) else buf
    out: list[bytes] = []
    pos, end = 0, len(mv)
    while pos < end:
        if pos + 4 > end:
            raise ValueError("truncated BYTES element length")
        (n,) = _LEN.unpack_from(mv, pos)
        pos += 4
        if pos + n > end:
            raise ValueError("truncated BYTES element")
        out.append(bytes(mv[pos : pos + n]))
        pos += n
    if count is not None and len(out) != count:
        raise ValueError(f"expected {count} BYTES elements, got {len(out)}")
    arr = np.empty(len(out), dtype=np.object_)
    arr[:] = out
    return arr


def count_bytes_elements(buf: bytes | memoryview) -> int:
    """Number of elements in a BYTES wire buffer, or -1 if it is malformed."""
    mv = memoryview(buf).cast("B")
    pos, end, n = 0, len(mv), 0
    while pos < end:
        if pos + 4 > end:
            return -1
        (ln,) = _LEN.unpack_from(mv, pos)
        pos += 4 + ln
        n += 1
    return n if pos == end else -1


class Tensor:
    """A named tensor: numpy array and/or its wire bytes, converted on demand.

    ``raw`` for numeric types is the C-ordered little-endian element bytes; for BYTES it
    is the length-prefixed form. Either representation may be the original; the other is
    derived once and cached.
    """

    __slots__ = ("_array", "_raw", "datatype", "name", "parameters", "shape")

    def __init__(
        self,
        name: str,
        datatype: DataType,
        shape: Sequence[int],
        *,
        array: np.ndarray | None = None,
        raw: bytes | memoryview | None = None,
        parameters: dict[str, Any] | None = None,
    ) -> None:
        if array is None and raw is None:
            raise ValueError("Tensor needs an array or raw bytes")
        self.name = name
        self.datatype = datatype
        self.shape: tuple[int, ...] = tuple(map(int, shape))
        self._array = array
        self._raw = raw
        self.parameters: dict[str, Any] = parameters if parameters is not None else {}

    @classmethod
    def from_numpy(cls, name: str, array: np.ndarray, datatype: DataType | None = None) -> Tensor:
        dt = datatype or DataType.from_numpy(array.dtype)
        return cls(name, dt, array.shape, array=array)

    @property
    def element_count(self) -> int:
        return element_count(self.shape)

    def has_array(self) -> bool:
        return self._array is not None

    def as_numpy(self) -> np.ndarray:
        """The data as a numpy array shaped ``shape`` (BYTES: object array of bytes)."""
        if self._array is None:
            assert self._raw is not None
            if self.datatype is DataType.BYTES:
                arr = deserialize_bytes(self._raw, self.element_count)
            else:
                arr = np.frombuffer(self._raw, dtype=self.datatype.numpy_dtype)
            self._array = arr.reshape(self.shape)
        return self._array

    def raw(self) -> bytes | memoryview:
        """The wire bytes (no copy when the tensor came from the wire or is contiguous)."""
        if self._raw is None:
            assert self._array is not None
            arr = self._array
            if self.datatype is DataType.BYTES:
                self._raw = serialize_bytes(arr)
            else:
                want = self.datatype.numpy_dtype
                if arr.dtype != want:
                    arr = arr.astype(want)
                if not arr.flags.c_contiguous:
                    arr = np.ascontiguousarray(arr)
                self._raw = arr.data.cast("B") if arr.size else b""
        return self._raw

    @property
    def byte_size(self) -> int:
        raw = self.raw()
        return raw.nbytes if isinstance(raw, memoryview) else len(raw)

    def __repr__(self) -> str:
        return f"Tensor({self.name!r}, {self.datatype.value}, {list(self.shape)})"
