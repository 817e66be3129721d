"""No config.pbtxt: auto_complete_config declares everything.

max_batch_size 4, input IN FP32 [2], output OUT FP32 [2] (= IN * 3), dynamic
batching, and an INFO output with what initialize saw in args['model_config'].
"""

import json

import numpy as np

import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    @staticmethod
    def auto_complete_config(auto_complete_model_config):
        auto_complete_model_config.set_max_batch_size(4)
        auto_complete_model_config.add_input({"name": "IN", "data_type": "TYPE_FP32", "dims": [2]})
        auto_complete_model_config.add_output(
            {"name": "OUT", "data_type": "TYPE_FP32", "dims": [2]}
        )
        auto_complete_model_config.add_output(
            {"name": "INFO", "data_type": "TYPE_STRING", "dims": [1]}
        )
        auto_complete_model_config.set_dynamic_batching()
        return auto_complete_model_config

    def initialize(self, args):
        config = json.loads(args["model_config"])
        self.info = json.dumps(
            {
                "name": config["name"],
                "backend": config["backend"],
                "max_batch_size": config["max_batch_size"],
                "inputs": [(i["name"], i["data_type"], i["dims"]) for i in config["input"]],
                "outputs": [(o["name"], o["data_type"], o["dims"]) for o in config["output"]],
                "dynamic_batching": "dynamic_batching" in config,
            }
        )

    def execute(self, requests):
        responses = []
        for request in requests:
            x = pb_utils.get_input_tensor_by_name(request, "IN").as_numpy()
            info = np.array([[self.info.encode("utf-8")]] * x.shape[0], dtype=np.object_)
            outputs = [pb_utils.Tensor("OUT", x * 3), pb_utils.Tensor("INFO", info)]
            responses.append(pb_utils.InferenceResponse(output_tensors=outputs))
        return responses
