"""Decoupled: for N >= 0, sends N responses OUT = 0..N-1 from a thread, then a flag-only FINAL.

For N < 0, sends one response (OUT = -1) and then raises from execute, so
the error reaches the stream after a partial response. Each request logs
"Stream <N> started" through pb_utils.Logger.
"""

import threading

import numpy as np

import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        self.threads = []

    def execute(self, requests):
        for request in requests:
            n = int(pb_utils.get_input_tensor_by_name(request, "N").as_numpy()[0])
            pb_utils.Logger.log_info(f"Stream {n} started")
            sender = request.get_response_sender()
            if n < 0:
                out = pb_utils.Tensor("OUT", np.array([-1], dtype=np.int32))
                sender.send(pb_utils.InferenceResponse(output_tensors=[out]))
                raise ValueError("decoupled failure after one response")
            thread = threading.Thread(target=self._send, args=(sender, n), daemon=True)
            thread.start()
            self.threads.append(thread)
        return None

    @staticmethod
    def _send(sender, n):
        for i in range(n):
            out = pb_utils.Tensor("OUT", np.array([i], dtype=np.int32))
            sender.send(pb_utils.InferenceResponse(output_tensors=[out]))
        sender.send(flags=pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL)

    def finalize(self):
        for thread in self.threads:
            thread.join(timeout=5)
