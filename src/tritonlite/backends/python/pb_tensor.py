"""``pb_utils.Tensor``: a named numpy array with a Triton data type, plus DLPack exchange.

DLPack works without any framework installed: export goes through numpy's own
``__dlpack__`` and import through ``np.from_dlpack``. BF16, which numpy cannot represent,
is carried as its raw 16-bit patterns (a ``uint16`` array) and relabelled in the DLPack
descriptor on the way in and out (through ``ctypes``), so ``torch.from_dlpack`` sees a real
``bfloat16`` tensor. Limits (also in the docstrings): CPU memory only (a CUDA tensor raises,
pinned host memory is accepted), C-contiguous layouts only, and the legacy unversioned
``"dltensor"`` capsule.
"""

from __future__ import annotations

import ctypes
from typing import Any, cast

import numpy as np

from tritonlite.backends.python.pb_dtypes import (
    _CODE_TO_DATATYPE,
    TYPE_BF16,
    TYPE_BYTES,
    _code_of,
    _dtype_code,
)
from tritonlite.backends.python.pb_errors import TritonModelException
from tritonlite.core.tensor import DataType
from tritonlite.core.tensor import Tensor as CoreTensor

__all__ = ["Tensor"]

# DLPack enum values (dlpack.h).
_KDL_CPU = 1
_KDL_CUDA = 2
_KDL_CUDA_HOST = 3
_KDL_UINT = 1
_KDL_BFLOAT = 4
_CAPSULE_NAME = b"dltensor"


class _DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32)]


class _DLDataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class _DLTensor(ctypes.Structure):
    _fields_ = [
        ("data", ctypes.c_void_p),
        ("device", _DLDevice),
        ("ndim", ctypes.c_int32),
        ("dtype", _DLDataType),
        ("shape", ctypes.POINTER(ctypes.c_int64)),
        ("strides", ctypes.POINTER(ctypes.c_int64)),
        ("byte_offset", ctypes.c_uint64),
    ]


class _DLManagedTensor(ctypes.Structure):
    # Only the leading DLTensor is read or patched; the rest belongs to the producer.
    _fields_ = [("dl_tensor", _DLTensor), ("manager_ctx", ctypes.c_void_p)]


_capsule_is_valid = ctypes.pythonapi.PyCapsule_IsValid
_capsule_is_valid.argtypes = [ctypes.py_object, ctypes.c_char_p]
_capsule_is_valid.restype = ctypes.c_int
_capsule_get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
_capsule_get_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
_capsule_get_pointer.restype = ctypes.c_void_p


def _is_capsule(obj: object) -> bool:
    return type(obj).__name__ == "PyCapsule"


def _dl_tensor(capsule: object) -> _DLTensor:
    """The DLTensor inside an unconsumed ``"dltensor"`` capsule (raises otherwise)."""
    if not _capsule_is_valid(capsule, _CAPSULE_NAME):
        raise TritonModelException(
            "Provided DLPack capsule is not a valid 'dltensor' capsule (a capsule can be "
            "consumed only once)."
        )
    address = _capsule_get_pointer(capsule, _CAPSULE_NAME)
    managed = _DLManagedTensor.from_address(address)
    dl_tensor: _DLTensor = managed.dl_tensor
    return dl_tensor


def _check_device(device_type: int) -> None:
    if device_type == _KDL_CUDA:
        raise TritonModelException(
            "DLPack capsule passed pointer to memory allocated on GPU device, when GPU is "
            "not available"
        )
    if device_type not in (_KDL_CPU, _KDL_CUDA_HOST):
        raise TritonModelException(f"DLDevice type {device_type} is not support by Python backend.")


class _CapsuleHolder:
    """Hands one CPU capsule to ``np.from_dlpack``, which wants a ``__dlpack__`` object."""

    def __init__(self, capsule: object) -> None:
        self._capsule = capsule

    def __dlpack__(self, stream: object = None) -> object:
        return self._capsule

    def __dlpack_device__(self) -> tuple[int, int]:
        return (_KDL_CPU, 0)


def _check_name(name: object) -> str:
    if not isinstance(name, str):
        raise TypeError(f"Tensor name must be a str, got {type(name).__name__}")
    if name == "":
        raise TritonModelException("Tensor name cannot be an empty string.")
    return name


class Tensor:
    """A named tensor in CPU memory, as a model receives and returns it.

    ``Tensor(name, array)`` takes a ``numpy.ndarray`` (not a list). BYTES tensors are
    ``np.object_`` arrays of ``bytes`` (or ``str``, sent UTF-8 encoded); ``S`` arrays work
    too. A non-contiguous array is copied into C order; otherwise the array is kept as is
    (no copy), so ``as_numpy()`` returns the same object.
    """

    __slots__ = ("_array", "_dtype", "_name")

    _name: str
    _array: np.ndarray
    _dtype: int

    def __init__(self, name: str, array: np.ndarray) -> None:
        """Create a tensor called ``name`` holding ``array`` (a numpy.ndarray)."""
        if not isinstance(array, np.ndarray):
            raise TypeError(
                "__init__(): incompatible constructor arguments. Tensor(name: str, "
                f"array: numpy.ndarray) needs a numpy array, got {type(array).__name__}; "
                "wrap the data with numpy.array(...)"
            )
        self._name = _check_name(name)
        self._dtype = _dtype_code(array.dtype)
        if not array.flags.c_contiguous:
            array = np.ascontiguousarray(array)
        self._array = array

    @classmethod
    def _from_array(cls, name: str, array: np.ndarray, triton_dtype: int) -> Tensor:
        """Server-side constructor: no checks, no copy. BF16 (14) data is a uint16 array."""
        tensor = cls.__new__(cls)
        tensor._name = name
        tensor._array = array
        tensor._dtype = triton_dtype
        return tensor

    @classmethod
    def _from_core(cls, tensor: CoreTensor) -> Tensor:
        """Wrap a core tensor for a model; read-only data is copied (models may write)."""
        if tensor.datatype is DataType.BF16:
            raw = memoryview(tensor.raw()).cast("B")
            array = np.frombuffer(raw, dtype="<u2").reshape(tensor.shape)
        else:
            array = tensor.as_numpy()
        if not array.flags.writeable:
            array = array.copy()
        return cls._from_array(tensor.name, array, tensor.datatype.code)

    def _to_core(self) -> CoreTensor:
        """This tensor as a core tensor (shares the array; BF16 as raw bytes)."""
        datatype = _CODE_TO_DATATYPE[self._dtype]
        if self._dtype == TYPE_BF16:
            return CoreTensor(
                self._name, datatype, self._array.shape, raw=self._array.astype("<u2").tobytes()
            )
        return CoreTensor(self._name, datatype, self._array.shape, array=self._array)

    def _data(self) -> np.ndarray:
        """Stub side: the array as stored (BF16: uint16 bit patterns), for any dtype."""
        return self._array

    def name(self) -> str:
        """The tensor's name."""
        return self._name

    def as_numpy(self) -> np.ndarray:
        """The data as a numpy array (BYTES: object array). Not available for BF16.

        In a server the array of an *input* tensor is only valid during ``execute``;
        copy it if you keep it.
        """
        if self._dtype == TYPE_BF16:
            raise TritonModelException(
                "Tensor dtype is BF16 and cannot be converted to NumPy. Use to_dlpack() "
                "and from_dlpack() instead."
            )
        return self._array

    def shape(self) -> list[int]:
        """The shape as a list of ints."""
        return [int(d) for d in self._array.shape]

    def triton_dtype(self) -> int:
        """The Triton type code (``TYPE_FP32`` = 11, ``TYPE_STRING`` = 13, ``TYPE_BF16`` = 14).

        (Broken on Triton 2.51, where it raises TypeError; here it works.)
        """
        return self._dtype

    def is_cpu(self) -> bool:
        """Whether the data is in CPU memory (always True here)."""
        return True

    def to_dlpack(self) -> Any:
        """A DLPack capsule over this tensor's memory (zero-copy, CPU device).

        BYTES tensors cannot be exported. A read-only array (which DLPack cannot flag) is
        copied first.
        """
        if self._dtype == TYPE_BYTES:
            raise TritonModelException("DLPack does not have support for string tensors.")
        array = self._array
        try:
            capsule = array.__dlpack__()
        except BufferError:
            capsule = np.array(array, copy=True).__dlpack__()
        if self._dtype == TYPE_BF16:
            dtype = _dl_tensor(capsule).dtype
            dtype.code, dtype.bits, dtype.lanes = _KDL_BFLOAT, 16, 1
        return capsule

    def __dlpack__(self, stream: Any = None) -> Any:
        """DLPack protocol: same as ``to_dlpack()`` (``stream`` is ignored on CPU)."""
        return self.to_dlpack()

    def __dlpack_device__(self) -> tuple[int, int]:
        """DLPack protocol: ``(kDLCPU, 0)``."""
        return (_KDL_CPU, 0)

    @staticmethod
    def from_dlpack(name: str, tensor: Any) -> Tensor:
        """Create a tensor from a DLPack capsule or an object with ``__dlpack__``.

        Zero-copy. Accepts CPU (and pinned host) memory in C-contiguous layout; BF16 is
        supported. A capsule can be consumed once. GPU tensors raise
        ``TritonModelException`` (no GPU support in tritonlite).
        """
        _check_name(name)
        if _is_capsule(tensor):
            capsule = tensor
        else:
            if not (hasattr(tensor, "__dlpack__") and hasattr(tensor, "__dlpack_device__")):
                raise TritonModelException(
                    "Provided tensor is not supported. Tensor must be a DLPack capsule or "
                    "have `__dlpack__` and `__dlpack_device__` attributes"
                )
            device_type, _ = tensor.__dlpack_device__()
            _check_device(int(device_type))
            capsule = tensor.__dlpack__(stream=None)
        dl_tensor = _dl_tensor(capsule)
        _check_device(dl_tensor.device.device_type)
        dl_tensor.device.device_type = _KDL_CPU  # pinned host memory is plain CPU memory
        is_bf16 = dl_tensor.dtype.code == _KDL_BFLOAT
        if is_bf16:
            if dl_tensor.dtype.bits != 16:
                raise TritonModelException(
                    f"Expected BF16 tensor to have 16 bits, but had: {dl_tensor.dtype.bits}"
                )
            dl_tensor.dtype.code = _KDL_UINT  # numpy has no bfloat16: carry the bits
        try:
            array = np.from_dlpack(cast(Any, _CapsuleHolder(capsule)))
        except (BufferError, TypeError, ValueError) as exc:
            raise TritonModelException(f"Unable to import DLPack tensor: {exc}") from exc
        if not array.flags.c_contiguous:
            raise TritonModelException(
                "DLPack tensor is not contiguous. Only contiguous DLPack tensors that are "
                "stored in C-Order are supported."
            )
        if is_bf16:
            return Tensor._from_array(name, array, TYPE_BF16)
        code = _code_of(array.dtype)
        if code is None or code == TYPE_BYTES:
            raise TritonModelException(f"DLPack data type {array.dtype} is not supported.")
        return Tensor._from_array(name, array, code)

    def __repr__(self) -> str:
        return f"Tensor({self._name!r}, triton_dtype={self._dtype}, shape={self.shape()})"
