"""The seams of the server, as Protocols.

* :class:`ServerApi` is everything a frontend may call (implemented by
  ``core.server.InferenceServer``). Frontends type against it and tests fake it.
* :class:`ModelInstance` is one running copy of a model (a local worker process today, a
  remote actor tomorrow). Schedulers only ever see this interface.
* :class:`ResponseSink` receives the responses of one request, on the event loop thread.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from typing import TYPE_CHECKING, Protocol

from tritonlite.core.custom_metrics import CustomMetrics
from tritonlite.core.shared_memory import SystemSharedMemoryRegistry
from tritonlite.core.stats import ModelStats
from tritonlite.core.types import (
    InferenceRequest,
    InferenceResponse,
    ModelIndexEntry,
    ModelMetadata,
    ScheduledRequest,
    ServerMetadata,
)

if TYPE_CHECKING:
    from tritonclient.grpc import model_config_pb2


class ServerApi(Protocol):
    """What frontends call. All model/version arguments are as the client spelled them
    ("" = latest). Errors are raised as ``InferenceServerError`` with Triton's texts."""

    custom_metrics: CustomMetrics  # model-defined metric families (pb_utils.MetricFamily)
    shared_memory: SystemSharedMemoryRegistry  # registered system shared memory regions

    def is_live(self) -> bool: ...
    def is_ready(self) -> bool: ...
    def server_metadata(self) -> ServerMetadata: ...
    def model_ready(self, model: str, version: str = "") -> bool: ...
    def model_metadata(self, model: str, version: str = "") -> ModelMetadata: ...
    def model_config(self, model: str, version: str = "") -> model_config_pb2.ModelConfig: ...
    def model_statistics(self, model: str = "", version: str = "") -> list[ModelStats]: ...
    def repository_index(self, ready_only: bool = False) -> list[ModelIndexEntry]: ...
    async def load_model(self, model: str, parameters: dict[str, object] | None = None) -> None: ...
    async def unload_model(self, model: str, unload_dependents: bool = False) -> None: ...

    def submit(self, request: InferenceRequest,
               sink: Callable[[InferenceResponse], None]) -> Callable[[], None]:
        """Callback form of :meth:`infer` (loop thread): the response goes to ``sink``;
        returns a function that cancels the request."""
        ...

    async def infer(self, request: InferenceRequest) -> InferenceResponse:
        """Run one request that produces exactly one response. Raises InferenceServerError
        (``DecoupledNotSupported`` for decoupled models; the frontend picks its text)."""
        ...

    def infer_stream(self, request: InferenceRequest) -> AsyncIterator[InferenceResponse]:
        """Run one request and yield each of its responses (many for decoupled models);
        the last one has ``final=True``. Model errors arrive as responses with ``error``
        set; request errors (unknown model, bad shape) raise InferenceServerError."""
        ...


class ModelInstance(Protocol):
    """One running copy of a model; runs one ``execute`` at a time.

    A scheduler may *pipeline*: hand over the next batch before the running one finished
    (the instance queues it and runs it right after, in order). That saves the instance a
    round trip to the scheduler per batch; :attr:`outstanding` tells how many it holds."""

    name: str  # Triton's instance name, e.g. "jpg_model_0_0"
    on_idle: Callable[[ModelInstance], None]  # set by the scheduler that owns the instance

    @property
    def outstanding(self) -> int:
        """Batches given to :meth:`execute` whose ``execute`` call has not finished; 0
        while the instance cannot run what it holds (its worker has gone: those batches
        will fail), so no scheduler pipelines more into it."""
        ...

    async def start(self) -> None:
        """Start and initialize; raises InferenceServerError with the load failure reason."""
        ...

    async def stop(self) -> None:
        """Finalize and stop; in-flight requests fail with UNAVAILABLE."""
        ...

    def execute(self, batch: Sequence[ScheduledRequest]) -> None:
        """Queue one ``execute`` call over ``batch`` (it starts when the batches given
        before it have run); each request's responses go to its sink. The instance calls
        ``on_idle(self)`` each time an ``execute`` call finished."""
        ...

    def cancel(self, job: ScheduledRequest) -> None:
        """Tell the model a request it holds was cancelled (``request.is_cancelled()``);
        a no-op for a request this instance does not hold."""
        ...

