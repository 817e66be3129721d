"""Returns malformed responses on purpose (case j and the count mismatch).

MODE 0: a well-formed OUTPUT (FP32 [2]).
MODE 1: an undeclared output name UNDECLARED next to OUTPUT.
MODE 2: OUTPUT with the wrong dtype (INT64 [1]).
MODE 3: OUTPUT with the wrong shape (FP32 [3]).
MODE 4: a response with no outputs at all.
MODE 5: an empty list of responses (count mismatch).
"""

import numpy as np

import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def execute(self, requests):
        mode = int(pb_utils.get_input_tensor_by_name(requests[0], "MODE").as_numpy()[0])
        if mode == 5:
            return []
        responses = []
        for _ in requests:
            if mode == 1:
                outputs = [
                    pb_utils.Tensor("OUTPUT", np.array([1.0, 2.0], dtype=np.float32)),
                    pb_utils.Tensor("UNDECLARED", np.array([7], dtype=np.int32)),
                ]
            elif mode == 2:
                outputs = [pb_utils.Tensor("OUTPUT", np.array([1], dtype=np.int64))]
            elif mode == 3:
                outputs = [pb_utils.Tensor("OUTPUT", np.array([1.0, 2.0, 3.0], dtype=np.float32))]
            elif mode == 4:
                outputs = []
            else:
                outputs = [pb_utils.Tensor("OUTPUT", np.array([1.0, 2.0], dtype=np.float32))]
            responses.append(pb_utils.InferenceResponse(output_tensors=outputs))
        return responses
