"""What the HTTP and gRPC frontends' fake ``ServerApi`` s share: the echo answer and the
callback form of ``infer`` (``submit``), built on each fake's own ``_check`` and ``infer``."""

from __future__ import annotations

import asyncio
from typing import Any

from tritonlite.core.errors import DecoupledNotSupported, InferenceServerError
from tritonlite.core.tensor import Tensor
from tritonlite.core.types import InferenceRequest, InferenceResponse


def echo_response(request: InferenceRequest) -> InferenceResponse:
    """Each input back as an output (named as requested, else ``OUTPUT<i>``), with the
    request's parameters and, for a sequence, its correlation id and flags."""
    names = [o.name for o in request.requested_outputs]
    outputs = []
    for i, t in enumerate(request.inputs):
        name = names[i] if i < len(names) else f"OUTPUT{i}"
        outputs.append(Tensor(name, t.datatype, t.shape, raw=t.raw()))
    params: dict[str, object] = dict(request.parameters)
    if request.sequence is not None:
        params["correlation_id"] = request.sequence.correlation_id
        params["flags"] = request.flags
    return InferenceResponse(request.model_name, "1", id=request.id, outputs=outputs,
                             parameters=params)


class SubmitThroughInfer:
    """``submit`` as ``InferenceServer.submit`` offers it (runs on the loop), made of the
    fake's ``_check`` and ``infer``; ``submitted`` counts the requests it took."""

    submitted = 0

    def submit(self, request: InferenceRequest, sink: Any) -> Any:
        self._check(request.model_name, request.model_version)  # type: ignore[attr-defined]
        if request.model_name == "decoupled":
            raise DecoupledNotSupported()
        self.submitted += 1

        async def run() -> None:
            try:
                sink(await self.infer(request))  # type: ignore[attr-defined]
            except InferenceServerError as exc:
                sink(InferenceResponse(request.model_name, "1", id=request.id, error=exc))

        task = asyncio.get_running_loop().create_task(run())
        return task.cancel
