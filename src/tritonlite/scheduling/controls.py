"""Sequence control tensors (START/END/READY/CORRID) built from ``sequence_batching``.

The sequence batcher injects these as extra inputs the client never sends: shape [1] when
``max_batch_size`` is 0 and [1, 1] otherwise, in the data type the config declares
(``int32_false_true`` / ``fp32_false_true`` / ``bool_false_true``; CORRID in its
``data_type``). Pure: config in, tensors out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tritonlite.core.tensor import DataType, Tensor

START, END, READY, CORRID = (
    "CONTROL_SEQUENCE_START",
    "CONTROL_SEQUENCE_END",
    "CONTROL_SEQUENCE_READY",
    "CONTROL_SEQUENCE_CORRID",
)


@dataclass(frozen=True, slots=True)
class _Control:
    name: str
    kind: str
    false_true: tuple[Any, Any] | None  # values for 0/1
    dtype: DataType


def _fnv1a64(text: str) -> int:
    h = 0xCBF29CE484222325
    for b in text.encode("utf-8"):
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


class SequenceControls:
    """Builds the control tensors of one model for a request's flags and correlation id."""

    def __init__(self, sequence_batching: Any, max_batch_size: int) -> None:
        self.shape: tuple[int, ...] = (1,) if max_batch_size == 0 else (1, 1)
        self.controls: list[_Control] = []
        for ci in sequence_batching.control_input:
            for c in ci.control:
                kind = type(c).Kind.Name(c.kind) if hasattr(type(c), "Kind") else str(c.kind)
                if kind == CORRID:
                    self.controls.append(
                        _Control(ci.name, kind, None, DataType.from_config(c.data_type)))
                elif len(c.int32_false_true) == 2:
                    self.controls.append(_Control(ci.name, kind, tuple(c.int32_false_true),
                                                  DataType.INT32))
                elif len(c.fp32_false_true) == 2:
                    self.controls.append(_Control(ci.name, kind, tuple(c.fp32_false_true),
                                                  DataType.FP32))
                elif len(c.bool_false_true) == 2:
                    self.controls.append(_Control(ci.name, kind, tuple(c.bool_false_true),
                                                  DataType.BOOL))
        self.names = frozenset(c.name for c in self.controls)
        self._flag_cache: dict[tuple[bool, bool, bool], list[Tensor | None]] = {}

    def tensors(self, *, start: bool, end: bool, ready: bool,
                correlation_id: int | str) -> list[Tensor]:
        key = (start, end, ready)
        flags = self._flag_cache.get(key)
        if flags is None:  # 8 combinations at most: build each once, share them (read-only)
            flags = self._flag_cache[key] = [self._flag(c, start, end, ready)
                                             for c in self.controls]
        return [t if t is not None else self._corrid(c, correlation_id)
                for c, t in zip(self.controls, flags, strict=True)]

    def _flag(self, c: _Control, start: bool, end: bool, ready: bool) -> Tensor | None:
        if c.kind == CORRID:
            return None
        flag = {START: start, END: end, READY: ready}[c.kind]
        assert c.false_true is not None
        arr = np.full(self.shape, c.false_true[1 if flag else 0], dtype=c.dtype.numpy_dtype)
        arr.flags.writeable = False
        return Tensor(c.name, c.dtype, self.shape, array=arr)

    def _corrid(self, c: _Control, cid: int | str) -> Tensor:
        if c.dtype is DataType.BYTES:
            arr = np.full(self.shape, str(cid).encode("utf-8"), dtype=np.object_)
            return Tensor(c.name, c.dtype, self.shape, array=arr)
        if isinstance(cid, str):
            # Triton 2.51 passes the string's wire bytes reinterpreted (garbage) here; a
            # stable 64-bit hash keeps string-id sequences apart for models keyed by CORRID.
            value = int(cid) if cid.isdigit() else _fnv1a64(cid)
        else:
            value = cid
        dt = c.dtype.numpy_dtype
        bits = dt.itemsize * 8
        value &= (1 << bits) - 1  # 32-bit CORRID types truncate, as in Triton
        arr = np.array([value], dtype=np.dtype(f"<u{dt.itemsize}")).view(dt).reshape(self.shape)
        return Tensor(c.name, c.dtype, self.shape, array=arr)
