"""Reports the implicit state input it receives; returns OUTPUT_STATE = INPUT_STATE + INPUT.

STATE is a JSON object: the names of every input of the request and the INPUT_STATE
tensor's shape, dtype and values. On Triton 2.51 the Python backend never feeds
OUTPUT_STATE back, so every request sees the initial state.
"""

import json

import numpy as np

import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def execute(self, requests):
        responses = []
        for request in requests:
            x = pb_utils.get_input_tensor_by_name(request, "INPUT").as_numpy()
            state = pb_utils.get_input_tensor_by_name(request, "INPUT_STATE")
            seen = {"inputs": sorted(t.name() for t in request.inputs())}
            new_state = x.astype(np.int32)
            if state is not None:
                value = state.as_numpy()
                seen.update(
                    shape=list(value.shape),
                    dtype=str(value.dtype),
                    value=value.reshape(-1).tolist(),
                )
                new_state = (value + x).astype(np.int32)
            outputs = [
                pb_utils.Tensor("STATE", np.array([json.dumps(seen).encode()], np.object_)),
                pb_utils.Tensor("OUTPUT_STATE", new_state),
            ]
            responses.append(pb_utils.InferenceResponse(output_tensors=outputs))
        return responses
