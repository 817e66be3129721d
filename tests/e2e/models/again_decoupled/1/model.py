import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    """Decoupled: each request is rescheduled N-1 times, then sends one response per run."""

    def initialize(self, args):
        self.steps = {}

    def execute(self, requests):
        for r in requests:
            key = r.request_id()
            self.steps[key] = self.steps.get(key, 0) + 1
            n = int(pb_utils.get_input_tensor_by_name(r, "N").as_numpy()[0])
            sender = r.get_response_sender()
            if self.steps[key] < n:
                r.set_release_flags(pb_utils.TRITONSERVER_REQUEST_RELEASE_RESCHEDULE)
                continue
            for i in range(self.steps.pop(key)):
                sender.send(pb_utils.InferenceResponse(
                    [pb_utils.Tensor("STEPS", np.array([i], np.int32))]))
            sender.send(flags=pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL)
        return None
