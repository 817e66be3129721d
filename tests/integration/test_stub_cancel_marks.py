"""The worker forgets a cancelled request once it is finished, so a long run with many
cancellations does not accumulate cancel marks. Drives a Stub through its real execute
path (``stub_harness``)."""

from __future__ import annotations

import textwrap
from pathlib import Path

from stub_harness import run_probe

MODEL = textwrap.dedent("""
    import numpy as np
    import triton_python_backend_utils as pb_utils

    class TritonPythonModel:
        def execute(self, requests):
            out = []
            for r in requests:
                x = pb_utils.get_input_tensor_by_name(r, "INPUT").as_numpy()
                if self.decoupled:
                    sender = r.get_response_sender()
                    sender.send(pb_utils.InferenceResponse([pb_utils.Tensor("OUTPUT", x)]),
                                flags=pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL)
                else:
                    out.append(pb_utils.InferenceResponse([pb_utils.Tensor("OUTPUT", x)]))
            return None if self.decoupled else out

        def initialize(self, args):
            import json
            self.decoupled = json.loads(args["model_config"])["decoupled"]
""")

PROBE = """
    decoupled = sys.argv[2] == "1"
    w = loaded_stub(sys.argv[1], {"decoupled": decoupled}, decoupled)
    stub = w.stub

    def request(key):
        data = b"\\0" * 4
        pos = w.request_ring.write(data)
        ref = ipc.TensorRef("INPUT", "FP32", (1,), 4, pos=pos)
        stub.req_ring.claim(pos, 4)
        return ipc.RequestMsg(key, "", 0, 0, "{}", ("OUTPUT",), 0, (ref,))

    # 1: cancelled while it ran (the model may still answer); 2: cancelled while held,
    # so it is answered CANCELLED without running; 3: never cancelled.
    stub.cancelled.update({1, 2})
    stub.execute(ipc.ExecuteMsg(1, (request(1),)))
    left = stub._skip_cancelled(ipc.ExecuteMsg(2, (request(2), request(3))))
    stub.execute(left)
    print(json.dumps({"left": sorted(stub.cancelled),
                      "ran": [r.key for r in left.requests]}))
"""


def _probe(tmp_path: Path, decoupled: bool) -> dict:
    return run_probe(tmp_path, MODEL, PROBE, "1" if decoupled else "0")


def test_cancel_marks_are_dropped_when_requests_finish(tmp_path: Path) -> None:
    assert _probe(tmp_path, decoupled=False) == {"left": [], "ran": [3]}


def test_cancel_marks_are_dropped_on_a_decoupled_final_response(tmp_path: Path) -> None:
    assert _probe(tmp_path, decoupled=True) == {"left": [], "ran": [3]}
