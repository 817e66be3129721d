"""Echoes every IN_<TYPE> input it receives as OUT_<TYPE>, unchanged.

All inputs are optional, so a test can send any subset. The echo keeps the
numpy dtype the model saw, so a wrong dtype on the model side shows up as a
wrong datatype on the wire.
"""

import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def execute(self, requests):
        responses = []
        for request in requests:
            outputs = []
            for tensor in request.inputs():
                name = tensor.name()
                if name.startswith("IN_"):
                    outputs.append(pb_utils.Tensor("OUT_" + name[3:], tensor.as_numpy().copy()))
            responses.append(pb_utils.InferenceResponse(output_tensors=outputs))
        return responses
