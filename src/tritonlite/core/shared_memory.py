"""The system shared memory extension: regions a client registers, mapped with ``mmap``.

A client creates a POSIX shared-memory object (``shm_open``; ``tritonclient.utils.
shared_memory.create_shared_memory_region``), registers ``byte_size`` bytes of it from
``offset`` under a region name, and then names the region, an offset into it and a byte
size for an input (read from there) or a requested output (written there).

Rules, as Triton 2.51's ``src/shared_memory_manager.cc`` (texts and kinds checked against
the reference server), with the differences written down:

* Only POSIX shared-memory keys are accepted: ``/name`` (or ``name``), looked up as
  ``/dev/shm/name`` the way glibc's ``shm_open`` does. Anything else, an unknown key
  included, is INTERNAL ``Unable to open shared memory region: '<key>'``.
* Names are unique: ALREADY_EXISTS ``shared memory region '<n>' already in manager``.
* ``offset + byte_size`` past the end of the object is INVALID_ARG ``failed to register
  shared memory region '<n>': invalid args``; a zero ``byte_size`` cannot be mapped
  (Triton's ``mmap`` text).
* Differences from 2.51, where 2.51 has bugs later fixed upstream: several regions may map
  the same key (2.51 reuses a closed descriptor and fails), and a register ``offset`` need
  not be page-aligned and is honoured once (2.51 requires alignment and applies it twice).
  Request offsets are relative to the region, as in later Triton releases.
* :meth:`SystemSharedMemoryRegistry.view` bounds: ``offset >= byte_size`` is ``Invalid
  offset for shared memory region``; past the end (and, as in 2.51 where ``offset +
  byte_size - 1`` wraps, an empty range at offset 0) ``Invalid offset + byte size ...``.
* Unregistering a region that requests still read from or write to drops it from the
  registry at once; its mapping goes away when the last of them lets go (Triton defers
  the unregister the same way). Unregistering an unknown name is not an error.
* CUDA shared memory is not supported: there is never a CUDA region, and registering one
  is Triton's text for a build without GPUs.

Thread-safe: the gRPC frontend decodes requests on its own threads.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import threading
from dataclasses import dataclass
from typing import NoReturn

from tritonlite.core.errors import ErrorKind, InferenceServerError, internal, invalid_arg, not_found
from tritonlite.core.tensor import Tensor
from tritonlite.core.types import InferenceResponse, RequestedOutput

__all__ = [
    "SHM_BYTE_SIZE",
    "SHM_OFFSET",
    "SHM_REGION",
    "RegionStatus",
    "SystemSharedMemoryRegistry",
    "in_shared_memory",
]

SHM_ROOT = "/dev/shm"
# Tensor / requested-output parameters that place a tensor in a region (Triton's names).
SHM_REGION = "shared_memory_region"
SHM_OFFSET = "shared_memory_offset"
SHM_BYTE_SIZE = "shared_memory_byte_size"


@dataclass(slots=True, frozen=True)
class RegionStatus:
    """One registered region as the status endpoints list it."""

    name: str
    key: str
    offset: int
    byte_size: int


class _Region:
    __slots__ = ("mapping", "status", "view")

    def __init__(self, status: RegionStatus, mapping: mmap.mmap, view: memoryview) -> None:
        self.status = status
        self.mapping = mapping
        self.view = view

    def close(self) -> None:
        # A request may still hold a view: the mapping then goes with the last of them.
        with contextlib.suppress(BufferError):
            self.view.release()
            self.mapping.close()


def in_shared_memory(tensor: Tensor) -> bool:
    """Whether ``tensor`` is an output already written to a region (encoders send its
    name, datatype and shape only)."""
    return SHM_REGION in tensor.parameters


class SystemSharedMemoryRegistry:
    """The registered system shared memory regions of one server."""

    def __init__(self, root: str = SHM_ROOT) -> None:
        self._root = root
        self._regions: dict[str, _Region] = {}
        self._lock = threading.Lock()

    # ---------------------------------------------------------------- register, status

    def _path(self, key: str) -> str:
        """``/dev/shm/<name>`` for a POSIX key, as glibc ``shm_open`` resolves it."""
        name = key.lstrip("/")
        if not name or "/" in name or name in (".", ".."):
            raise internal(f"Unable to open shared memory region: '{key}'")
        return os.path.join(self._root, name)

    def register(self, name: str, key: str, offset: int, byte_size: int) -> None:
        """Map ``byte_size`` bytes of the shared-memory object ``key`` from ``offset``."""
        with self._lock:
            if name in self._regions:
                raise InferenceServerError(
                    ErrorKind.ALREADY_EXISTS, f"shared memory region '{name}' already in manager"
                )
            path = self._path(key)
            try:
                fd = os.open(path, os.O_RDWR)
            except OSError as exc:
                raise internal(f"Unable to open shared memory region: '{key}'") from exc
            try:
                size = os.fstat(fd).st_size
                if offset < 0 or byte_size < 0 or offset + byte_size > size:
                    raise invalid_arg(f"failed to register shared memory region '{name}': "
                                      "invalid args")
                if byte_size == 0:
                    raise invalid_arg(f"failed to register shared memory region '{name}': "
                                      "unable to process address spaceInvalid argument")
                start = offset - offset % mmap.ALLOCATIONGRANULARITY
                try:
                    mapping = mmap.mmap(fd, offset + byte_size - start, offset=start)
                except (OSError, ValueError) as exc:
                    raise invalid_arg(f"failed to register shared memory region '{name}': "
                                      f"unable to process address space{exc}") from exc
            finally:
                os.close(fd)
            skip = offset - start
            view = memoryview(mapping)[skip : skip + byte_size]
            self._regions[name] = _Region(RegionStatus(name, key, offset, byte_size), mapping,
                                          view)

    def unregister(self, name: str = "") -> None:
        """Unregister region ``name``, or every region for ``""``; unknown names are fine."""
        with self._lock:
            if name:
                region = self._regions.pop(name, None)
                dropped = [region] if region is not None else []
            else:
                dropped = list(self._regions.values())
                self._regions.clear()
        for region in dropped:
            region.close()

    def status(self, name: str = "") -> list[RegionStatus]:
        """Every region sorted by name, or just ``name`` (NOT_FOUND if unknown)."""
        with self._lock:
            if not name:
                return [self._regions[n].status for n in sorted(self._regions)]
            region = self._regions.get(name)
            if region is None:
                raise not_found(f"Unable to find system shared memory region: '{name}'")
            return [region.status]

    def close(self) -> None:
        self.unregister()

    # ------------------------------------------------------------------------- access

    def view(self, name: str, offset: int, byte_size: int) -> memoryview:
        """``byte_size`` bytes of region ``name`` from ``offset`` (relative to the region),
        without a copy. Raises NOT_FOUND / INVALID_ARG with Triton's texts."""
        with self._lock:
            region = self._regions.get(name)
            if region is None:
                raise not_found(f"Unable to find shared memory region: '{name}'")
            size = region.status.byte_size
            if offset < 0 or offset >= size:
                raise invalid_arg(f"Invalid offset for shared memory region: '{name}'")
            end = offset + byte_size
            if byte_size < 0 or end > size or end == 0:
                raise invalid_arg(f"Invalid offset + byte size for shared memory region: '{name}'")
            return region.view[offset:end]

    def write_outputs(self, response: InferenceResponse,
                      requested: list[RequestedOutput]) -> InferenceResponse:
        """Write the outputs of ``response`` that ``requested`` places in regions, and
        replace each by a data-less tensor that says where it went. Returns the response,
        or an error response when an output does not fit (Triton's INTERNAL text)."""
        targets = {ro.name: ro.parameters for ro in requested if SHM_REGION in ro.parameters}
        if not targets or response.error is not None:
            return response
        outputs = list(response.outputs)
        try:
            for index, tensor in enumerate(outputs):
                params = targets.get(tensor.name)
                if params is None:
                    continue
                region, offset = str(params[SHM_REGION]), int(params.get(SHM_OFFSET, 0))
                capacity = int(params[SHM_BYTE_SIZE])
                data = memoryview(tensor.raw()).cast("B")
                if data.nbytes > capacity:
                    raise internal(
                        "shared memory size specified with the request for output "
                        f"'{tensor.name}' ({capacity} bytes) should be at least "
                        f"{data.nbytes} bytes to hold the results")
                if data.nbytes:
                    target = self.view(region, offset, capacity)
                    target[: data.nbytes] = data
                    target.release()
                outputs[index] = Tensor(
                    tensor.name, tensor.datatype, tensor.shape, raw=b"",
                    parameters={SHM_REGION: region, SHM_OFFSET: offset,
                                SHM_BYTE_SIZE: data.nbytes})
        except InferenceServerError as exc:
            return InferenceResponse(response.model_name, response.model_version, response.id,
                                     error=exc, final=response.final)
        response.outputs = outputs
        return response

    # ------------------------------------------------------------------------- CUDA

    def cuda_status(self, name: str = "") -> list[RegionStatus]:
        """There are no CUDA regions; a system region's name gets Triton's text."""
        if not name:
            return []
        with self._lock:
            known = name in self._regions
        if known:
            raise not_found(f"The region named '{name}' is registered as system shared "
                            "memory, not CUDA shared memory")
        raise not_found(f"Unable to find cuda shared memory region: '{name}'")

    def register_cuda(self, name: str) -> NoReturn:
        raise invalid_arg(
            f"failed to register CUDA shared memory region: '{name}', GPUs not supported")

    def unregister_cuda(self, name: str = "") -> None:
        """Nothing to unregister: there are never CUDA regions (as Triton, not an error)."""
