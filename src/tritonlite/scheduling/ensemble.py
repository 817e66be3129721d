"""Ensembles (``platform: "ensemble"``): a DAG of model calls run by the server itself.

Rules (Triton's ensemble scheduler):

* Each ``ensemble_scheduling.step`` names a model (and version, -1 = latest), an
  ``input_map`` (step input -> ensemble tensor) and an ``output_map`` (step output ->
  ensemble tensor). A step runs as soon as every tensor it reads exists, so independent
  steps run concurrently.
* Steps are ordinary requests to the composing models (their statistics count them);
  the ensemble request's id, sequence fields, priority and timeout are forwarded, so
  sequence models inside an ensemble see the client's START/END and correlation id.
* The first failing step fails the whole request with that step's error. The response
  carries the ensemble outputs the client asked for.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from tritonlite.core.errors import ErrorKind, InferenceServerError
from tritonlite.core.interfaces import ServerApi
from tritonlite.core.tensor import Tensor
from tritonlite.core.types import (
    InferenceRequest,
    InferenceResponse,
    RequestedOutput,
    ScheduledRequest,
)

log = logging.getLogger(__name__)


class EnsembleScheduler:
    def __init__(self, *, model_name: str, version: str, ensemble_scheduling: Any,
                 server: ServerApi) -> None:
        self.model_name = model_name
        self.version = version
        self.steps = list(ensemble_scheduling.step)
        self.server = server
        self._tasks: dict[int, asyncio.Task[None]] = {}

    def enqueue(self, job: ScheduledRequest) -> None:
        task = asyncio.get_running_loop().create_task(self._run(job))
        self._tasks[id(job)] = task
        task.add_done_callback(lambda t: self._tasks.pop(id(job), None))

    async def _run(self, job: ScheduledRequest) -> None:
        req = job.request
        try:
            tensors = await self._execute(req, {t.name: t for t in job.inputs})
            outputs = [self._renamed(tensors[n], n) for n in job.output_names if n in tensors]
            resp = InferenceResponse(self.model_name, self.version, req.id, outputs=outputs)
        except InferenceServerError as exc:  # Triton names the ensemble in a step's error
            resp = InferenceResponse(self.model_name, self.version, req.id,
                                     error=InferenceServerError(
                                         exc.kind, f"in ensemble '{self.model_name}', "
                                         f"{exc.message}"))
        except asyncio.CancelledError:
            resp = InferenceResponse(self.model_name, self.version, req.id,
                                     error=InferenceServerError(ErrorKind.CANCELLED,
                                                                "request cancelled"))
        job.sink(resp)

    async def _execute(self, req: InferenceRequest, tensors: dict[str, Tensor],
                       ) -> dict[str, Tensor]:
        pending = list(self.steps)
        running: dict[asyncio.Task[InferenceResponse], Any] = {}
        try:
            while pending or running:
                for step in [s for s in pending if all(v in tensors
                                                       for v in s.input_map.values())]:
                    pending.remove(step)
                    running[asyncio.ensure_future(self._call(req, step, tensors))] = step
                if not running:
                    missing = sorted({v for s in pending for v in s.input_map.values()
                                      if v not in tensors})
                    raise InferenceServerError(
                        ErrorKind.INTERNAL,
                        f"ensemble '{self.model_name}' cannot make progress: no step produces "
                        f"{missing}")
                done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    step = running.pop(task)
                    resp = task.result()
                    by_name = {t.name: t for t in resp.outputs}
                    for out_name, ens_name in step.output_map.items():
                        if out_name in by_name:
                            tensors[ens_name] = self._renamed(by_name[out_name], ens_name)
        finally:
            for task in running:
                task.cancel()
        return tensors

    async def _call(self, req: InferenceRequest, step: Any,
                    tensors: dict[str, Tensor]) -> InferenceResponse:
        inputs = [self._renamed(tensors[ens], name) for name, ens in step.input_map.items()]
        version = "" if step.model_version < 0 else str(step.model_version)
        sub = InferenceRequest(
            model_name=step.model_name, inputs=inputs, model_version=version, id=req.id,
            requested_outputs=[RequestedOutput(n) for n in step.output_map],
            parameters=dict(req.parameters), sequence=req.sequence, priority=req.priority,
            timeout_us=req.timeout_us)
        return await self.server.infer(sub)

    @staticmethod
    def _renamed(t: Tensor, name: str) -> Tensor:
        if t.name == name:
            return t
        if t.has_array():
            return Tensor(name, t.datatype, t.shape, array=t.as_numpy())
        return Tensor(name, t.datatype, t.shape, raw=t.raw())

    def cancel(self, job: ScheduledRequest) -> None:
        task = self._tasks.get(id(job))
        if task is not None:
            task.cancel()

    def close(self) -> None:
        for task in self._tasks.values():
            task.cancel()
