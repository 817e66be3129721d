"""Tensors in system shared memory, for both frontends' codecs.

An input or requested output names a region, an offset and a byte size (each frontend
reads them from its own wire format). An input's data becomes a memoryview of the region
(no copy until it goes to the worker); a requested output is checked against the region
now, as Triton does when it parses the request, and carries the placement as its
parameters, so the core writes the output there (``SystemSharedMemoryRegistry.
write_outputs``) and the encoders send only its name, datatype and shape.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from tritonlite.core.errors import not_found
from tritonlite.core.shared_memory import (
    SHM_BYTE_SIZE,
    SHM_OFFSET,
    SHM_REGION,
    SystemSharedMemoryRegistry,
    in_shared_memory,
)
from tritonlite.core.types import ParamValue

__all__ = [
    "SharedMemoryRef",
    "in_shared_memory",
    "input_view",
    "names_shared_memory",
    "output_parameters",
]


@dataclass(slots=True, frozen=True)
class SharedMemoryRef:
    """Where a tensor lives: ``byte_size`` bytes of ``region`` from ``offset``."""

    region: str
    offset: int
    byte_size: int


def _view(registry: SystemSharedMemoryRegistry | None, ref: SharedMemoryRef) -> memoryview:
    if registry is None:  # a frontend without a registry: no region can exist
        raise not_found(f"Unable to find shared memory region: '{ref.region}'")
    return registry.view(ref.region, ref.offset, ref.byte_size)


def input_view(registry: SystemSharedMemoryRegistry | None, ref: SharedMemoryRef) -> memoryview:
    """The bytes of an input that lives in shared memory (Triton's errors if not there)."""
    return _view(registry, ref)


def output_parameters(
    registry: SystemSharedMemoryRegistry | None, ref: SharedMemoryRef
) -> dict[str, ParamValue]:
    """Check that an output's region exists and holds the range; the requested output's
    parameters that tell the core where to write it."""
    _view(registry, ref).release()
    return {SHM_REGION: ref.region, SHM_OFFSET: ref.offset, SHM_BYTE_SIZE: ref.byte_size}


def names_shared_memory(parameter_names: Iterable[str]) -> bool:
    """Whether a tensor's parameters say anything of shared memory (a region, an offset
    or a byte size): such a request depends on the regions registered when it comes, not
    only on its bytes (``common.layouts`` keeps no header of one)."""
    return any(name.startswith("shared_memory_") for name in parameter_names)
