import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    """Iterative sequence: each request runs N times (rescheduled), then answers N."""

    def initialize(self, args):
        self.steps = {}

    def execute(self, requests):
        out = []
        for r in requests:
            key = (r.correlation_id(), r.request_id())
            self.steps[key] = self.steps.get(key, 0) + 1
            n = int(pb_utils.get_input_tensor_by_name(r, "N").as_numpy()[0])
            if self.steps[key] < n:
                r.set_release_flags(pb_utils.TRITONSERVER_REQUEST_RELEASE_RESCHEDULE)
                out.append(None)
                continue
            steps = self.steps.pop(key)
            out.append(pb_utils.InferenceResponse(
                [pb_utils.Tensor("STEPS", np.array([steps], np.int32))]))
        return out
