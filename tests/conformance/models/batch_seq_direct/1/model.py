"""A stateful accumulator that reports every request of each execute (batch_seq_* models).

OUTPUT is the running sum of INPUT per correlation id (reset on START). BATCH is a JSON
list describing every request the execute received, in order, including the sequence
batcher's null (padding) requests, whose own responses the server drops: correlation id,
flags, request id, the START/END/READY/CORRID control values, the INPUT shape and dtype,
the requested output names and the names of all inputs. INSTANCE is the instance name.
The custom request parameter "sleep_ms" makes execute sleep first.
"""

import json
import time

import numpy as np

import triton_python_backend_utils as pb_utils


def _values(request, name):
    tensor = pb_utils.get_input_tensor_by_name(request, name)
    return None if tensor is None else tensor.as_numpy().reshape(-1).tolist()


class TritonPythonModel:
    def initialize(self, args):
        self.instance = args["model_instance_name"]
        self.sums = {}

    def execute(self, requests):
        sleep_ms = 0.0
        for request in requests:
            params = json.loads(request.parameters() or "{}")
            sleep_ms = max(sleep_ms, float(params.get("sleep_ms", 0)))
        time.sleep(sleep_ms / 1000)
        seen = []
        for request in requests:
            x = pb_utils.get_input_tensor_by_name(request, "INPUT").as_numpy()
            seen.append(
                {
                    "correlation_id": request.correlation_id(),
                    "flags": request.flags(),
                    "id": request.request_id(),
                    "START": _values(request, "START"),
                    "END": _values(request, "END"),
                    "READY": _values(request, "READY"),
                    "CORRID": _values(request, "CORRID"),
                    "input_shape": list(x.shape),
                    "input_dtype": str(x.dtype),
                    "requested_outputs": sorted(request.requested_output_names()),
                    "inputs": sorted(t.name() for t in request.inputs()),
                }
            )
        batch = json.dumps(seen)
        responses = []
        for request in requests:
            x = pb_utils.get_input_tensor_by_name(request, "INPUT").as_numpy()
            key = json.dumps(request.correlation_id())
            if request.flags() & pb_utils.TRITONSERVER_REQUEST_FLAG_SEQUENCE_START:
                self.sums[key] = 0
            total = self.sums.get(key, 0) + int(x.reshape(-1)[0])
            self.sums[key] = total
            if request.flags() & pb_utils.TRITONSERVER_REQUEST_FLAG_SEQUENCE_END:
                self.sums.pop(key, None)
            outputs = [
                pb_utils.Tensor("OUTPUT", np.full(x.shape, total, np.int32)),
                pb_utils.Tensor("BATCH", np.full(x.shape, batch.encode(), np.object_)),
                pb_utils.Tensor("INSTANCE", np.full(x.shape, self.instance.encode(), np.object_)),
            ]
            responses.append(pb_utils.InferenceResponse(output_tensors=outputs))
        return responses
