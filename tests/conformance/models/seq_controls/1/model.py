"""A stateful accumulator that reports everything it saw (shared by every seq_* model).

For each request it adds INPUT to the running sum of its correlation id
(reset on the START flag) and returns the sum as OUTPUT. It echoes the
injected control tensors (OUT_START/OUT_END/OUT_READY/OUT_CORRID, in the
dtypes the model received), json.dumps(request.correlation_id()),
request.flags(), its instance name, its process id and the batch size, so
tests can observe routing and control values.
"""

import json
import os

import numpy as np

import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        self.instance_name = args["model_instance_name"]
        self.sums = {}

    def execute(self, requests):
        responses = []
        batch = len(requests)
        for request in requests:
            x = pb_utils.get_input_tensor_by_name(request, "INPUT").as_numpy()
            corr = request.correlation_id()
            flags = int(request.flags())
            key = json.dumps(corr)
            if flags & pb_utils.TRITONSERVER_REQUEST_FLAG_SEQUENCE_START:
                self.sums[key] = 0
            total = self.sums.get(key, 0) + int(x.reshape(-1)[0])
            self.sums[key] = total
            if flags & pb_utils.TRITONSERVER_REQUEST_FLAG_SEQUENCE_END:
                self.sums.pop(key, None)
            shape = x.shape
            outputs = [pb_utils.Tensor("OUTPUT", np.full(shape, total, dtype=np.int32))]
            for name in ("START", "END", "READY", "CORRID"):
                control = pb_utils.get_input_tensor_by_name(request, name)
                if control is not None:
                    outputs.append(pb_utils.Tensor("OUT_" + name, control.as_numpy().copy()))
            text = [
                ("CORRELATION_ID", json.dumps(corr)),
                ("INSTANCE", self.instance_name),
            ]
            for name, value in text:
                array = np.full(shape, value.encode("utf-8"), dtype=np.object_)
                outputs.append(pb_utils.Tensor(name, array))
            outputs.append(pb_utils.Tensor("FLAGS", np.full(shape, flags, dtype=np.int32)))
            outputs.append(pb_utils.Tensor("PID", np.full(shape, os.getpid(), dtype=np.int64)))
            outputs.append(pb_utils.Tensor("BATCH", np.full(shape, batch, dtype=np.int32)))
            responses.append(pb_utils.InferenceResponse(output_tensors=outputs))
        return responses
