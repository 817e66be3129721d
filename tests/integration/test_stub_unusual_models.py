"""Models that do unusual things with what the worker hands them still get the answers
they would get from Triton. Drives a Stub through its real execute path
(``stub_harness``).

* A model that empties its ``requests`` list and then raises: every request is answered
  with the model's error, and the worker lives on (it does its bookkeeping on its own copy
  of the list).
* A model that returns a small masked array: the raw data goes back (Triton reads the
  tensor's buffer), not the masked array's fill values.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from stub_harness import run_probe

MODEL = textwrap.dedent("""
    import numpy as np
    import triton_python_backend_utils as pb_utils

    class TritonPythonModel:
        def execute(self, requests):
            mode = requests[0].parameters()
            if "raise" in mode:
                while requests:
                    requests.pop()
                raise RuntimeError("emptied and failed")
            data = np.ma.array(np.array([1.0, 2.0, 3.0], dtype=np.float32), mask=[0, 1, 0])
            return [pb_utils.InferenceResponse([pb_utils.Tensor("OUTPUT", data)])
                    for _ in requests]
""")

PROBE = """
    import numpy as np

    w = loaded_stub(sys.argv[1])
    parser = ipc.FrameParser()

    def run(batch_id, params, keys):
        ref = ipc.TensorRef("INPUT", "FP32", (1,), 4, inline=b"\\0" * 4)
        w.stub.execute(ipc.ExecuteMsg(batch_id, tuple(
            ipc.RequestMsg(k, "", 0, 0, params, ("OUTPUT",), 0, (ref,)) for k in keys)))
        (done,) = parser.feed(w.up.recv(1 << 20))
        return done.responses

    out = {}
    failed = run(1, '{"mode": "raise"}', (11, 12))
    out["raise"] = [[r.key, r.error_code, r.error_message] for r in failed]
    (answer,) = run(2, "{}", (13,))
    (tensor,) = answer.outputs
    out["masked"] = np.frombuffer(tensor.inline, dtype=np.float32).tolist()
    print(json.dumps(out))
"""


def test_emptied_request_list_and_masked_output(tmp_path: Path) -> None:
    got = run_probe(tmp_path, MODEL, PROBE)
    assert [key for key, _, _ in got["raise"]] == [11, 12]
    for _, code, message in got["raise"]:
        assert code == 1  # INTERNAL
        assert "RuntimeError: emptied and failed" in message
    assert got["masked"] == [1.0, 2.0, 3.0]
