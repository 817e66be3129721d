"""Models that do unusual things with what the worker hands them still get the answers
they would get from Triton. Drives a Stub in a fresh interpreter (pb_utils' module state
stays out of the test process) through its real execute path.

* A model that empties its ``requests`` list and then raises: every request is answered
  with the model's error, and the worker lives on (it does its bookkeeping on its own copy
  of the list).
* A model that returns a small masked array: the raw data goes back (Triton reads the
  tensor's buffer), not the masked array's fill values.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

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

PROBE = textwrap.dedent("""
    import json, socket, sys
    import numpy as np
    from tritonlite.backends.python import ipc
    from tritonlite.backends.python.shm import RingReader, RingWriter
    from tritonlite.backends.python.stub import Stub

    model_file = sys.argv[1]
    req, reply, resp = RingWriter(capacity=1 << 20), RingWriter(capacity=1 << 20), \\
        RingReader(capacity=1 << 20)
    main_a, main_b = socket.socketpair()
    side_a, side_b = socket.socketpair()
    up_a, up_b = socket.socketpair()
    stub = Stub(main_b, side_b, up_b)
    version_dir = model_file.rsplit("/", 1)[0]
    stub.load(ipc.InitMsg(
        model_file=model_file, model_dir=version_dir.rsplit("/", 1)[0], version_dir=version_dir,
        args={"model_name": "m", "model_version": "1", "model_instance_name": "m_0",
              "model_config": "{}"},
        request_ring=req.name, response_ring=resp.name, decoupled=False,
        reply_ring=reply.name))
    parser = ipc.FrameParser()

    def run(batch_id, params, keys):
        ref = ipc.TensorRef("INPUT", "FP32", (1,), 4, inline=b"\\0" * 4)
        stub.execute(ipc.ExecuteMsg(batch_id, tuple(
            ipc.RequestMsg(k, "", 0, 0, params, ("OUTPUT",), 0, (ref,)) for k in keys)))
        (done,) = parser.feed(up_a.recv(1 << 20))
        return done.responses

    out = {}
    failed = run(1, '{"mode": "raise"}', (11, 12))
    out["raise"] = [[r.key, r.error_code, r.error_message] for r in failed]
    (answer,) = run(2, "{}", (13,))
    (tensor,) = answer.outputs
    out["masked"] = np.frombuffer(tensor.inline, dtype=np.float32).tolist()
    print(json.dumps(out))
""")


def test_emptied_request_list_and_masked_output(tmp_path: Path) -> None:
    model = tmp_path / "m" / "1" / "model.py"
    model.parent.mkdir(parents=True)
    model.write_text(MODEL)
    out = subprocess.run([sys.executable, "-c", PROBE, str(model)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert [key for key, _, _ in got["raise"]] == [11, 12]
    for _, code, message in got["raise"]:
        assert code == 1  # INTERNAL
        assert "RuntimeError: emptied and failed" in message
    assert got["masked"] == [1.0, 2.0, 3.0]
