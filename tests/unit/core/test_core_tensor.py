from __future__ import annotations

import numpy as np
import pytest

from tritonlite.core.tensor import (
    DataType,
    Tensor,
    count_bytes_elements,
    deserialize_bytes,
    serialize_bytes,
)


@pytest.mark.parametrize("dt", [d for d in DataType if d not in (DataType.BYTES, DataType.BF16)])
def test_numeric_roundtrip_through_raw(dt: DataType) -> None:
    arr = (np.arange(6) % 2 if dt is DataType.BOOL else np.arange(6)).astype(dt.numpy_dtype)
    arr = arr.reshape(2, 3)
    t = Tensor.from_numpy("x", arr)
    assert t.datatype is dt
    back = Tensor("x", dt, (2, 3), raw=bytes(t.raw()))
    np.testing.assert_array_equal(back.as_numpy(), arr)
    assert back.byte_size == arr.nbytes


def test_bytes_wire_format() -> None:
    arr = np.array([b"ab", "é", b""], dtype=np.object_)
    wire = serialize_bytes(arr)
    assert wire == b"\x02\x00\x00\x00ab\x02\x00\x00\x00\xc3\xa9\x00\x00\x00\x00"
    assert count_bytes_elements(wire) == 3
    assert list(deserialize_bytes(wire)) == [b"ab", "é".encode(), b""]
    assert count_bytes_elements(wire[:-1] + b"\x01\x00") == -1
    with pytest.raises(ValueError):
        deserialize_bytes(wire, count=2)


def test_raw_of_non_contiguous_array_is_c_order() -> None:
    arr = np.arange(6, dtype=np.float32).reshape(2, 3).T
    t = Tensor.from_numpy("x", arr)
    assert bytes(t.raw()) == np.ascontiguousarray(arr).tobytes()


def test_config_names() -> None:
    assert DataType.from_config_name("TYPE_STRING") is DataType.BYTES
    assert DataType.FP32.config_name == "TYPE_FP32"
    with pytest.raises(KeyError):
        DataType.from_config_name("TYPE_INVALID")


def test_config_enum_numbers_map_to_the_same_types_as_their_names() -> None:
    from tritonclient.grpc import model_config_pb2

    for name, number in model_config_pb2.DataType.items():
        if name == "TYPE_INVALID":
            with pytest.raises(KeyError):
                DataType.from_config(number)
            continue
        assert DataType.from_config(number) is DataType.from_config_name(name)
        assert DataType.from_config(number).code == number
    with pytest.raises(ValueError, match="no Triton data type has the number 99"):
        DataType.from_config(99)
