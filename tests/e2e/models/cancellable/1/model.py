import time

import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    """Works for SECONDS, polling request.is_cancelled(); logs what it saw."""

    def execute(self, requests):
        out = []
        for r in requests:
            pb_utils.Logger.log_info(f"executing request {r.request_id()}")
            seconds = float(pb_utils.get_input_tensor_by_name(r, "SECONDS").as_numpy()[0])
            deadline = time.monotonic() + seconds
            cancelled = False
            while time.monotonic() < deadline:
                if r.is_cancelled():
                    cancelled = True
                    pb_utils.Logger.log_info(f"request {r.request_id()} saw cancellation")
                    break
                time.sleep(0.01)
            out.append(pb_utils.InferenceResponse(
                [pb_utils.Tensor("CANCELLED", np.array([cancelled]))]))
        return out
