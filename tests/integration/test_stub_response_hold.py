"""Decoupled responses leave the worker in bursts: non-final ones are held for up to
HOLD_S (so a model streaming many responses costs the server a few wake-ups, not one per
response), a final one goes at once with everything before it, and a held response that
nothing follows is still sent after HOLD_S by the flusher thread. A finished batch is
never held, even when the next one already waits. Runs a Stub's transport in a fresh
interpreter."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

PROBE = textwrap.dedent("""
    import json, socket, threading, time
    from tritonlite.backends.python import ipc, stub as stub_module
    from tritonlite.backends.python.stub import Stub

    HOLD_S = stub_module.HOLD_S = 0.05  # longer than the real one: robust on a busy machine

    server, worker = socket.socketpair()
    side_a, side_b = socket.socketpair()
    stub = Stub(worker, side_b)
    parser = ipc.FrameParser()
    server.setblocking(False)

    def read():
        try:
            msgs = parser.feed(server.recv(1 << 20))
        except BlockingIOError:
            return []
        return [[m.batch_id] if isinstance(m, ipc.BatchDoneMsg) else [m.key, m.final]
                for m in msgs]

    out = {}
    for k in range(3):  # a burst of non-final responses: held, nothing sent yet
        stub.send_response(ipc.ResponseMsg(k, final=False))
    out["during_burst"] = read()
    stub.send_response(ipc.ResponseMsg(3, final=True))  # the final: at once, in order
    time.sleep(0.05)
    out["after_final"] = read()
    threading.Thread(target=stub.flusher, daemon=True).start()
    stub.send_response(ipc.ResponseMsg(4, final=False))  # nothing follows it
    time.sleep(HOLD_S * 10)
    out["after_hold"] = read()
    # A finished batch while the next one waits (a pipelined batch, which may run
    # long): it goes at once, after a response held before it.
    stub.send_response(ipc.ResponseMsg(6, final=False))
    stub.inbox.append(object())
    stub.send(ipc.BatchDoneMsg(7, (ipc.ResponseMsg(5),), 0, 0, 0))
    out["batch"] = read()
    print(json.dumps(out))
""")


def test_burst_is_held_final_goes_at_once_and_a_lone_response_is_flushed() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["during_burst"] == []
    assert got["after_final"] == [[0, False], [1, False], [2, False], [3, True]]
    assert got["after_hold"] == [[4, False]]
    assert got["batch"] == [[6, False], [7]]
