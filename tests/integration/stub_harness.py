"""Drives a model worker's Stub through its real code in a fresh interpreter (pb_utils'
module state stays out of the test process): a probe is a piece of Python that runs after
:data:`PRELUDE` and prints one JSON line, its result.

The prelude gives the probe ``loaded_stub(model_file, config, decoupled)``, which loads the
model into a Stub wired to socket pairs and shared-memory rings as a worker is, and
returns the server's side of them: ``.stub``; ``.request_ring``, the ring the server
writes inputs to; ``.main``, its end of the main channel; ``.up``, its end of the up
channel (where finished batches and responses arrive); ``.side``, of the side channel.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

PRELUDE = textwrap.dedent("""
    import json, socket, sys, types
    from tritonlite.backends.python import ipc
    from tritonlite.backends.python.shm import RingReader, RingWriter
    from tritonlite.backends.python.stub import Stub

    def loaded_stub(model_file, config=None, decoupled=False):
        req, reply = RingWriter(capacity=1 << 20), RingWriter(capacity=1 << 20)
        resp = RingReader(capacity=1 << 20)
        main_a, main_b = socket.socketpair()
        side_a, side_b = socket.socketpair()
        up_a, up_b = socket.socketpair()
        stub = Stub(main_b, side_b, up_b)
        version_dir = model_file.rsplit("/", 1)[0]
        stub.load(ipc.InitMsg(
            model_file=model_file, model_dir=version_dir.rsplit("/", 1)[0],
            version_dir=version_dir,
            args={"model_name": "m", "model_version": "1", "model_instance_name": "m_0",
                  "model_config": json.dumps(config or {})},
            request_ring=req.name, response_ring=resp.name, decoupled=decoupled,
            reply_ring=reply.name))
        return types.SimpleNamespace(stub=stub, request_ring=req, main=main_a, up=up_a,
                                     side=side_a, rings=(req, reply, resp))
""")


def run_probe(tmp_path: Path, model_source: str, probe: str, *args: str) -> Any:
    """Write ``model_source`` as ``<tmp>/m/1/model.py`` and run ``probe`` with the model
    file and ``args`` in ``sys.argv[1:]``; returns what it printed last, as JSON."""
    model = tmp_path / "m" / "1" / "model.py"
    model.parent.mkdir(parents=True, exist_ok=True)
    model.write_text(model_source)
    out = subprocess.run([sys.executable, "-c", PRELUDE + textwrap.dedent(probe), str(model),
                          *args], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])
