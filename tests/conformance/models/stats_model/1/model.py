"""Identity that raises when INPUT holds a negative value; used only by the statistics test."""

import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def execute(self, requests):
        responses = []
        for request in requests:
            data = pb_utils.get_input_tensor_by_name(request, "INPUT").as_numpy()
            if (data < 0).any():
                raise ValueError("negative input")
            out = pb_utils.Tensor("OUTPUT", data.copy())
            responses.append(pb_utils.InferenceResponse(output_tensors=[out]))
        return responses
