"""Sleeps SECONDS (in small steps), then reports whether the request was cancelled."""

import time

import numpy as np

import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def execute(self, requests):
        responses = []
        for request in requests:
            seconds = float(pb_utils.get_input_tensor_by_name(request, "SECONDS").as_numpy()[0])
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                time.sleep(0.02)
            cancelled = np.array([bool(request.is_cancelled())], dtype=bool)
            responses.append(
                pb_utils.InferenceResponse(output_tensors=[pb_utils.Tensor("CANCELLED", cancelled)])
            )
        return responses
