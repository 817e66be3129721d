"""Returns json.dumps(args) as seen by initialize, and pb_utils.get_model_dir()."""

import json

import numpy as np

import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        self.args_json = json.dumps(dict(args))
        self.model_dir = pb_utils.get_model_dir()

    def execute(self, requests):
        responses = []
        for request in requests:
            batch = pb_utils.get_input_tensor_by_name(request, "INPUT").as_numpy().shape[0]
            args = np.array([[self.args_json.encode("utf-8")]] * batch, dtype=np.object_)
            model_dir = np.array([[self.model_dir.encode("utf-8")]] * batch, dtype=np.object_)
            outputs = [pb_utils.Tensor("ARGS", args), pb_utils.Tensor("MODEL_DIR", model_dir)]
            responses.append(pb_utils.InferenceResponse(output_tensors=outputs))
        return responses
