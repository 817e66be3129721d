from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tritonlite.core.errors import ErrorKind, InferenceServerError
from tritonlite.core.shared_memory import (
    SHM_BYTE_SIZE,
    SHM_OFFSET,
    SHM_REGION,
    RegionStatus,
    SystemSharedMemoryRegistry,
    in_shared_memory,
)
from tritonlite.core.tensor import Tensor
from tritonlite.core.types import InferenceResponse, RequestedOutput


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """Stands in for /dev/shm: one 8 KiB object ``seg`` holding 0, 1, 2, ..."""
    (tmp_path / "seg").write_bytes(bytes(range(256)) * 32)
    return tmp_path


@pytest.fixture
def registry(root: Path) -> Iterator[SystemSharedMemoryRegistry]:
    shm = SystemSharedMemoryRegistry(str(root))
    yield shm
    shm.close()


def error(call, *args) -> InferenceServerError:  # type: ignore[no-untyped-def]
    with pytest.raises(InferenceServerError) as info:
        call(*args)
    return info.value


def test_register_status_unregister(registry: SystemSharedMemoryRegistry) -> None:
    registry.register("b", "/seg", 0, 64)
    registry.register("a", "seg", 4100, 16)  # no leading slash, unaligned offset
    assert registry.status() == [RegionStatus("a", "seg", 4100, 16),
                                 RegionStatus("b", "/seg", 0, 64)]
    assert registry.status("b") == [RegionStatus("b", "/seg", 0, 64)]
    assert bytes(registry.view("a", 0, 4)) == bytes(range(4100 % 256, 4100 % 256 + 4))
    registry.unregister("a")
    registry.unregister("a")  # unknown: fine
    assert [r.name for r in registry.status()] == ["b"]
    registry.unregister()
    assert registry.status() == []


@pytest.mark.parametrize(("key", "size", "kind", "text"), [
    ("/nope", 8, ErrorKind.INTERNAL, "Unable to open shared memory region: '/nope'"),
    ("", 8, ErrorKind.INTERNAL, "Unable to open shared memory region: ''"),
    ("/", 8, ErrorKind.INTERNAL, "Unable to open shared memory region: '/'"),
    ("/a/seg", 8, ErrorKind.INTERNAL, "Unable to open shared memory region: '/a/seg'"),
    ("/seg", 8193, ErrorKind.INVALID_ARG, "failed to register shared memory region 'r': "
     "invalid args"),
    ("/seg", 0, ErrorKind.INVALID_ARG, "failed to register shared memory region 'r': "
     "unable to process address spaceInvalid argument"),
])
def test_register_errors(registry: SystemSharedMemoryRegistry, key: str, size: int,
                         kind: ErrorKind, text: str) -> None:
    err = error(registry.register, "r", key, 0, size)
    assert (err.kind, err.message) == (kind, text)
    assert registry.status() == []


def test_register_twice_and_unknown_status(registry: SystemSharedMemoryRegistry) -> None:
    registry.register("r", "/seg", 0, 8)
    err = error(registry.register, "r", "/seg", 8, 8)
    assert (err.kind, err.message) == (ErrorKind.ALREADY_EXISTS,
                                       "shared memory region 'r' already in manager")
    err = error(registry.status, "x")
    assert (err.kind, err.message) == (ErrorKind.NOT_FOUND,
                                       "Unable to find system shared memory region: 'x'")


@pytest.mark.parametrize(("name", "offset", "size", "kind", "text"), [
    ("x", 0, 4, ErrorKind.NOT_FOUND, "Unable to find shared memory region: 'x'"),
    ("r", 16, 1, ErrorKind.INVALID_ARG, "Invalid offset for shared memory region: 'r'"),
    ("r", -1, 1, ErrorKind.INVALID_ARG, "Invalid offset for shared memory region: 'r'"),
    ("r", 12, 8, ErrorKind.INVALID_ARG, "Invalid offset + byte size for shared memory "
     "region: 'r'"),
    ("r", 0, -1, ErrorKind.INVALID_ARG, "Invalid offset + byte size for shared memory "
     "region: 'r'"),
    # Triton 2.51 computes offset + byte_size - 1 unsigned: empty at 0 wraps around.
    ("r", 0, 0, ErrorKind.INVALID_ARG, "Invalid offset + byte size for shared memory "
     "region: 'r'"),
])
def test_view_bounds(registry: SystemSharedMemoryRegistry, name: str, offset: int, size: int,
                     kind: ErrorKind, text: str) -> None:
    registry.register("r", "/seg", 256, 16)
    err = error(registry.view, name, offset, size)
    assert (err.kind, err.message) == (kind, text)


def test_view_is_relative_to_the_region_and_shares_memory(
        registry: SystemSharedMemoryRegistry, root: Path) -> None:
    registry.register("r", "/seg", 256 + 8, 16)
    view = registry.view("r", 4, 12)
    assert bytes(view) == bytes(range(12, 24))
    view[0] = 255
    assert (root / "seg").read_bytes()[256 + 12] == 255
    assert bytes(registry.view("r", 8, 0)) == b""  # empty past offset 0 is fine


def test_unregister_while_a_view_is_held(registry: SystemSharedMemoryRegistry) -> None:
    registry.register("r", "/seg", 0, 16)
    view = registry.view("r", 0, 4)
    registry.unregister("r")  # the mapping stays until the view is let go
    assert bytes(view) == bytes(range(4))
    err = error(registry.view, "r", 0, 4)
    assert err.kind is ErrorKind.NOT_FOUND


def _response() -> InferenceResponse:
    return InferenceResponse("m", "1", "id", outputs=[
        Tensor.from_numpy("A", np.array([1.0, 2.0], np.float32)),
        Tensor.from_numpy("B", np.array([7], np.int32)),
    ])


def test_write_outputs(registry: SystemSharedMemoryRegistry, root: Path) -> None:
    registry.register("out", "/seg", 0, 64)
    requested = [RequestedOutput("A", {SHM_REGION: "out", SHM_OFFSET: 8, SHM_BYTE_SIZE: 32}),
                 RequestedOutput("B")]
    resp = registry.write_outputs(_response(), requested)
    assert resp.error is None
    a, b = resp.outputs
    assert in_shared_memory(a) and not in_shared_memory(b)
    assert (a.name, a.datatype.value, a.shape, bytes(a.raw())) == ("A", "FP32", (2,), b"")
    assert a.parameters == {SHM_REGION: "out", SHM_OFFSET: 8, SHM_BYTE_SIZE: 8}
    written = (root / "seg").read_bytes()[8:16]
    assert np.frombuffer(written, np.float32).tolist() == [1.0, 2.0]
    assert b.as_numpy().tolist() == [7]


def test_write_outputs_that_do_not_fit(registry: SystemSharedMemoryRegistry) -> None:
    registry.register("out", "/seg", 0, 64)
    requested = [RequestedOutput("A", {SHM_REGION: "out", SHM_OFFSET: 0, SHM_BYTE_SIZE: 4})]
    resp = registry.write_outputs(_response(), requested)
    assert resp.outputs == [] and resp.final and resp.id == "id"
    assert resp.error is not None
    assert (resp.error.kind, resp.error.message) == (
        ErrorKind.INTERNAL, "shared memory size specified with the request for output 'A' "
        "(4 bytes) should be at least 8 bytes to hold the results")
    registry.unregister("out")  # gone before the response: Triton's lookup error
    requested = [RequestedOutput("A", {SHM_REGION: "out", SHM_OFFSET: 0, SHM_BYTE_SIZE: 8})]
    resp = registry.write_outputs(_response(), requested)
    assert resp.error is not None and resp.error.kind is ErrorKind.NOT_FOUND


def test_cuda_shared_memory_is_not_supported(registry: SystemSharedMemoryRegistry) -> None:
    registry.register("sys", "/seg", 0, 8)
    assert registry.cuda_status() == []
    err = error(registry.cuda_status, "sys")
    assert (err.kind, err.message) == (
        ErrorKind.NOT_FOUND,
        "The region named 'sys' is registered as system shared memory, not CUDA shared memory")
    assert error(registry.cuda_status, "x").message == (
        "Unable to find cuda shared memory region: 'x'")
    err = error(registry.register_cuda, "c")
    assert (err.kind, err.message) == (
        ErrorKind.INVALID_ARG, "failed to register CUDA shared memory region: 'c', GPUs not "
        "supported")
    registry.unregister_cuda("sys")
    registry.unregister_cuda()
    assert [r.name for r in registry.status()] == ["sys"]
