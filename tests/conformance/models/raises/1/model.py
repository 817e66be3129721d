"""execute always raises: KIND 0 -> ValueError, KIND 1 -> TritonModelException (cases g, g')."""

import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def execute(self, requests):
        kind = int(pb_utils.get_input_tensor_by_name(requests[0], "KIND").as_numpy()[0])
        if kind == 1:
            raise pb_utils.TritonModelException("tme message")
        raise ValueError("boom from execute")
