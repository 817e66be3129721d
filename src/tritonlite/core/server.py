"""InferenceServer: the one object every frontend calls (it implements ``ServerApi``).

It resolves the model version, validates the request, wraps the response sink with the
statistics bookkeeping and hands the request to the model's scheduler. It knows no wire
format and no process model: schedulers and instances come in through ``ModelVersion``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING

from tritonlite import TRITON_COMPAT_VERSION
from tritonlite.core.busy_poll import BusyPoll
from tritonlite.core.cache import ResponseCache, request_key
from tritonlite.core.classification import classify
from tritonlite.core.custom_metrics import CustomMetrics
from tritonlite.core.errors import DecoupledNotSupported, ErrorKind, InferenceServerError
from tritonlite.core.model import ModelVersion, metadata_of
from tritonlite.core.registry import Registry
from tritonlite.core.shared_memory import SHM_REGION, SystemSharedMemoryRegistry
from tritonlite.core.stats import ModelStats
from tritonlite.core.types import (
    InferenceRequest,
    InferenceResponse,
    ModelIndexEntry,
    ModelMetadata,
    ResponseSink,
    ScheduledRequest,
    ServerMetadata,
)

if TYPE_CHECKING:
    from tritonclient.grpc import model_config_pb2

log = logging.getLogger(__name__)

# Triton 2.51's list and order, less what tritonlite does not implement (CUDA shared
# memory).
EXTENSIONS = (
    "classification",
    "sequence",
    "model_repository",
    "model_repository(unload_dependents)",
    "schedule_policy",
    "model_configuration",
    "system_shared_memory",
    "binary_tensor_data",
    "parameters",
    "statistics",
    "trace",
    "logging",
)

ModelControl = Callable[[str, dict[str, object] | None], Awaitable[None]]


def _discard(resp: InferenceResponse) -> None:
    """The sink of a finished request (nothing may follow its final response)."""


class InferenceServer:
    def __init__(self, registry: Registry, *, extensions: tuple[str, ...] = EXTENSIONS,
                 strict_readiness: bool = True, busy_poll_us: int = 0) -> None:
        self.registry = registry
        self.extensions = extensions
        self.strict_readiness = strict_readiness
        self.exiting = False
        self.custom_metrics = CustomMetrics()
        self.shared_memory = SystemSharedMemoryRegistry()
        self._load: ModelControl | None = None
        self._unload: Callable[[str, bool], Awaitable[None]] | None = None
        self._inflight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        # Started each time the last request in flight is answered (see busy_poll).
        self._busy_poll = (BusyPoll(busy_poll_us, lambda: self._inflight == 0)
                           if busy_poll_us > 0 else None)

    def set_model_control(self, load: ModelControl,
                          unload: Callable[[str, bool], Awaitable[None]]) -> None:
        """Installed by the runner in EXPLICIT mode; without it load/unload are refused."""
        self._load, self._unload = load, unload

    # ---- health and metadata ----------------------------------------------------------------
    def is_live(self) -> bool:
        return not self.exiting

    def is_ready(self) -> bool:
        if self.exiting:
            return False
        return self.registry.all_ready() if self.strict_readiness else True

    def server_metadata(self) -> ServerMetadata:
        return ServerMetadata("triton", TRITON_COMPAT_VERSION, self.extensions)

    def model_ready(self, model: str, version: str = "") -> bool:
        return not self.exiting and self.registry.is_ready(model, version)

    def model_metadata(self, model: str, version: str = "") -> ModelMetadata:
        mv = self.registry.resolve(model, version)
        versions = tuple(str(m.version) for m in self.registry.ready_models() if m.name == model)
        return metadata_of(mv.config, tuple(sorted(versions, key=int)))

    def model_config(self, model: str, version: str = "") -> model_config_pb2.ModelConfig:
        return self.registry.resolve(model, version).config

    def model_statistics(self, model: str = "", version: str = "") -> list[ModelStats]:
        if not model:
            return sorted((m.stats for m in self.registry.ready_models()),
                          key=lambda s: (s.name, int(s.version)))
        found = [m.stats for m in self.registry.ready_models() if m.name == model]
        if not found:
            raise InferenceServerError(ErrorKind.INVALID_ARG,
                                       f"requested model '{model}' is not available")
        if version:
            found = [s for s in found if s.version == version]
            if not found:
                raise InferenceServerError(
                    ErrorKind.INVALID_ARG,
                    f"requested model version is not available for model '{model}'")
        return sorted(found, key=lambda s: int(s.version))

    def repository_index(self, ready_only: bool = False) -> list[ModelIndexEntry]:
        return self.registry.index(ready_only)

    async def load_model(self, model: str, parameters: dict[str, object] | None = None) -> None:
        if self._load is None:
            raise InferenceServerError(
                ErrorKind.UNAVAILABLE,
                "explicit model load / unload is not allowed if polling is enabled")
        await self._load(model, parameters)

    async def unload_model(self, model: str, unload_dependents: bool = False) -> None:
        if self._unload is None:
            raise InferenceServerError(
                ErrorKind.UNAVAILABLE,
                "explicit model load / unload is not allowed if polling is enabled")
        await self._unload(model, unload_dependents)

    # ---- inference ----------------------------------------------------------------------------
    def _resolve(self, request: InferenceRequest) -> ModelVersion:
        if self.exiting:
            raise InferenceServerError(
                ErrorKind.NOT_FOUND,
                f"Request for unknown model: '{request.model_name}' has no available versions")
        return self.registry.resolve(request.model_name, request.model_version)

    def _submit(self, mv: ModelVersion, request: InferenceRequest,
                sink: ResponseSink) -> ScheduledRequest:
        outputs, batch = mv.validated.validate(request, mv.signature)
        in_shm = False
        classes: dict[str, int] = {}
        for ro in request.requested_outputs:
            params = ro.parameters
            if params:  # rare: outputs to shared memory, or classification
                in_shm = in_shm or SHM_REGION in params
                if "classification" in params:
                    classes[ro.name] = int(params["classification"])
        if in_shm:
            sink = self._shared_memory_sink(sink, request)
        stats = mv.stats
        start = time.monotonic_ns()
        job = ScheduledRequest(request, sink, list(request.inputs), outputs, start, batch)
        cache = mv.cache
        if cache is not None and not classes:
            key = request_key(request, str(mv.version), outputs)
            hit = cache.get(key)
            lookup_ns = time.monotonic_ns() - start
            if hit is not None:
                now = time.monotonic_ns()
                stats.inference_stats.cache_hit.add(now - start)
                stats.inference_stats.success.add(now - start)
                stats.last_inference_ms = time.time_ns() // 1_000_000
                sink(InferenceResponse(mv.name, str(mv.version), request.id,
                                       outputs=list(hit.outputs),
                                       parameters=dict(hit.parameters)))
                if self._inflight == 0 and self._busy_poll is not None:
                    self._busy_poll.start()  # answered while idle: the client may go on
                return job
            sink = self._caching_sink(sink, cache, key, stats, lookup_ns)
            job.sink = sink
        if self._inflight == 0:
            self._idle.clear()
        self._inflight += 1
        stats.pending += 1

        first = True

        def record(resp: InferenceResponse) -> None:
            nonlocal first
            if first:
                first = False
                if stats.observer is not None:  # latency summaries/histograms are on
                    stats.record_first_response(time.monotonic_ns() - start)
            if not resp.final:
                sink(resp)
                return
            now = time.monotonic_ns()
            # The job's sink closures refer back to the job: break that cycle, so the
            # request and its response are freed when the frontend drops them (a large
            # output borrowed from a worker's ring goes back at once).
            job.sink = _discard
            job.requeue = None
            try:
                # The answer goes out first: a client sending one request at a time
                # waits for it, not for the bookkeeping below (nothing can read the
                # statistics before this callback returns: they are the loop's).
                sink(resp)
            finally:
                self._inflight -= 1
                if self._inflight == 0:
                    self._idle.set()
                    if self._busy_poll is not None:
                        self._busy_poll.start()
                stats.pending -= 1
                if resp.error is None or resp.error_is_response:
                    stats.record_success(now - start, job.queue_ns, job.compute_ns,
                                         job.batch_size)
                else:
                    reason = "CANCELED" if resp.error.kind is ErrorKind.CANCELLED else "BACKEND"
                    stats.record_failure(now - start, reason)

        job.sink = record
        if classes:
            batched = mv.config.max_batch_size > 0

            def classify_outputs(resp: InferenceResponse) -> None:
                if resp.error is None:
                    resp.outputs = [classify(t, classes[t.name], mv.labels.get(t.name, ()),
                                             batched) if t.name in classes else t
                                    for t in resp.outputs]
                record(resp)

            job.sink = classify_outputs
        try:
            mv.scheduler.enqueue(job)
        except BaseException:
            self._inflight -= 1
            if self._inflight == 0:
                self._idle.set()
            stats.pending -= 1
            raise
        return job

    def _shared_memory_sink(self, sink: ResponseSink, request: InferenceRequest) -> ResponseSink:
        """Outputs the client placed in shared memory are written there (outermost, so
        the cache keeps the data and a cache hit is written too)."""
        write, requested = self.shared_memory.write_outputs, request.requested_outputs
        return lambda resp: sink(write(resp, requested))

    @staticmethod
    def _caching_sink(sink: ResponseSink, cache: ResponseCache, key: bytes, stats: ModelStats,
                      lookup_ns: int) -> ResponseSink:
        def store(resp: InferenceResponse) -> None:
            if resp.final and resp.error is None:
                t0 = time.monotonic_ns()
                cache.put(key, resp)
                # Triton: a miss costs the lookup plus the insert.
                stats.inference_stats.cache_miss.add(lookup_ns + time.monotonic_ns() - t0)
            sink(resp)

        return store

    def submit(self, request: InferenceRequest,
               sink: ResponseSink) -> Callable[[], None]:
        """Start one request that produces exactly one response, delivered to ``sink`` on
        the event loop thread; returns a function that cancels it (loop thread only).

        The callback form of :meth:`infer`, for frontends whose own threads wait on the
        answer (no task or future per request). Raises InferenceServerError like infer."""
        mv = self._resolve(request)
        if mv.decoupled:
            raise DecoupledNotSupported()
        job = self._submit(mv, request, sink)
        return lambda: mv.scheduler.cancel(job)

    async def infer(self, request: InferenceRequest) -> InferenceResponse:
        fut: asyncio.Future[InferenceResponse] = asyncio.get_running_loop().create_future()

        def sink(resp: InferenceResponse) -> None:
            if resp.final and not fut.done():
                fut.set_result(resp)

        cancel = self.submit(request, sink)
        try:
            resp = await fut
        except asyncio.CancelledError:
            cancel()
            raise
        if resp.error is not None:
            raise resp.error
        return resp

    async def infer_stream(self, request: InferenceRequest) -> AsyncIterator[InferenceResponse]:
        mv = self._resolve(request)
        queue: asyncio.Queue[InferenceResponse] = asyncio.Queue()
        job = self._submit(mv, request, queue.put_nowait)
        finished = False
        try:
            while True:
                resp = await queue.get()
                finished = resp.final
                yield resp
                if finished:
                    return
        finally:
            if not finished:
                mv.scheduler.cancel(job)

    async def drain(self, timeout_s: float) -> bool:
        """Wait until no request is in flight (or the timeout); True if drained."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout_s)
        except TimeoutError:
            return False
        return True
