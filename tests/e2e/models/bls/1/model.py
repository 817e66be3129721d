import asyncio
import json

import numpy as np
import triton_python_backend_utils as pb_utils


def add_request(x):
    return pb_utils.InferenceRequest(
        model_name="add_sub",
        inputs=[pb_utils.Tensor("INPUT0", x), pb_utils.Tensor("INPUT1", np.ones(4, np.float32))],
        requested_output_names=["OUTPUT0"],
    )


class TritonPythonModel:
    def initialize(self, args):
        try:
            add_request(np.zeros(4, np.float32)).exec()
            self.init_error = "none"
        except pb_utils.TritonModelException as exc:
            self.init_error = str(exc)

    async def execute(self, requests):
        out = []
        for r in requests:
            mode = pb_utils.get_input_tensor_by_name(r, "MODE").as_numpy()[0].decode()
            x = pb_utils.get_input_tensor_by_name(r, "X").as_numpy()
            info = {}
            if mode == "sync":
                resp = add_request(x).exec()
                y = pb_utils.get_output_tensor_by_name(resp, "OUTPUT0").as_numpy()
            elif mode == "async":
                resps = await asyncio.gather(add_request(x).async_exec(),
                                             add_request(x * 2).async_exec())
                y = np.concatenate([pb_utils.get_output_tensor_by_name(p, "OUTPUT0").as_numpy()
                                    for p in resps])
            elif mode == "error":
                resp = add_request(-x - 1).exec()
                info = {"has_error": resp.has_error(), "message": resp.error().message(),
                        "code": resp.error().code()}
                y = np.zeros(0, np.float32)
            elif mode == "decoupled":
                req = pb_utils.InferenceRequest(
                    model_name="repeat", inputs=[pb_utils.Tensor("IN", np.array([3], np.int32))],
                    requested_output_names=["OUT"])
                got = [pb_utils.get_output_tensor_by_name(p, "OUT").as_numpy()[0]
                       for p in req.exec(decoupled=True) if p.output_tensors()]
                y = np.array(got, np.float32)
            else:  # "control"
                info = {"add_sub": pb_utils.is_model_ready("add_sub"),
                        "nope": pb_utils.is_model_ready("nope"),
                        "init_error": self.init_error}
                y = np.zeros(0, np.float32)
            out.append(pb_utils.InferenceResponse([
                pb_utils.Tensor("Y", y.astype(np.float32)),
                pb_utils.Tensor("INFO", np.array([json.dumps(info)], dtype=np.object_)),
            ]))
        return out
