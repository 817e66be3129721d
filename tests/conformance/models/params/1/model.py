"""Reports what the model saw of each request, as JSON strings in BYTES outputs.

PARAMS is request.parameters() verbatim; CORRELATION_ID is json.dumps of
request.correlation_id() (so an int and a str id can be told apart); FLAGS
and TIMEOUT are str(int); REQUESTED is the sorted requested output names.
"""

import json

import numpy as np

import triton_python_backend_utils as pb_utils


def _bytes_tensor(name, text):
    return pb_utils.Tensor(name, np.array([text.encode("utf-8")], dtype=np.object_))


class TritonPythonModel:
    def execute(self, requests):
        responses = []
        for request in requests:
            outputs = [
                _bytes_tensor("PARAMS", request.parameters()),
                _bytes_tensor("REQUEST_ID", request.request_id()),
                _bytes_tensor("CORRELATION_ID", json.dumps(request.correlation_id())),
                _bytes_tensor("FLAGS", str(int(request.flags()))),
                _bytes_tensor("TIMEOUT", str(int(request.timeout()))),
                _bytes_tensor("REQUESTED", json.dumps(sorted(request.requested_output_names()))),
            ]
            responses.append(pb_utils.InferenceResponse(output_tensors=outputs))
        return responses
