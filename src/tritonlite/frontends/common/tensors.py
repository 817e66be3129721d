"""Tensor decoding rules both frontends share.

* :data:`DATATYPES` maps protocol names (``"FP32"``) to :class:`DataType`; an unknown name
  is Triton's ``TYPE_INVALID``, reported as :class:`InvalidDatatype` and finished by
  :func:`refine_invalid_datatype` once the model's config is known (Triton checks the
  datatype only when it matches the input against the model).
* :func:`integers_to_wire` / :func:`floats_to_wire` / :func:`bools_to_wire` /
  :func:`strings_to_wire` turn typed Python values (gRPC ``contents``, HTTP JSON ``data``)
  into wire bytes the way Triton's C++ casts do: integers keep their low bytes
  (``(uint8_t)300 == 44``), doubles become floats with IEEE rounding (``1e39`` -> inf).
* :class:`InputSet` collects decoded inputs and rejects a second input of the same name
  with Triton's text.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

import numpy as np
from tritonclient.grpc import model_config_pb2

from tritonlite.core.errors import (
    DecoupledNotSupported,
    ErrorKind,
    InferenceServerError,
    invalid_arg,
    request_prefix,
)
from tritonlite.core.tensor import DataType, Tensor

__all__ = [
    "DATATYPES",
    "INVALID_DATATYPE",
    "InputSet",
    "InvalidDatatype",
    "bools_to_wire",
    "floats_to_wire",
    "integers_to_wire",
    "refine_decode_error",
    "refine_invalid_datatype",
    "strings_to_wire",
]

DATATYPES: dict[str, DataType] = {dt.value: dt for dt in DataType}
INVALID_DATATYPE = "<invalid>"  # TRITONSERVER_DataTypeString(TRITONSERVER_TYPE_INVALID)
_LEN = struct.Struct("<I")


class InvalidDatatype(InferenceServerError):
    """An input's datatype string is not a Triton type. Triton reports it only after the
    model is known, in a text that names the model's expected type, so the frontend
    finishes the message with :func:`refine_invalid_datatype`."""

    def __init__(self, input_name: str) -> None:
        message = f"invalid datatype '{INVALID_DATATYPE}' for input '{input_name}'"
        super().__init__(ErrorKind.INVALID_ARG, message)
        self.input_name = input_name


def refine_decode_error(
    error: InferenceServerError,
    config: model_config_pb2.ModelConfig,
    *,
    model_name: str,
    request_id: str,
    one_response: bool,
) -> InferenceServerError:
    """The error Triton reports for a request that failed to decode, once the model is
    known to exist: Triton checks the model, and for a one-response endpoint its
    transaction policy, before it looks at parameters or tensors."""
    if one_response and config.model_transaction_policy.decoupled:
        return DecoupledNotSupported()
    if not isinstance(error, InvalidDatatype):
        return error
    return refine_invalid_datatype(
        error, request_id=request_id, model_name=model_name, config=config
    )


def refine_invalid_datatype(
    error: InvalidDatatype,
    *,
    request_id: str,
    model_name: str,
    config: model_config_pb2.ModelConfig,
) -> InferenceServerError:
    """The error Triton reports for an input of unknown datatype, given the model."""
    for model_input in config.input:
        if model_input.name == error.input_name:
            try:
                expected = DataType.from_config(model_input.data_type).value
            except (KeyError, ValueError):
                expected = INVALID_DATATYPE
            return invalid_arg(
                f"{request_prefix(request_id)}inference input '{error.input_name}' data-type "
                f"is '{INVALID_DATATYPE}', but model '{model_name}' expects '{expected}'"
            )
    return invalid_arg(f"unexpected inference input '{error.input_name}' for model '{model_name}'")


class InputSet:
    """The inputs of one request, in order, with Triton's duplicate-name check."""

    __slots__ = ("_names", "request_id", "tensors")

    def __init__(self, request_id: str) -> None:
        self.request_id = request_id
        self.tensors: list[Tensor] = []
        self._names: set[str] = set()

    def claim(self, name: str) -> None:
        """Reserve ``name``; raises if the request already has an input of that name."""
        if name in self._names:
            raise invalid_arg(
                f"{request_prefix(self.request_id)}input '{name}' already exists in request"
            )
        self._names.add(name)

    def add(self, tensor: Tensor) -> None:
        self.tensors.append(tensor)


# ---------------------------------------------------------------------- typed values


def integers_to_wire(values: Sequence[int] | np.ndarray, datatype: DataType) -> bytes:
    """Integers -> little-endian element bytes of ``datatype``, keeping the low bytes of
    values that do not fit (a C cast). Values must fit in int64 or uint64."""
    target = datatype.numpy_dtype
    array = np.asarray(values)
    if array.dtype.kind not in "iu":
        # A mix of huge unsigned and negative values: go through Python ints.
        array = np.array([int(v) & 0xFFFFFFFFFFFFFFFF for v in values], dtype=np.uint64)
    if array.dtype != target:
        array = array.astype(target)  # wraps, like the C++ cast
    return array.tobytes()


def floats_to_wire(values: Sequence[float] | np.ndarray, datatype: DataType) -> bytes:
    """Numbers -> FP32/FP64 element bytes (IEEE rounding; overflow becomes inf)."""
    with np.errstate(over="ignore"):
        array = np.asarray(values, dtype=np.float64).astype(datatype.numpy_dtype)
    return array.tobytes()


def bools_to_wire(values: Sequence[bool] | np.ndarray) -> bytes:
    return np.asarray(values, dtype=np.bool_).tobytes()


def strings_to_wire(values: Sequence[bytes | str]) -> bytes:
    """Elements -> Triton's BYTES wire form (4-byte little-endian length + bytes). ``str``
    elements are UTF-8; lone surrogates (raw bytes a JSON parser could not decode)
    come back as the original bytes."""
    parts: list[bytes] = []
    for value in values:
        item = value.encode("utf-8", "surrogateescape") if isinstance(value, str) else value
        parts.append(_LEN.pack(len(item)))
        parts.append(item)
    return b"".join(parts)
