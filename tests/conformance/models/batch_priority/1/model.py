"""Identity that reports how it was batched (shared by the batch_* dynamic-batching models).

For each request it returns INPUT as OUTPUT, plus: N_REQUESTS (how many requests this
execute received), BATCH_TOTAL (the sum of their batch sizes), EXEC_INDEX (1, 2, ... per
instance, so tests can see execution order), TIMEOUT (request.timeout()) and INSTANCE (the
instance name). The custom request parameter "sleep_ms" makes execute sleep (the largest
value of the batch) before answering.
"""

import json
import time

import numpy as np

import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        self.instance = args["model_instance_name"]
        self.executions = 0

    def execute(self, requests):
        self.executions += 1
        sleep_ms = 0.0
        for request in requests:
            params = json.loads(request.parameters() or "{}")
            sleep_ms = max(sleep_ms, float(params.get("sleep_ms", 0)))
        time.sleep(sleep_ms / 1000)
        inputs = [pb_utils.get_input_tensor_by_name(r, "INPUT").as_numpy() for r in requests]
        total = sum(x.shape[0] for x in inputs)
        responses = []
        for request, x in zip(requests, inputs, strict=True):
            shape = (x.shape[0], 1)
            outputs = [
                pb_utils.Tensor("OUTPUT", x.copy()),
                pb_utils.Tensor("N_REQUESTS", np.full(shape, len(requests), np.int32)),
                pb_utils.Tensor("BATCH_TOTAL", np.full(shape, total, np.int32)),
                pb_utils.Tensor("EXEC_INDEX", np.full(shape, self.executions, np.int64)),
                pb_utils.Tensor("TIMEOUT", np.full(shape, request.timeout(), np.int64)),
                pb_utils.Tensor("INSTANCE", np.full(shape, self.instance.encode(), np.object_)),
            ]
            responses.append(pb_utils.InferenceResponse(output_tensors=outputs))
        return responses
