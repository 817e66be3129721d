"""Returns utils.VALUE: each two_utils_* model has its own utils.py (module isolation)."""

import numpy as np
from utils import VALUE

import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def execute(self, requests):
        out = np.array([VALUE.encode("utf-8")], dtype=np.object_)
        return [
            pb_utils.InferenceResponse(output_tensors=[pb_utils.Tensor("VALUE", out)])
            for _ in requests
        ]
