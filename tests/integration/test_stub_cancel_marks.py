"""The worker forgets a cancelled request once it is finished, so a long run with many
cancellations does not accumulate cancel marks. Drives a Stub in a fresh interpreter
(pb_utils' module state stays out of the test process) through its real execute path."""

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

PROBE = textwrap.dedent("""
    import json, socket, sys
    from tritonlite.backends.python import ipc
    from tritonlite.backends.python.shm import RingReader, RingWriter
    from tritonlite.backends.python.stub import Stub

    model_file, decoupled = sys.argv[1], sys.argv[2] == "1"
    req, reply, resp = RingWriter(capacity=1 << 20), RingWriter(capacity=1 << 20), \\
        RingReader(capacity=1 << 20)
    main_a, main_b = socket.socketpair()
    side_a, side_b = socket.socketpair()
    stub = Stub(main_b, side_b)
    version_dir = model_file.rsplit("/", 1)[0]
    stub.load(ipc.InitMsg(
        model_file=model_file, model_dir=version_dir.rsplit("/", 1)[0], version_dir=version_dir,
        args={"model_name": "m", "model_version": "1", "model_instance_name": "m_0",
              "model_config": json.dumps({"decoupled": decoupled})},
        request_ring=req.name, response_ring=resp.name, decoupled=decoupled,
        reply_ring=reply.name))

    def request(key):
        data = b"\\0" * 4
        pos = req.write(data)
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
""")


def _probe(tmp_path: Path, decoupled: bool) -> dict:
    model = tmp_path / "m" / "1" / "model.py"
    model.parent.mkdir(parents=True)
    model.write_text(MODEL)
    out = subprocess.run([sys.executable, "-c", PROBE, str(model), "1" if decoupled else "0"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_cancel_marks_are_dropped_when_requests_finish(tmp_path: Path) -> None:
    assert _probe(tmp_path, decoupled=False) == {"left": [], "ran": [3]}


def test_cancel_marks_are_dropped_on_a_decoupled_final_response(tmp_path: Path) -> None:
    assert _probe(tmp_path, decoupled=True) == {"left": [], "ran": [3]}
