"""Identity on FP32 [batch, 16]: OUTPUT0 is INPUT0, unchanged, one response per request
(a dynamic batch is a list of requests, each with its own batch dimension).

The input array is handed straight to the output tensor (no ``.copy()``): the server must
not reuse the input's memory before it has sent the response, and the benchmark checks
every byte of every answer.
"""

import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def execute(self, requests):
        responses = []
        for request in requests:
            data = pb_utils.get_input_tensor_by_name(request, "INPUT0").as_numpy()
            out = pb_utils.Tensor("OUTPUT0", data)
            responses.append(pb_utils.InferenceResponse(output_tensors=[out]))
        return responses
