"""BLS from an ``async def execute``: MODE picks what to call, INFO (JSON) reports it.

sync:      pb_add(X, X).exec()                      -> Y = 2X
async:     gather(pb_add(X, 1).async_exec(), identity_fp32(X).async_exec()) -> Y = [X+1, X]
decoupled: decoupled_repeat(N=len(X)).exec(decoupled=True) -> Y = OUT values
error:     pb_add(-1 - X) (error response), raises (exception), no_such_model,
           decoupled_repeat without decoupled=True
seq:       seq_direct with correlation_id/flags: START, middle, END -> Y = running sums
ready:     pb_utils.is_model_ready(...) and the error of a BLS call made in initialize
"""

import asyncio
import json

import numpy as np

import triton_python_backend_utils as pb_utils


def add_request(a, b):
    return pb_utils.InferenceRequest(
        model_name="pb_add",
        inputs=[pb_utils.Tensor("A", a), pb_utils.Tensor("B", b)],
        requested_output_names=["SUM"],
    )


def output(response, name):
    return pb_utils.get_output_tensor_by_name(response, name).as_numpy()


def error_info(response):
    if not response.has_error():
        return {"has_error": False}
    return {
        "has_error": True,
        "message": response.error().message(),
        # code() is a pybind11 enum in Triton 2.51: int() it for JSON
        "code": int(response.error().code()),
        "is_invalid_arg": response.error().code() == pb_utils.TritonError.INVALID_ARG,
    }


class TritonPythonModel:
    def initialize(self, args):
        try:
            add_request(np.zeros(1, np.float32), np.zeros(1, np.float32)).exec()
            self.init_error = None
        except Exception as exc:  # BLS is not allowed in initialize
            self.init_error = f"{type(exc).__name__}: {exc}"

    async def execute(self, requests):
        responses = []
        for request in requests:
            mode = pb_utils.get_input_tensor_by_name(request, "MODE").as_numpy()[0].decode()
            x = pb_utils.get_input_tensor_by_name(request, "X").as_numpy().copy()
            y, info = await getattr(self, "_" + mode)(x)
            outputs = [
                pb_utils.Tensor("Y", np.asarray(y, dtype=np.float32)),
                pb_utils.Tensor("INFO", np.array([json.dumps(info).encode()], dtype=np.object_)),
            ]
            responses.append(pb_utils.InferenceResponse(output_tensors=outputs))
        return responses

    async def _sync(self, x):
        response = add_request(x, x).exec()
        return output(response, "SUM"), {
            "error": error_info(response),
            "outputs": sorted(t.name() for t in response.output_tensors()),
        }

    async def _async(self, x):
        identity = pb_utils.InferenceRequest(
            model_name="identity_fp32",
            inputs=[pb_utils.Tensor("INPUT0", x)],
            requested_output_names=["OUTPUT0"],
        )
        added, same = await asyncio.gather(
            add_request(x, np.ones_like(x)).async_exec(), identity.async_exec()
        )
        y = np.concatenate([output(added, "SUM"), output(same, "OUTPUT0")])
        return y, {"errors": [error_info(added), error_info(same)]}

    async def _decoupled(self, x):
        request = pb_utils.InferenceRequest(
            model_name="decoupled_repeat",
            inputs=[pb_utils.Tensor("N", np.array([x.size], dtype=np.int32))],
            requested_output_names=["OUT"],
        )
        values = []
        empty = 0
        for response in request.exec(decoupled=True):
            if response.has_error():
                raise pb_utils.TritonModelException(response.error().message())
            if response.output_tensors():
                values.append(int(output(response, "OUT")[0]))
            else:
                empty += 1
        return values, {"empty": empty}

    async def _error(self, x):
        negative = add_request(-1 - x, x).exec()
        kind = pb_utils.Tensor("KIND", np.array([0], dtype=np.int32))
        raised = pb_utils.InferenceRequest(
            model_name="raises", inputs=[kind], requested_output_names=["OUTPUT"]
        ).exec()
        unknown = pb_utils.InferenceRequest(
            model_name="no_such_model", inputs=[pb_utils.Tensor("INPUT0", x)],
            requested_output_names=["OUTPUT0"],
        ).exec()
        not_decoupled = pb_utils.InferenceRequest(
            model_name="decoupled_repeat",
            inputs=[pb_utils.Tensor("N", np.array([1], dtype=np.int32))],
            requested_output_names=["OUT"],
        ).exec()
        info = {
            "negative": error_info(negative),
            "not_decoupled": error_info(not_decoupled),
            "raises": error_info(raised),
            "unknown": error_info(unknown),
        }
        return np.zeros(0, np.float32), info

    async def _seq(self, x):
        corr = int(x[0])
        flags = [
            pb_utils.TRITONSERVER_REQUEST_FLAG_SEQUENCE_START,
            0,
            pb_utils.TRITONSERVER_REQUEST_FLAG_SEQUENCE_END,
        ]
        sums = []
        seen = []
        for value, flag in zip(x[1:4], flags, strict=True):
            response = pb_utils.InferenceRequest(
                model_name="seq_direct",
                inputs=[pb_utils.Tensor("INPUT", np.array([int(value)], dtype=np.int32))],
                requested_output_names=["OUTPUT", "CORRELATION_ID", "FLAGS", "OUT_CORRID"],
                correlation_id=corr,
                flags=flag,
            ).exec()
            if response.has_error():
                return np.zeros(0, np.float32), {"error": error_info(response)}
            sums.append(int(output(response, "OUTPUT")[0]))
            seen.append(
                {
                    "correlation_id": output(response, "CORRELATION_ID")[0].decode(),
                    "flags": int(output(response, "FLAGS")[0]),
                    "corrid": int(output(response, "OUT_CORRID")[0]),
                }
            )
        return sums, {"seen": seen}

    async def _ready(self, x):
        info = {
            "identity_fp32": pb_utils.is_model_ready("identity_fp32"),
            "identity_fp32_v1": pb_utils.is_model_ready("identity_fp32", "1"),
            "identity_fp32_v7": pb_utils.is_model_ready("identity_fp32", "7"),
            "no_such_model": pb_utils.is_model_ready("no_such_model"),
            "init_error": self.init_error,
        }
        return np.zeros(0, np.float32), info
