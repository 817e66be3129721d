"""Identity on FP32 with a fixed amount of numpy work per request.

np.sin over a fixed array of WORK_ELEMENTS float64 (about 2 ms on the 2-core benchmark
machine, numpy single-threaded): the same work in every server, so what changes between
the workloads is how often the server has to call it. OUTPUT0 is INPUT0 unchanged, one
response per request, so the benchmark still checks every byte of every answer.
"""

import numpy as np
import triton_python_backend_utils as pb_utils

WORK_PER = "request"  # "execute": once per execute call; "request": once per request
WORK_ELEMENTS = 200_000


class TritonPythonModel:
    def initialize(self, args):
        self.work_in = np.linspace(0.0, 1.0, WORK_ELEMENTS)
        self.work_out = np.empty_like(self.work_in)

    def _work(self):
        np.sin(self.work_in, out=self.work_out)

    def execute(self, requests):
        if WORK_PER == "execute":
            self._work()
        responses = []
        for request in requests:
            if WORK_PER == "request":
                self._work()
            data = pb_utils.get_input_tensor_by_name(request, "INPUT0").as_numpy()
            out = pb_utils.Tensor("OUTPUT0", data)
            responses.append(pb_utils.InferenceResponse(output_tensors=[out]))
        return responses
