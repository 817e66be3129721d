"""jpg_model: decode each base64 JPEG frame of a stream and send it back re-encoded.

A stateful model for Triton's sequence batcher. Written against Triton's own
``triton_python_backend_utils``: it runs unchanged on NVIDIA Triton and on tritonlite.

* A request with START or END (the control inputs of config.pbtxt) opens or closes a
  stream: the model logs it and answers with an empty response.
* Any other request carries one frame in ``image``: base64 text of a JPEG. The model
  decodes it with OpenCV, re-encodes it as JPEG and returns it base64-encoded in
  ``output_image``.
* A frame that cannot be decoded gets an error response of its own; the other requests of
  the same ``execute`` call are still answered.
* READY=0 marks a padding request that the direct strategy adds when max_batch_size > 0
  and a slot is empty; its data is garbage, so it gets an empty response (Triton drops it).
"""

from __future__ import annotations

import numpy as np
import triton_python_backend_utils as pb_utils
from utils import FrameError, decode_b64_image, encode_b64_jpeg


def _control(request, name: str, default: int = 0) -> int:
    """Value of a control input (START, END, READY) as an int; ``default`` if absent."""
    tensor = pb_utils.get_input_tensor_by_name(request, name)
    if tensor is None:
        return default
    values = tensor.as_numpy().reshape(-1)
    return int(values[0]) if values.size else default


class TritonPythonModel:
    def initialize(self, args):
        self.model_name = args["model_name"]

    def execute(self, requests):
        return [self._respond(request) for request in requests]

    def _respond(self, request):
        if not _control(request, "READY", default=1):
            return pb_utils.InferenceResponse(output_tensors=[])

        start = _control(request, "START")
        end = _control(request, "END")
        if start or end:
            stream_id = request.correlation_id()
            if start:
                pb_utils.Logger.log_info(f"Stream {stream_id} started")
            if end:
                pb_utils.Logger.log_info(f"Stream {stream_id} stopped")
            return pb_utils.InferenceResponse(output_tensors=[])

        try:
            frames = pb_utils.get_input_tensor_by_name(request, "image").as_numpy()
            encoded = [encode_b64_jpeg(decode_b64_image(frame)) for frame in frames.reshape(-1)]
        except FrameError as exc:
            error = pb_utils.TritonError(
                f"stream {request.correlation_id()}: {exc}", pb_utils.TritonError.INVALID_ARG
            )
            return pb_utils.InferenceResponse(error=error)
        except Exception as exc:  # never let one bad frame fail the whole batch
            error = pb_utils.TritonError(f"stream {request.correlation_id()}: {exc!r}")
            return pb_utils.InferenceResponse(error=error)

        output = np.array(encoded, dtype=np.object_).reshape(frames.shape)
        return pb_utils.InferenceResponse(output_tensors=[pb_utils.Tensor("output_image", output)])
