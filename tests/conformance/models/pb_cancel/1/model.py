"""Works for SECONDS, polling request.is_cancelled(); logs what it saw."""

import time

import numpy as np

import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def execute(self, requests):
        responses = []
        for request in requests:
            pb_utils.Logger.log_info(f"pb_cancel executing request {request.request_id()}")
            seconds = float(pb_utils.get_input_tensor_by_name(request, "SECONDS").as_numpy()[0])
            deadline = time.monotonic() + seconds
            cancelled = False
            while time.monotonic() < deadline:
                if request.is_cancelled():
                    cancelled = True
                    pb_utils.Logger.log_info(
                        f"pb_cancel request {request.request_id()} saw cancellation"
                    )
                    break
                time.sleep(0.01)
            if not cancelled:
                pb_utils.Logger.log_info(f"pb_cancel request {request.request_id()} finished")
            out = pb_utils.Tensor("CANCELLED", np.array([cancelled]))
            responses.append(pb_utils.InferenceResponse(output_tensors=[out]))
        return responses
