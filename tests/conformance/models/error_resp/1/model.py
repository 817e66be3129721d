"""Answers with InferenceResponse(error=TritonError("custom error message", code)).

CODE < 0 leaves the code at its default; otherwise it names the TritonError
code: UNKNOWN=0, INTERNAL=1, NOT_FOUND=2, INVALID_ARG=3, UNAVAILABLE=4,
UNSUPPORTED=5, ALREADY_EXISTS=6, CANCELLED=7 (case h).
"""

import triton_python_backend_utils as pb_utils

CODES = {
    0: "UNKNOWN",
    1: "INTERNAL",
    2: "NOT_FOUND",
    3: "INVALID_ARG",
    4: "UNAVAILABLE",
    5: "UNSUPPORTED",
    6: "ALREADY_EXISTS",
    7: "CANCELLED",
}


class TritonPythonModel:
    def execute(self, requests):
        responses = []
        for request in requests:
            code = int(pb_utils.get_input_tensor_by_name(request, "CODE").as_numpy()[0])
            if code < 0:
                error = pb_utils.TritonError("custom error message")
            else:
                error = pb_utils.TritonError(
                    "custom error message", getattr(pb_utils.TritonError, CODES[code])
                )
            responses.append(pb_utils.InferenceResponse(error=error))
        return responses
