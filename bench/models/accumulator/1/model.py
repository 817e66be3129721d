"""accumulator: OUTPUT = sum of INPUT over the sequence so far (reset by START, state
dropped at END). Uses ``request.correlation_id()`` and ``request.flags()``; no control
inputs are needed.
"""

import numpy as np
import triton_python_backend_utils as pb_utils

START = pb_utils.TRITONSERVER_REQUEST_FLAG_SEQUENCE_START
END = pb_utils.TRITONSERVER_REQUEST_FLAG_SEQUENCE_END


class TritonPythonModel:
    def initialize(self, args):
        self.sums = {}

    def execute(self, requests):
        responses = []
        for request in requests:
            x = pb_utils.get_input_tensor_by_name(request, "INPUT").as_numpy()
            cid = request.correlation_id()
            flags = int(request.flags())
            total = (0 if flags & START else self.sums.get(cid, 0)) + int(x.reshape(-1)[0])
            if flags & END:
                self.sums.pop(cid, None)
            else:
                self.sums[cid] = total
            out = pb_utils.Tensor("OUTPUT", np.full(x.shape, total, dtype=np.int32))
            responses.append(pb_utils.InferenceResponse(output_tensors=[out]))
        return responses
