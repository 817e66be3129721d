import json
import os
import time

import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        self.who = {k: args[k] for k in ("model_instance_name", "model_instance_kind",
                                         "model_instance_device_id")}
        self.who["pid"] = os.getpid()

    def execute(self, requests):
        out = []
        for r in requests:
            time.sleep(float(pb_utils.get_input_tensor_by_name(r, "SECONDS").as_numpy()[0]))
            out.append(pb_utils.InferenceResponse([pb_utils.Tensor(
                "WHO", np.array([json.dumps(self.who)], dtype=np.object_))]))
        return out
