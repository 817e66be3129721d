"""Server-wide CPU and memory gauges, refreshed every ``--metrics-interval-ms``.

As Triton's CPU metrics (``/proc/stat`` and ``/proc/meminfo``): ``nv_cpu_utilization``
is the share of all cores busy since the previous refresh (0.0-1.0),
``nv_cpu_memory_total_bytes`` is ``MemTotal`` and ``nv_cpu_memory_used_bytes`` is
``MemTotal - MemAvailable``. Read with psutil, in a worker thread (the frontend's
refresh task calls :meth:`SystemGauges.refresh` through ``asyncio.to_thread``).
"""

from __future__ import annotations

from dataclasses import dataclass

import psutil

__all__ = ["SystemGauges"]


@dataclass(slots=True)
class SystemGauges:
    cpu_utilization: float = 0.0
    memory_total_bytes: int = 0
    memory_used_bytes: int = 0

    def __post_init__(self) -> None:
        psutil.cpu_percent(interval=None)  # starts the first interval
        self._read_memory()

    def _read_memory(self) -> None:
        memory = psutil.virtual_memory()
        self.memory_total_bytes = int(memory.total)
        self.memory_used_bytes = int(memory.total - memory.available)

    def refresh(self) -> None:
        """Sample utilization since the last call and the memory now (blocking reads of
        /proc: call it off the event loop)."""
        self.cpu_utilization = psutil.cpu_percent(interval=None) / 100.0
        self._read_memory()
